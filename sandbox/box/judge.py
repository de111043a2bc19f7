# r1 sandbox: the judge for function tests (HumanEval's shape: the test defines check(candidate)).
#
# The dataset's test code runs in this process; the candidate's code runs in a forked child under
# another uid that never sees the test code, the token or the result channel. Values cross between
# them as tagged JSON of plain built-in types only, so an object whose __eq__ is always true, an
# exit(0) before the asserts, a redefined assert/print/AssertionError, or a fake success marker on
# stdout cannot reach the verdict. Each top-level statement of check() that contains an assert is one
# test (partial credit); results stream to fd 4, and the last line carries the per-run token.
#
# argv: judge.py SOLUTION_PATH CANDIDATE_UID   fd 3: {"token", "test", "entry_point"}   fd 4: results
import ast
import builtins
import json
import os
import sys
import time

MAX_MESSAGE = 64 << 20
MAX_DEPTH = 200


def write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def send(fd, obj):
    data = json.dumps(obj, separators=(",", ":")).encode()
    write_all(fd, len(data).to_bytes(4, "big") + data)


def read_exact(fd, n):
    chunks = []
    while n > 0:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv(fd):
    size = int.from_bytes(read_exact(fd, 4), "big")
    if size > MAX_MESSAGE:
        raise ValueError("a message larger than %d bytes" % MAX_MESSAGE)
    return json.loads(read_exact(fd, size))


def enc(x, depth=0):
    if depth > MAX_DEPTH:
        raise ValueError("a value nested more than %d deep" % MAX_DEPTH)
    t = type(x)
    if x is None or t is bool or t is str:
        return x
    if t is int:
        return {"i": hex(x)}
    if t is float:
        return {"f": x.hex()}
    if t is list:
        return {"l": [enc(v, depth + 1) for v in x]}
    if t is tuple:
        return {"t": [enc(v, depth + 1) for v in x]}
    if t is dict:
        return {"d": [[enc(k, depth + 1), enc(v, depth + 1)] for k, v in x.items()]}
    if t is set:
        return {"s": [enc(v, depth + 1) for v in x]}
    if t is frozenset:
        return {"fs": [enc(v, depth + 1) for v in x]}
    if t is complex:
        return {"c": [x.real.hex(), x.imag.hex()]}
    if t is bytes:
        return {"b": x.hex()}
    if t is bytearray:
        return {"ba": bytes(x).hex()}
    if t is range:
        return {"r": [enc(x.start), enc(x.stop), enc(x.step)]}
    if x is Ellipsis:
        return {"e": 0}
    raise TypeError("a value of type %s cannot leave the sandbox" % t.__name__)


def dec(x, depth=0):
    if depth > MAX_DEPTH:
        raise ValueError("a value nested too deep")
    if x is None or type(x) in (bool, str):
        return x
    if type(x) is not dict or len(x) != 1:
        raise ValueError("a malformed value")
    (tag, v), = x.items()
    d = depth + 1
    if tag == "i":
        return int(v, 16)
    if tag == "f":
        return float.fromhex(v)
    if tag == "l":
        return [dec(e, d) for e in v]
    if tag == "t":
        return tuple(dec(e, d) for e in v)
    if tag == "d":
        return {dec(k, d): dec(e, d) for k, e in v}
    if tag == "s":
        return {dec(e, d) for e in v}
    if tag == "fs":
        return frozenset(dec(e, d) for e in v)
    if tag == "c":
        return complex(float.fromhex(v[0]), float.fromhex(v[1]))
    if tag == "b":
        return bytes.fromhex(v)
    if tag == "ba":
        return bytearray.fromhex(v)
    if tag == "r":
        return range(dec(v[0], d), dec(v[1], d), dec(v[2], d))
    if tag == "e":
        return Ellipsis
    raise ValueError("a malformed value")


def describe(e):
    try:
        text = str(e)
    except BaseException:
        text = ""
    name = type(e).__name__
    return (name + ": " + text)[:300] if text else name


# ---- the candidate's side (the child) ------------------------------------------------------------

def serve(path, rfd, wfd):
    g = {"__name__": "__solution__", "__builtins__": builtins}
    load_error = None
    try:
        with open(path, "rb") as f:
            code = compile(f.read(), "solution.py", "exec")
    except (SyntaxError, ValueError) as e:
        load_error = ["CE", describe(e)]
    else:
        try:
            exec(code, g)
        except MemoryError as e:
            load_error = ["MLE", describe(e)]
        except BaseException as e:
            load_error = ["RE", describe(e)]
    while True:
        try:
            msg = recv(rfd)
        except BaseException:
            os._exit(0)
        if load_error:
            reply = {"error": load_error}
        else:
            try:
                name = msg["name"]
                if msg["op"] == "get":
                    if name not in g:
                        reply = {"missing": True}
                    elif callable(g[name]):
                        reply = {"callable": True}
                    else:
                        reply = {"value": enc(g[name])}
                else:
                    f = g.get(name)
                    if not callable(f):
                        reply = {"error": ["RE", "%s is not a function" % name]}
                    else:
                        returned = f(*dec(msg["args"]), **dec(msg["kwargs"]))
                        try:
                            reply = {"value": enc(returned)}
                        except (TypeError, ValueError) as e:
                            reply = {"error": ["WA", "returned " + describe(e)]}
            except MemoryError as e:
                reply = {"error": ["MLE", describe(e)]}
            except BaseException as e:
                reply = {"error": ["RE", describe(e)]}
        try:
            send(wfd, reply)
        except BaseException:
            os._exit(0)


# ---- the judge's side ----------------------------------------------------------------------------

class CandidateError(Exception):
    def __init__(self, verdict, detail):
        super().__init__(detail)
        self.verdict = verdict
        self.detail = detail


