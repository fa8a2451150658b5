#!/usr/bin/env bash
# Installs the system tools the tests and benchmarks use, when missing.
# Safe to run repeatedly; does nothing when everything is there.
set -euo pipefail
need=()
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "install-system-deps: please install: ${need[*]}" >&2
  fi
fi
