#!/usr/bin/env python3
"""test_sysfault_tool: self-test of tests/tools/sysfault, the ptrace
fault-injection helper the crash and disk-full sweeps rely on.

Each case runs a tiny shell or Python program under sysfault and checks
what the sweeps depend on: the global count of selected system calls,
that -k N kills every traced process before call N runs, that -e N:ERR
makes call N fail with ERR without running it, that -A starts counting
only after the marker was read, the -l log and -r report formats,
counting across a fork, the timeout and usage errors.

The tool is looked up at $TEST_BUILDDIR/tests/tools/sysfault (default:
the source tree).  When it is not built, the whole test is skipped.
Speaks TAP.
"""
import errno
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.join(HERE, "..", "..")
BUILDDIR = os.environ.get("TEST_BUILDDIR") or SRCDIR
TOOL = os.path.join(BUILDDIR, "tests", "tools", "sysfault")
PY = sys.executable or "python3"
TIMEOUT = 30

count = 0
failed = 0


def ok(cond, desc, diag=None):
    global count, failed
    count += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", count, desc.replace("#", "\\#")))
    if not cond:
        failed += 1
        for line in str(diag or "").splitlines():
            print("# " + line)
    sys.stdout.flush()
    return cond


def run(args, work, stdin=subprocess.DEVNULL, timeout=TIMEOUT):
    """Run sysfault with ARGS in WORK; returns (rc, report dict, log lines,
    stderr text, seconds)."""
    report = os.path.join(work, "report")
    log = os.path.join(work, "log")
    for p in (report, log):
        if os.path.exists(p):
            os.unlink(p)
    cmd = [TOOL, "-r", report, "-l", log] + args
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=work, stdin=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    took = time.monotonic() - t0
    rep = parse_report(report)
    lines = []
    if os.path.exists(log):
        with open(log) as f:
            lines = [ln.rstrip("\n") for ln in f]
    return p.returncode, rep, lines, p.stderr.decode(errors="replace"), took


REPORT_RE = re.compile(r"^counted=(\d+) killed=([01]) injected=(\d+) status=(\d+)\n$")


def parse_report(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    m = REPORT_RE.match(text)
    if not m:
        return {"raw": text}
    return {"counted": int(m.group(1)), "killed": int(m.group(2)),
            "injected": int(m.group(3)), "status": int(m.group(4))}


LOG_RE = re.compile(r"^(\d+) (\d+) ([a-z_0-9]+) (-?\d+|killed|injected|\?)$")


def parse_log(lines):
    out = []
    for ln in lines:
        m = LOG_RE.match(ln)
        if not m:
            return None
        out.append((int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)))
    return out


def diag(rc, rep, lines, err, extra=""):
    return "rc=%r report=%r\nlog=%r\nstderr=%s\n%s" % (rc, rep, lines[-20:], err.strip(), extra)


def read(path):
    try:
        with open(path, newline="") as f:
            return f.read()
    except OSError as e:
        return "<%s>" % e


