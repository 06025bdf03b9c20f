#!/usr/bin/env python3
"""test_fault_sweeps: kill and error sweeps over popper's mailbox update,
driven by tests/tools/sysfault (one system-call counter over every process
of the session: the root monitor and the session that dropped privileges).

Shapes: every combination of
  - maildrop mode: server mode (the spool is compacted in place) or
    temp-drop mode (the mail is moved to a temporary drop at login and
    written back at QUIT);
  - message bodies that all end with a newline, or a last message that
    lacks its trailing newline;
  - no delivery, or a message appended to the spool during the session
    (after the DELEs, before QUIT).
Each session logs in, deletes messages 1 and 3 of six (sizes from 200
octets to 200 KB, so the compaction moves several runs and blocks) and
sends QUIT.

Sweeps, counting from the client's QUIT (-A 'QUIT\\r\\n'):
  (a) every system call counted; a dry run gives C; a kill at each call
      1..C+3 (that count is approximate near the session's end, so the
      last points may not be reached: such a run is a finished session).
  (b) only the file-mutating calls counted (MUTATING below); for each
      first kill point k, the recovery session that follows is itself run
      under sysfault, counting its mutating calls from the PASS line, and
      killed at each of them; then a clean recovery.
  (c) an error (EIO, then ENOSPC) at each write, pwrite64, pwritev, fsync,
      fdatasync, ftruncate, fallocate, unlink(at) and rename(at) of the
      update, once with no kill and once with a kill at each later
      mutating call of that run.
  (d) two errors without a kill: at each such call i, and at each such
      call j > i of the run with the first error (EIO and EIO; ENOSPC and
      EIO).
After each faulted session one clean recovery session (login, QUIT) runs.
It must answer +OK to both, and then the independent mbox reader must find
exactly the old message set or exactly the new one, each message
byte-identical to the fixture, the delivered message exactly once, no
dot-lock, and nothing in the state directory but what a clean session
leaves (no journal, no marker, no temporary drop with mail, nothing set
aside as *.bad.* or *.mismatch.*).  The QUIT reply must agree with the
outcome: "+OK" and "mail left in the temporary drop" promise the new set,
"no messages were deleted" the old set; "the next login completes or
undoes the update" and no reply at all allow either.

A message that lacks its trailing newline and is followed by other mail
gains one newline: the empty line in front of the next From_ line is
framing, so both the reader and popper then see a message ending in a
newline.  That is the only difference the checks allow, and only there.

By default (the suite, CI) each sweep runs a deterministic sample: points
at an even stride, plus every point within 4 counted calls of each
ftruncate of the update (the COMPACTED header's fsync, the truncation, the
rollback).  POPPER_FAULTS=full (make check-faults) runs every point.
Each TAP line says how many runs of how many possible it made.

Environment:
  POPPER_FAULTS=full        every point of every sweep
  POPPER_FAULTS_SHAPES=a;b  only shapes whose name contains one of these
  POPPER_FAULTS_SWEEPS=cd   only these of the sweeps a, b, c, d (default all)
  POPPER_FAULTS_JOBS=N      shapes run N at a time (default 2)
  SYSFAULT=path             the tool (default: BUILDDIR/tests/tools/sysfault)
  POPPER, APOPDB            the binaries under test (see popfixture)
Needs root (popper's privilege drop, ptrace); skipped otherwise.
"""
import ctypes
import multiprocessing
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402

SYSFAULT = os.environ.get("SYSFAULT") or os.path.join(pf.BUILDDIR, "tests", "tools", "sysfault")
FULL = os.environ.get("POPPER_FAULTS") == "full"

MUTATING = ("write", "pwrite64", "pwritev", "fsync", "fdatasync", "ftruncate", "rename",
            "renameat", "renameat2", "unlink", "unlinkat", "link", "linkat", "openat",
            "close", "fallocate")
MUT = ",".join(MUTATING)
# The calls that get an injected error in sweeps (c) and (d).
ERRCALLS = frozenset(("write", "pwrite64", "pwritev", "fsync", "fdatasync", "ftruncate",
                      "fallocate", "unlink", "unlinkat", "rename", "renameat", "renameat2"))
AFTER_QUIT = "QUIT\\r\\n"       # sysfault decodes \r \n
AFTER_PASS = "PASS "
NEAR = 4                        # sample: every point this close to an ftruncate
TOOL_TIMEOUT = 30

