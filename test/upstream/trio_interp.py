"""Trio's interpreter of the upstream-comparison program language.

Reads programs, one JSON object a line, from stdin (or from the file named as
the argument, a JSON array or JSON lines) and prints one JSON line a program:
its trace, in the format test/upstream/_interp.ts writes (see README.md).
Run with /usr/bin/python3 and Debian's python3-trio (0.22).

Time is virtual: trio.testing.MockClock(autojump_threshold=0) jumps to the
next deadline as soon as every task is blocked. The program runs under a
move_on_after(DEADLOCK_AFTER): reaching it means every task waited on
something that never came (corio's runVirtual reports that as a deadlock).
"""
import math

import trio
import trio.testing
from trio._core import _run as trio_run

from _program import leaves, prim, serve

# Deterministic Trio, so a trace is the same on every run, as corio's:
# 1. Trio runs each batch of runnable tasks in FIFO order or reversed, at
#    random (`if _r.random() < 0.5: batch.reverse()`, then `batch.pop()`):
#    a random() of 0 always reverses, so tasks run in the order they became
#    runnable, as corio's ready queue runs them.
# 2. Trio breaks ties between equal deadlines by id(cancel_scope), an
#    address; corio fires equal deadlines in the order they were set
#    (decided case 9): number them instead.
# 3. A cancel scope keeps its tasks and child scopes in sets, and a cancel
#    wakes them in set order: an order of addresses, which changes with the
#    programs run before in the same process. Keep them in insertion order
#    (the order the tasks entered the scope: spawn order, as corio cancels
#    children).
trio_run._r.random = lambda: 0.0


class _OrderedSet(dict):
    def __init__(self, items=()):
        super().__init__((x, None) for x in items)

    def add(self, x):
        self[x] = None

    def remove(self, x):
        del self[x]

    def discard(self, x):
        self.pop(x, None)


_cancel_status_init = trio_run.CancelStatus.__init__


def _ordered_cancel_status_init(self, *args, **kwargs):
    _cancel_status_init(self, *args, **kwargs)
    self._children = _OrderedSet(self._children)
    self._tasks = _OrderedSet(self._tasks)


trio_run.CancelStatus.__init__ = _ordered_cancel_status_init
_deadline_seq = [0]


def _add_deadline(self, deadline, cancel_scope):
    _deadline_seq[0] += 1
    trio_run.heappush(self._heap, (deadline, _deadline_seq[0], cancel_scope))
    self._active += 1


trio_run.Deadlines.add = _add_deadline

DEADLOCK_AFTER = 10**6
HANG_SECONDS = 10  # real seconds: a shield that waits for ever has no deadline to jump to


class ProgramError(Exception):
    pass


def user_error(name):
    e = ProgramError(name)
    e.name = name
    return e


def err_name(e):
    """As _interp.ts's errorName. Trio puts the Cancelled of each cancelled child in a
    MultiError beside the errors; corio never replaces an error by a cancel and does not
    add the cancel to the group (decided case 12): a group is written by its other
    members, and a group of Cancelled alone is Cancelled."""
    if isinstance(e, BaseExceptionGroup):
        names = sorted({err_name(x) for x in leaves(e)})
        if len(names) > 1 and "Cancelled" in names:
            names.remove("Cancelled")
        return names[0] if len(names) == 1 else "Group(%s)" % ",".join(names)
    if isinstance(e, trio.Cancelled):
        return "Cancelled"
    if isinstance(e, trio.TooSlowError):
        return "Timeout"
    if isinstance(e, ProgramError):
        return e.name
    if isinstance(e, trio.ClosedResourceError):
        return "SendClosed"
    if isinstance(e, trio.EndOfChannel):
        return "RecvEnd"
    if isinstance(e, trio.BrokenResourceError):
        return "Broken"
    if isinstance(e, trio.WouldBlock):
        return "WouldBlock"
    if type(e) in (ValueError, RuntimeError):
        return "RtErr"
    return "?" + repr(e)


def matches(e, match):
    name = err_name(e)
    if match == "Cancelled":
        return name == "Cancelled"
    if name == "Cancelled":
        return False
    return match == "Exception" or all(err_name(leaf) == match for leaf in leaves(e) if not isinstance(leaf, trio.Cancelled))


def fmt(v):
    return "None" if v is None else str(v)


