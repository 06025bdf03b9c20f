#!/usr/bin/env python3
"""test_update_crash: the kill -9 sweep over the UPDATE path (robustness.md
§6.3 T1, the core data-safety test).

For each mailbox shape: a dry run under strace finds every file-mutating
syscall (write, pwrite64, ftruncate, fsync, fdatasync, rename*, unlink*,
link*, openat) that a popper process makes after it read "QUIT".  Then,
for each of those (syscall, k), the same session runs under
`strace -f -e inject=SYSCALL:signal=KILL:when=k`; a fresh recovery session
(login + QUIT) follows, and the independent mbox reader checks the
invariant: the message set is exactly the old one or exactly the new one,
every message byte-identical to the fixture, none twice, no dot-lock left,
no journal left (the state directory holds only what a clean session
leaves).  Mail appended to the spool before QUIT must survive exactly
once in both outcomes.

The first shape is also swept with SIGTERM (catchable: popper blocks
signals during the update, so the outcome must be the old or the new set
right away, with no recovery session and no journal left).

Environment: POPPER_SWEEP_MAX=N limits the number of injection points per
shape and syscall (default: all).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402

N_MSGS = 6
# Sizes chosen so the compaction moves several blocks of different lengths.
SIZES = [3000, 9000, 200, 20000, 1500, 7000]

SHAPES = [
    ("delete first", [1], False),
    ("delete middle and last", [3, 6], False),
    ("delete all", [1, 2, 3, 4, 5, 6], False),
    ("delete first, mail appended before QUIT", [1], True),
]


def fixture():
    return [pf.make_message("crash-%d" % (i + 1), size=SIZES[i]) for i in range(N_MSGS)]


APPENDED = pf.make_message("crash-late", size=2500)


def run_session(env, dele, append, prefix=()):
    """One session: login, DELE, optional append, QUIT.  Returns the QUIT
    reply (None when the connection died first) and the session, whose
    .stage tells how far it got ("login", "dele", "quit-sent", "replied")
    and .appended whether the late message was appended."""
    s = env.start_inetd(prefix=prefix)
    s.stage, s.appended = "login", False
    reply = None
    try:
        s.read_greeting()
        r = s.client.login("alice", "secret")
        if not r.startswith("+OK"):
            return "login: " + r, s
        s.stage = "dele"
        for n in dele:
            r = s.client.command("DELE %d" % n)
            if not r.startswith("+OK"):
                return "DELE: " + r, s
        if append:
            env.append_mailbox("alice", [APPENDED])
            s.appended = True
        s.client.sendline("QUIT")
        s.stage = "quit-sent"
        reply = s.client.line_str()
        s.stage = "replied"
    except (pf.Closed, pf.Timeout, OSError):
        pass
    finally:
        s.rc = s.finish()
    return reply, s


def recovery(env):
    """A clean session that runs recovery: login and QUIT."""
    return pf.login_quit(env)


def new_env(msgs):
    env = pf.PopEnv()
    env.write_mailbox("alice", msgs)
    return env


def check_outcome(env, msgs, old_ids, new_ids, allowed_state):
    """Returns None if the maildrop is in the old or the new state, else a
    description of what is wrong."""
    by_id = {pf.test_id_of(m): m for m in msgs + [APPENDED]}
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
    extra = set(env.state_listing()) - allowed_state
    journals = [p for p in extra if "journal" in os.path.basename(p)]
    if journals:
        return "journal left in the state directory: %s" % sorted(journals)
    if extra:
        env.leftovers = sorted(extra)
    return None


def term_sweep(tap, name, msgs, dele, points, old_ids, new_ids):
    """SIGTERM at each point: old or new set at once, no journal, no lock."""
    failures = []
    for sc, k in points:
        env = new_env(msgs)
        try:
            prefix = pf.strace_prefix(env.path("term.strace"), trace=(sc,),
                                      inject="%s:signal=TERM:when=%d" % (sc, k))
            reply, s = run_session(env, dele, False, prefix=prefix)
            try:
                ids = [pf.test_id_of(m) for m in env.mailbox("alice")]
            except pf.MboxFormatError as e:
                failures.append("%s when=%d: mailbox does not parse: %s" % (sc, k, e))
                continue
            journals = [p for p in env.state_listing() if "journal" in p]
            if ids not in (old_ids, new_ids):
                failures.append("%s when=%d: %s" % (sc, k, ids))
            elif reply and reply.startswith("+OK") and ids != new_ids:
                failures.append("%s when=%d: QUIT said +OK, deletions lost" % (sc, k))
            if journals:
                failures.append("%s when=%d: journal left after SIGTERM: %s" % (sc, k, journals))
            if os.path.exists(env.lock_path("alice")):
                failures.append("%s when=%d: dot-lock left after SIGTERM" % (sc, k))
        finally:
            env.cleanup()
    tap.ok(not failures, "%s: SIGTERM at each of %d syscalls leaves the old or the new set "
           "without recovery" % (name, len(points)), "\n".join(failures[:20]))


def main():
    tap = pf.TAP()
    tap.bail_if_unbuilt()
    if not tap.can_login(*["%s: kill -9 sweep" % name for name, _, _ in SHAPES]):
        return tap.done()
    if not pf.strace_available():
        tap.skip("kill -9 sweep", "strace not installed")
        return tap.done()
    limit = int(os.environ.get("POPPER_SWEEP_MAX", "0"))
    msgs = fixture()
    for name, dele, append in SHAPES:
        old_ids = [pf.test_id_of(m) for m in msgs]
        new_ids = [pf.test_id_of(m) for i, m in enumerate(msgs) if i + 1 not in dele]
        late = ["crash-late"] if append else []

        # What a clean run leaves in the state directory (UID state etc.):
        # after recovery nothing else may remain (no journal).
        allowed = set()
        env = new_env(msgs)
        try:
            r, _ = run_session(env, [], False)
            allowed |= set(env.state_listing())
        finally:
            env.cleanup()

        # Dry run under strace: where can a kill land?
        env = new_env(msgs)
        try:
            trace = env.path("dry.strace")
            reply, s = run_session(env, dele, append, prefix=pf.strace_prefix(trace))
            ok = reply is not None and reply.startswith("+OK")
            tap.ok(ok, "%s: dry run under strace answers QUIT with +OK" % name,
                   "QUIT reply: %r\nstderr: %s" % (reply, s.stderr()[-500:]))
            err = check_outcome(env, msgs, None, new_ids + late, allowed | set(env.state_listing()))
            tap.ok(err is None, "%s: dry run leaves exactly the expected messages" % name, err)
            allowed |= set(env.state_listing())
            points = pf.injection_points(pf.strace_events(trace))
        finally:
            env.cleanup()
        tap.ok(len(points) > 0, "%s: the update makes file-mutating syscalls (%d points)" % (
            name, len(points)))
        if limit:
            per = {}
            kept = []
            for sc, k in points:
                per[sc] = per.get(sc, 0) + 1
                if per[sc] <= limit:
                    kept.append((sc, k))
            points = kept

        failures = []
        landed = in_update = 0
        leftovers = set()
        outcomes = {"old": 0, "new": 0}
        for sc, k in points:
            env = new_env(msgs)
            try:
                trace = env.path("inject.strace")
                prefix = pf.strace_prefix(trace, trace=(sc,),
                                          inject="%s:signal=KILL:when=%d" % (sc, k))
                reply, s = run_session(env, dele, append, prefix=prefix)
                with open(trace, errors="replace") as f:
                    if "killed by SIGKILL" in f.read():
                        landed += 1
                        if s.stage == "quit-sent":
                            in_update += 1
                # The late message is in both outcomes once it was appended.
                extra = late if s.appended else []
                login, quit_ = recovery(env)
                if not login.startswith("+OK") or not (quit_ or "").startswith("+OK"):
                    failures.append("%s when=%d: recovery session got %r / %r" % (sc, k, login, quit_))
                    continue
                err = check_outcome(env, msgs, old_ids + extra, new_ids + extra, allowed)
                if err:
                    failures.append("%s when=%d (QUIT reply %r): %s" % (sc, k, reply, err))
                    continue
                leftovers.update(getattr(env, "leftovers", []))
                ids = [pf.test_id_of(m) for m in env.mailbox("alice")]
                outcomes["old" if ids == old_ids + extra and ids != new_ids + extra else "new"] += 1
                # A +OK to QUIT promises the new state.
                if reply and reply.startswith("+OK") and ids != new_ids + extra:
                    failures.append("%s when=%d: QUIT said +OK but the deletions were lost" % (sc, k))
            finally:
                env.cleanup()
        tap.ok(not failures, "%s: kill -9 at each of %d syscalls leaves the old or the new "
               "message set (old %d, new %d)" % (name, len(points), outcomes["old"], outcomes["new"]),
               "\n".join(failures[:20]))
        if name == SHAPES[0][0]:
            term_sweep(tap, name, msgs, dele, points, old_ids, new_ids)
        tap.ok(in_update > 0 or not points, "%s: the injected kills landed (%d of %d, %d of them "
               "after QUIT was sent)" % (name, landed, len(points), in_update))
        if leftovers:
            tap.diag("%s: other files left in the state directory after recovery "
                     "(not journals, not counted as failures): %s" % (name, sorted(leftovers)))
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
