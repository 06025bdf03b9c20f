/*
 * kpop: Kerberos 5 for popper -- the KPOP handshake (Qpopper's -k) and the
 * principal-to-user rule that GSSAPI shares (the handshake is declared in
 * auth/auth.h, the rest in auth/kpop.h, private to auth/).
 *
 * Runs as root, before the session drops privileges: the keytab is
 * normally readable by root only, and krb5_kuserok() reads the target
 * user's ~/.k5login.  Nothing here trusts the peer: the principal comes out
 * of a ticket the keytab decrypted, the service it was issued for is
 * checked against kerberos-service, and the local name comes from krb5's
 * own mapping rules (auth_to_local in krb5.conf), never from stripping a
 * realm ourselves.  Every read and write of the handshake has a deadline
 * (SO_RCVTIMEO/SO_SNDTIMEO), so a silent client cannot hold a process.
 */
#include "config.h"

#include "auth/kpop.h"

#include <stdio.h>
#include <string.h>

#ifdef HAVE_KRB5

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <krb5.h>
#include <gssapi/gssapi_krb5.h>

#include "lib/log.h"
#include "lib/reason.h"
#include "lib/username.h"

/* One context per process: sessions are processes of their own. */
static krb5_context kctx;

/* krb5's message for code (never shown to the client). */
static void krb_reason(char *reason, size_t reasonsize, const char *what, krb5_error_code code)
{
	const char *msg = kctx != NULL ? krb5_get_error_message(kctx, code) : NULL;

	if (reasonsize > 0)
		snprintf(reason, reasonsize, "%s: %s", what, msg != NULL ? msg : "Kerberos error");
	if (msg != NULL)
		krb5_free_error_message(kctx, msg);
}

static int context_get(char *reason, size_t reasonsize)
{
	krb5_error_code code;

	if (kctx != NULL)
		return 0;
	code = krb5_init_context(&kctx);
	if (code != 0) {
		kctx = NULL;
		reason_copy(reason, reasonsize, "krb5_init_context failed (krb5.conf?)");
		return -1;
	}
	return 0;
}

bool kpop_built(void)
{
	return true;
}

bool kpop_keytab_usable(const char *keytab)
{
	char reason[128];
	krb5_keytab kt = NULL;
	krb5_error_code code;
	bool usable;

	if (context_get(reason, sizeof(reason)) != 0)
		return false;
	if (keytab != NULL && keytab[0] != '\0')
		code = krb5_kt_resolve(kctx, keytab, &kt);
	else
		code = krb5_kt_default(kctx, &kt);
	if (code != 0)
		return false;
	/* 0 = has at least one entry; KRB5_KT_NOTFOUND or a file error
	 * (missing, unreadable) = nothing to accept with. */
	usable = krb5_kt_have_content(kctx, kt) == 0;
	krb5_kt_close(kctx, kt);
	return usable;
}

int kpop_use_keytab(const char *keytab, char *reason, size_t reasonsize)
{
	OM_uint32 major;

	if (keytab == NULL || keytab[0] == '\0')
		return 0;
	/* Process-wide, which is what we want: one session per process. */
	major = krb5_gss_register_acceptor_identity(keytab);
	if (GSS_ERROR(major)) {
		snprintf(reason, reasonsize, "cannot use keytab %s", keytab);
		return -1;
	}
	return 0;
}

/* True when name is an account of the system (it may have a ~/.k5login);
 * virtual users of the user database are not. */
static bool system_account(const char *name)
{
	return getpwnam(name) != NULL;
}

/*
 * The mapping itself, on a parsed principal.  krb5_aname_to_localname()
 * (auth_to_local in krb5.conf; by default only one-component principals of
 * the default realm, with the realm removed) gives the principal's own
 * local name.  A system account must also pass krb5_kuserok(), which
 * honours the user's ~/.k5login; a virtual user has no home, so the
 * mapping rule alone decides for it.  Another user than the principal's
 * own may be requested only where krb5_kuserok() allows it: a system
 * account whose ~/.k5login lists the principal.
 */
