#!/usr/bin/env python3
"""Runs popper's whole test suite and prints one closing line:

    N passed, N failed[, N skipped]

Every test program speaks TAP: the C unit tests in tests/unit (built by
make), the protocol transcripts in tests/proto (run through
tests/lib/transcript.py), and the integration scripts in tests/integration.
Each "ok"/"not ok" line is one test; "# SKIP reason" is a skipped test and
its reason is printed beside it.  Exits non-zero if anything failed.
"""
import argparse
import os
import re
import subprocess
import sys
import time

TAP_LINE = re.compile(r"^(ok|not ok)\b\s*(\d+)?\s*(?:-\s*)?(.*)$")
PROGRAM_TIMEOUT = 600


def programs(srcdir, builddir, only):
    unit_dir = os.path.join(builddir, "tests", "unit")
    # tests/unit mirrors the source tree: unit/server/maildrop/test_mbox.
    found = []
    for dirpath, dirnames, filenames in os.walk(unit_dir):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if name.startswith("test_") and "." not in name and os.access(path, os.X_OK):
                found.append(os.path.relpath(path, os.path.join(builddir, "tests")))
    for rel in sorted(found):
        yield rel, [os.path.join(builddir, "tests", rel)]
    proto_dir = os.path.join(srcdir, "tests", "proto")
    runner = os.path.join(srcdir, "tests", "lib", "transcript.py")
    if os.path.isdir(proto_dir):
        for name in sorted(os.listdir(proto_dir)):
            if name.endswith(".t"):
                yield "proto/" + name, [sys.executable, runner, os.path.join(proto_dir, name)]
    integ_dir = os.path.join(srcdir, "tests", "integration")
    if os.path.isdir(integ_dir):
        for name in sorted(os.listdir(integ_dir)):
            path = os.path.join(integ_dir, name)
            if name.startswith("test_") and name.endswith(".py"):
                yield "integration/" + name, [sys.executable, path]
            elif name.startswith("test_") and name.endswith(".sh"):
                yield "integration/" + name, ["bash", path]


def run_one(label, argv, env):
    passed = failed = skipped = 0
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=PROGRAM_TIMEOUT,
                              stdin=subprocess.DEVNULL)
        out = proc.stdout.decode("utf-8", "replace")
        rc = proc.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        out += "\n# timed out after %d s\n" % PROGRAM_TIMEOUT
        rc = -1
    lines_seen = 0
    for line in out.splitlines():
        m = TAP_LINE.match(line)
        if not m:
            if line.startswith("#") and ("failed" in line or "got" in line or "expected" in line):
                print("    " + line)
            continue
        lines_seen += 1
        desc = m.group(3)
        if m.group(1) == "ok" and "# SKIP" in desc:
            skipped += 1
            what, reason = desc.split("# SKIP", 1)
            print("  skipped: %s: %s (reason: %s)" % (label, what.strip(), reason.strip()))
        elif m.group(1) == "ok":
            passed += 1
        else:
            failed += 1
            print("  FAILED: %s: %s" % (label, desc))
    if rc != 0 and failed == 0:
        # A crash or a non-zero exit without a "not ok" line is a failure too.
        failed += 1
        print("  FAILED: %s: exited with status %s" % (label, rc))
        tail = out.strip().splitlines()[-15:]
        for t in tail:
            print("    | " + t)
    if lines_seen == 0 and rc == 0:
        failed += 1
        print("  FAILED: %s: ran no test" % label)
    print("%-45s %3d passed %3d failed %3d skipped  %5.1fs" %
          (label, passed, failed, skipped, time.monotonic() - start))
    sys.stdout.flush()
    return passed, failed, skipped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--srcdir", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--builddir", default=None)
    ap.add_argument("only", nargs="*", help="run only tests whose label contains one of these")
    args = ap.parse_args()
    srcdir = os.path.abspath(args.srcdir)
    builddir = os.path.abspath(args.builddir or srcdir)
    env = dict(os.environ)
    env["TEST_SRCDIR"] = srcdir
    env["TEST_BUILDDIR"] = builddir
    env["POPPER"] = os.path.join(builddir, "server", "popper")
    env["APOPDB"] = os.path.join(builddir, "apopdb", "apopdb")
    env["PYTHONPATH"] = os.path.join(srcdir, "tests", "lib") + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    total = [0, 0, 0]
    # The transcripts and integration tests skip themselves when there is no
    # binary (handy while developing one module); a whole-suite run must not
    # turn a broken build into a row of skips.
    if not args.only:
        for prog in (env["POPPER"], env["APOPDB"]):
            if not os.access(prog, os.X_OK):
                print("  FAILED: %s is not built" % prog)
                total[1] += 1
    for label, argv in programs(srcdir, builddir, args.only):
        if args.only and not any(o in label for o in args.only):
            continue
        p, f, s = run_one(label, argv, env)
        total[0] += p
        total[1] += f
        total[2] += s
    line = "%d passed, %d failed" % (total[0], total[1])
    if total[2]:
        line += ", %d skipped" % total[2]
    print(line)
    return 1 if total[1] or total[0] == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
