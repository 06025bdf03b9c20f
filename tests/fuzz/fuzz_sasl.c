/*
 * fuzz_sasl: the SASL glue of auth/sasl.c: the strict base64 of the AUTH
 * exchange, the mechanism names a client and an administrator write, and
 * a whole exchange with libsasl2's mechanisms over our callbacks (user
 * names, proxy policy, the secrets of the user database through our
 * auxprop plugin, auth/sasl_auxprop.c).  The user database of the fixture
 * knows "alice" with the secret "secret".
 *
 * Checked besides the sanitizers: base64 that decodes encodes back to the
 * same text (only the canonical form is accepted), and any bytes encode
 * to text that decodes back to them, at the length sasl_b64_encoded_size()
 * promised; a list of mechanisms is made only of valid names.
 *
 * Input: byte 0 flags (clear text allowed, downcase-user, trim-domain,
 * proxy users, an initial response or none), then parts separated by 0xff
 * bytes: the sasl-mechanisms setting (an empty part: the default), the
 * mechanism the client names, the initial response (as base64 text, as it
 * comes on the wire), and the client's responses, one part each.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/userdb/userdb_write.h"
#include "lib/log.h"
#include "tests/fuzz/fuzzutil.h"

#define F_CLEARTEXT 0x01
#define F_DOWNCASE 0x02
#define F_TRIM 0x04
#define F_PROXY 0x08
#define F_INITIAL 0x10
#define F_RAW 0x20   /* responses are bytes, not base64 text */

/* As cmd_sasl.c: the longest line and its decoded size, the rounds. */
#define LINE_MAX_B64 (32 * 1024)
#define ROUNDS_MAX 16

static char dbpath[600];
static unsigned char decoded[LINE_MAX_B64];
static char text[LINE_MAX_B64 + 8];

/* An allocated NUL-terminated copy of a part (NULs in it end it early, as
 * in the C strings the settings and the command line give us). */
