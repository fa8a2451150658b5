"""CPython asyncio's interpreter of the upstream-comparison program language.

Reads programs, one JSON object a line, from stdin (or from the file named as
the argument, a JSON array or JSON lines) and prints one JSON line a program:
its trace, in the format test/upstream/_interp.ts writes (see README.md).
Run with /usr/bin/python3 (3.11 on Debian 12; CI installs it).

Time is virtual: VirtualLoop's selector never blocks, it advances the clock by
the timeout the loop asked for, so timers fire in order and a program that
sleeps for minutes runs at once. A loop with nothing to wait for and nothing
scheduled is a deadlock (the program is reported as such, as corio's
runVirtual does).
"""
import asyncio
import gc
import selectors

from _program import leaves, prim, serve


class Deadlock(Exception):
    pass


class VirtualSelector(selectors.SelectSelector):
    def __init__(self):
        super().__init__()
        self.now = 0.0

    def select(self, timeout=None):
        if timeout is None:
            raise Deadlock()
        if timeout > 0:
            self.now += timeout
        return []


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self):
        self._virtual = VirtualSelector()
        super().__init__(self._virtual)

    def time(self):
        return self._virtual.now


_errors = {}


def user_error(name):
    if name not in _errors:
        _errors[name] = type(name, (Exception,), {})
    return _errors[name]()


def err_name(e):
    """A group by its distinct leaves, sorted; a group of one is its member (as _interp.ts's errorName)."""
    if isinstance(e, BaseExceptionGroup):
        names = sorted({err_name(x) for x in leaves(e)})
        return names[0] if len(names) == 1 else "Group(%s)" % ",".join(names)
    if isinstance(e, asyncio.CancelledError):
        return "Cancelled"
    if isinstance(e, TimeoutError):
        return "Timeout"
    if isinstance(e, asyncio.BrokenBarrierError):
        return "BrokenBarrier"
    if type(e) in (ValueError, RuntimeError):
        return "RtErr"
    if type(e).__name__ in _errors and type(e) is _errors[type(e).__name__]:
        return type(e).__name__
    return "?" + repr(e)


def matches(e, match):
    if match == "Cancelled":
        return isinstance(e, asyncio.CancelledError)

    def one(leaf):
        if isinstance(leaf, asyncio.CancelledError) or not isinstance(leaf, Exception):
            return False
        return match == "Exception" or err_name(leaf) == match

    return all(one(leaf) for leaf in leaves(e))


def fmt(v):
    if v is None:
        return "None"
    if isinstance(v, list):
        return "[" + ",".join(fmt(x) for x in v) + "]"
    return str(v)


def b(x):
    return "True" if x else "False"


