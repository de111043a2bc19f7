# r1 sandbox: the judge for function tests (HumanEval's shape: the test defines check(candidate)).
#
# The dataset's test code runs in this process; the candidate's code runs in a forked child under
# another uid that never sees the test code, the token or the result channel. Values cross between
# them as tagged JSON of plain built-in types only, so an object whose __eq__ is always true, an
# exit(0) before the asserts, a redefined assert/print/AssertionError, or a fake success marker on
# stdout cannot reach the verdict. Each top-level statement of check() that contains an assert is one
# test (partial credit); results stream to fd 4, and the last line carries the per-run token.
#
# argv: judge.py SOLUTION_PATH CANDIDATE_UID   fd 3: token, entry point and test source (see read_control)
# fd 4: JSON lines of results. Only built-in modules are imported (ast and json would add ~12 ms to
# every job's start): _ast parses the test, and values cross in the small encoding below.
import _ast
import builtins
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


def send(fd, data):
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
    return read_exact(fd, size)


# Values: a tag byte, then for scalars their text up to ';', for str/bytes a length and ':' then the
# bytes, for containers a count and ';' then the items. Only exact built-in types cross.
def enc(x, out, depth=0):
    if depth > MAX_DEPTH:
        raise ValueError("a value nested more than %d deep" % MAX_DEPTH)
    t = type(x)
    if x is None:
        out.append(b"N")
    elif t is bool:
        out.append(b"T" if x else b"F")
    elif t is int:
        out.append(b"i%x;" % x if x >= 0 else b"j%x;" % -x)
    elif t is float:
        out.append(b"f" + x.hex().encode() + b";")
    elif t is str:
        data = x.encode("utf-8", "surrogatepass")
        out.append(b"u%d:" % len(data))
        out.append(data)
    elif t is bytes or t is bytearray:
        out.append((b"b%d:" if t is bytes else b"a%d:") % len(x))
        out.append(bytes(x))
    elif t is complex:
        out.append(b"c" + x.real.hex().encode() + b";" + x.imag.hex().encode() + b";")
    elif t is list or t is tuple or t is set or t is frozenset:
        out.append({list: b"l", tuple: b"t", set: b"s", frozenset: b"z"}[t] + b"%d;" % len(x))
        for v in x:
            enc(v, out, depth + 1)
    elif t is dict:
        out.append(b"d%d;" % len(x))
        for k, v in x.items():
            enc(k, out, depth + 1)
            enc(v, out, depth + 1)
    elif t is range:
        out.append(b"r")
        for v in (x.start, x.stop, x.step):
            enc(v, out, depth + 1)
    elif x is Ellipsis:
        out.append(b"E")
    else:
        raise TypeError("a value of type %s cannot leave the sandbox" % t.__name__)


def encode(x):
    out = []
    enc(x, out)
    return b"".join(out)


def decode(data):
    pos = 0

    def upto(stop):
        nonlocal pos
        end = data.index(stop, pos)
        text = data[pos:end]
        pos = end + 1
        return text

    def count():
        n = int(upto(b";"))
        if n < 0 or n > len(data):
            raise ValueError("a malformed value")
        return n

    def value(depth):
        nonlocal pos
        if depth > MAX_DEPTH:
            raise ValueError("a value nested too deep")
        tag = data[pos:pos + 1]
        pos += 1
        if tag == b"N":
            return None
        if tag == b"T":
            return True
        if tag == b"F":
            return False
        if tag == b"i":
            return int(upto(b";"), 16)
        if tag == b"j":
            return -int(upto(b";"), 16)
        if tag == b"f":
            return float.fromhex(upto(b";").decode())
        if tag in (b"u", b"b", b"a"):
            n = int(upto(b":"))
            if n < 0 or pos + n > len(data):
                raise ValueError("a malformed value")
            raw = data[pos:pos + n]
            pos += n
            return raw.decode("utf-8", "surrogatepass") if tag == b"u" else raw if tag == b"b" else bytearray(raw)
        if tag == b"c":
            return complex(float.fromhex(upto(b";").decode()), float.fromhex(upto(b";").decode()))
        if tag in (b"l", b"t", b"s", b"z"):
            items = [value(depth + 1) for _ in range(count())]
            return items if tag == b"l" else tuple(items) if tag == b"t" else set(items) if tag == b"s" else frozenset(items)
        if tag == b"d":
            n = count()
            d = {}
            for _ in range(n):
                k = value(depth + 1)
                d[k] = value(depth + 1)
            return d
        if tag == b"r":
            return range(value(depth + 1), value(depth + 1), value(depth + 1))
        if tag == b"E":
            return Ellipsis
        raise ValueError("a malformed value")

    result = value(0)
    if pos != len(data):
        raise ValueError("a malformed value")
    return result


