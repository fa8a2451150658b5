#!/usr/bin/env bash
# Installs the system tools the tests and benchmarks use, when missing:
# real peer clients (nc, socat, curl, Python asyncio with uvloop), Trio (the
# upstream comparison in test/upstream), openssl for
# the test certificates, the HTTP load generator (wrk) and a browser for the
# SSE page tests (chromium), and a Redis server for corio/redis. Tests skip, saying which is missing, without them.
# Safe to run repeatedly; does nothing when everything is there.
set -euo pipefail
need=()
command -v nc >/dev/null || need+=(netcat-openbsd)
command -v socat >/dev/null || need+=(socat)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v wrk >/dev/null || need+=(wrk)
[ -x /usr/bin/python3 ] || need+=(python3)
/usr/bin/python3 -c "import uvloop" 2>/dev/null || need+=(python3-uvloop)
/usr/bin/python3 -c "import trio" 2>/dev/null || need+=(python3-trio)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v redis-server >/dev/null || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "install-system-deps: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "install-system-deps: please install: ${need[*]}" >&2
    exit 1
  fi
fi