static int map_principal(krb5_principal princ, const char *requested,
			 char *user_r, size_t usersize, char *reason, size_t reasonsize)
{
	char local[USERNAME_MAX + 2];
	const char *login;
	krb5_error_code code;
	bool mapped;

	code = krb5_aname_to_localname(kctx, princ, (int)sizeof(local), local);
	mapped = code == 0 && username_valid(local);
	/* A client may name itself by its own principal (curl sends
	 * "user@REALM"): that is no request for another user. */
	if (requested != NULL && requested[0] != '\0' && strchr(requested, '@') != NULL) {
		krb5_principal req = NULL;

		if (krb5_parse_name(kctx, requested, &req) == 0) {
			if (krb5_principal_compare(kctx, req, princ))
				requested = NULL;
			krb5_free_principal(kctx, req);
		}
	}
	if (requested != NULL && requested[0] != '\0' && !(mapped && strcmp(requested, local) == 0)) {
		if (!username_valid(requested)) {
			reason_copy(reason, reasonsize, "invalid authorization name");
			return -1;
		}
		if (!system_account(requested) || !krb5_kuserok(kctx, princ, requested)) {
			reason_copy(reason, reasonsize,
				   "principal may not log in as the requested user (krb5_kuserok)");
			return -1;
		}
		login = requested;
	} else {
		if (code != 0) {
			/* KRB5_LNAME_NOTRANS: no rule maps it, e.g. a foreign
			 * realm or a principal with an instance. */
			krb_reason(reason, reasonsize, "no local user for this principal", code);
			return -1;
		}
		if (!mapped) {
			reason_copy(reason, reasonsize, "principal maps to an invalid user name");
			return -1;
		}
		if (system_account(local) && !krb5_kuserok(kctx, princ, local)) {
			reason_copy(reason, reasonsize,
				   "principal not allowed for its local user (~/.k5login)");
			return -1;
		}
		login = local;
	}
	if (strlen(login) >= usersize) {
		reason_copy(reason, reasonsize, "user name too long");
		return -1;
	}
	memcpy(user_r, login, strlen(login) + 1);
	return 0;
}

int kpop_principal_user(const char *principal, const char *requested,
			char *user_r, size_t usersize, char *reason, size_t reasonsize)
{
	krb5_principal princ = NULL;
	krb5_error_code code;
	int rc;

	if (usersize > 0)
		user_r[0] = '\0';
	if (context_get(reason, reasonsize) != 0)
		return -1;
	if (principal == NULL || principal[0] == '\0' ||
	    strnlen(principal, KPOP_PRINCIPAL_MAX + 1) > KPOP_PRINCIPAL_MAX) {
		reason_copy(reason, reasonsize, "no usable principal name");
		return -1;
	}
	code = krb5_parse_name(kctx, principal, &princ);
	if (code != 0) {
		krb_reason(reason, reasonsize, "unparsable principal", code);
		return -1;
	}
	rc = map_principal(princ, requested, user_r, usersize, reason, reasonsize);
	krb5_free_principal(kctx, princ);
	return rc;
}

/* What a KPOP client sends first (krb5_sendauth): the length-prefixed
 * sendauth version, then the length-prefixed application version. */
static const unsigned char kpop_hello[] =
	"\0\0\0\x13" "KRB5_SENDAUTH_V1.0" "\0"
	"\0\0\0\x09" KPOP_VERSION "\0";
#define KPOP_HELLO_LEN (sizeof(kpop_hello) - 1)
/* Memory the handshake may take beyond what the process already uses:
 * krb5_recvauth allocates whatever length the peer announces. */
#define KPOP_MEMORY_HEADROOM (32UL * 1024 * 1024)

/* Looks (MSG_PEEK, nothing consumed) at the client's first bytes until the
 * whole greeting of krb5_sendauth is there or something else is: a client
 * that does not speak KPOP ("QUIT", a POP3 client) is turned away before
 * krb5_recvauth reads a length from its text.  Bounded by timeout_s. */
