#!/usr/bin/env python3
"""test_tempdrop_identity: a session that deletes nothing leaves the spool
byte for byte as it was, and every message keeps its UID -- also when the
spool's last message has no final newline (issue 7, hole 3).

Temp-drop mode moves the spool into the temporary drop at login and writes
it back at QUIT.  Newlines may be put between the kept mail and mail that
arrived meanwhile (mbox framing: a From_ line must follow an empty line),
but never when nothing arrived.  Checked for both modes:

- LIST, UIDL and RETR of every message, QUIT: the spool is unchanged, and a
  second session lists the same UIDs; a third deletes the last message;
- temp-drop mode, with a message delivered while the session is logged in:
  the message arrives exactly once, after the old ones, whose UIDs stay.
  The old last message needs one newline (and an empty line) in front of
  the new From_ line: what RETR sends for it does not change (RETR ends
  every message with CRLF), and neither does its UID (a message without
  its final newline is identified as if it had one).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402

OLD = [pf.make_message("id-1"), pf.make_message("id-2", size=6000),
       pf.make_message("id-3").rstrip(b"\n")]   # no final newline
DURING = pf.make_message("id-during")


def new_env(temp_mode):
    env = pf.PopEnv()
    if temp_mode:
        env.reset("server-mode")
    else:
        env.set("server-mode")
    env.write_mailbox("alice", OLD)
    return env


def same_bytes(tap, got, expected, desc):
    """tap.is_ for mailbox bytes, with a short diagnosis: the first
    difference and the ends."""
    i = next((k for k, (a, b) in enumerate(zip(got or b"", expected)) if a != b),
             min(len(got or b""), len(expected)))
    return tap.ok(got == expected, desc, "first difference at octet %d; expected ...%r, got ...%r" % (
        i, expected[i - 20:i + 20], (got or b"")[i - 20:i + 20]))


def dele_last(env):
    """DELE of the last message, QUIT; returns the QUIT reply."""
    s = env.start_inetd()
    try:
        s.read_greeting()
        if not s.client.login("alice", "secret").startswith("+OK"):
            return None
        s.client.command("STAT")
        s.client.command("DELE %d" % len(OLD))
        return s.client.command("QUIT")
    finally:
        s.finish()


def uidl(client):
    r = client.command("UIDL")
    if not r.startswith("+OK"):
        return None
    return [l.decode().split(" ", 1)[1] for l in client.multiline()]


def read_all(env, deliver=False):
    """One session: LIST, UIDL, RETR of every message, optionally a
    delivery, QUIT.  Returns (UIDs, {UID: RETR bytes}, QUIT reply)."""
    s = env.start_inetd()
    try:
        s.read_greeting()
        if not s.client.login("alice", "secret").startswith("+OK"):
            return None, None, None
        s.client.command("LIST")
        s.client.multiline()
        uids = uidl(s.client)
        texts = {}
        for n, u in enumerate(uids or [], 1):
            texts[u] = s.client.retr(n)[1]
        if deliver:
            env.append_mailbox("alice", [DURING])
        return uids, texts, s.client.command("QUIT")
    finally:
        s.finish()


def no_dele(tap, temp_mode):
    mode = "temp-drop mode" if temp_mode else "server mode"
    env = new_env(temp_mode)
    try:
        before = env.mailbox_bytes("alice")
        u1, texts, q = read_all(env)
        tap.ok(q is not None and q.startswith("+OK"), "%s: a session without DELE ends +OK" % mode,
               env.trace())
        tap.ok(texts is not None and [texts.get(u) for u in u1] ==
               [pf.crlf_form(m) for m in OLD], "%s: every message is sent as written" % mode)
        same_bytes(tap, env.mailbox_bytes("alice"), before,
                   "%s: the spool is byte-identical after a session without DELE" % mode)
        u2, _, _ = read_all(env)
        tap.ok(u1 is not None and len(u1) == 3 and u2 == u1,
               "%s: the second session lists the same UIDs" % mode,
               "first: %r\nsecond: %r" % (u1, u2))
        same_bytes(tap, env.mailbox_bytes("alice"), before,
                   "%s: the spool is still byte-identical after a second session" % mode)
        q = dele_last(env)
        tap.ok(q is not None and q.startswith("+OK") and env.mailbox("alice") == OLD[:2],
               "%s: the message without a final newline can still be deleted" % mode, env.trace())
    finally:
        env.cleanup()


def delivery(tap):
    env = new_env(True)
    try:
        u1, texts1, q = read_all(env, deliver=True)
        tap.ok(q is not None and q.startswith("+OK"),
               "temp-drop mode: the session with a delivery ends +OK", env.trace())
        got = env.mailbox("alice")
        ids = [pf.test_id_of(m) for m in got]
        tap.is_(ids, ["id-1", "id-2", "id-3", "id-during"],
                "the delivered message is in the spool exactly once, after the old ones")
        tap.ok(len(got) == 4 and got[:2] == OLD[:2] and got[3] == DURING,
               "the other messages are byte-identical")
        tap.ok(len(got) == 4 and got[2] == OLD[2] + b"\n",
               "the old last message gained exactly the newline that ends its last line")
        u2, texts2, _ = read_all(env)
        tap.ok(u1 is not None and u2 is not None and u2[:3] == u1,
               "the old messages keep their UIDs", "before: %r\nafter: %r" % (u1, u2))
        tap.ok(u2 is not None and len(u2) == 4 and u2[3] not in u1,
               "the delivered message has a UID of its own")
        tap.ok(texts2 is not None and all(texts2.get(u) == texts1[u] for u in u1),
               "RETR sends every old message exactly as before")
        before = env.mailbox_bytes("alice")
        u3, _, _ = read_all(env)
        tap.ok(u3 == u2 and env.mailbox_bytes("alice") == before,
               "from then on the spool and the UIDs stay as they are")
    finally:
        env.cleanup()


def main():
    tap = pf.TAP()
    tap.bail_if_unbuilt()
    if not tap.can_login("sessions without DELE"):
        return tap.done()
    no_dele(tap, True)
    no_dele(tap, False)
    delivery(tap)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