static char *part_str(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		fz_die("malloc");
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* The base64 checks on one part. */
static void check_base64(const uint8_t *p, size_t n)
{
	long dn, en;

	if (n > LINE_MAX_B64)
		n = LINE_MAX_B64;
	dn = sasl_b64_decode((const char *)p, n, decoded, sizeof(decoded));
	if (dn >= 0) {
		en = sasl_b64_encode(decoded, (size_t)dn, text, sizeof(text));
		if (en < 0 || (size_t)en != n || memcmp(text, p, n) != 0) {
			fprintf(stderr, "base64 that decodes does not encode back to itself\n");
			abort();
		}
	}
	/* The other way round, with the part as the bytes. */
	if (n > sizeof(decoded) / 4 * 3)
		n = sizeof(decoded) / 4 * 3;
	en = sasl_b64_encode(p, n, text, sizeof(text));
	if (en < 0 || (size_t)en + 1 != sasl_b64_encoded_size(n)) {
		fprintf(stderr, "base64 encoding is not the promised size\n");
		abort();
	}
	dn = sasl_b64_decode(text, (size_t)en, decoded, sizeof(decoded));
	if (dn < 0 || (size_t)dn != n || memcmp(decoded, p, n) != 0) {
		fprintf(stderr, "encoded base64 does not decode back\n");
		abort();
	}
	/* A buffer one byte short must be refused, not overrun. */
	if (n > 0 && sasl_b64_decode(text, (size_t)en, decoded, n - 1) >= 0) {
		fprintf(stderr, "base64 decoded into a buffer too small\n");
		abort();
	}
}

/* A non-empty mechanism list as sasl_mechanisms() gives it: names of
 * 1..20 of A-Z 0-9 - _, one space between. */
static void check_mechlist(const char *list)
{
	size_t run = 0;

	for (const char *c = list; ; c++) {
		if (*c == ' ' || *c == '\0') {
			if (run == 0) {
				fprintf(stderr, "empty name in the mechanism list \"%s\"\n", list);
				abort();
			}
			if (run > SASL_MECH_NAME_MAX) {
				fprintf(stderr, "overlong name in the mechanism list \"%s\"\n", list);
				abort();
			}
			run = 0;
			if (*c == '\0')
				break;
			continue;
		}
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		      *c == '_')) {
			fprintf(stderr, "bad character in the mechanism list \"%s\"\n", list);
			abort();
		}
		run++;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *root = fz_tmpdir("fuzz_sasl");
	char err[512];
	struct userdb *db;

	(void)argc;
	(void)argv;
	fz_log_quiet("fuzz_sasl");
	snprintf(dbpath, sizeof(dbpath), "%s", fz_path(root, "pop.auth"));
	db = userdb_write_open(dbpath, USERDB_CREATE, NULL, err, sizeof(err));
	if (db == NULL || userdb_set_secret(db, "alice", "secret", 6) != USERDB_OK)
		fz_die(err);
	userdb_close(db);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd0 = fz_fd_lowest();
	struct fz_in in = { data, size };
	struct auth_config ac;
	struct sasl_params sp;
	struct sasl_session *ss;
	char list[SASL_MECHLIST_MAX], reason[256];
	const unsigned char *chal;
	size_t chal_len;
	const uint8_t *p;
	size_t n;
	enum sasl_status st;
	char *mechs, *mech;
	uint8_t f = fz_byte(&in);
	unsigned rounds = 0;

	fz_part(&in, &p, &n);
	mechs = n > 0 ? part_str(p, n) : NULL;
	fz_part(&in, &p, &n);
	mech = part_str(p, n);

	memset(&ac, 0, sizeof(ac));
	ac.pam_service = "";
	ac.userdb_path = dbpath;
	ac.mail_owner = "nobody";
	ac.client_addr = "192.0.2.1";
	ac.min_uid = 1000;
	memset(&sp, 0, sizeof(sp));
	sp.auth = &ac;
	sp.service = "pop";
	sp.server_fqdn = "mail.example";
	sp.cleartext_ok = (f & F_CLEARTEXT) != 0;
	sp.downcase_user = (f & F_DOWNCASE) != 0;
	sp.trim_domain = (f & F_TRIM) != 0;
	sp.mechanisms = mechs;
	sp.proxy_users = (f & F_PROXY) ? "alice, bob" : NULL;

	check_base64((const uint8_t *)mech, strlen(mech));
	if (sasl_mechanisms(&sp, list, sizeof(list)) > 0)
		check_mechlist(list);

	ss = sasl_session_create(&sp, reason, sizeof(reason));
	if (ss == NULL)
		fz_die(reason);
	if (f & F_INITIAL) {
		long dn;

		fz_part(&in, &p, &n);
		check_base64(p, n);
		dn = n <= LINE_MAX_B64 ?
			sasl_b64_decode((const char *)p, n, decoded, sizeof(decoded)) : -1;
		st = sasl_session_start(ss, mech, decoded, dn < 0 ? 0 : (size_t)dn, &chal,
					&chal_len);
	} else {
		st = sasl_session_start(ss, mech, NULL, 0, &chal, &chal_len);
	}
	while (st == SASL_S_CONTINUE && ++rounds <= ROUNDS_MAX) {
		long dn;

		if (sasl_b64_encode(chal, chal_len, text, sizeof(text)) < 0 && chal_len < 20000) {
			fprintf(stderr, "a challenge could not be encoded\n");
			abort();
		}
		fz_part(&in, &p, &n);
		if (f & F_RAW) {
			if (n > sizeof(decoded))
				n = sizeof(decoded);
			memcpy(decoded, p, n);
			dn = (long)n;
		} else {
			dn = n <= LINE_MAX_B64 ?
				sasl_b64_decode((const char *)p, n, decoded, sizeof(decoded)) : -1;
			if (dn < 0)
				break;   /* cmd_sasl.c: a failed login */
		}
		st = sasl_session_step(ss, decoded, (size_t)dn, &chal, &chal_len);
	}
	/* Without proxy users, only the one name with a secret can log in
	 * (PAM is off). */
	if (st == SASL_S_OK && !(f & F_PROXY) &&
	    strcmp(sasl_session_user(ss)->name, "alice") != 0) {
		fprintf(stderr, "logged in as \"%s\", who has no secret\n",
			sasl_session_user(ss)->name);
		abort();
	}
	(void)sasl_session_mech(ss);
	(void)sasl_session_authid(ss);
	(void)sasl_session_reason(ss);
	sasl_session_destroy(ss);
	free(mechs);
	free(mech);
	fz_fd_check(fd0);
	return 0;
}
