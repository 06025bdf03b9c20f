/*
 * test_tempdrop_server: server mode's open when a temp-dir is configured
 * (server/maildrop/tempdrop_server.c), which settles what a temp-drop
 * session left behind before the spool is indexed.
 *
 * A leftover temporary drop is planted by hand beside a spool of known
 * messages and a server-mode login is opened through the maildrop
 * interface: the leftover must be written back ahead of the spool's mail
 * and the temporary drop removed, a missing spool must be created for it,
 * and a leftover that is not an mbox must stop both modes with nothing
 * moved (temp-drop mode refuses it too, so a switch of modes cannot make
 * the difference).
 */
#include "config.h"

#include "server/maildrop/tempdrop.h"
#include "tests/unit/server/maildrop/tdfixture.h"

/* Server mode writes a leftover back before it reads the spool. */
static void test_leftover_server_mode(void)
{
	struct buf l = { 0 }, s = { 0 }, got = { 0 }, want = { 0 };
	struct maildrop *md;

	msgs(&s, "a b", 700);
	new_case();
	msgs(&l, "x y", 400);
	write_file(tpath, &l, 0600);
	write_file(spool, &s, 0600);
	md = open_ok(false);
	ok(md != NULL && maildrop_count(md) == 4, "server mode with a leftover: 4 messages");
	buf_addb(&want, &l);
	buf_addb(&want, &s);
	read_file(spool, &got);
	ok(buf_eq(&got, &want) && !exists(tpath) && !exists(mpath),
	   "server mode: leftover written back ahead of the spool's mail, temporary drop gone");
	if (md != NULL)
		maildrop_close(md);
	buf_free(&l);
	buf_free(&s);
	buf_free(&got);
	buf_free(&want);
}

/* ... also into a spool that no longer exists. */
static void test_leftover_server_mode_no_spool(void)
{
	struct buf l = { 0 }, got = { 0 };
	struct maildrop *md;

	msgs(&l, "x y", 400);
	new_case();
	write_file(tpath, &l, 0600);
	md = open_ok(false);
	read_file(spool, &got);
	ok(md != NULL && maildrop_count(md) == 2 && buf_eq(&got, &l) && !exists(tpath),
	   "server mode, no spool file: it is created for the leftover mail");
	if (md != NULL)
		maildrop_close(md);
	buf_free(&l);
	buf_free(&got);
}

/* A leftover that is not an mbox: nothing moves, in either mode. */
static void test_leftover_not_mbox(void)
{
	struct buf l = { 0 }, s = { 0 }, got = { 0 };
	struct maildrop *md;

	msgs(&s, "a b", 700);
	new_case();
	buf_adds(&l, "this is not a mailbox\n");
	write_file(tpath, &l, 0600);
	write_file(spool, &s, 0600);
	ok(try_open(true, &md) == MAILDROP_PERM, "leftover not an mbox: temp-drop login refused "
	   "[SYS/PERM] (%s)", last_reason);
	ok(try_open(false, &md) == MAILDROP_PERM, "leftover not an mbox: server-mode login refused too");
	read_file(spool, &got);
	ok(buf_eq(&got, &s), "leftover not an mbox: the spool untouched");
	read_file(tpath, &got);
	ok(buf_eq(&got, &l) && count_prefixed(TEMPDROP_MARKER) == 0,
	   "leftover not an mbox: the temporary drop untouched, no marker");
	buf_free(&l);
	buf_free(&s);
	buf_free(&got);
}

int main(void)
{
	td_run("test_tempdrop_server", test_leftover_server_mode,
	       test_leftover_server_mode_no_spool, test_leftover_not_mbox, TD_END);
	return tap_done();
}