# Files of the UID store a session may or may not leave, by its path
# through the code; never a journal, marker or set-aside file.
UID_STATE = ("uids", "uids.started")

SIZES = [3000, 9000, 200, 200000, 1500, 4000]
DELE = [1, 3]
USER = "alice"


def fixture(trailing_newline):
    msgs = [pf.make_message("fs-%d" % (i + 1), size=s) for i, s in enumerate(SIZES)]
    if not trailing_newline:
        msgs[-1] = msgs[-1].rstrip(b"\n")
    return msgs


DURING = pf.make_message("fs-during", size=2500)


class Shape:
    def __init__(self, temp, nl, during):
        self.temp, self.nl, self.during = temp, nl, during
        self.name = "%s, %s, %s" % (
            "temp-drop" if temp else "server",
            "trailing newline" if nl else "no trailing newline",
            "mail during session" if during else "no mail during session")
        self.msgs = fixture(nl)
        self.pristine = pf.mbox_bytes(self.msgs)
        kept = [m for i, m in enumerate(self.msgs, 1) if i not in DELE]
        extra = [DURING] if during else []
        self.old = framed(self.msgs + extra)
        self.new = framed(kept + extra)
        self.old_ids = [pf.test_id_of(m) for m in self.old]
        self.new_ids = [pf.test_id_of(m) for m in self.new]


def framed(msgs):
    """The messages as the reader sees them in one mbox: a message that
    lacks its final newline and has mail after it gains one (framing)."""
    return [m if m.endswith(b"\n") or i == len(msgs) - 1 else m + b"\n"
            for i, m in enumerate(msgs)]


SHAPES = [Shape(temp, nl, during) for temp in (False, True) for nl in (True, False)
          for during in (False, True)]


# --------------------------------------------------------------------------
# Running sessions


def sysfault(env, select=None, after=AFTER_QUIT, kill=None, errors=(), log=False):
    """The wrapper argv, and the paths of its report and log."""
    rep = env.path("sf.report")
    logp = env.path("sf.log") if log else None
    for p in (rep, env.path("sf.log")):
        if os.path.exists(p):
            os.unlink(p)
    argv = [SYSFAULT, "-t", str(TOOL_TIMEOUT), "-r", rep, "-A", after]
    if select:
        argv += ["-s", select]
    if kill is not None:
        argv += ["-k", str(kill)]
    for n, err in errors:
        argv += ["-e", "%d:%s" % (n, err)]
    if logp:
        argv += ["-l", logp]
    return argv + ["--"], rep, logp


REPORT_RE = re.compile(r"^counted=(\d+) killed=([01]) injected=(\d+) status=(\d+)$")


def read_report(path):
    try:
        with open(path) as f:
            m = REPORT_RE.match(f.read().strip())
    except OSError:
        return None
    if not m:
        return None
    return {"counted": int(m.group(1)), "killed": m.group(2) == "1",
            "injected": int(m.group(3)), "status": int(m.group(4))}


def read_log(path):
    """[(n, name, ret, pid)] sorted on n."""
    out = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 4:
                out.append((int(p[0]), p[2], p[3], int(p[1])))
    return sorted(out)


def error_points(log):
    """The calls of a log that get an injected error: those in ERRCALLS,
    except the one-byte writes of processes other than the session (the
    busiest process): the monitor's wake-up pipe.  A failure there touches
    no file; it only loses a wake-up, and the monitor then sleeps until
    its poll times out, longer than the test waits."""
    busy = {}
    for n, name, ret, pid in log:
        busy[pid] = busy.get(pid, 0) + 1
    session_pid = max(busy, key=busy.get) if busy else None
    return [n for n, name, ret, pid in log if name in ERRCALLS and not (
        name == "write" and ret == "1" and pid != session_pid)]


def reset(env, sh):
    """Back to the pristine spool and an empty state directory."""
    for n in os.listdir(env.state):
        p = os.path.join(env.state, n)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)
    for p in (env.lock_path(USER),):
        if os.path.exists(p):
            os.unlink(p)
    env.write_mailbox(USER, data=sh.pristine)
    for n in os.listdir(env.logs):
        p = os.path.join(env.logs, n)
        if n == "trace.log":
            open(p, "wb").close()
        else:
            os.unlink(p)


