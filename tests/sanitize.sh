#!/bin/sh
# sanitize.sh: the unit tests and the protocol transcripts against a build
# with AddressSanitizer and UndefinedBehaviorSanitizer (make check-sanitize).
#
#   tests/sanitize.sh [SRCDIR]        (default: the tree this script is in)
#
# The build is a throw-away copy of SRCDIR in a temporary directory: the
# files git knows (tracked, and new ones it does not ignore) as they are in
# the working tree, so uncommitted changes are tested too; without git, the
# whole tree, cleaned with "make distclean".  A copy rather than a VPATH
# build because the source tree is usually configured in place, and
# configure refuses to build elsewhere from such a tree.
#
# A report makes the process fail, but that alone is not enough: a popper
# process could die of one without any test noticing (the transcripts
# check that popper exits, not how), and its stderr is a file in the
# test's temporary directory, which is removed afterwards.  So the fixture makes its
# directories in the build directory and keeps them (POPPER_TEST_TMPDIR,
# POPPER_TEST_KEEP=1; tests/lib/popfixture.py), ASan writes its reports
# to files (log_path), and afterwards every ASan report file and every
# UBSan report in a kept stderr file (UBSan ignores log_path when it
# shares ASan's runtime) is printed and counted as one more failure (a
# report from a test that failed anyway is thus counted twice).  The last
# line is the suite's "N passed, N failed[, N skipped]"; the exit status
# is non-zero if anything failed.
#
# nss_wrapper and pam_wrapper (used by the fixture for the fake accounts)
# work under ASan when its runtime comes first in LD_PRELOAD, which the
# fixture and test_auth arrange: seeing libasan there, the wrappers also
# leave out RTLD_DEEPBIND, which ASan cannot work with.  That needs the
# runtime as a shared library, as gcc links it (clang: add
# -shared-libasan to CFLAGS via SANITIZE_CFLAGS).
#
# Environment: CC; SANITIZE_CFLAGS replaces the flags below;
# POPPER_SANITIZE_KEEP=1 keeps the build directory.
set -eu

SANITIZE_CFLAGS=${SANITIZE_CFLAGS:-"-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"}

src=$(cd "${1:-$(dirname "$0")/..}" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/popper-sanitize.XXXXXX")
clone=$work/popper
reports=$work/reports
tmp=$work/tmp

if [ "${POPPER_SANITIZE_KEEP:-0}" = 1 ]; then
	echo "sanitize: working in $work (kept afterwards)"
else
	trap 'rm -rf "$work"' EXIT
fi
trap 'exit 130' INT TERM

mkdir "$clone" "$reports" "$tmp"
# Session processes run as the mail owner or the user after the privilege
# drop, and must still reach their spools and write their reports.
chmod 755 "$work"
chmod 1777 "$reports" "$tmp"

echo "sanitize: copying $src to $clone"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$src" && git ls-files --cached --others --exclude-standard |
		while IFS= read -r f; do
			[ -e "$f" ] && printf '%s\n' "$f"
		done | tar -cf - -T -) | tar -C "$clone" -xf -
else
	cp -a "$src/." "$clone"
	if [ -f "$clone/Makefile" ]; then
		(cd "$clone" && make -s distclean >/dev/null 2>&1) || true
	fi
fi

cd "$clone"
jobs=$(nproc 2>/dev/null || echo 2)
echo "sanitize: configuring with CFLAGS=\"$SANITIZE_CFLAGS\""
if ! { autoreconf -fi && ./configure CFLAGS="$SANITIZE_CFLAGS"; } >"$work/configure.log" 2>&1; then
	tail -n 30 "$work/configure.log"
	echo "sanitize: configure failed (log above)"
	exit 1
fi
echo "sanitize: building"
if ! { make -j"$jobs" && make -j"$jobs" check-build; } >"$work/build.log" 2>&1; then
	grep -E 'error|Error' "$work/build.log" | head -n 30
	echo "sanitize: the build failed"
	exit 1
fi

ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$reports/asan
UBSAN_OPTIONS=print_stacktrace=1:log_path=$reports/ubsan
LSAN_OPTIONS=suppressions=$src/tests/lsan.supp
export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
echo "sanitize: ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS"
{
	status=0
	POPPER_TEST_TMPDIR=$tmp POPPER_TEST_KEEP=1 python3 tests/run.py --srcdir="$clone" --builddir="$clone" \
		unit/ proto/ || status=$?
	echo "$status" >"$work/status"
} | tee "$work/run.log"
status=$(cat "$work/status")

# Each report counts; the first few are shown (they are mostly one bug
# seen by many tests).
found=0
shown=0
show() {
	found=$((found + $1))
	if [ "$shown" -lt 5 ]; then
		shown=$((shown + 1))
		echo "---- $2"
		sed -n '1,60p' "$3"
	fi
}
for f in "$reports"/*; do
	# A file holding only the "Suppressions used" table (tests/lsan.supp)
	# is not a report.
	[ -f "$f" ] && grep -q 'ERROR: \|runtime error:' "$f" && show 1 "ASan report $f" "$f"
done
grep -rl --include='*.stderr' 'runtime error:' "$tmp" >"$work/ubsan.list" 2>/dev/null || true
while IFS= read -r f; do
	grep -A 20 'runtime error:' "$f" >"$work/ubsan.txt"
	show "$(grep -c 'runtime error:' "$f")" "UBSan report(s) in $f" "$work/ubsan.txt"
done <"$work/ubsan.list"
if [ "$found" -gt 0 ]; then
	echo "sanitize: $found sanitizer report(s), each counted as a failure (the first" \
		"$shown files above; POPPER_SANITIZE_KEEP=1 keeps them all)"
	# The suite's "N passed, M failed[, K skipped]" again, M the third field.
	tail -n 1 "$work/run.log" | awk -v n="$found" '{ $3 = $3 + n; print }'
	exit 1
fi
exit "$status"