class PriorityQueue(asyncio.PriorityQueue):
    """Priority v // 10; equal priorities in put order (corio's PriorityQueue numbers the puts)."""

    def _init(self, maxsize):
        super()._init(maxsize)
        self._seq = 0

    def _put(self, item):
        self._seq += 1
        super()._put((item // 10, self._seq, item))

    def _get(self):
        return super()._get()[2]


class Run:
    def __init__(self, program):
        self.program = program
        self.trace = []
        self.tasks = {}
        self.prims = {}
        self.counters = {}

    def log(self, who, what):
        t = asyncio.get_running_loop().time()
        t = int(round(t)) if abs(t - round(t)) < 1e-6 else round(t, 6)
        self.trace.append(f"{t} {who} {what}")

    def prim(self, name, kind):
        return prim(self, name, kind, (asyncio.Lock, asyncio.Event, asyncio.Condition), user_error)

    def make_prims(self):
        for name, spec in self.program.get("prims", {}).items():
            t, n, maxsize = spec["type"], spec.get("n", 1), spec.get("max", 0)
            if t == "lock":
                p = asyncio.Lock()
            elif t == "event":
                p = asyncio.Event()
            elif t == "cond":
                p = asyncio.Condition()
            elif t == "sem":
                p = (asyncio.BoundedSemaphore if spec.get("bounded") else asyncio.Semaphore)(n)
            elif t == "queue":
                p = asyncio.Queue(maxsize)
            elif t == "lifo":
                p = asyncio.LifoQueue(maxsize)
            elif t == "prio":
                p = PriorityQueue(maxsize)
            elif t == "barrier":
                p = asyncio.Barrier(n)
            else:
                raise user_error("HARNESS")
            self.prims[name] = p

    def finals(self):
        for name, spec in self.program.get("prims", {}).items():
            if spec["type"] == "sem":
                self.log("main", f"final {name} value={self.prims[name]._value}")


async def run_task(run, name, body):
    run.log(name, "start")
    try:
        v = await exec_steps(run, name, body, None)
        run.log(name, f"done {fmt(v)}")
        return v
    except BaseException as e:
        run.log(name, f"exit {err_name(e)}")
        raise


async def exec_steps(run, who, steps, group):
    """Runs steps in order; returns the value of a `ret` step, else None. `group` is the TaskGroup `spawn` adds to."""
    for s in steps:
        v = await step(run, who, s, group)
        if v is not None:
            return v
    return None


async def step(run, who, s, group):
    op = s["op"]
    if op == "log":
        run.log(who, s["m"])
    elif op == "sleep":
        await asyncio.sleep(s["t"])
    elif op == "ckpt":
        await asyncio.sleep(0)
    elif op == "ret":
        return s["v"]
    elif op == "raise":
        raise user_error(s["err"])
    elif op == "group":
        async with asyncio.TaskGroup() as g:
            v = await exec_steps(run, who, s["body"], g)
        run.log(who, f"group-> {fmt(v)}")
    elif op == "spawn":
        if group is None:
            raise user_error("HARNESS")
        run.tasks[s["name"]] = group.create_task(run_task(run, s["name"], s["body"]), name=s["name"])
    elif op == "await":
        v = await run.tasks[s["name"]]
        run.log(who, f"awaited {s['name']} {fmt(v)}")
    elif op == "cancel":
        run.log(who, f"cancel {s['name']} {b(run.tasks[s['name']].cancel())}")
    elif op == "selfCancel":
        asyncio.current_task().cancel()
        run.log(who, "selfcancel")
    elif op == "try":
        try:
            return await exec_steps(run, who, s["body"], group)
        except BaseException as e:
            handler = next((h for h in s.get("catch", []) if matches(e, h["match"])), None)
            if handler is None:
                raise
            run.log(who, f"caught {err_name(e)}")
            v = await exec_steps(run, who, handler["body"], group)
            if handler.get("reraise"):
                raise
            return v
        finally:
            if s.get("fin") is not None:
                run.log(who, "finally")
                await exec_steps(run, who, s["fin"], group)
    elif op == "timeout":
        async with asyncio.timeout(s["t"]):
            v = await exec_steps(run, who, s["body"], None)
        run.log(who, f"timeout-> {fmt(v)}")
    elif op == "waitFor":
        v = await asyncio.wait_for(exec_steps(run, who, s["body"], None), s["t"])
        run.log(who, f"waitFor-> {fmt(v)}")
    elif op == "moveOn":
        cm = asyncio.timeout(s["t"])
        try:
            async with cm:
                v = await exec_steps(run, who, s["body"], None)
            run.log(who, f"moveOn-> {fmt(v)}")
        except TimeoutError:
            if not cm.expired():
                raise
            run.log(who, "moved on")
    elif op == "shield":
        v = await asyncio.shield(exec_steps(run, who, s["body"], None))
        run.log(who, f"shield-> {fmt(v)}")
    elif op == "gather":
        coros = [run_task(run, f"{who}.g{i}", body) for i, body in enumerate(s["bodies"])]
        rs = await asyncio.gather(*coros, return_exceptions=bool(s.get("re")))
        if s.get("re"):
            run.log(who, "gather-> [" + ",".join(err_name(r) if isinstance(r, BaseException) else fmt(r) for r in rs) + "]")
        else:
            run.log(who, f"gather-> {fmt(list(rs))}")
    elif op == "evSet":
        run.prim(s["ev"], asyncio.Event).set()
        run.log(who, f"set {s['ev']}")
    elif op == "evWait":
        await run.prim(s["ev"], asyncio.Event).wait()
        run.log(who, f"woke {s['ev']}")
    elif op == "acquire":
        p = run.prims.get(s["p"]) or run.prim(s["p"], asyncio.Lock)
        await p.acquire()
        run.log(who, f"acquired {s['p']}")
        try:
            return await exec_steps(run, who, s["body"], None)
        finally:
            p.release()
            run.log(who, f"released {s['p']}")
    elif op == "put":
        await run.prim(s["q"], asyncio.Queue).put(s["v"])
        run.log(who, f"put {s['q']} {s['v']}")
    elif op == "get":
        v = await run.prim(s["q"], asyncio.Queue).get()
        run.log(who, f"got {s['q']} {fmt(v)}")
    elif op == "putNw":
        try:
            run.prim(s["q"], asyncio.Queue).put_nowait(s["v"])
            run.log(who, f"putnw {s['q']} {s['v']}")
        except asyncio.QueueFull:
            run.log(who, f"full {s['q']}")
    elif op == "getNw":
        try:
            v = run.prim(s["q"], asyncio.Queue).get_nowait()
            run.log(who, f"gotnw {s['q']} {fmt(v)}")
        except asyncio.QueueEmpty:
            run.log(who, f"empty {s['q']}")
    elif op == "taskDone":
        try:
            run.prim(s["q"], asyncio.Queue).task_done()
            run.log(who, f"tdone {s['q']}")
        except ValueError:
            run.log(who, f"tdone-err {s['q']}")
    elif op == "join":
        await run.prim(s["q"], asyncio.Queue).join()
        run.log(who, f"joined {s['q']}")
    elif op == "qsize":
        q = run.prim(s["q"], asyncio.Queue)
        run.log(who, f"qsize {s['q']} {q.qsize()} {b(q.full())}")
    elif op == "drain":
        q = run.prim(s["q"], asyncio.Queue)
        out = []
        while not q.empty():
            out.append(q.get_nowait())
        run.log(who, f"drain {s['q']} {fmt(out)}")
    elif op == "inc":
        run.counters[s["k"]] = run.counters.get(s["k"], 0) + 1
        run.log(who, f"inc {s['k']} {run.counters[s['k']]}")
    elif op == "cwait":
        await run.prim(s["c"], asyncio.Condition).wait()
        run.log(who, f"cwoke {s['c']}")
    elif op == "cwaitFor":
        k, n = s["k"], s["n"]
        await run.prim(s["c"], asyncio.Condition).wait_for(lambda: run.counters.get(k, 0) >= n)
        run.log(who, f"cwf {s['c']} {k}={run.counters.get(k, 0)}")
    elif op == "notify":
        run.prim(s["c"], asyncio.Condition).notify(s.get("n", 1))
        run.log(who, f"notify {s['c']} {s.get('n', 1)}")
    elif op == "notifyAll":
        run.prim(s["c"], asyncio.Condition).notify_all()
        run.log(who, f"notifyAll {s['c']}")
    elif op == "release":
        try:
            run.prim(s["p"], asyncio.Semaphore).release()
            run.log(who, f"release+ {s['p']}")
        except ValueError:
            run.log(who, f"release-err {s['p']}")
    elif op == "semAcquire":
        await run.prim(s["p"], asyncio.Semaphore).acquire()
        run.log(who, f"semacquired {s['p']}")
    elif op == "semVal":
        sem = run.prim(s["p"], asyncio.Semaphore)
        run.log(who, f"sval {s['p']} {sem._value} {b(sem.locked())}")
    elif op == "bwait":
        i = await run.prim(s["b"], asyncio.Barrier).wait()
        run.log(who, f"bidx {s['b']} {i}")
    elif op == "babort":
        await run.prim(s["b"], asyncio.Barrier).abort()
        run.log(who, f"babort {s['b']}")
    elif op == "breset":
        await run.prim(s["b"], asyncio.Barrier).reset()
        run.log(who, f"breset {s['b']}")
    elif op == "bstate":
        bar = run.prim(s["b"], asyncio.Barrier)
        run.log(who, f"bstate {s['b']} {bar.n_waiting} {b(bar.broken)}")
    elif op == "wait":
        await wait_step(run, who, s)
    elif op == "asComp":
        await as_completed_step(run, who, s)
    else:
        # Trio's ops (cancelScope, deadline, channels, limiters) have no asyncio counterpart here.
        raise user_error("HARNESS")
    return None


async def wait_step(run, who, s):
    ts = [asyncio.create_task(run_task(run, f"{who}.w{i}", body)) for i, body in enumerate(s["bodies"])]
    try:
        done, pending = await asyncio.wait(ts, timeout=s.get("timeout"), return_when=s["mode"])
    except BaseException:
        # As corio's wait, which owns its tasks: cancelled, it cancels them and waits for them.
        for t in ts:
            t.cancel()
        await asyncio.gather(*ts, return_exceptions=True)
        raise

    def outcome(t):
        if t.cancelled():
            return "C"
        e = t.exception()
        return err_name(e) if e is not None else fmt(t.result())

    run.log(
        who,
        "wait-> done=["
        + ",".join(f"{i}:{outcome(t)}" for i, t in enumerate(ts) if t in done)
        + "] pending=["
        + ",".join(str(i) for i, t in enumerate(ts) if t in pending)
        + "]",
    )
    for i, t in enumerate(ts):
        if t not in pending:
            continue
        if s["then"] == "cancel":
            t.cancel()
            r = (await asyncio.gather(t, return_exceptions=True))[0]
            run.log(who, f"wcancelled {i} {err_name(r) if isinstance(r, BaseException) else fmt(r)}")
        else:
            try:
                run.log(who, f"wawait {i} {fmt(await t)}")
            except Exception as e:
                run.log(who, f"wawait {i} {err_name(e)}")


async def as_completed_step(run, who, s):
    ts = [asyncio.create_task(run_task(run, f"{who}.a{i}", body)) for i, body in enumerate(s["bodies"])]
    taken = 0
    try:
        for f in asyncio.as_completed(ts):
            if taken == s["take"]:
                break
            try:
                run.log(who, f"ac {fmt(await f)}")
            except Exception as e:
                run.log(who, f"ac-err {err_name(e)}")
            taken += 1
    finally:
        # As corio's asCompleted inside a scope: the tasks not taken are cancelled and waited for.
        left = [t for t in ts if not t.done()]
        for t in left:
            t.cancel()
        if left:
            await asyncio.gather(*left, return_exceptions=True)
    run.log(who, f"asComp-> {taken}")


def run_program(program):
    run = Run(program)
    loop = VirtualLoop()
    loop.set_exception_handler(
        lambda _, c: run.trace.append("report " + str(c.get("message")).split("\n")[0] + " " + (err_name(c["exception"]) if "exception" in c else ""))
    )
    asyncio.set_event_loop(loop)

    async def main():
        run.make_prims()
        v = await run_task(run, "main", program["body"])
        run.finals()
        return v

    task = loop.create_task(main(), name="main")
    try:
        result = f"RESULT value {fmt(loop.run_until_complete(task))}"
    except Deadlock:
        # As corio's runVirtual: cancel everything, let it unwind, report the deadlock.
        for t in asyncio.all_tasks(loop):
            t.cancel()
        try:
            loop.run_until_complete(task)
        except BaseException:
            pass
        result = "RESULT deadlock"
    except BaseException as e:
        result = f"RESULT error {err_name(e)}"
    # asyncio lets tasks outlive the program's main task (corio cannot): name them.
    left = sorted(t.get_name() for t in asyncio.all_tasks(loop) if not t.done())
    if left:
        run.trace.append("left running: " + ",".join(left))
    for t in asyncio.all_tasks(loop):
        t.cancel()
    try:
        loop.run_until_complete(asyncio.sleep(0))
    except BaseException:
        pass
    run.tasks.clear()
    task = None
    gc.collect()  # "Task exception was never retrieved" reports come now, into this program's trace
    loop.close()
    asyncio.set_event_loop(None)
    run.trace.append(result)
    return run.trace


if __name__ == "__main__":
    serve(run_program)
