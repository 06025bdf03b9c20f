/*
 * popper-sigsys: popper itself, built for one test (tests/integration/
 * test_privsep.py): its pre-auth process's seccomp filter leaves sendmsg
 * out of the allowed calls, so the first request to the auth monitor (PASS)
 * makes the kernel kill that process.  The test checks that
 * the connection then closes cleanly and the auth monitor logs the death.
 * sandbox_test_deny only ever makes the filter stricter.
 */
#include "config.h"

#include "server/sandbox.h"

/* The command line renames popper's main (server/main.c) for this
 * program; ours keeps the name. */
#undef main



int main(int argc, char **argv)
{
	sandbox_test_deny("sendmsg");
	return popper_main(argc, argv);
}
