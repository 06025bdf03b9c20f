#!/usr/bin/env python3
"""test_uid_reuse: a UID is never handed to a second message of the same
maildrop (RFC 1939 section 7; issue 7, hole 4), through the real binary.

X-UIDL headers (Qpopper wrote them into the spool) are honoured on the
first sight of a maildrop only: when popper has no UID state for it and no
record (uids.started) that it ever had one.  Checked here:

- first sight: a message's X-UIDL is its UID; the record appears, mode 0600;
- that message is deleted; a new one carrying the same X-UIDL gets a UID
  never listed before, and the other message keeps its UID;
- the uids file is lost (uids.started stays): no X-UIDL is honoured, no UID
  listed before comes back, and the log says the state was lost;
- the same in temp-drop mode for the deleted-message case.
"""
import os
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402

QPOP = pf.make_message("q-1", headers=("X-UIDL: 4f1e2d3c4b5a69788796a5b4c3d2e1f0",))
PLAIN = pf.make_message("q-2")
COPY = pf.make_message("q-3", headers=("X-UIDL: 4f1e2d3c4b5a69788796a5b4c3d2e1f0",))
XUIDL = "4f1e2d3c4b5a69788796a5b4c3d2e1f0"


def state_file(env, name):
    """Path of name in alice's state directory (somewhere under state-dir;
    found through the uids file, which the first session writes)."""
    for dp, _, fn in os.walk(env.state):
        if "uids" in fn:
            return os.path.join(dp, name)
    return os.path.join(env.state, name)


def session(env, dele=()):
    """UIDL (as {X-Test-Id: UID}), DELE..., QUIT."""
    s = env.start_inetd()
    try:
        s.read_greeting()
        if not s.client.login("alice", "secret").startswith("+OK"):
            return None
        r = s.client.command("UIDL")
        if not r.startswith("+OK"):
            return None
        uids = [l.decode().split(" ", 1)[1] for l in s.client.multiline()]
        ids = {}
        for n, u in enumerate(uids, 1):
            _, text = s.client.retr(n)
            ids[pf.test_id_of(pf.normalize_crlf(text or b""))] = u
        for n in dele:
            s.client.command("DELE %d" % n)
        s.client.command("QUIT")
        return ids
    finally:
        s.finish()


def run(tap, temp_mode):
    mode = "temp-drop mode" if temp_mode else "server mode"
    env = pf.PopEnv()
    try:
        if temp_mode:
            env.reset("server-mode")
        else:
            env.set("server-mode")
        env.write_mailbox("alice", [QPOP, PLAIN])
        first = session(env, dele=(1,))
        tap.ok(first is not None and first.get("q-1") == XUIDL,
               "%s: first sight honours the X-UIDL header" % mode, "got %r" % (first,))
        rec = state_file(env, "uids.started")
        st = os.lstat(rec) if os.path.lexists(rec) else None
        tap.ok(st is not None and stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600,
               "%s: the record uids.started is there, mode 0600" % mode)
        seen = set((first or {}).values())

        env.append_mailbox("alice", [COPY])
        second = session(env)
        tap.ok(second is not None and second.get("q-2") == (first or {}).get("q-2"),
               "%s: the kept message keeps its UID" % mode)
        tap.ok(second is not None and "q-3" in second and second["q-3"] not in seen,
               "%s: a new message with the deleted one's X-UIDL gets a UID never used before" % mode,
               "first %r, second %r" % (first, second))
        if temp_mode:
            return
        seen |= set((second or {}).values())

        os.unlink(state_file(env, "uids"))
        third = session(env)
        tap.ok(third is not None and len(third) == 2 and not (set(third.values()) & seen),
               "%s: uids lost: no UID listed before comes back" % mode,
               "before %r, now %r" % (sorted(seen), third))
        tap.ok(third is not None and XUIDL not in third.values(),
               "%s: uids lost: the X-UIDL header is not honoured" % mode)
        tap.ok("lost" in env.trace(20000), "%s: the log says the UID state was lost" % mode,
               env.trace())
    finally:
        env.cleanup()


def main():
    tap = pf.TAP()
    tap.bail_if_unbuilt()
    if not tap.can_login("UID reuse through the real binary"):
        return tap.done()
    run(tap, False)
    run(tap, True)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