static bool hello_ok(int fd, unsigned timeout_s, char *reason, size_t reasonsize)
{
	unsigned char buf[KPOP_HELLO_LEN];
	struct timespec start, now;
	ssize_t n = 0;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		long left_ms;
		ssize_t got;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left_ms = (long)timeout_s * 1000 - ((now.tv_sec - start.tv_sec) * 1000 +
						    (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left_ms <= 0) {
			reason_copy(reason, reasonsize, "no KPOP handshake in time");
			return false;
		}
		/* Partial data: wait a little for the rest rather than spin
		 * on a readable socket. */
		if (n > 0) {
			struct timespec pause = { 0, 20 * 1000 * 1000 };

			nanosleep(&pause, NULL);
		} else if (poll(&pfd, 1, (int)(left_ms > 1000 ? 1000 : left_ms)) <= 0) {
			continue;
		}
		got = recv(fd, buf, sizeof(buf), MSG_PEEK);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0) {
			reason_copy(reason, reasonsize, got == 0 ? "client closed the connection"
							      : "cannot read the KPOP handshake");
			return false;
		}
		n = got;
		if (memcmp(buf, kpop_hello, (size_t)n) != 0) {
			reason_copy(reason, reasonsize, "client does not speak KPOP (krb5_sendauth)");
			return false;
		}
		if ((size_t)n == KPOP_HELLO_LEN)
			return true;
	}
}

/* Caps the process's data size at what it uses now plus headroom, so a
 * length the peer announces cannot make krb5_recvauth allocate more;
 * *old_r gets the limit to restore.  Best effort: false if not possible. */
static bool cap_memory(struct rlimit *old_r)
{
	unsigned long pages[7] = { 0 };
	struct rlimit lim;
	FILE *f;
	long page = sysconf(_SC_PAGESIZE);
	bool ok;

	if (getrlimit(RLIMIT_DATA, old_r) != 0 || page <= 0)
		return false;
	/* statm: size resident shared text lib data dt (pages). */
	f = fopen("/proc/self/statm", "re");
	if (f == NULL)
		return false;
	ok = fscanf(f, "%lu %lu %lu %lu %lu %lu", &pages[0], &pages[1], &pages[2], &pages[3],
		    &pages[4], &pages[5]) == 6;
	fclose(f);
	if (!ok)
		return false;
	lim = *old_r;
	lim.rlim_cur = (rlim_t)(pages[5] * (unsigned long)page + KPOP_MEMORY_HEADROOM);
	if (old_r->rlim_cur != RLIM_INFINITY && lim.rlim_cur > old_r->rlim_cur)
		return false;   /* already tighter */
	return setrlimit(RLIMIT_DATA, &lim) == 0;
}

/* The hard deadline of krb5_recvauth, which retries interrupted reads and
 * so cannot be stopped any other way: a pre-login process with nothing to
 * clean up simply ends. */
static void handshake_expired(int sig)
{
	(void)sig;
	_exit(1);
}

/* Bounds every read and write on fd by timeout_s (0 = no bound). */
static int set_io_timeout(int fd, unsigned timeout_s)
{
	struct timeval tv;

	tv.tv_sec = (time_t)timeout_s;
	tv.tv_usec = 0;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -1;
	return 0;
}

/* The ticket was issued for service/HOST: two components, the first one
 * our service name.  krb5_rd_req already checked it against the keytab;
 * this keeps a keytab shared with other services (host/, imap/) from
 * letting their tickets in. */
static bool ticket_for_service(const krb5_ticket *ticket, const char *service)
{
	const krb5_data *c;

	if (ticket == NULL || ticket->server == NULL ||
	    krb5_princ_size(kctx, ticket->server) != 2)
		return false;
	c = krb5_princ_component(kctx, ticket->server, 0);
	return c != NULL && c->length == strlen(service) &&
	       memcmp(c->data, service, c->length) == 0;
}

/* krb5_recvauth with KPOP_VERSION on fd.  server NULL: any key of kt may
 * decrypt the ticket (so the host part of the name need not match what
 * gethostname says); the caller checks the service.  Bounded in memory and,
 * as a whole, in time (twice the per-read timeout). */
static krb5_error_code bounded_recvauth(int fd, krb5_keytab kt, unsigned timeout_s,
					krb5_auth_context *actx_r, krb5_ticket **ticket_r)
{
	krb5_pointer fdp = &fd;
	struct sigaction sa, old_sa;
	struct rlimit old_lim;
	krb5_error_code code;
	bool capped;

	capped = cap_memory(&old_lim);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = handshake_expired;
	sigaction(SIGALRM, &sa, &old_sa);
	alarm(timeout_s > 0 ? 2 * timeout_s : 120);
	code = krb5_recvauth(kctx, actx_r, fdp, KPOP_VERSION, NULL, 0, kt, ticket_r);
	alarm(0);
	sigaction(SIGALRM, &old_sa, NULL);
	if (capped)
		(void)setrlimit(RLIMIT_DATA, &old_lim);
	return code;
}

