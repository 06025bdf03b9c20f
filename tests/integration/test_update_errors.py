#!/usr/bin/env python3
"""test_update_errors: errors (EIO) at the late steps of the QUIT update,
alone, two at a time, and followed by a kill -- the cases an outside sweep
found unsafe (issue 7, hole 1: "rollback after COMPACTED").

The update journal says PREPARED (recovery undoes) until the compacted
spool is synced, then COMPACTED (recovery completes).  An error on the
fsync of that COMPACTED header, or on the ftruncate after it, used to send
popper into a rollback while the disk still said COMPACTED: a second fault
during the rollback then left a garbled spool.  Now popper writes PREPARED
back (synced) before it undoes anything, and touches nothing when it cannot.

Each case runs one session (DELE, QUIT) under tests/tools/sysfault, which
counts the mutating system calls of every popper process after the client's
QUIT and makes the chosen ones fail (or kills them all), then a clean
session that recovers; the independent mbox reader then checks the message
set is exactly the old or the new one, byte for byte, with nothing left in
the state directory, and that the QUIT reply told the truth.  Both maildrop
modes (temp-drop mode runs the same commit on its temporary drop).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402

SYSFAULT = os.environ.get("SYSFAULT") or os.path.join(pf.BUILDDIR, "tests", "tools", "sysfault")
COUNTED = "write,pwrite64,fsync,fdatasync,ftruncate,unlink,unlinkat,rename,renameat,openat,close"
SIZES = [3000, 9000, 200, 20000, 1500, 7000]
DELE = [1, 4]

NO_DELETE = "no messages were deleted"
PENDING = "the next login completes or undoes the update"


def fixture():
    return [pf.make_message("err-%d" % (i + 1), size=n) for i, n in enumerate(SIZES)]


def new_env(msgs, temp_mode):
    env = pf.PopEnv()
    if temp_mode:
        env.reset("server-mode")
    env.write_mailbox("alice", msgs)
    return env


def session(env, faults=(), log=None):
    """DELE and QUIT under sysfault; returns the QUIT reply or None."""
    argv = [SYSFAULT, "-s", COUNTED, "-A", "QUIT\\r\\n", "-t", "30"]
    for f in faults:
        argv += f
    if log:
        argv += ["-l", log]
    s = env.start_inetd(prefix=argv + ["--"])
    reply = None
    try:
        s.read_greeting()
        if s.client.login("alice", "secret").startswith("+OK"):
            for n in DELE:
                s.client.command("DELE %d" % n)
            s.client.sendline("QUIT")
            reply = s.client.line_str()
    except (pf.Closed, pf.Timeout, OSError):
        pass
    finally:
        s.finish()
    return reply


def ids_or_error(env, msgs):
    by_id = {pf.test_id_of(m): m for m in msgs}
    try:
        got = env.mailbox("alice")
    except pf.MboxFormatError as e:
        return None, "mailbox does not parse: %s" % e
    ids = [pf.test_id_of(m) for m in got]
    for m, i in zip(got, ids):
        if by_id.get(i) != m:
            return None, "message %s altered (%d octets)" % (i, len(m))
    return ids, None


def landmarks(msgs, temp_mode):
    """From a dry run's log: the 1-based counted numbers of the session's
    first ftruncate after QUIT (the truncation of the compacted file), of
    the fsync and the pwrite64 just before it (the COMPACTED header and its
    sync), and of the first pwrite64 after the sync of the compacted file
    (where a rollback starts writing)."""
    env = new_env(msgs, temp_mode)
    try:
        log = env.path("dry.log")
        reply = session(env, log=log)
        calls = []
        with open(log) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[0].isdigit():
                    calls.append((int(parts[0]), parts[2]))
        calls.sort()
    finally:
        env.cleanup()
    names = [n for _, n in calls]
    if "ftruncate" not in names:
        return reply, None
    t = names.index("ftruncate")
    fsync_c = max(i for i in range(t) if names[i] == "fsync")
    pwrite_c = max(i for i in range(fsync_c) if names[i] == "pwrite64")
    spool_sync = max(i for i in range(pwrite_c) if names[i] == "fsync")
    return reply, {"truncate": t + 1, "compacted_sync": fsync_c + 1,
                   "compacted_write": pwrite_c + 1, "spool_sync": spool_sync + 1,
                   "total": len(names)}


def check(env, msgs, reply, old_ids, new_ids, allowed):
    """None when the outcome after a recovery session is right."""
    login, quit_ = pf.login_quit(env)
    if not login.startswith("+OK") or not (quit_ or "").startswith("+OK"):
        return "recovery session got %r / %r" % (login, quit_)
    ids, err = ids_or_error(env, msgs)
    if err:
        return err
    if ids not in (old_ids, new_ids):
        return "message set is neither old nor new: %s" % ids
    if reply is not None:
        if reply.startswith("+OK") and ids != new_ids:
            return "QUIT said +OK but the deletions were lost"
        if NO_DELETE in reply and ids != old_ids:
            return "QUIT said no messages were deleted, but they were"
    extra = set(env.state_listing()) - allowed
    bad = [p for p in extra if "journal" in p or "marker" in p]
    if bad:
        return "left in the state directory: %s" % sorted(bad)
    if os.path.exists(env.lock_path("alice")):
        return "dot-lock left behind"
    return None


def run_mode(tap, temp_mode):
    mode = "temp-drop mode" if temp_mode else "server mode"
    msgs = fixture()
    old_ids = [pf.test_id_of(m) for m in msgs]
    new_ids = [pf.test_id_of(m) for i, m in enumerate(msgs) if i + 1 not in DELE]
    allowed = set()
    env = new_env(msgs, temp_mode)
    try:
        pf.login_quit(env)
        allowed |= set(env.state_listing())
    finally:
        env.cleanup()

    reply, marks = landmarks(msgs, temp_mode)
    if not tap.ok(marks is not None and reply and reply.startswith("+OK"),
                  "%s: dry run under sysfault: QUIT +OK, the update truncates" % mode,
                  "reply %r, landmarks %r" % (reply, marks)):
        return
    tap.diag("%s: landmarks %r" % (mode, marks))
    allowed_dry = set(allowed)

    def case(faults, expect_reply=None, expect_ids=None):
        env = new_env(msgs, temp_mode)
        try:
            r = session(env, faults)
            if expect_reply is not None and (r is None or expect_reply not in r):
                return "QUIT reply %r, expected one saying %r" % (r, expect_reply)
            if expect_ids is not None:
                ids, err = ids_or_error(env, msgs)
                if err or ids != expect_ids:
                    return "right after the session: %s" % (err or ids)
            return check(env, msgs, r, old_ids, new_ids, allowed_dry)
        finally:
            env.cleanup()

    cs, ct, cw = marks["compacted_sync"], marks["truncate"], marks["compacted_write"]

    err = case([["-e", "%d:EIO" % cs]], NO_DELETE, old_ids)
    tap.ok(err is None, "%s: EIO on the COMPACTED header's fsync: PREPARED is written back, the "
           "update undone at once, the client told nothing was deleted" % mode, err)

    err = case([["-e", "%d:EIO" % cw]], NO_DELETE, old_ids)
    tap.ok(err is None, "%s: EIO on the COMPACTED header's write: undone at once" % mode, err)

    err = case([["-e", "%d:EIO" % ct]], PENDING)
    tap.ok(err is None, "%s: EIO on the ftruncate: the client hears the next login completes "
           "it, and it does" % mode, err)

    # A second error: the demotion's own write/fsync, then each rollback
    # write after it.  Whatever is left, the next login sorts it out.
    failures = []
    for second in range(cs + 1, min(cs + 12, marks["total"] + 1)):
        e = case([["-e", "%d:EIO" % cs], ["-e", "%d:EIO" % second]])
        if e:
            failures.append("EIO at %d and %d: %s" % (cs, second, e))
    tap.ok(not failures, "%s: EIO on the COMPACTED fsync and a second EIO at each of the next "
           "11 calls (demotion, rollback, journal removal): old or new set after the next "
           "login, never garbled" % mode, "\n".join(failures))

    failures = []
    for k in range(cs + 1, min(cs + 16, marks["total"] + 1)):
        e = case([["-e", "%d:EIO" % cs], ["-k", str(k)]])
        if e:
            failures.append("EIO at %d, kill at %d: %s" % (cs, k, e))
    tap.ok(not failures, "%s: EIO on the COMPACTED fsync, then kill -9 at each of the next 15 "
           "calls: old or new set after the next login" % mode, "\n".join(failures))

    failures = []
    for k in range(ct + 1, min(ct + 8, marks["total"] + 1)):
        e = case([["-e", "%d:EIO" % ct], ["-k", str(k)]])
        if e:
            failures.append("EIO at %d, kill at %d: %s" % (ct, k, e))
    tap.ok(not failures, "%s: EIO on the ftruncate, then kill -9 at each later call: old or "
           "new set after the next login" % mode, "\n".join(failures))


def main():
    tap = pf.TAP()
    tap.bail_if_unbuilt()
    descs = ["%s: errors at the end of the update" % m for m in ("server mode", "temp-drop mode")]
    if not os.access(SYSFAULT, os.X_OK):
        for d in descs:
            tap.skip(d, "tests/tools/sysfault not built (make check-build)")
        return tap.done()
    if not tap.can_login(*descs):
        return tap.done()
    run_mode(tap, temp_mode=False)
    run_mode(tap, temp_mode=True)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