def become_subreaper():
    """Orphans of the sessions we start (a session whose monitor sysfault
    killed) become our children instead of init's, so reap_orphans() can
    reap them at once.  Otherwise such a zombie, still named in the dead
    session's dot-lock, lives until init gets to it, and the recovery
    session waits for it in the lock's back-off."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)      # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def reap_orphans():
    """Reaps every child that has exited (only sessions' leftovers: the
    Popen of each session was waited for already)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def deliver(env):
    """Appends DURING as a careful delivery agent does: first the newlines
    that make its From_ line a separator."""
    data = env.mailbox_bytes(USER) or b""
    if not data or data.endswith(b"\n\n"):
        pre = b""
    elif data.endswith(b"\n"):
        pre = b"\n"
    else:
        pre = b"\n\n"
    with open(env.maildrop(USER), "ab") as f:
        f.write(pre + pf.mbox_bytes([DURING]))


def session(env, sh, prefix=()):
    """Login, STAT, DELE 1 and 3, delivery (by shape), QUIT.  Returns the
    QUIT reply (None when the connection died first) or an error text
    starting with "!" when the session went wrong before QUIT."""
    s = env.start_inetd(prefix=prefix)
    try:
        s.read_greeting()
        r = s.client.login(USER, "secret")
        if not r.startswith("+OK"):
            return "!login: " + r
        s.client.command("STAT")
        for n in DELE:
            r = s.client.command("DELE %d" % n)
            if not r.startswith("+OK"):
                return "!DELE %d: %s" % (n, r)
        if sh.during:
            deliver(env)
        s.client.sendline("QUIT")
        return s.client.line_str()
    except (pf.Closed, pf.Timeout, OSError):
        return None
    finally:
        s.finish()
        reap_orphans()


def recovery(env, prefix=()):
    """Login and QUIT; returns (login reply, QUIT reply), None for a reply
    that did not come."""
    s = env.start_inetd(prefix=prefix)
    login = quit_ = None
    try:
        s.read_greeting()
        login = s.client.login(USER, "secret")
        if login.startswith("+OK"):
            quit_ = s.client.command("QUIT")
    except (pf.Closed, pf.Timeout, OSError):
        pass
    finally:
        s.finish()
        reap_orphans()
    return login, quit_


def reply_allows(reply):
    """The outcomes the QUIT reply allows: a set of "old"/"new", or None
    for a reply that is not one popper gives."""
    if reply is None:
        return {"old", "new"}
    if reply.startswith("+OK"):
        return {"new"}
    if reply.startswith("-ERR"):
        if "no messages were deleted" in reply:
            return {"old"}
        if "mail left in the temporary drop" in reply:
            return {"new"}
        if "the next login completes or undoes the update" in reply:
            return {"old", "new"}
    return None


def describe(got, sh):
    by_id = {pf.test_id_of(m): m for m in sh.msgs + [DURING]}
    parts = []
    for m in got:
        i = pf.test_id_of(m)
        if i not in by_id:
            parts.append("?(%d octets)" % len(m))
        elif by_id[i] == m:
            parts.append(i)
        else:
            parts.append("%s(altered: %d octets, fixture %d)" % (i, len(m), len(by_id[i])))
    return "[" + ", ".join(parts) + "]"


def check(env, sh, reply, allowed_state):
    """After the clean recovery: (None, "old"/"new") or (what is wrong, None)."""
    try:
        got = env.mailbox(USER)
    except pf.MboxFormatError as e:
        return "spool does not parse: %s" % e, None
    if got == sh.old:
        outcome = "old"
    elif got == sh.new:
        outcome = "new"
    else:
        ids = [pf.test_id_of(m) for m in got]
        dup = " (duplicates)" if len(set(ids)) != len(ids) else ""
        return "spool holds %s%s: neither old %s nor new %s" % (
            describe(got, sh), dup, sh.old_ids, sh.new_ids), None
    allows = reply_allows(reply)
    if allows is None:
        return "unexpected QUIT reply %r" % reply, None
    if outcome not in allows:
        return "QUIT reply %r but the spool holds the %s set" % (reply, outcome), None
    if os.path.exists(env.lock_path(USER)):
        return "dot-lock left behind", None
    bad = []
    for dp, dn, fn in os.walk(env.state):
        for n in fn:
            p = os.path.join(dp, n)
            rel = os.path.relpath(p, env.state)
            if n.endswith(".pop"):
                if os.path.getsize(p) != 0 or rel not in allowed_state:
                    bad.append(rel + " (%d octets)" % os.path.getsize(p))
            elif rel not in allowed_state and n not in UID_STATE:
                bad.append(rel)
    if bad:
        return "left in the state directory: %s" % sorted(bad), None
    return None, outcome