int kpop_handshake(int fd, const char *service, const char *keytab, unsigned timeout_s,
		   char *user_r, size_t usersize, char *principal_r, size_t principalsize,
		   char *reason, size_t reasonsize)
{
	krb5_auth_context actx = NULL;
	krb5_keytab kt = NULL;
	krb5_ticket *ticket = NULL;
	krb5_error_code code;
	char *name = NULL;
	int flags, rc = -1;

	if (usersize > 0)
		user_r[0] = '\0';
	if (principalsize > 0)
		principal_r[0] = '\0';
	if (context_get(reason, reasonsize) != 0)
		return -1;
	if (service == NULL || service[0] == '\0')
		service = "pop";
	/* krb5_recvauth does plain blocking reads and writes on the socket;
	 * the timeouts make each of them give up in time. */
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ||
	    set_io_timeout(fd, timeout_s) < 0) {
		snprintf(reason, reasonsize, "KPOP needs a socket: %s", strerror(errno));
		return -1;
	}
	if (keytab != NULL && keytab[0] != '\0')
		code = krb5_kt_resolve(kctx, keytab, &kt);
	else
		code = krb5_kt_default(kctx, &kt);
	if (code != 0) {
		krb_reason(reason, reasonsize, "keytab", code);
		goto out;
	}
	if (!hello_ok(fd, timeout_s, reason, reasonsize))
		goto out;
	code = bounded_recvauth(fd, kt, timeout_s, &actx, &ticket);
	if (code != 0) {
		krb_reason(reason, reasonsize, "krb5_recvauth", code);
		goto out;
	}
	if (!ticket_for_service(ticket, service)) {
		snprintf(reason, reasonsize, "ticket is not for service %s", service);
		goto out;
	}
	code = krb5_unparse_name(kctx, ticket->enc_part2->client, &name);
	if (code != 0) {
		krb_reason(reason, reasonsize, "krb5_unparse_name", code);
		goto out;
	}
	snprintf(principal_r, principalsize, "%s", name);
	rc = map_principal(ticket->enc_part2->client, NULL, user_r, usersize,
			   reason, reasonsize);
out:
	if (name != NULL)
		krb5_free_unparsed_name(kctx, name);
	if (ticket != NULL)
		krb5_free_ticket(kctx, ticket);
	if (actx != NULL)
		krb5_auth_con_free(kctx, actx);
	if (kt != NULL)
		krb5_kt_close(kctx, kt);
	(void)set_io_timeout(fd, 0);
	(void)fcntl(fd, F_SETFL, flags);   /* as netio had it */
	return rc;
}

#else /* !HAVE_KRB5 */

static void not_built(char *reason, size_t reasonsize)
{
	if (reasonsize > 0)
		snprintf(reason, reasonsize, "popper was built without Kerberos");
}

bool kpop_built(void)
{
	return false;
}

bool kpop_keytab_usable(const char *keytab)
{
	(void)keytab;
	return false;
}

int kpop_use_keytab(const char *keytab, char *reason, size_t reasonsize)
{
	(void)keytab;
	not_built(reason, reasonsize);
	return -1;
}

int kpop_principal_user(const char *principal, const char *requested,
			char *user_r, size_t usersize, char *reason, size_t reasonsize)
{
	(void)principal;
	(void)requested;
	if (usersize > 0)
		user_r[0] = '\0';
	not_built(reason, reasonsize);
	return -1;
}

int kpop_handshake(int fd, const char *service, const char *keytab, unsigned timeout_s,
		   char *user_r, size_t usersize, char *principal_r, size_t principalsize,
		   char *reason, size_t reasonsize)
{
	(void)fd;
	(void)service;
	(void)keytab;
	(void)timeout_s;
	if (usersize > 0)
		user_r[0] = '\0';
	if (principalsize > 0)
		principal_r[0] = '\0';
	not_built(reason, reasonsize);
	return -1;
}

#endif /* HAVE_KRB5 */