def main():
    solution, uid = sys.argv[1], int(sys.argv[2])
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(3)
        os.close(4)
        os.close(req_w)
        os.close(resp_r)
        if uid != os.getuid():
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        serve(solution, req_r, resp_w)
        os._exit(0)
    os.close(req_r)
    os.close(resp_w)
    if uid == os.getuid():
        # Same uid as the candidate (a host that maps one uid): keep it out of /proc/<judge>/mem.
        import ctypes
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
    with os.fdopen(3, "rb") as f:
        control = json.loads(f.read())
    out = 4
    token = control["token"]
    child_status = []

    def died():
        if not child_status:
            try:
                child_status.append(os.waitpid(child, 0)[1])
            except ChildProcessError:
                child_status.append(0)
        st = child_status[0]
        if os.WIFSIGNALED(st):
            sig = os.WTERMSIG(st)
            if sig in (24, 9):  # SIGXCPU, SIGKILL: the CPU limit (or the OOM killer, told apart by the box)
                return CandidateError("TLE" if sig == 24 else "KILLED", "the candidate was killed by signal %d" % sig)
            return CandidateError("RE", "the candidate was killed by signal %d" % sig)
        return CandidateError("RE", "the candidate's process exited (status %d)" % os.WEXITSTATUS(st))

    def rpc(msg):
        if child_status:
            raise died()
        try:
            send(req_w, msg)
            return recv(resp_r)
        except (EOFError, OSError):
            raise died()

    def unwrap(reply):
        if "error" in reply:
            raise CandidateError(str(reply["error"][0]), str(reply["error"][1]))
        return dec(reply["value"])

    class Remote:
        def __init__(self, name):
            self.name = name

        def __call__(self, *args, **kwargs):
            return unwrap(rpc({"op": "call", "name": self.name, "args": enc(list(args)), "kwargs": enc(kwargs)}))

    class Globals(dict):
        def __missing__(self, key):
            if hasattr(builtins, key):
                raise KeyError(key)
            reply = rpc({"op": "get", "name": key})
            if reply.get("missing"):
                raise KeyError(key)
            value = Remote(key) if reply.get("callable") else unwrap(reply)
            self[key] = value
            return value

    results = {}
    started = {}

    def report(i, error):
        ms = max(0.0, (time.monotonic() - started.get(i, time.monotonic())) * 1000.0)
        if error is None:
            line = {"i": i, "verdict": "AC", "ms": ms}
        elif isinstance(error, CandidateError):
            line = {"i": i, "verdict": error.verdict, "detail": error.detail, "ms": ms}
        elif isinstance(error, AssertionError):
            line = {"i": i, "verdict": "WA", "detail": "assertion %d failed" % (i + 1), "ms": ms}
        else:
            line = {"i": i, "verdict": "WA", "detail": "the test raised " + describe(error), "ms": ms}
        results[i] = line
        write_all(out, (json.dumps(line) + "\n").encode())

    def begin(i):
        started[i] = time.monotonic()

    tree = ast.parse(control["test"], "test.py")
    checks = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
    if not checks:
        raise SystemExit("the test defines no check(candidate) function")
    check_def = checks[-1]
    has_assert = lambda node: any(isinstance(n, ast.Assert) for n in ast.walk(node))
    groups = [s for s in check_def.body if has_assert(s)]
    if not groups:
        groups = list(check_def.body)
        check_def.body = []
        wrap_all = True
    else:
        wrap_all = False

    def wrapped(i, stmts, at):
        handler = ast.ExceptHandler(
            type=ast.Name("BaseException", ast.Load()), name="r1_error",
            body=[ast.Expr(ast.Call(ast.Name("__r1_report", ast.Load()),
                                    [ast.Constant(i), ast.Name("r1_error", ast.Load())], []))])
        node = ast.Try(
            body=[ast.Expr(ast.Call(ast.Name("__r1_begin", ast.Load()), [ast.Constant(i)], []))] + stmts,
            handlers=[handler],
            orelse=[ast.Expr(ast.Call(ast.Name("__r1_report", ast.Load()), [ast.Constant(i), ast.Constant(None)], []))],
            finalbody=[])
        return ast.copy_location(node, at)

    if wrap_all:
        check_def.body = [wrapped(0, groups, check_def)] if groups else [ast.Pass()]
        total = 1
    else:
        body, i = [], 0
        for stmt in check_def.body:
            if has_assert(stmt):
                body.append(wrapped(i, [stmt], stmt))
                i += 1
            else:
                body.append(stmt)
        check_def.body = body
        total = i
    ast.fix_missing_locations(tree)
    write_all(out, (json.dumps({"total": total}) + "\n").encode())

    g = Globals()
    g["__name__"] = "__test__"
    g["__builtins__"] = builtins
    g["__r1_report"] = report
    g["__r1_begin"] = begin
    abort = None
    try:
        exec(compile(tree, "test.py", "exec"), g)
        entry = control["entry_point"]
        reply = rpc({"op": "get", "name": entry})
        if reply.get("missing"):
            raise CandidateError("RE", "the solution defines no %s" % entry)
        if "error" in reply:
            unwrap(reply)
        g["check"](Remote(entry))
    except BaseException as e:
        abort = e
    for i in range(total):
        if i not in results:
            if isinstance(abort, CandidateError):
                report(i, abort)
            else:
                report(i, CandidateError("RE", "not run: " + (describe(abort) if abort else "check() returned early")))
    try:
        os.close(req_w)
    except OSError:
        pass
    write_all(out, (json.dumps({"done": token, "total": total}) + "\n").encode())
    os.kill(child, 9)
    try:
        os.waitpid(child, 0)
    except ChildProcessError:
        pass


main()
