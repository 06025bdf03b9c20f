#!/usr/bin/env python3
"""test_penalty: the standalone daemon slows a failing address across all
its connections (server/penalty.c; issue 9: ten parallel connections used
to give about five guesses a second per address).

A daemon on 127.0.0.1 with auth-failure-delay 0 and auth-failure-penalty 2
(seconds; small to keep the test short).  PARALLEL clients from 127.0.0.1
each send wrong passwords over and over, reconnecting when the daemon
closes them after max-auth-failures, for WINDOW seconds.  Once the address
has failed, every further failure of every connection waits the penalty,
so the daemon answers at most about PARALLEL + PARALLEL * WINDOW / 2
failures; the same clients against a daemon with the penalty off get
hundreds.  Then a new connection from 127.0.0.1 waits the penalty at its
first failure, while one from 127.0.0.2 (another address: Linux routes all
of 127/8 to the loopback) does not; a right password from 127.0.0.1 is
answered at once and clears the address.  Only loopback addresses are
used, and every wait is bounded.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402

PARALLEL = 8
WINDOW = 5.0       # seconds of attack against the penalised daemon
CONTROL = 1.5      # seconds against the daemon without penalty
CAP = 2            # auth-failure-penalty
OTHER = "127.0.0.2"


def attack(d, seconds, answers, errors):
    """PARALLEL clients from 127.0.0.1 failing PASS until seconds are up;
    appends the monotonic time of every failure answered to answers."""
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def worker():
        while time.monotonic() < stop:
            try:
                c = d.connect(timeout=CAP + 8)
            except OSError as e:
                with lock:
                    errors.append("connect: %s" % e)
                time.sleep(0.05)
                continue
            try:
                g = c.line_str()
                if not g.startswith("+OK"):
                    time.sleep(0.05)     # over max-sessions-per-host: try again
                    continue
                while time.monotonic() < stop:
                    c.command("USER alice")
                    r = c.command("PASS wrong-password")
                    if not r.startswith("-ERR"):
                        with lock:
                            errors.append("PASS: %s" % r)
                        return
                    with lock:
                        answers.append(time.monotonic())
            except (pf.Closed, pf.Timeout, OSError):
                pass              # closed after max-auth-failures: reconnect
            finally:
                c.close()

    threads = [threading.Thread(target=worker) for _ in range(PARALLEL)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + CAP + 20)
    return start


def first_failure(d, source=None):
    """Seconds from PASS to its -ERR on a new connection, and the reply."""
    c = pf.PopClient.connect(d.host, d.port, timeout=CAP + 8, source=source)
    try:
        c.line_str()
        c.command("USER alice")
        t0 = time.monotonic()
        r = c.command("PASS wrong-password")
        return time.monotonic() - t0, r
    finally:
        c.close()


def test_control(tap):
    """Without the penalty the same clients get far more answers: the
    measure below can tell."""
    env = pf.PopEnv()
    env.set("auth-failure-penalty", "0")
    env.set("max-sessions-per-host", "10")
    d = env.start_standalone("127.0.0.1")
    try:
        answers, errors = [], []
        attack(d, CONTROL, answers, errors)
        rate = len(answers) / CONTROL
        tap.ok(rate > 4 * PARALLEL / CAP,
               "penalty off: %d parallel connections get %.0f failures/s from one address"
               % (PARALLEL, rate), "errors: %s" % errors[:5])
        return rate
    finally:
        d.stop()
        env.cleanup()


def test_penalty(tap):
    env = pf.PopEnv()
    env.set("auth-failure-penalty", str(CAP))
    env.set("max-sessions-per-host", "10")
    env.write_mailbox("alice", [pf.make_message(1)])
    d = env.start_standalone("127.0.0.1")
    try:
        answers, errors = [], []
        start = attack(d, WINDOW, answers, errors)
        tap.ok(not errors, "the parallel clients saw only -ERR and closes", "; ".join(errors[:5]))
        within = [t for t in answers if t - start <= WINDOW]
        bound = PARALLEL + PARALLEL * (WINDOW / CAP + 1)
        tap.ok(0 < len(within) <= bound,
               "penalty %d s: %d parallel connections got %d failures answered in %.0f s "
               "(at most %.0f)" % (CAP, PARALLEL, len(within), WINDOW, bound))
        late = [t for t in within if t - start >= CAP + 0.5]
        rate = len(late) / (WINDOW - CAP - 0.5)
        tap.ok(rate <= 1.5 * PARALLEL / CAP,
               "once the address has failed: %.1f failures/s from it (at most %.1f)"
               % (rate, 1.5 * PARALLEL / CAP))

        took, r = first_failure(d)
        tap.ok(r.startswith("-ERR") and took >= CAP - 0.3,
               "a new connection from the address waits the penalty at its first failure "
               "(%.2f s)" % took, r)
        try:
            took, r = first_failure(d, source=OTHER)
            tap.ok(r.startswith("-ERR") and took < CAP - 0.5,
                   "a connection from another address (%s) does not wait (%.2f s)" % (OTHER, took),
                   r)
        except OSError as e:
            tap.skip("another address is not penalised", "cannot connect from %s: %s" % (OTHER, e))

        c = d.connect(timeout=CAP + 8)
        try:
            c.line_str()
            t0 = time.monotonic()
            r = c.login("alice", "secret")
            took = time.monotonic() - t0
            tap.ok(r.startswith("+OK") and took < CAP - 0.5,
                   "a right password from the address is answered at once (%.2f s)" % took, r)
            c.command("QUIT")
        finally:
            c.close()
        took, r = first_failure(d)
        tap.ok(r.startswith("-ERR") and took < CAP - 0.5,
               "after that login the address's next failure does not wait (%.2f s)" % took, r)
        log = env.trace(200000)
        tap.ok("authentication failed: client=127.0.0.1 " in log,
               "each failure is logged for fail2ban (client=127.0.0.1)")
    finally:
        rc, killed = d.stop()
        tap.ok(not killed, "SIGTERM stops the daemon (status %s)" % rc, d.stderr()[-500:])
        env.cleanup()


def test_inetd(tap):
    """inetd mode has no table: each connection starts afresh."""
    env = pf.PopEnv()
    env.set("auth-failure-penalty", str(CAP))
    try:
        for i in range(2):
            s = env.start_inetd(transport="tcp")
            try:
                s.read_greeting()
                for k in range(3):
                    s.client.command("USER alice")
                    t0 = time.monotonic()
                    r = s.client.command("PASS wrong-password")
                    took = time.monotonic() - t0
                    if not (r.startswith("-ERR") and took < CAP - 0.5):
                        break
            finally:
                s.finish()
            tap.ok(r.startswith("-ERR") and took < CAP - 0.5,
                   "inetd mode, connection %d: three failures, none waits a penalty" % (i + 1),
                   "%s after %.2f s" % (r, took))
    finally:
        env.cleanup()


def main():
    tap = pf.TAP()
    tap.bail_if_unbuilt()
    if not tap.can_login("penalty off: the control", "penalty: parallel failures bounded",
                         "inetd mode: no penalty"):
        return tap.done()
    test_control(tap)
    test_penalty(tap)
    test_inetd(tap)
    return tap.done()


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    sys.exit(main())
