#!/usr/bin/env python3
"""test_tempdrop_crash: temp-drop mode ("reset server-mode") under kill -9,
SIGTERM and concurrent delivery (robustness.md §6.3 T1 and T3, for Qpopper's
normal mode).

Kill sweeps: a dry run under strace finds every file-mutating syscall
(write, pwrite64, ftruncate, fsync, fdatasync, rename*, unlink*, link*,
openat) a popper process makes in a window of the session -- the login's
move into the temporary drop (between reading "PASS" and "STAT"), and the
QUIT's write-back (after reading "QUIT").  For each (syscall, k) the same
session runs again under `strace -f -e inject=SYSCALL:signal=KILL:when=k`;
mail is appended to the spool after the kill; a recovery session (login +
QUIT, in temp-drop mode or in server mode, alternately) follows, and the
independent mbox reader checks the invariant: the message set is exactly
the old one or exactly the new one plus all delivered mail exactly once,
every message byte-identical, and nothing is left behind (no temporary
drop, no marker, no journal, no dot-lock).  SIGTERM at the same points
(catchable: popper blocks it while moving mail) must give the old or the
new set at once, without a recovery session.

Delivery: while a temp-drop session is logged in and idle, procmail (a
`:0:` recipe: dot-lock and fcntl) and a dotlockfile delivery (fcntl, then
`dotlockfile -l`, append, unlock) must complete at once -- the session
does not hold the spool -- and the mail must follow the kept messages
after QUIT.  The same delivery against a server-mode session has to wait
(that is what temp-drop mode is for).

Environment: POPPER_SWEEP_MAX=N limits the injection points per syscall
and window (default: all).
"""
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402

SIZES = [3000, 9000, 200, 20000, 1500]
DELE = [1, 3]
FROM_LINE = b"From lda@example.org Mon Jan  1 00:00:00 2024\n"


def fixture():
    return [pf.make_message("td-%d" % (i + 1), size=s) for i, s in enumerate(SIZES)]


DURING = pf.make_message("td-during", size=2500)
LATE = pf.make_message("td-late", size=1800)


def new_env(msgs, temp_mode=True):
    env = pf.PopEnv()
    if temp_mode:
        env.reset("server-mode")
    env.write_mailbox("alice", msgs)
    return env


def leftovers(env):
    """Files that must not survive a finished session: temporary drops,
    markers (also set aside), journals."""
    out = []
    for dp, dn, fn in os.walk(env.state):
        for n in fn:
            if n.endswith(".pop") or n.startswith("tempdrop.") or "journal" in n:
                p = os.path.join(dp, n)
                if n.endswith(".pop") and os.path.getsize(p) == 0 and env.settings.get(
                        "keep-temp-drop") == "true":
                    continue
                out.append(os.path.relpath(p, env.state))
    return sorted(out)


def session(env, dele, during, prefix=(), stat_only=False):
    """Login, STAT, DELE..., optional delivery, QUIT.  Returns (QUIT reply or
    None, session); s.stage says how far it got."""
    s = env.start_inetd(prefix=prefix)
    s.stage, s.delivered = "login", False
    reply = None
    try:
        s.read_greeting()
        r = s.client.login("alice", "secret")
        if not r.startswith("+OK"):
            return "login: " + r, s
        s.stage = "trans"
        s.client.command("STAT")
        for n in dele:
            if not s.client.command("DELE %d" % n).startswith("+OK"):
                return "DELE failed", s
        if during:
            env.append_mailbox("alice", [DURING])
            s.delivered = True
        s.client.sendline("QUIT")
        s.stage = "quit-sent"
        reply = s.client.line_str()
        s.stage = "replied"
    except (pf.Closed, pf.Timeout, OSError):
        pass
    finally:
        s.rc = s.finish()
    return reply, s


def recovery(env, temp_mode):
    """A clean login + QUIT (which finishes any interrupted move)."""
    if temp_mode:
        env.reset("server-mode")
    else:
        env.set("server-mode")
    try:
        return pf.login_quit(env)
    finally:
        env.reset("server-mode")


def check(env, msgs, old_ids, new_ids):
    """None if the spool holds the old or the new set exactly, else what is
    wrong."""
    by_id = {pf.test_id_of(m): m for m in msgs + [DURING, LATE]}
    try:
        got = env.mailbox("alice")
    except pf.MboxFormatError as e:
        return "mailbox does not parse: %s" % e
    ids = [pf.test_id_of(m) for m in got]
    if len(set(ids)) != len(ids):
        return "duplicated messages: %s" % ids
    for m, i in zip(got, ids):
        if i not in by_id or by_id[i] != m:
            return "message %s altered or unknown (%d octets)" % (i, len(m))
    if ids != old_ids and ids != new_ids:
        return "message set is neither old %s nor new %s: %s" % (old_ids, new_ids, ids)
    if os.path.exists(env.lock_path("alice")):
        return "dot-lock left behind"
    left = leftovers(env)
    if left:
        return "left in the state directory: %s" % left
    return None