class Run:
    def __init__(self, program):
        self.program = program
        self.trace = []
        self.limits = {}
        self.prims = {}
        # The task_status.started of each task begun with `start`, by task name.
        self.starters = {}

    def log(self, who, what):
        self.trace.append(f"{int(round(trio.current_time()))} {who} {what}")

    def prim(self, name, kind):
        return prim(self, name, kind, (trio.Lock, trio.Event, trio.Condition), user_error)

    def make_prims(self):
        for name, spec in self.program.get("prims", {}).items():
            t, n = spec["type"], spec.get("n", 1)
            if t == "lock":
                p = trio.Lock()
            elif t == "event":
                p = trio.Event()
            elif t == "cond":
                p = trio.Condition()
            elif t == "sem":
                p = trio.Semaphore(n, max_value=n if spec.get("bounded") else None)
            elif t == "limiter":
                p = trio.CapacityLimiter(n)
            elif t in ("chan", "mchan"):
                p = trio.open_memory_channel(spec.get("max", 0))
            else:
                raise user_error("HARNESS")
            self.prims[name] = p

    def chan(self, name):
        p = self.prims[name]
        if not isinstance(p, tuple):
            raise user_error("HARNESS")
        return p

    def finals(self):
        for name, spec in self.program.get("prims", {}).items():
            p = self.prims[name]
            if spec["type"] == "limiter":
                self.log("main", f"final {name} borrowed={p.borrowed_tokens} total={p.total_tokens}")
            elif spec["type"] == "sem":
                self.log("main", f"final {name} value={p.value}")
            elif spec["type"] in ("chan", "mchan"):
                self.log("main", f"final {name} buffered={p[0].statistics().current_buffer_used}")


async def run_task(run, name, body):
    run.log(name, "start")
    try:
        v = await exec_steps(run, name, body, None)
    except BaseException as e:
        run.log(name, f"exit {err_name(e)}")
        raise
    run.log(name, f"done {fmt(v)}")
    return v


async def exec_steps(run, who, steps, nursery):
    """Runs steps in order; returns the value of a `ret` step, else None. `nursery` is where `spawn` starts tasks."""
    for s in steps:
        v = await step(run, who, s, nursery)
        if v is not None:
            return v
    return None


