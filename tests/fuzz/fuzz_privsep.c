/*
 * fuzz_privsep: the auth monitor's side of privilege separation, as a
 * compromised pre-auth process would drive it: arbitrary datagrams decoded
 * by server/privsep.c and served by the request table of server/authmon.c
 * against a real user database (a virtual user "alice", secret "secret"),
 * with PAM off and the failure delay 0.  Every answer must encode and
 * decode again, with three fields and a known status; after an answer that
 * ends the connection, the input stops, as the monitor process would.
 *
 * Input: byte 0 settings (bit 0: max-auth-failures 1 instead of 3; bit 1:
 * clear-text policy never; bit 2: apop off), then datagrams, each a 16-bit
 * big-endian length and that many bytes.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/userdb/userdb_write.h"
#include "server/authmon.h"
#include "server/engine.h"
#include "server/policy.h"
#include "tests/fuzz/fuzzutil.h"

static struct settings set;

static void set_str(char **field, const char *v)
{
	free(*field);
	*field = v != NULL ? strdup(v) : NULL;
	if (v != NULL && *field == NULL)
		fz_die("strdup");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *root = fz_tmpdir("fuzz_privsep");
	char err[256] = "";
	struct userdb *db;

	(void)argc;
	(void)argv;
	fz_log_quiet("fuzz_privsep");
	db = userdb_write_open(fz_path(root, "pop.auth"), USERDB_CREATE, NULL, err, sizeof(err));
	if (db == NULL || userdb_set_secret(db, "alice", "secret", 6) != USERDB_OK)
		fz_die(err);
	userdb_close(db);
	settings_init(&set);
	set.auth_failure_delay = 0;
	set_str(&set.pam_service, "");
	set_str(&set.auth_db, fz_path(root, "pop.auth"));
	set_str(&set.auth_db_owner, NULL);
	set_str(&set.mail_owner, "nobody");
	set_str(&set.nonauth_file, NULL);
	set_str(&set.auth_file, NULL);
	return 0;
}

static void session_for(struct session *s, struct session_params *p)
{
	memset(s, 0, sizeof(*s));
	memset(p, 0, sizeof(*p));
	p->set = &set;
	p->client_addr = "192.0.2.7";
	p->client_host = "client.example";
	p->local_host = "mail.example";
	s->p = p;
	s->set = &set;
	s->state = STATE_AUTH1;
	clock_gettime(CLOCK_MONOTONIC, &s->t_start);
	s->authcfg.pam_service = set.pam_service;
	s->authcfg.userdb_path = set.auth_db;
	s->authcfg.userdb_owner = set.auth_db_owner;
	s->authcfg.mail_owner = set.mail_owner;
	s->authcfg.min_uid = set.min_uid;
	s->authcfg.client_addr = p->client_addr;
	s->cleartext_ok = policy_cleartext_allowed(set.cleartext, p->client_addr);
	s->pm_fd = s->proxy_fd = s->kpop_fd = -1;
	snprintf(s->timestamp, sizeof(s->timestamp), "<1896.697170952@%s>", p->local_host);
}

/* The answer must survive the wire: encode, decode, three fields. */
static void check_answer(const struct pm_msg *ans)
{
	static unsigned char buf[PM_MSG_MAX];
	struct pm_msg back;
	unsigned char st;
	long n = pm_encode(ans, buf, sizeof(buf));

	if (n < 0 || pm_decode(buf, (size_t)n, &back) != 0 || back.type != PM_ANSWER ||
	    back.nfields != 3 || !pm_field_byte(&back, 0, &st) || st > AMS_VIOLATION)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd0 = fz_fd_lowest();
	static struct session sess;
	static struct authmon mon;
	struct session_params p;
	struct fz_in in = { data, size };
	uint8_t f = fz_byte(&in);

	set.max_auth_failures = (f & 1) ? 1 : 3;
	set.cleartext = (f & 2) ? CLEARTEXT_NEVER : CLEARTEXT_DEFAULT;
	set.apop = (f & 4) == 0;
	session_for(&sess, &p);
	sess.apop_offered = policy_apop_offered(&sess);
	authmon_init(&mon, &sess);
	while (in.len >= 2 && mon.state != AM_DONE) {
		size_t len = ((size_t)in.p[0] << 8) | in.p[1];
		struct pm_msg req, ans;

		in.p += 2;
		in.len -= 2;
		if (len > in.len)
			len = in.len;
		if (pm_decode(in.p, len, &req) == 0) {
			authmon_serve(&mon, &req, &ans);
			check_answer(&ans);
		}
		in.p += len;
		in.len -= len;
	}
	authmon_clear(&mon);
	fz_fd_check(fd0);
	return 0;
}