def window_points(trace, start, end=None):
    """(syscall, k) pairs: some process makes its k-th call of syscall
    between reading a line matching start and one matching end."""
    counts, points, inside = {}, set(), False
    for pid, sc, rest in pf.strace_events(trace):
        counts[(pid, sc)] = counts.get((pid, sc), 0) + 1
        if sc in ("read", "recvfrom"):
            if re.search(start, rest):
                inside = True
                continue
            if inside and end and re.search(end, rest):
                inside = False
                continue
        if inside and sc in pf.MUTATING:
            points.add((sc, counts[(pid, sc)]))
    return sorted(points)


def limit_points(points):
    limit = int(os.environ.get("POPPER_SWEEP_MAX", "0"))
    if not limit:
        return points
    per, kept = {}, []
    for sc, k in points:
        per[sc] = per.get(sc, 0) + 1
        if per[sc] <= limit:
            kept.append((sc, k))
    return kept


def sweep(tap, name, dele, during, start, end):
    msgs = fixture()
    old_ids = [pf.test_id_of(m) for m in msgs]
    new_ids = [pf.test_id_of(m) for i, m in enumerate(msgs) if i + 1 not in dele]

    env = new_env(msgs)
    try:
        trace = env.path("dry.strace")
        reply, s = session(env, dele, during, prefix=pf.strace_prefix(trace))
        tap.ok(reply is not None and reply.startswith("+OK"),
               "%s: dry run under strace answers QUIT with +OK" % name,
               "reply %r, stderr %s" % (reply, s.stderr()[-500:]))
        extra = ["td-during"] if during else []
        err = check(env, msgs, None, new_ids + extra)
        tap.ok(err is None, "%s: dry run leaves exactly the expected messages" % name, err)
        points = limit_points(window_points(trace, start, end))
    finally:
        env.cleanup()
    tap.ok(len(points) > 5, "%s: the window makes file-mutating syscalls (%d points)" % (
        name, len(points)))

    failures, landed = [], 0
    outcomes = {"old": 0, "new": 0}
    for n, (sc, k) in enumerate(points):
        env = new_env(msgs)
        try:
            trace = env.path("inject.strace")
            prefix = pf.strace_prefix(trace, trace=(sc,), inject="%s:signal=KILL:when=%d" % (sc, k))
            reply, s = session(env, dele, during, prefix=prefix)
            with open(trace, errors="replace") as f:
                if "killed by SIGKILL" in f.read():
                    landed += 1
            env.append_mailbox("alice", [LATE])     # delivered after the crash
            extra = (["td-during"] if s.delivered else []) + ["td-late"]
            temp_rec = n % 2 == 0
            login, quit_ = recovery(env, temp_rec)
            if not login.startswith("+OK") or not (quit_ or "").startswith("+OK"):
                failures.append("%s when=%d: recovery (%s mode) got %r / %r; log: %s" % (
                    sc, k, "temp-drop" if temp_rec else "server", login, quit_, env.trace(600)))
                continue
            err = check(env, msgs, old_ids + extra, new_ids + extra)
            if err:
                failures.append("%s when=%d (QUIT reply %r, recovery in %s mode): %s" % (
                    sc, k, reply, "temp-drop" if temp_rec else "server", err))
                continue
            ids = [pf.test_id_of(m) for m in env.mailbox("alice")]
            outcomes["old" if ids == old_ids + extra and ids != new_ids + extra else "new"] += 1
            if reply and reply.startswith("+OK") and ids != new_ids + extra:
                failures.append("%s when=%d: QUIT said +OK but the deletions were lost" % (sc, k))
        finally:
            env.cleanup()
    if dele:
        what = "the old or the new set (old %d, new %d)" % (outcomes["old"], outcomes["new"])
    else:
        what = "every message"
    tap.ok(not failures, "%s: kill -9 at each of %d syscalls, then mail, then recovery: %s, "
           "every delivery once" % (name, len(points), what), "\n".join(failures[:10]))
    tap.ok(landed > len(points) // 2, "%s: the kills landed (%d of %d)" % (name, landed, len(points)))
    return points


def term_sweep(tap, name, dele, points):
    """SIGTERM at each point of the QUIT window: popper finishes the move it
    is in, so the spool is the old or the new set with no recovery."""
    msgs = fixture()
    old_ids = [pf.test_id_of(m) for m in msgs]
    new_ids = [pf.test_id_of(m) for i, m in enumerate(msgs) if i + 1 not in dele]
    failures = []
    for sc, k in points:
        env = new_env(msgs)
        try:
            prefix = pf.strace_prefix(env.path("term.strace"), trace=(sc,),
                                      inject="%s:signal=TERM:when=%d" % (sc, k))
            reply, s = session(env, dele, False, prefix=prefix)
            err = check(env, msgs, old_ids, new_ids)
            if err:
                failures.append("%s when=%d (reply %r): %s" % (sc, k, reply, err))
            elif reply and reply.startswith("+OK") and [
                    pf.test_id_of(m) for m in env.mailbox("alice")] != new_ids:
                failures.append("%s when=%d: QUIT said +OK, deletions lost" % (sc, k))
        finally:
            env.cleanup()
    tap.ok(not failures, "%s: SIGTERM at each of %d syscalls leaves the old or the new set, all "
           "mail back in the spool, without recovery" % (name, len(points)), "\n".join(failures[:10]))


# ---- delivery during a session --------------------------------------------------

def dotlock_deliver(spool, msg, timeout):
    """fcntl lock, dotlockfile, append, unlock (Debian policy's order),
    trying both locks without blocking until timeout.  Returns the seconds
    it took, or None if it could not get the locks."""
    lock = spool + ".lock"
    t0 = time.monotonic()
    fd = os.open(spool, os.O_WRONLY | os.O_APPEND)
    try:
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                pass
            else:
                r = subprocess.run(["dotlockfile", "-l", "-r", "0", lock],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
                if r.returncode == 0:
                    break
                fcntl.lockf(fd, fcntl.LOCK_UN)
            if time.monotonic() - t0 > timeout:
                return None
            time.sleep(0.1)
        try:
            os.write(fd, FROM_LINE + msg + b"\n")
            os.fsync(fd)
        finally:
            subprocess.run(["dotlockfile", "-u", lock], timeout=30)
        return time.monotonic() - t0
    finally:
        os.close(fd)


def test_delivery(tap):
    missing = [p for p in ("procmail", "dotlockfile") if not shutil.which(p)]
    if missing:
        tap.skip("delivery during a temp-drop session", "not installed: " + " ".join(missing))
        return
    msgs = [pf.make_message("dl-%d" % i, size=2000) for i in range(1, 4)]
    pm_msg = pf.make_message("dl-procmail", size=1500)
    dl_msg = pf.make_message("dl-dotlock", size=700)
    env = new_env(msgs)
    try:
        env.set("lock-wait", "10")
        spool = env.maildrop("alice")
        rc = env.path("procmailrc")
        with open(rc, "w") as f:
            f.write("LOCKSLEEP=1\nLOCKTIMEOUT=1024\n:0:\n%s\n" % spool)
        s, r = env.login_session()
        tap.ok(r.startswith("+OK alice has 3 visible messages"), "temp-drop session logged in", r)
        s.client.command("DELE 2")
        t0 = time.monotonic()
        try:
            p = subprocess.run(["procmail", "-m", rc], input=FROM_LINE + pm_msg,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
            pm_ok, pm_time = p.returncode == 0, time.monotonic() - t0
        except subprocess.TimeoutExpired:
            pm_ok, pm_time = False, 30.0
        tap.ok(pm_ok and pm_time < 3, "procmail delivers during the session without waiting "
               "(%.2f s)" % pm_time)
        took = dotlock_deliver(spool, dl_msg, timeout=5)
        tap.ok(took is not None and took < 3, "fcntl + dotlockfile delivery during the session "
               "does not wait (%s s)" % (None if took is None else "%.2f" % took))
        tap.is_(s.client.command("STAT").split()[:2], ["+OK", "2"],
                "the session still sees only its own messages")
        q = s.client.command("QUIT")
        s.finish()
        tap.ok(q.startswith("+OK"), "QUIT after the deliveries", q)
        ids = [pf.test_id_of(m) for m in env.mailbox("alice")]
        tap.is_(ids, ["dl-1", "dl-3", "dl-procmail", "dl-dotlock"],
                "kept messages first, then both deliveries, once each")
        by_id = {pf.test_id_of(m): m for m in msgs + [pm_msg, dl_msg]}
        tap.ok(all(by_id[pf.test_id_of(m)] == m for m in env.mailbox("alice")),
               "every message byte-identical")
        tap.ok(not leftovers(env) and not os.path.exists(spool + ".lock"),
               "no temporary drop, marker or lock left")

        # The contrast: a server-mode session holds the spool, the same
        # delivery cannot get the locks while it runs.
        env.set("server-mode")
        s, r = env.login_session()
        took = dotlock_deliver(spool, pf.make_message("dl-blocked", size=300), timeout=2)
        tap.ok(took is None, "server mode: the same delivery waits while the session runs")
        s.client.command("QUIT")
        s.finish()
        took = dotlock_deliver(spool, pf.make_message("dl-after", size=300), timeout=5)
        tap.ok(took is not None, "server mode: delivery goes through after QUIT")
    finally:
        env.cleanup()


def test_writeback_blocked(tap):
    """QUIT while another agent holds the spool's dot-lock longer than
    lock-wait: the deletions are made, the kept mail waits in the temporary
    drop, the client is told so, and the next login merges it."""
    if not shutil.which("dotlockfile"):
        tap.skip("write-back blocked by a lock", "dotlockfile not installed")
        return
    msgs = [pf.make_message("wb-%d" % i, size=900) for i in range(1, 4)]
    env = new_env(msgs)
    holder = None
    try:
        env.set("lock-wait", "1")
        lock = env.lock_path("alice")
        s, r = env.login_session()
        tap.ok(r.startswith("+OK"), "temp-drop session logged in", r)
        s.client.command("DELE 2")
        holder = subprocess.Popen(["dotlockfile", "-l", "-p", "-r", "0", lock, "sleep", "60"],
                                  start_new_session=True, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(lock) and time.monotonic() < deadline:
            time.sleep(0.05)
        q = s.client.command("QUIT")
        s.finish()
        tap.is_(q, "-ERR [SYS/TEMP] Error updating the maildrop; mail left in the temporary drop.",
                "QUIT while the spool is locked: the reply says where the mail is")
        drops = [p for p in leftovers(env) if p.endswith(".pop")]
        tap.ok(len(drops) == 1 and pf.read_mbox(os.path.join(env.state, drops[0])) ==
               [msgs[0], msgs[2]], "the temporary drop holds exactly the kept messages", drops)
        tap.is_(env.mailbox_bytes("alice"), b"", "the spool is empty meanwhile")
        os.killpg(holder.pid, signal.SIGTERM)
        holder.wait(10)
        holder = None
        subprocess.run(["dotlockfile", "-u", lock], timeout=10)
        env.append_mailbox("alice", [LATE])
        env.set("server-mode")
        s, r = env.login_session()
        tap.ok(r.startswith("+OK alice has 3 visible messages"), "next login (server mode) sees "
               "the kept messages and the new one", r)
        s.client.command("QUIT")
        s.finish()
        tap.is_([pf.test_id_of(m) for m in env.mailbox("alice")], ["wb-1", "wb-3", "td-late"],
                "kept messages back in the spool, ahead of the new mail")
        tap.ok(not leftovers(env), "no temporary drop or marker left")
    finally:
        if holder:
            try:
                os.killpg(holder.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            holder.wait(10)
        env.cleanup()


def test_second_session(tap):
    """A second session of the user, in either mode, gets [IN-USE] while a
    temp-drop session runs, and changes nothing."""
    msgs = [pf.make_message("ss-%d" % i) for i in range(1, 4)]
    env = new_env(msgs)
    try:
        env.set("lock-wait", "1")
        a, r = env.login_session()
        tap.ok(r.startswith("+OK"), "first (temp-drop) session logged in", r)
        for mode in ("temp-drop", "server"):
            if mode == "server":
                env.set("server-mode")
            b, r2 = env.login_session()
            tap.is_(r2, "-ERR [IN-USE] Maildrop is locked; is another session active?",
                    "a second %s-mode session meanwhile: [IN-USE]" % mode)
            b.finish()
        env.reset("server-mode")
        a.client.command("DELE 1")
        tap.ok(a.client.command("QUIT").startswith("+OK"), "first session QUITs fine")
        a.finish()
        tap.is_([pf.test_id_of(m) for m in env.mailbox("alice")], ["ss-2", "ss-3"],
                "its deletion applied, nothing else changed")
    finally:
        env.cleanup()


def main():
    tap = pf.TAP()
    tap.bail_if_unbuilt()
    if not tap.can_login("temp-drop mode sessions"):
        return tap.done()
    test_second_session(tap)
    test_writeback_blocked(tap)
    test_delivery(tap)
    if not pf.strace_available():
        tap.skip("kill -9 sweeps in temp-drop mode", "strace not installed")
        return tap.done()
    sweep(tap, "login (move-in)", [], False, r'^\d+, "PASS ', r'^\d+, "STAT')
    quit_points = sweep(tap, "QUIT (write-back)", DELE, True, r'^\d+, "QUIT\\r\\n"', None)
    term_sweep(tap, "QUIT (write-back)", DELE, quit_points)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
