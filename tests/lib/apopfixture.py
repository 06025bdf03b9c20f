"""apopfixture: helpers for the tests of apopdb, popauth and APOP.

- Gdbm: libgdbm through ctypes, to look at stored records byte for byte, to
  plant damaged ones, and to build a Qpopper pop.auth in Qpopper's own
  format (key "user\\0", value secret XOR 0xff, "\\0", SCRAM field, "\\0")
  without any popper code involved;
- pty_run: runs a program on a pseudo-terminal and types answers after its
  prompts (echo-off prompts cannot be fed through a pipe);
- db_snapshot: every entry of a database, to prove one is unchanged;
- strace_kill_points: where a writer can be killed (strace fault injection).
- strace_stop_start / stop_wait: a writer stopped at one of those points.

Every wait is bounded; every process started here is ended here, but
strace_stop_start's, which its caller resumes and waits for.
"""
import ctypes
import ctypes.util
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import time

GDBM_READER = 0
GDBM_WRCREAT = 2
GDBM_NEWDB = 3
GDBM_REPLACE = 1
GDBM_NOLOCK = 0x40


class Datum(ctypes.Structure):
    _fields_ = [("dptr", ctypes.c_void_p), ("dsize", ctypes.c_int)]


class Gdbm:
    """The few libgdbm calls the tests need; None from load() when the
    library cannot be loaded (then callers skip with a reason)."""

    def __init__(self, lib):
        self.lib = lib
        self.libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        self.libc.free.argtypes = [ctypes.c_void_p]

    @classmethod
    def load(cls):
        name = ctypes.util.find_library("gdbm")
        for candidate in ([name] if name else []) + ["libgdbm.so.6"]:
            try:
                lib = ctypes.CDLL(candidate)
            except OSError:
                continue
            lib.gdbm_open.restype = ctypes.c_void_p
            lib.gdbm_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int,
                                      ctypes.c_int, ctypes.c_void_p]
            lib.gdbm_fetch.restype = Datum
            lib.gdbm_fetch.argtypes = [ctypes.c_void_p, Datum]
            lib.gdbm_store.restype = ctypes.c_int
            lib.gdbm_store.argtypes = [ctypes.c_void_p, Datum, Datum, ctypes.c_int]
            lib.gdbm_firstkey.restype = Datum
            lib.gdbm_firstkey.argtypes = [ctypes.c_void_p]
            lib.gdbm_nextkey.restype = Datum
            lib.gdbm_nextkey.argtypes = [ctypes.c_void_p, Datum]
            lib.gdbm_close.argtypes = [ctypes.c_void_p]
            return cls(lib)
        return None

    def _open(self, path, flags):
        f = self.lib.gdbm_open(path.encode(), 0, flags, 0o600, None)
        if not f:
            raise OSError("gdbm_open %s failed" % path)
        return f

    def _take(self, d):
        if not d.dptr:
            return None
        b = ctypes.string_at(d.dptr, d.dsize)
        self.libc.free(d.dptr)
        return b

    @staticmethod
    def _datum(b):
        buf = ctypes.create_string_buffer(b, len(b))
        return Datum(ctypes.cast(buf, ctypes.c_void_p), len(b)), buf

    def fetch(self, path, key):
        """The stored value for key (bytes or str), or None."""
        if isinstance(key, str):
            key = key.encode()
        f = self._open(path, GDBM_READER)
        try:
            k, _keep = self._datum(key)
            return self._take(self.lib.gdbm_fetch(f, k))
        finally:
            self.lib.gdbm_close(f)

    def store(self, path, items, new=False):
        """Stores {key: value} (bytes) into path, creating it (new=True:
        always a fresh file)."""
        f = self._open(path, GDBM_NEWDB if new else GDBM_WRCREAT)
        try:
            for key, val in items.items():
                k, _k = self._datum(key)
                v, _v = self._datum(val)
                if self.lib.gdbm_store(f, k, v, GDBM_REPLACE) != 0:
                    raise OSError("gdbm_store failed")
        finally:
            self.lib.gdbm_close(f)
        os.chmod(path, 0o600)

    def items(self, path):
        """{key: value} of the whole file."""
        f = self._open(path, GDBM_READER)
        out = {}
        try:
            k = self.lib.gdbm_firstkey(f)
            n = 0
            while k.dptr and n < 100000:
                key = ctypes.string_at(k.dptr, k.dsize)
                kd, _keep = self._datum(key)
                out[key] = self._take(self.lib.gdbm_fetch(f, kd))
                nk = self.lib.gdbm_nextkey(f, k)
                self.libc.free(k.dptr)
                k = nk
                n += 1
        finally:
            self.lib.gdbm_close(f)
        return out