class Sweep:
    """Tallies of one sweep of one shape."""

    def __init__(self, name):
        self.name = name
        self.runs = 0
        self.total = 0
        self.note = ""
        self.failures = []
        self.outcomes = {"old": 0, "new": 0}
        self.seconds = 0.0

    def record(self, err, outcome, where):
        self.runs += 1
        if err:
            self.failures.append("%s: %s" % (where, err))
        elif outcome:
            self.outcomes[outcome] += 1


class Runner:
    def __init__(self, sh):
        self.sh = sh
        self.env = pf.PopEnv()
        if sh.temp:
            self.env.reset("server-mode")
        self.allowed = set()

    def faulted(self, sw, where, prefix, first_prefix=None, expect=None):
        """One faulted session (optionally a first session killed by
        first_prefix before it, then prefix is for the recovery), then a
        clean recovery and the checks.  Returns the sysfault report of the
        faulted run."""
        env, sh = self.env, self.sh
        reset(env, sh)
        reply = None
        if first_prefix is not None:
            reply = session(env, sh, first_prefix[0])
            rep1 = read_report(first_prefix[1])
            login, quit_ = recovery(env, prefix[0])
        else:
            reply = session(env, sh, prefix[0])
            rep1 = None
        rep = read_report(prefix[1])
        trouble = None
        for r in ([rep1] if first_prefix is not None else []) + [rep]:
            if r is None:
                trouble = "no sysfault report (the session did not end within %d s)" % pf.PROC_TIMEOUT
            elif r["status"] in (2, 3, 124):
                trouble = "sysfault status %d" % r["status"]
        if trouble is None and isinstance(reply, str) and reply.startswith("!"):
            trouble = "session failed before QUIT: " + reply[1:]
        if trouble is None and first_prefix is not None:
            # The faulted recovery: if it got through, it must have said +OK.
            if rep and not rep["killed"] and not rep["injected"] and not (
                    (login or "").startswith("+OK") and (quit_ or "").startswith("+OK")):
                trouble = "unfaulted recovery got %r / %r" % (login, quit_)
        if trouble is None:
            login2, quit2 = recovery(env)
            if not (login2 or "").startswith("+OK") or not (quit2 or "").startswith("+OK"):
                trouble = "clean recovery got %r / %r; log: %s" % (
                    login2, quit2, env.trace(400).replace("\n", " | "))
        outcome = None
        if trouble is None:
            trouble, outcome = check(env, sh, reply, self.allowed)
            if trouble is None and expect and outcome not in expect:
                trouble = "spool holds the %s set, expected %s" % (outcome, "/".join(expect))
        sw.record(trouble and "%s (QUIT reply %r)" % (trouble, reply), outcome, where)
        return rep

    # ---- the shape -----------------------------------------------------------
    def baseline(self, results):
        """A clean session and a clean recovery: the new set, and what the
        state directory holds afterwards."""
        env, sh = self.env, self.sh
        reset(env, sh)
        reply = session(env, sh)
        login, quit_ = recovery(env)
        self.allowed = set(env.state_listing())
        err, outcome = check(env, sh, reply, self.allowed)
        ok = err is None and outcome == "new" and login.startswith("+OK") and \
            (quit_ or "").startswith("+OK") and (reply or "").startswith("+OK")
        results.append((ok, "%s: a clean session answers QUIT with +OK and leaves the new set" %
                        sh.name, "QUIT %r, recovery %r / %r: %s" % (reply, login, quit_, err)))
        return ok

    def dry(self, select, errors=()):
        """A faultless (or only erroring) session under sysfault with a log:
        (log entries, QUIT reply)."""
        env, sh = self.env, self.sh
        reset(env, sh)
        argv, rep, logp = sysfault(env, select=select, errors=errors, log=True)
        reply = session(env, sh, argv)
        entries = read_log(logp) if os.path.exists(logp) else []
        return entries, reply, read_report(rep)

    def run(self):
        results = []
        sh = self.sh
        t0 = time.monotonic()
        if not self.baseline(results):
            return results, {}
        every, reply_all, _ = self.dry(None)
        mut, reply_mut, _ = self.dry(MUT)
        ok = (reply_all or "").startswith("+OK") and (reply_mut or "").startswith("+OK") and \
            len(every) > 0 and len(mut) > 0
        results.append((ok, "%s: dry runs under sysfault answer +OK (%d calls, %d mutating calls "
                        "after QUIT)" % (sh.name, len(every), len(mut)),
                        "replies %r / %r" % (reply_all, reply_mut)))
        if not ok:
            return results, {}
        # Landmarks the sample always covers: the truncations (the end of a
        # compaction) and temp-drop's extension of the spool.
        trunc_all = [e[0] for e in every if e[1] in ("ftruncate", "fallocate")]
        trunc_mut = [e[0] for e in mut if e[1] in ("ftruncate", "fallocate")]
        want = os.environ.get("POPPER_FAULTS_SWEEPS") or "abcd"
        sweeps = []
        if "a" in want:
            sweeps.append(self.sweep_a(len(every), trunc_all))
        if "b" in want:
            sweeps.append(self.sweep_b(len(mut), trunc_mut))
        if "c" in want or "d" in want:
            sweeps += [sw for sw in self.sweep_cd(mut, trunc_mut) if sw.name in want]
        labels = {"a": "(a) kill at every call",
                  "b": "(b) kill, then kill in the recovery",
                  "c": "(c) EIO/ENOSPC then kill",
                  "d": "(d) two errors"}
        counts = {}
        for sw in sweeps:
            results.append((not sw.failures, "%s: %s: %d of %d runs%s, %d failed (old %d, new %d; "
                            "%.0f s)" % (sh.name, labels[sw.name], sw.runs, sw.total, sw.note,
                                         len(sw.failures), sw.outcomes["old"], sw.outcomes["new"],
                                         sw.seconds),
                            "\n".join(sw.failures[:12])))
            counts[sw.name] = (sw.runs, sw.total, len(sw.failures), sw.seconds)
        counts["seconds"] = time.monotonic() - t0
        return results, counts

    # ---- (a) ----------------------------------------------------------------
    def sweep_a(self, c, truncs):
        sw = Sweep("a")
        t0 = time.monotonic()
        points = list(range(1, c + 4))
        sw.total = len(points)
        if not FULL:
            forced = {n + d for n in truncs for d in range(-3, 4)} | set(points[-4:])
            points = sample(points, 10, forced)
        for k in points:
            pre = sysfault(self.env, kill=k)
            self.faulted(sw, "kill at call %d" % k, pre)
        sw.seconds = time.monotonic() - t0
        return sw

    # ---- (b) ----------------------------------------------------------------
    def sweep_b(self, m, truncs):
        sw = Sweep("b")
        t0 = time.monotonic()
        firsts = list(range(1, m + 1))
        if not FULL:
            forced = {n + d for n in truncs for d in (-1, 0, 1)}
            firsts = sample(firsts, 5, forced)
        total = 0
        for k in range(1, m + 1):
            if k not in firsts and not FULL:
                continue
            # The recovery's dry run (itself a run: recovery under sysfault,
            # no kill): how many mutating calls it makes after PASS.
            first = sysfault(self.env, select=MUT, kill=k)
            rec = sysfault(self.env, select=MUT, after=AFTER_PASS, log=True)
            self.faulted(sw, "first kill %d, recovery unfaulted" % k, rec, first_prefix=first)
            log = read_log(rec[2]) if rec[2] and os.path.exists(rec[2]) else []
            j_all = list(range(1, len(log) + 1))
            total += 1 + len(j_all)
            js = j_all if FULL else sample(j_all, 4, {1, 2})
            for j in js:
                first = sysfault(self.env, select=MUT, kill=k)
                rec = sysfault(self.env, select=MUT, after=AFTER_PASS, kill=j)
                self.faulted(sw, "first kill %d, recovery killed at %d" % (k, j), rec,
                             first_prefix=first)
        # How many recovery points a first kill that was not sampled has
        # would take a dry run each: the sample's total counts only those
        # of the first kills it ran.
        sw.total = total
        if not FULL:
            sw.note = " (counting the %d of %d first kills sampled)" % (len(firsts), m)
        sw.seconds = time.monotonic() - t0
        return sw

    # ---- (c) and (d) ------------------------------------------------------------
    def sweep_cd(self, mut, truncs):
        swc, swd = Sweep("c"), Sweep("d")
        t0 = time.monotonic()
        errpoints = error_points(mut)
        near = {n for n in errpoints if any(abs(n - t) <= NEAR for t in truncs)}
        chosen = errpoints if FULL else sample(errpoints, 5, near)
        tc = td = 0
        dsec = 0.0
        for i in errpoints:
            if i not in chosen:
                continue
            for err in ("EIO", "ENOSPC"):
                # The run with only the error: also the dry run for the kills
                # and second errors after it.
                pre = sysfault(self.env, select=MUT, errors=[(i, err)], log=True)
                self.faulted(swc, "%s at %d, no kill" % (err, i), pre)
                log = read_log(pre[2]) if os.path.exists(pre[2]) else []
                later = [e[0] for e in log if e[0] > i]
                seconds = [n for n in error_points(log) if n > i]
                tc += 1 + len(later)
                kills = later if FULL else sample(later, 3 if i in near else 1,
                                                  set(later[:2]) if i in near else set(later[:1]))
                for mkill in kills:
                    pre = sysfault(self.env, select=MUT, errors=[(i, err)], kill=mkill)
                    self.faulted(swc, "%s at %d, kill at %d" % (err, i, mkill), pre)
                t1 = time.monotonic()
                td += len(seconds)
                js = seconds if FULL else sample(seconds, 2 if i in near else 1,
                                                 set(seconds[:2]) if i in near else set())
                for j in js:
                    pre = sysfault(self.env, select=MUT, errors=[(i, err), (j, "EIO")])
                    self.faulted(swd, "%s at %d, EIO at %d" % (err, i, j), pre)
                dsec += time.monotonic() - t1
        n = len(errpoints)
        swc.total, swd.total = tc, td
        if not FULL:
            swc.note = swd.note = " (counting the %d of %d error points sampled)" % (
                len(chosen), n)
        swd.seconds = dsec
        swc.seconds = time.monotonic() - t0 - dsec
        return swc, swd


