"""What the asyncio and Trio interpreters of the upstream-comparison program
language share: reading programs, error groups, the lazily made primitives,
and the main loop that prints one JSON trace a program (see README.md)."""
import json
import os
import signal
import sys


def leaves(e):
    """The errors of an exception group, flattened; any other error alone."""
    if isinstance(e, BaseExceptionGroup):
        return [leaf for x in e.exceptions for leaf in leaves(x)]
    return [e]


def prim(run, name, kind, lazy_kinds, user_error):
    """The primitive `name` of a program, made at first use when `kind` may be (a lock, an event, a
    condition); a primitive of another kind is the program's mistake, a `HARNESS` error."""
    if name not in run.prims:
        if kind not in lazy_kinds:
            raise user_error("HARNESS")
        run.prims[name] = kind()
    p = run.prims[name]
    if not isinstance(p, kind):
        raise user_error("HARNESS")
    return p


def programs(source):
    """A JSON array of programs, or one JSON program a line."""
    text = source.read()
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def serve(run_program, hang_seconds=None):
    """Runs the programs of stdin (or of the file named as the argument), printing one JSON trace a line.
    With `hang_seconds`, a program that runs that long in real time ends the process with a HANG trace."""
    if hang_seconds is not None:

        def hang(*_):
            sys.stdout.write(json.dumps(["HANG: a program ran for %d real seconds" % hang_seconds]) + "\n")
            sys.stdout.flush()
            os._exit(1)

        signal.signal(signal.SIGALRM, hang)
    with open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin as source:
        for program in programs(source):
            if hang_seconds is not None:
                signal.alarm(hang_seconds)
            print(json.dumps(run_program(program)), flush=True)
            if hang_seconds is not None:
                signal.alarm(0)