def pid_gone(pid):
    """True when PID no longer runs (a zombie left for a non-reaping init
    counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def py(code):
    return [PY, "-S", "-c", code]


def t_counting(work):
    rc, rep, lines, err, _ = run(["-s", "write", "--", "sh", "-c", "echo a >f; echo b >>f"], work)
    ok(rc == 0 and rep and rep.get("counted") == 2 and rep.get("status") == 0
       and read(os.path.join(work, "f")) == "a\nb\n",
       "counting: -s write counts the two writes of two echos, exit 0",
       diag(rc, rep, lines, err))


def t_exit_status(work):
    rc, rep, lines, err, _ = run(["--", "sh", "-c", "exit 7"], work)
    ok(rc == 7 and rep and rep.get("status") == 7, "exit status of CMD is passed on",
       diag(rc, rep, lines, err))
    rc, rep, lines, err, _ = run(["--", "sh", "-c", "kill -TERM $$"], work)
    ok(rc == 128 + 15 and rep and rep.get("status") == 143 and rep.get("killed") == 0,
       "CMD killed by a signal: 128+signal", diag(rc, rep, lines, err))


FIVE_LINES = """
import os
fd = os.open("lines", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for i in range(5):
    os.write(fd, b"line %d\\n" % i)
os.close(fd)
"""


def t_kill(work):
    rc, rep, lines, err, _ = run(["-s", "write", "-k", "3", "--"] + py(FIVE_LINES), work)
    content = read(os.path.join(work, "lines"))
    log = parse_log(lines) or []
    ok(rc == 137 and content == "line 0\nline 1\n" and rep
       and rep.get("killed") == 1 and rep.get("counted") == 3 and rep.get("status") == 137
       and log and log[-1][0] == 3 and log[-1][3] == "killed",
       "-k 3: killed before the third write (2 lines left), status 137, killed=1",
       diag(rc, rep, lines, err, "file=%r" % content))


FORK_SLEEPER = """
import os, time
pid = os.fork()
if pid == 0:
    time.sleep(30)
    os._exit(0)
fd = os.open("child", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"%d\\n" % pid)
time.sleep(0.3)
os.write(fd, b"second\\n")
os.waitpid(pid, 0)
"""


def t_kill_all(work):
    rc, rep, lines, err, took = run(["-s", "write", "-k", "2", "--"] + py(FORK_SLEEPER), work)
    text = read(os.path.join(work, "child"))
    try:
        child = int(text.split("\n")[0])
    except ValueError:
        child = None
    gone = False
    if child:
        # the kill is asynchronous for the sleeper: give the kernel a moment
        for _ in range(50):
            if pid_gone(child):
                gone = True
                break
            time.sleep(0.05)
    ok(rc == 137 and took < 10 and child and gone and text == "%d\n" % child
       and rep and rep.get("killed") == 1,
       "-k kills every traced process: the sleeping child is gone, quickly",
       diag(rc, rep, lines, err, "took=%.1fs child=%r gone=%r file=%r" % (took, child, gone, text)))
    if child and not gone:
        try:
            os.kill(child, 9)
        except OSError:
            pass


ENOSPC_PROG = """
import os, sys
fd = os.open("out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"one\\n")
try:
    os.write(fd, b"two\\n")
    res = "none"
except OSError as e:
    res = str(e.errno)
os.write(fd, b"three\\n")
with open("errno", "w") as f:
    f.write(res)
"""


def t_inject_write(work):
    rc, rep, lines, err, _ = run(["-s", "write", "-e", "2:ENOSPC", "--"] + py(ENOSPC_PROG), work)
    out = read(os.path.join(work, "out"))
    got = read(os.path.join(work, "errno"))
    log = parse_log(lines) or []
    ok(rc == 0 and got == str(errno.ENOSPC) and out == "one\nthree\n" and rep
       and rep.get("injected") == 1 and len(log) >= 2 and log[1][3] == "injected",
       "-e 2:ENOSPC: the second write fails with ENOSPC and writes nothing",
       diag(rc, rep, lines, err, "out=%r errno=%r" % (out, got)))


EIO_PROG = """
import os
fd = os.open("data", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"x\\n")
try:
    os.fsync(fd)
    res = "none"
except OSError as e:
    res = str(e.errno)
os.fsync(fd)
with open("errno", "w") as f:
    f.write(res)
"""


def t_inject_fsync(work):
    rc, rep, lines, err, _ = run(["-s", "fsync,fdatasync", "-e", "1:EIO", "--"] + py(EIO_PROG), work)
    got = read(os.path.join(work, "errno"))
    log = parse_log(lines) or []
    ok(rc == 0 and got == str(errno.EIO) and rep and rep.get("injected") == 1
       and rep.get("counted") == 2 and [x[2:] for x in log] == [("fsync", "injected"), ("fsync", "0")],
       "-e 1:EIO at fsync: the program sees EIO, the second fsync succeeds",
       diag(rc, rep, lines, err, "errno=%r" % got))


READER = """
import os
fd = os.open("seen", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
while True:
    b = os.read(0, 100)
    if not b:
        break
    os.write(fd, b)
os.write(fd, b"end\\n")
"""


def t_after(work):
    r, w = os.pipe()
    tool = None
    try:
        report = os.path.join(work, "report")
        log = os.path.join(work, "log")
        for p in (report, log):
            if os.path.exists(p):
                os.unlink(p)
        tool = subprocess.Popen([TOOL, "-r", report, "-l", log, "-s", "write",
                                 "-A", "QUIT\\r\\n", "--"] + py(READER),
                                cwd=work, stdin=r, stderr=subprocess.PIPE)
        os.close(r)
        r = -1
        os.write(w, b"hello\r\n")
        time.sleep(0.5)   # two separate reads
        os.write(w, b"QUIT\r\n")
        time.sleep(0.3)
        os.close(w)
        w = -1
        _, errb = tool.communicate(timeout=TIMEOUT)
        rc = tool.returncode
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)
        if tool and tool.poll() is None:
            tool.kill()
            tool.wait()
    rep = parse_report(report)
    lines = read(log).splitlines()
    log = parse_log(lines) or []
    seen = read(os.path.join(work, "seen"))
    # writes: "hello\r\n" (before the marker), "QUIT\r\n" and "end\n" after it
    ok(rc == 0 and seen == "hello\r\nQUIT\r\nend\n" and rep and rep.get("counted") == 2
       and [x[3] for x in log] == ["6", "4"],
       "-A 'QUIT\\r\\n': only the calls after the read carrying QUIT are counted",
       diag(rc, rep, lines, errb.decode(errors="replace"), "seen=%r" % seen))


def t_after_never(work):
    rc, rep, lines, err, _ = run(["-A", "QUIT", "--", "sh", "-c", "echo hi >f"], work)
    ok(rc == 0 and rep and rep.get("counted") == 0 and lines == [],
       "-A with the marker never read: nothing counted", diag(rc, rep, lines, err))


NAMES_PROG = """
import os
fd = os.open("named", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"hello\\n")
os.fsync(fd)
os.ftruncate(fd, 2)
os.rename("named", "renamed")
os.unlink("renamed")
os.close(fd)
"""


def t_log_names(work):
    sel = "write,fsync,ftruncate,rename,renameat,renameat2,unlink,unlinkat,openat,close"
    rc, rep, lines, err, _ = run(["-s", sel, "--"] + py(NAMES_PROG), work)
    log = parse_log(lines)
    good = log is not None and rep is not None and len(log) == rep.get("counted")
    if good:
        good = [x[0] for x in log] == list(range(1, len(log) + 1))
    tail = []
    if good:
        # the program's own calls come last, after the interpreter's start-up
        i = max(k for k, x in enumerate(log) if x[2] == "openat")
        tail = [(x[2], x[3]) for x in log[i:]]
    rename_ok = len(tail) == 7 and tail[4][0] in ("rename", "renameat", "renameat2") \
        and tail[5][0] in ("unlink", "unlinkat")
    ok(rc == 0 and good and rename_ok and tail[0][0] == "openat"
       and tail[1] == ("write", "6") and tail[2] == ("fsync", "0")
       and tail[3] == ("ftruncate", "0") and tail[6] == ("close", "0"),
       "-l: one line per counted call, numbered 1..C, with names and results",
       diag(rc, rep, lines, err, "tail=%r" % (tail,)))
    rc, rep, lines, err, _ = run(["--", "true"], work)
    log = parse_log(lines) or []
    names = set(x[2] for x in log)
    ok(rc == 0 and log and "exit_group" in names and ("mmap" in names or "brk" in names)
       and log[-1][3] == "?" and rep and rep.get("counted") == len(log),
       "without -s every call counts; a call that never returns logs '?'",
       diag(rc, rep, lines, err))


MULTI_PROG = """
import os
fd = os.open("multi", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"parent 1\\n")
pid = os.fork()
if pid == 0:
    os.write(fd, b"child 1\\n")
    os.write(fd, b"child 2\\n")
    os._exit(0)
os.waitpid(pid, 0)
os.write(fd, b"parent 2\\n")
"""


def t_multi(work):
    rc, rep, lines, err, _ = run(["-s", "write", "--"] + py(MULTI_PROG), work)
    log = parse_log(lines) or []
    pids = [x[1] for x in log]
    ok(rc == 0 and rep and rep.get("counted") == 4 and len(log) == 4
       and pids[0] == pids[3] and pids[1] == pids[2] and pids[0] != pids[1],
       "a forked child's calls share the one global counter",
       diag(rc, rep, lines, err))
    rc, rep, lines, err, _ = run(["-s", "write", "-k", "2", "--"] + py(MULTI_PROG), work)
    text = read(os.path.join(work, "multi"))
    ok(rc == 137 and text == "parent 1\n" and rep and rep.get("killed") == 1,
       "-k at a call made by the child kills the parent too",
       diag(rc, rep, lines, err, "file=%r" % text))


THREAD_PROG = """
import os, threading
fd = os.open("threads", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
def body():
    for i in range(3):
        os.write(fd, b"thread\\n")
t = threading.Thread(target=body)
t.start()
t.join()
os.write(fd, b"main\\n")
"""


def t_threads(work):
    rc, rep, lines, err, _ = run(["-s", "write", "--"] + py(THREAD_PROG), work)
    log = parse_log(lines) or []
    tids = [x[1] for x in log]
    ok(rc == 0 and rep and rep.get("counted") == 4 and len(set(tids[:3])) == 1
       and tids[3] != tids[0],
       "threads are followed: their calls count in the same counter",
       diag(rc, rep, lines, err))


def t_timeout(work):
    rc, rep, lines, err, took = run(["-t", "1", "--", "sleep", "30"], work)
    ok(rc == 124 and took < 10 and rep and rep.get("status") == 124,
       "-t 1 on sleep 30: status 124, quickly", diag(rc, rep, lines, err, "took=%.1fs" % took))


def t_daemon(work):
    prog = "import os, time\nif os.fork() == 0:\n    time.sleep(1.5)\n    os._exit(0)\n"
    rc, rep, lines, err, took = run(["--"] + py(prog), work)
    ok(rc == 0 and took >= 1.2, "the tool waits for descendants that outlive CMD",
       diag(rc, rep, lines, err, "took=%.1fs" % took))


def t_usage(work):
    cases = [
        ["-s", "nosuchcall", "--", "true"],
        ["-e", "1:ENOTANERRNO", "--", "true"],
        ["-e", "0:EIO", "--", "true"],
        ["-k", "x", "--", "true"],
        ["-A", "bad\\q", "--", "true"],
        ["-s", "write"],
    ]
    bad = []
    for c in cases:
        p = subprocess.run([TOOL] + c, cwd=work, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
        if p.returncode != 2:
            bad.append((c, p.returncode))
    ok(not bad, "usage errors (unknown syscall, errno, bad N, no CMD) exit 2", "bad=%r" % bad)


def main():
    if not os.access(TOOL, os.X_OK):
        print("1..1")
        print("ok 1 - sysfault # SKIP sysfault not built (make check-build)")
        return 0
    tests = [t_counting, t_exit_status, t_kill, t_kill_all, t_inject_write,
             t_inject_fsync, t_after, t_after_never, t_log_names, t_multi,
             t_threads, t_timeout, t_daemon, t_usage]
    plan = 17
    print("1..%d" % plan)
    sys.stdout.flush()
    for t in tests:
        work = tempfile.mkdtemp(prefix="sysfault-test-")
        try:
            t(work)
        except Exception as e:  # a crash in one case must not hide the others
            ok(False, "%s raised" % t.__name__, repr(e))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if count != plan:
        print("# ran %d tests, planned %d" % (count, plan))
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