# Requests and replies are values too: (op, name, args, kwargs) and (kind, payload).
def reply_of(kind, payload=None):
    return encode((kind, payload))


def json_string(text):
    out = ['"']
    for ch in text:
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif o < 0x20 or 0xD800 <= o <= 0xDFFF:
            out.append("\\u%04x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def json_line(fields):
    parts = []
    for k, v in fields.items():
        if isinstance(v, str):
            v = json_string(v)
        elif isinstance(v, float):
            v = repr(v)
        else:
            v = str(int(v))
        parts.append(json_string(k) + ":" + v)
    return ("{" + ",".join(parts) + "}\n").encode("utf-8", "replace")


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
        load_error = ("CE", describe(e))
    else:
        try:
            exec(code, g)
        except MemoryError as e:
            load_error = ("MLE", describe(e))
        except BaseException as e:
            load_error = ("RE", describe(e))
    while True:
        try:
            op, name, args, kwargs = decode(recv(rfd))
        except BaseException:
            os._exit(0)
        if load_error:
            reply = reply_of("error", load_error)
        else:
            try:
                if op == "get":
                    if name not in g:
                        reply = reply_of("missing")
                    elif callable(g[name]):
                        reply = reply_of("callable")
                    else:
                        reply = b"v" + encode(g[name])
                else:
                    f = g.get(name)
                    if not callable(f):
                        reply = reply_of("error", ("RE", "%s is not a function" % name))
                    else:
                        returned = f(*args, **kwargs)
                        try:
                            reply = b"v" + encode(returned)
                        except (TypeError, ValueError) as e:
                            reply = reply_of("error", ("WA", "returned " + describe(e)))
            except MemoryError as e:
                reply = reply_of("error", ("MLE", describe(e)))
            except BaseException as e:
                reply = reply_of("error", ("RE", describe(e)))
        try:
            send(wfd, reply)
        except BaseException:
            os._exit(0)


# ---- the test's rewrite: each top-level statement of check() holding an assert is one test ------

def walk(node):
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        for field in n._fields:
            v = getattr(n, field, None)
            if isinstance(v, _ast.AST):
                todo.append(v)
            elif isinstance(v, list):
                todo.extend(x for x in v if isinstance(x, _ast.AST))


def located(node, at):
    for n in walk(node):
        if "lineno" in n._attributes and not hasattr(n, "lineno"):
            n.lineno, n.col_offset = at.lineno, at.col_offset
            n.end_lineno, n.end_col_offset = at.end_lineno, at.end_col_offset
    return node


def call(fn, *args):
    return _ast.Expr(_ast.Call(_ast.Name(fn, _ast.Load()), list(args), []))


def wrapped(i, stmts, at):
    handler = _ast.ExceptHandler(_ast.Name("BaseException", _ast.Load()), "r1_error",
                                 [call("__r1_report", _ast.Constant(i), _ast.Name("r1_error", _ast.Load()))])
    node = _ast.Try([call("__r1_begin", _ast.Constant(i))] + stmts, [handler],
                    [call("__r1_report", _ast.Constant(i), _ast.Constant(None))], [])
    return located(node, at)


def rewrite(source):
    tree = compile(source, "test.py", "exec", _ast.PyCF_ONLY_AST)
    checks = [n for n in tree.body if isinstance(n, _ast.FunctionDef) and n.name == "check"]
    if not checks:
        raise SystemExit("the test defines no check(candidate) function")
    check_def = checks[-1]
    has_assert = lambda node: any(isinstance(n, _ast.Assert) for n in walk(node))
    if not any(has_assert(s) for s in check_def.body):
        check_def.body = [wrapped(0, list(check_def.body), check_def)]
        return tree, 1
    body, i = [], 0
    for stmt in check_def.body:
        if has_assert(stmt):
            body.append(wrapped(i, [stmt], stmt))
            i += 1
        else:
            body.append(stmt)
    check_def.body = body
    return tree, i


# ---- the judge's side ----------------------------------------------------------------------------

class CandidateError(Exception):
    def __init__(self, verdict, detail):
        super().__init__(detail)
        self.verdict = verdict
        self.detail = detail


def read_control():
    # token, entry point and test source: two lines, then the rest.
    chunks = []
    while True:
        chunk = os.read(3, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(3)
    token, entry, test = b"".join(chunks).decode("utf-8", "surrogateescape").split("\n", 2)
    return token, entry, test


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
    token, entry, test = read_control()
    out = 4
    child_status = []

    def died():
        if not child_status:
            try:
                _, st, usage = os.wait4(child, 0)
                child_status.append((st, (usage.ru_utime + usage.ru_stime) * 1000.0))
            except ChildProcessError:
                child_status.append((0, 0.0))
        st, cpu_ms = child_status[0]
        if os.WIFSIGNALED(st):
            sig = os.WTERMSIG(st)
            if sig == 24:  # SIGXCPU
                return CandidateError("TLE", "the candidate was killed by signal 24 (CPU limit)")
            if sig == 9:  # the CPU limit's hard kill, the OOM killer, or itself: the box tells them apart
                return CandidateError("KILLED", "%.0f" % cpu_ms)
            return CandidateError("RE", "the candidate was killed by signal %d" % sig)
        return CandidateError("RE", "the candidate's process exited (status %d)" % os.WEXITSTATUS(st))

    def rpc(op, name, args=(), kwargs=None):
        if child_status:
            raise died()
        try:
            send(req_w, encode((op, name, list(args), kwargs or {})))
            data = recv(resp_r)
        except (EOFError, OSError):
            raise died()
        if data[:1] == b"v":
            return "value", decode(data[1:])
        kind, payload = decode(data)
        if kind == "error":
            raise CandidateError(str(payload[0]), str(payload[1]))
        return kind, payload

    class Remote:
        def __init__(self, name):
            self.name = name

        def __call__(self, *args, **kwargs):
            return rpc("call", self.name, args, kwargs)[1]

    class Globals(dict):
        def __missing__(self, key):
            if hasattr(builtins, key):
                raise KeyError(key)
            kind, value = rpc("get", key)
            if kind == "missing":
                raise KeyError(key)
            value = Remote(key) if kind == "callable" else value
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
        write_all(out, json_line(line))

    def begin(i):
        started[i] = time.monotonic()

    tree, total = rewrite(test)
    write_all(out, json_line({"total": total}))
    g = Globals()
    g["__name__"] = "__test__"
    g["__builtins__"] = builtins
    g["__r1_report"] = report
    g["__r1_begin"] = begin
    abort = None
    try:
        exec(compile(tree, "test.py", "exec"), g)
        if rpc("get", entry)[0] == "missing":
            raise CandidateError("RE", "the solution defines no %s" % entry)
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
    write_all(out, json_line({"done": token, "total": total}))
    os.kill(child, 9)
    try:
        os.waitpid(child, 0)
    except ChildProcessError:
        pass


main()
