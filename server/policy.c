/*
 * policy: the clear-text policy, the APOP offer and user-name processing
 * (see policy.h).  Pure decisions on the settings and the client address,
 * plus the one refusal reply that USER and AUTH share.
 *
 * Runs before login: in the pre-auth process, and in the auth monitor.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "lib/username.h"
#include "server/policy.h"

bool policy_addr_is_loopback(const char *addr)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (addr == NULL)
		return false;
	/* No socket at all (a pipe on stdin): only a local process can have
	 * started us that way. */
	if (strcmp(addr, "local") == 0)
		return true;
	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return true;
		/* An IPv4 client on a dual-stack socket: ::ffff:127.x.y.z. */
		return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
	}
	return false;
}

bool policy_cleartext_allowed(enum cleartext_policy policy, const char *client_addr)
{
	switch (policy) {
	case CLEARTEXT_DEFAULT:
	case CLEARTEXT_ALWAYS:
		return true;
	case CLEARTEXT_LOCAL:
		return policy_addr_is_loopback(client_addr);
	case CLEARTEXT_NEVER:
	case CLEARTEXT_TLS: /* not yet: cmd_stls.c allows it once TLS is up */
		break;
	}
	return false;
}

bool policy_user_normalise(const struct settings *set, const char *in,
			   char *out, size_t outsize)
{
	char tmp[NETIO_MAX_LINE + 1];   /* the longest argument a line can carry */
	size_t len;

	len = strnlen(in, sizeof(tmp));
	if (len >= sizeof(tmp))
		return false;
	memcpy(tmp, in, len + 1);
	/* Qpopper's order: downcase-user, then trim-domain, then the check.
	 * ASCII only: no locale may change what a name means. */
	if (set->downcase_user)
		for (size_t i = 0; i < len; i++)
			if (tmp[i] >= 'A' && tmp[i] <= 'Z')
				tmp[i] = (char)(tmp[i] - 'A' + 'a');
	if (set->trim_domain) {
		char *at = strchr(tmp, '@');
		if (at != NULL)
			*at = '\0';
	}
	if (!username_valid(tmp) || strlen(tmp) >= outsize)
		return false;
	memcpy(out, tmp, strlen(tmp) + 1);
	return true;
}

bool policy_apop_offered(const struct session *s)
{
	/* The pre-auth process cannot see the database (chroot): it goes by
	 * what the monitor decided before the fork. */
	if (s->pm_forked)
		return s->apop_offered;
	return s->set->apop && auth_apop_available(&s->authcfg);
}

bool policy_secret_users_refused(const struct session *s)
{
	/* On whether APOP is turned on, not on the file's state: with an
	 * unsafe file USER then says [SYS/PERM] at once, as before. */
	return s->set->cleartext == CLEARTEXT_DEFAULT && s->set->apop &&
	       auth_apop_configured(&s->authcfg);
}

void policy_refuse_cleartext(struct session *s)
{
	if (s->set->cleartext == CLEARTEXT_TLS)
		reply_err(s, RESP_AUTH,
			  "You must use TLS/SSL or stronger authentication such as APOP to connect to this server.");
	else
		reply_err(s, RESP_AUTH,
			  "You must use stronger authentication such as APOP to connect to this server.");
}

bool policy_apop_digest_valid(const char *d)
{
	size_t i;

	for (i = 0; d[i] != '\0'; i++) {
		char ch = d[i];

		/* RFC 1939 §7: lower-case hex; anything else is malformed. */
		if (i >= POLICY_APOP_DIGEST_LEN ||
		    !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return false;
	}
	return i == POLICY_APOP_DIGEST_LEN;
}