async def step(run, who, s, nursery):
    op = s["op"]
    if op == "log":
        run.log(who, s["m"])
    elif op == "sleep":
        await trio.sleep(s["t"])
    elif op == "ckpt":
        await trio.lowlevel.checkpoint()
    elif op == "ret":
        return s["v"]
    elif op == "raise":
        raise user_error(s["err"])
    elif op == "group":
        async with trio.open_nursery() as n:
            v = await exec_steps(run, who, s["body"], n)
        run.log(who, f"group-> {fmt(v)}")
    elif op == "spawn":
        if nursery is None:
            raise user_error("HARNESS")
        nursery.start_soon(run_task, run, s["name"], s["body"], name=s["name"])
    elif op == "start":
        if nursery is None:
            raise user_error("HARNESS")

        async def starter(task_status=trio.TASK_STATUS_IGNORED):
            run.starters[s["name"]] = task_status.started
            await run_task(run, s["name"], s["body"])

        v = await nursery.start(starter, name=s["name"])
        run.log(who, f"start-> {fmt(v)}")
    elif op == "started":
        run.log(who, f"started {fmt(s.get('v'))}")
        run.starters[who](s.get("v"))
    elif op == "try":
        try:
            return await exec_steps(run, who, s["body"], nursery)
        except BaseException as e:
            handler = next((h for h in s.get("catch", []) if matches(e, h["match"])), None)
            if handler is None:
                raise
            run.log(who, f"caught {err_name(e)}")
            v = await exec_steps(run, who, handler["body"], nursery)
            if handler.get("reraise"):
                raise
            return v
        finally:
            if s.get("fin") is not None:
                run.log(who, "finally")
                await exec_steps(run, who, s["fin"], nursery)
    elif op in ("timeout", "moveOn"):
        t = math.inf if s.get("t") is None else s["t"]
        with (trio.fail_after if op == "timeout" else trio.move_on_after)(t) as cs:
            if s.get("name") is not None:
                run.limits[s["name"]] = cs
            v = await exec_steps(run, who, s["body"], None)
        if op == "moveOn" and cs.cancelled_caught:
            run.log(who, "moved on")
        else:
            run.log(who, f"{op}-> {fmt(v)}")
    elif op == "cancelScope":
        run.limits[s["scope"]].cancel()
    elif op == "deadline":
        run.limits[s["scope"]].deadline = trio.current_time() + s["t"]
    elif op == "shield":
        with trio.CancelScope(shield=True):
            v = await exec_steps(run, who, s["body"], None)
        run.log(who, f"shield-> {fmt(v)}")
    elif op == "evSet":
        run.prim(s["ev"], trio.Event).set()
        run.log(who, f"set {s['ev']}")
    elif op == "evWait":
        await run.prim(s["ev"], trio.Event).wait()
        run.log(who, f"woke {s['ev']}")
    elif op == "acquire":
        p = run.prims.get(s["p"]) or run.prim(s["p"], trio.Lock)
        await p.acquire()
        run.log(who, f"acquired {s['p']}")
        try:
            return await exec_steps(run, who, s["body"], None)
        finally:
            p.release()
            run.log(who, f"released {s['p']}")
    elif op == "cwait":
        await run.prim(s["c"], trio.Condition).wait()
        run.log(who, f"cwoke {s['c']}")
    elif op == "notify":
        run.prim(s["c"], trio.Condition).notify(s.get("n", 1))
        run.log(who, f"notify {s['c']} {s.get('n', 1)}")
    elif op == "notifyAll":
        run.prim(s["c"], trio.Condition).notify_all()
        run.log(who, f"notifyAll {s['c']}")
    elif op == "release":
        try:
            run.prim(s["p"], trio.Semaphore).release()
            run.log(who, f"release+ {s['p']}")
        except ValueError:
            run.log(who, f"release-err {s['p']}")
    elif op == "semAcquire":
        await run.prim(s["p"], trio.Semaphore).acquire()
        run.log(who, f"semacquired {s['p']}")
    elif op == "send":
        await run.chan(s["ch"])[0].send(s["v"])
        run.log(who, f"sent {s['ch']} {s['v']}")
    elif op == "recv":
        run.log(who, f"got {s['ch']} {await run.chan(s['ch'])[1].receive()}")
    elif op == "sendNw":
        run.chan(s["ch"])[0].send_nowait(s["v"])
        run.log(who, f"sent {s['ch']} {s['v']}")
    elif op == "recvNw":
        run.log(who, f"got {s['ch']} {run.chan(s['ch'])[1].receive_nowait()}")
    elif op == "clone":
        send, receive = run.chan(s["ch"])
        run.prims[s["as"]] = (send.clone(), receive) if s["side"] == "s" else (send, receive.clone())
    elif op == "close":
        run.chan(s["ch"])[0].close()
    elif op == "rclose":
        run.chan(s["ch"])[1].close()
    elif op == "setTotal":
        run.prim(s["p"], trio.CapacityLimiter).total_tokens = s["n"]
    elif op == "acquireFor":
        await run.prim(s["p"], trio.CapacityLimiter).acquire_on_behalf_of(s["who"])
        run.log(who, f"acquired {s['p']} for {s['who']}")
    elif op == "releaseFor":
        run.prim(s["p"], trio.CapacityLimiter).release_on_behalf_of(s["who"])
        run.log(who, f"released {s['p']} for {s['who']}")
    elif op == "stats":
        p = run.prims[s["p"]]
        if isinstance(p, trio.CapacityLimiter):
            run.log(who, f"stats {s['p']} borrowed={p.borrowed_tokens} total={p.total_tokens} waiting={p.statistics().tasks_waiting}")
        elif isinstance(p, trio.Semaphore):
            run.log(who, f"stats {s['p']} value={p.value}")
        elif run.program.get("prims", {}).get(s["p"], {}).get("type") == "chan":
            run.log(who, f"stats {s['p']} buffered={p[0].statistics().current_buffer_used}")
        else:
            # A memory channel (`mchan`, or a clone of one): all its counts.
            st = p[0].statistics()
            run.log(
                who,
                f"stats {s['p']} buffered={st.current_buffer_used} senders={st.open_send_channels} receivers={st.open_receive_channels}"
                f" sending={st.tasks_waiting_send} receiving={st.tasks_waiting_receive}",
            )
    else:
        # asyncio's ops (task handles, gather, wait, queues, barriers) have no Trio counterpart here.
        raise user_error("HARNESS")
    return None


def run_program(program):
    run = Run(program)
    _deadline_seq[0] = 0

    async def main():
        run.make_prims()
        with trio.move_on_after(DEADLOCK_AFTER) as top:
            v = await run_task(run, "main", program["body"])
            run.finals()
            return f"RESULT value {fmt(v)}"
        if top.cancelled_caught:
            return "RESULT deadlock"

    try:
        result = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    except BaseException as e:
        result = f"RESULT error {err_name(e)}"
    run.trace.append(result)
    return run.trace


if __name__ == "__main__":
    serve(run_program, HANG_SECONDS)