def qpopper_value(secret, scram=b""):
    """A Qpopper 4 pop.auth value: the APOP secret XOR 0xff, NUL, the SCRAM
    field, NUL."""
    if isinstance(secret, str):
        secret = secret.encode()
    return bytes(b ^ 0xFF for b in secret) + b"\0" + scram + b"\0"


def make_qpopper_db(gdbm, path, users):
    """Writes a Qpopper pop.auth at path: users is {name: secret} or
    {name: (secret, scram)}."""
    items = {}
    for name, v in users.items():
        secret, scram = v if isinstance(v, tuple) else (v, b"")
        items[name.encode() + b"\0"] = qpopper_value(secret, scram)
    gdbm.store(path, items, new=True)


def pty_run(argv, answers, env=None, preexec_fn=None, timeout=20, prompt_end=b":"):
    """Runs argv on a pseudo-terminal, typing each of answers (bytes) after
    output that ends with prompt_end.  Returns (exit status, everything
    the terminal showed, as str)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, close_fds=True,
                         start_new_session=True, env=env, preexec_fn=preexec_fn)
    os.close(slave)
    shown = b""
    pending = list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                shown += chunk
                if pending and shown.rstrip().endswith(prompt_end):
                    os.write(master, pending.pop(0) + b"\n")
                    shown += b"<typed>"
            elif p.poll() is not None:
                break
        try:
            rc = p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            rc = p.wait()
    finally:
        os.close(master)
    return rc, shown.decode("utf-8", "replace")


def db_snapshot(gdbm, path):
    """Every (key, value) of the database, sorted: equal snapshots mean an
    unchanged database."""
    return sorted(gdbm.items(path).items())


STRACE_LINE = re.compile(r"^(\d+\s+)?([a-z0-9_]+)\(")


def strace_available():
    return shutil.which("strace") is not None


def strace_kill_points(argv, stdin, syscalls, env=None, timeout=30, user=None):
    """Runs argv once under strace and returns {syscall: count} for the
    given syscalls, so that each k-th call can then be made fatal with
    strace_kill_run.  user: strace -u (setuid programs then keep their
    privileges, as they do outside strace)."""
    out = "/proc/self/fd/2"
    argv0 = ["strace", "-f", "-qq", "-e", "trace=" + ",".join(syscalls)]
    if user:
        argv0 += ["-u", user]
    p = subprocess.run(argv0 + ["-o", out, "--"] + argv, input=stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       env=env)
    counts = {}
    for line in p.stderr.decode(errors="replace").splitlines():
        m = STRACE_LINE.match(line)
        if m and m.group(2) in syscalls:
            counts[m.group(2)] = counts.get(m.group(2), 0) + 1
    return counts, p


def strace_stop_start(argv, stdin, syscall, when, env=None, user=None):
    """Starts argv under strace, which stops it (SIGSTOP) right after the
    when-th call of syscall; stdin is written and closed.  Returns the
    Popen of strace (the tracee's output comes out of it); stop_wait then
    gives the tracee's pid once it is stopped."""
    argv0 = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=" + syscall,
             "-e", "inject=%s:signal=STOP:when=%d" % (syscall, when)]
    if user:
        argv0 += ["-u", user]
    p = subprocess.Popen(argv0 + ["--"] + argv, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    p.stdin.write(stdin)
    p.stdin.close()
    p.stdin = None   # so that communicate() only reads
    return p


def proc_state(pid):
    """The state letter of /proc/<pid>/stat, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def children(pid):
    """The pids of pid's children."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def stop_wait(p, timeout=20):
    """The pid of the tracee of strace_stop_start's p once it is stopped
    (T, or t under the tracer), or None.  The tracer stops it for a moment
    at every system call as well: only a stop that lasts half a second
    counts."""
    deadline = time.monotonic() + timeout
    seen = {}
    while time.monotonic() < deadline and p.poll() is None:
        for k in children(p.pid):
            if proc_state(k) in ("T", "t"):
                seen[k] = seen.get(k, 0) + 1
                if seen[k] >= 10:
                    return k
            else:
                seen[k] = 0
        time.sleep(0.05)
    return None


def strace_kill_run(argv, stdin, syscall, when, env=None, timeout=30, user=None):
    """Runs argv under strace, killed (SIGKILL) at the when-th call of
    syscall.  Returns the CompletedProcess of strace."""
    argv0 = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=" + syscall,
             "-e", "inject=%s:signal=KILL:when=%d" % (syscall, when)]
    if user:
        argv0 += ["-u", user]
    return subprocess.run(argv0 + ["--"] + argv, input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, env=env)