def sample(points, n, forced):
    """A deterministic sample: n points at an even stride, the first and
    the last, and the forced ones that exist."""
    if not points:
        return []
    picked = {points[int(k * len(points) / n)] for k in range(min(n, len(points)))}
    picked |= {points[0], points[-1]}
    picked |= set(points) & set(forced)
    return sorted(picked)


def run_shape(index):
    sh = SHAPES[index]
    become_subreaper()
    try:
        r = Runner(sh)
    except Exception as e:  # noqa: BLE001 - reported as a failure
        return [(False, "%s: environment" % sh.name, repr(e))], {}
    try:
        return r.run()
    except Exception as e:  # noqa: BLE001
        import traceback
        return [(False, "%s: sweep raised %s" % (sh.name, e), traceback.format_exc())], {}
    finally:
        r.env.cleanup()


def main():
    tap = pf.TAP()
    tap.bail_if_unbuilt()
    descs = ["fault sweeps: %s" % sh.name for sh in SHAPES]
    if not pf.is_root():
        for d in descs:
            tap.skip(d, "needs root (privilege drop and ptrace)")
        return tap.done()
    if not os.access(SYSFAULT, os.X_OK):
        for d in descs:
            tap.skip(d, "sysfault not built (%s)" % SYSFAULT)
        return tap.done()
    if not tap.can_login(*descs):
        return tap.done()
    only = [s.strip() for s in os.environ.get("POPPER_FAULTS_SHAPES", "").split(";") if s.strip()]
    todo = [i for i, sh in enumerate(SHAPES) if not only or any(o in sh.name for o in only)]
    jobs = max(1, int(os.environ.get("POPPER_FAULTS_JOBS", "2")))
    tap.diag("%s sweeps over %d shapes, %d at a time; popper: %s" % (
        "full" if FULL else "sampled", len(todo), jobs, pf.POPPER))
    t0 = time.monotonic()
    if jobs > 1 and len(todo) > 1:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(jobs) as pool:
            outs = pool.imap(run_shape, todo)
            for results, counts in outs:
                for ok, desc, diag in results:
                    tap.ok(ok, desc, diag)
    else:
        for i in todo:
            results, counts = run_shape(i)
            for ok, desc, diag in results:
                tap.ok(ok, desc, diag)
    tap.diag("fault sweeps took %.0f s" % (time.monotonic() - t0))
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
