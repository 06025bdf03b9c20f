#!/bin/sh
# fuzz.sh: builds the libFuzzer targets of tests/fuzz and runs each one for
# a while (make fuzz; make fuzz-smoke runs 30 seconds each, as CI does).
#
#   tests/fuzz/fuzz.sh [SRCDIR [TARGET...]]   (default: this tree, every target)
#
# The build is a throw-away copy of SRCDIR, made as tests/sanitize.sh makes
# its copy (the files git knows, as they are in the working tree), configured
# with clang and -fsanitize=fuzzer-no-link,address,undefined so that every
# library is instrumented; the targets link libFuzzer.  The index's and
# RETR's read blocks are made small in this build (MBOX_READ_BLOCK,
# MBOX_SEND_BLOCK), so that small inputs cross their boundaries.  The normal
# build (gcc, -Werror) is not touched.
#
# Each target runs FUZZ_SECONDS seconds (default 300), FUZZ_JOBS targets at
# a time (default: the number of processors), in a directory of its own that
# it is also given as TMPDIR (on /dev/shm when there is one: the maildrop
# and database targets sync files).  It starts from its seeds in
# tests/fuzz/corpus/<target>; what it finds new goes to the work directory,
# never into the tree.  Afterwards one line per target: the executions made
# and whether it found anything (a crash, a sanitizer report, a leak, a
# timeout, a failed check of the harness).  Anything found makes the exit
# status non-zero; its report is printed, and the work directory (the
# inputs that triggered it, the logs, the built targets) is kept and named.
#
# Environment: FUZZ_SECONDS, FUZZ_JOBS; FUZZ_CC (clang), FUZZ_CFLAGS replaces
# the flags below; FUZZ_KEEP=1 keeps the work directory in any case.
set -eu

FUZZ_SECONDS=${FUZZ_SECONDS:-300}
FUZZ_JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
FUZZ_CC=${FUZZ_CC:-clang}
FUZZ_CFLAGS=${FUZZ_CFLAGS:-"-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"}
FUZZ_CPPFLAGS="-DMBOX_READ_BLOCK=333 -DMBOX_SEND_BLOCK=97"

src=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
[ $# -gt 0 ] && shift
targets=${*:-}
if [ -z "$targets" ]; then
	for f in "$src"/tests/fuzz/fuzz_*.c; do
		t=$(basename "$f" .c)
		targets="$targets $t"
	done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/popper-fuzz.XXXXXX")
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	run=$(mktemp -d /dev/shm/popper-fuzz-run.XXXXXX)
else
	run=$work/run
	mkdir "$run"
fi
clone=$work/popper
keep=${FUZZ_KEEP:-0}
cleanup() {
	rm -rf "$run"
	if [ "$keep" = 1 ]; then
		echo "fuzz: work directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! command -v "$FUZZ_CC" >/dev/null 2>&1; then
	echo "fuzz: $FUZZ_CC not found (Debian: apt-get install clang libclang-rt-14-dev)"
	exit 1
fi

mkdir "$clone" "$work/corpus" "$work/found" "$work/logs"
echo "fuzz: copying $src to $clone"
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
echo "fuzz: configuring with CC=$FUZZ_CC CFLAGS=\"$FUZZ_CFLAGS\""
if ! { autoreconf -fi && ./configure CC="$FUZZ_CC" CFLAGS="$FUZZ_CFLAGS" \
	CPPFLAGS="$FUZZ_CPPFLAGS"; } >"$work/configure.log" 2>&1; then
	tail -n 30 "$work/configure.log"
	echo "fuzz: configure failed (log above)"
	exit 1
fi
# shellcheck disable=SC2086
echo "fuzz: building" $targets
build=
for t in $targets; do
	build="$build tests/fuzz/$t"
done
# shellcheck disable=SC2086
if ! make -j"$FUZZ_JOBS" $build >"$work/build.log" 2>&1; then
	grep -E 'error|Error' "$work/build.log" | head -n 30
	echo "fuzz: the build failed"
	exit 1
fi

# LeakSanitizer: leaks inside libraries we cannot free (tests/lsan.supp);
# UBSan: a stack with each report.
LSAN_OPTIONS=suppressions=$clone/tests/lsan.supp
UBSAN_OPTIONS=print_stacktrace=1
export LSAN_OPTIONS UBSAN_OPTIONS

# The largest input a target is given: room for what it needs (two files
# and a record; a spool across several read blocks; pipelined commands).
max_len() {
	case $1 in
	fuzz_journal | fuzz_tempdrop_marker) echo 20000 ;;
	fuzz_mbox_index | fuzz_netio) echo 16384 ;;
	fuzz_commands) echo 8192 ;;
	*) echo 4096 ;;
	esac
}

start() {
	t=$1
	dict=
	[ -f "$clone/tests/fuzz/$t.dict" ] && dict="-dict=$clone/tests/fuzz/$t.dict"
	mkdir -p "$work/corpus/$t" "$run/$t"
	# shellcheck disable=SC2086
	(
		set +e
		cd "$run/$t" || exit 1
		TMPDIR="$run/$t" "$clone/tests/fuzz/$t" \
			-max_total_time="$FUZZ_SECONDS" -timeout=30 -max_len="$(max_len "$t")" \
			-print_final_stats=1 \
			-artifact_prefix="$work/found/$t-" $dict \
			"$work/corpus/$t" "$clone/tests/fuzz/corpus/$t" \
			>"$work/logs/$t.log" 2>&1
		echo $? >"$work/logs/$t.rc"
	) &
}

echo "fuzz: running each target for $FUZZ_SECONDS s, $FUZZ_JOBS at a time"
n=0
for t in $targets; do
	start "$t"
	n=$((n + 1))
	if [ "$n" -ge "$FUZZ_JOBS" ]; then
		wait
		n=0
	fi
done
wait

failed=0
for t in $targets; do
	log=$work/logs/$t.log
	rc=$(cat "$work/logs/$t.rc" 2>/dev/null || echo "?")
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ -z "$runs" ]; then
		# No final statistics (a crash): the last progress line.
		runs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
	fi
	found=$(cd "$work/found" && ls -d "$t-"* 2>/dev/null | tr '\n' ' ' || true)
	if [ "$rc" = 0 ] && [ -z "$found" ]; then
		printf '%-24s %12s runs  nothing found\n' "$t" "${runs:-?}"
	else
		failed=$((failed + 1))
		keep=1
		printf '%-24s %12s runs  FOUND (exit %s) %s\n' "$t" "${runs:-?}" "$rc" \
			"${found:-no input saved}"
	fi
done
if [ "$failed" -gt 0 ]; then
	for t in $targets; do
		rc=$(cat "$work/logs/$t.rc" 2>/dev/null || echo "?")
		[ "$rc" = 0 ] && continue
		echo "---- $t (the end of $work/logs/$t.log)"
		grep -v '^#[0-9]' "$work/logs/$t.log" | tail -n 60
	done
	echo "fuzz: $failed target(s) found something; inputs in $work/found"
	exit 1
fi
echo "fuzz: nothing found"
