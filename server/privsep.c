/*
 * privsep: the message codec and the channel between the pre-auth process
 * and the auth monitor (see privsep.h).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "server/privsep.h"

void pm_init(struct pm_msg *m, enum pm_type t)
{
	memset(m, 0, sizeof(*m));
	m->type = t;
}

int pm_add(struct pm_msg *m, const void *p, size_t len)
{
	if (m->nfields >= PM_FIELDS_MAX || len > PM_FIELD_MAX)
		return -1;
	m->f[m->nfields].p = p;
	m->f[m->nfields].len = len;
	m->nfields++;
	return 0;
}

int pm_add_str(struct pm_msg *m, const char *s)
{
	return pm_add(m, s, strlen(s));
}

int pm_add_byte(struct pm_msg *m, unsigned char b)
{
	/* A field points at its bytes until the send: one static byte per
	 * value, so no caller has to keep a variable alive. */
	static const unsigned char bytes[16] = {
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
	};

	if (b >= sizeof(bytes))
		return -1;
	return pm_add(m, &bytes[b], 1);
}

long pm_encode(const struct pm_msg *m, unsigned char *buf, size_t size)
{
	size_t o = 2;

	if (size < 2 || m->type <= 0 || m->type >= PM_TYPE_END || m->nfields > PM_FIELDS_MAX)
		return -1;
	buf[0] = (unsigned char)m->type;
	buf[1] = (unsigned char)m->nfields;
	for (unsigned i = 0; i < m->nfields; i++) {
		size_t len = m->f[i].len;

		if (len > PM_FIELD_MAX || len > 0xffff || size - o < 2 + len)
			return -1;
		buf[o] = (unsigned char)(len >> 8);
		buf[o + 1] = (unsigned char)(len & 0xff);
		if (len > 0)
			memcpy(buf + o + 2, m->f[i].p, len);
		o += 2 + len;
	}
	return (long)o;
}

int pm_decode(const unsigned char *buf, size_t len, struct pm_msg *m)
{
	size_t o = 2;

	pm_init(m, PM_ANSWER);
	if (len < 2 || buf[0] == 0 || buf[0] >= PM_TYPE_END || buf[1] > PM_FIELDS_MAX)
		return -1;
	m->type = (enum pm_type)buf[0];
	m->nfields = buf[1];
	for (unsigned i = 0; i < m->nfields; i++) {
		size_t flen;

		if (len - o < 2)
			return -1;
		flen = ((size_t)buf[o] << 8) | buf[o + 1];
		o += 2;
		if (len - o < flen)
			return -1;
		m->f[i].p = buf + o;
		m->f[i].len = flen;
		o += flen;
	}
	return o == len ? 0 : -1;
}

bool pm_field_str(const struct pm_msg *m, unsigned i, char *out, size_t outsize)
{
	if (i >= m->nfields || m->f[i].len >= outsize ||
	    memchr(m->f[i].p, '\0', m->f[i].len) != NULL)
		return false;
	memcpy(out, m->f[i].p, m->f[i].len);
	out[m->f[i].len] = '\0';
	return true;
}

bool pm_field_byte(const struct pm_msg *m, unsigned i, unsigned char *out)
{
	if (i >= m->nfields || m->f[i].len != 1)
		return false;
	*out = m->f[i].p[0];
	return true;
}

int pm_send(int fd, const struct pm_msg *m)
{
	static unsigned char buf[PM_MSG_MAX];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * PM_FDS_MAX)];
	} ctl;
	struct iovec iov;
	struct msghdr mh;
	long n = pm_encode(m, buf, sizeof(buf));
	ssize_t w;

	if (n < 0 || m->nfds > PM_FDS_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	iov.iov_base = buf;
	iov.iov_len = (size_t)n;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (m->nfds > 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.space;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * m->nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * m->nfds);
		memcpy(CMSG_DATA(c), m->fds, sizeof(int) * m->nfds);
	}
	do
		w = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return -1;
	return w == n ? 0 : (errno = EMSGSIZE, -1);
}

/* Takes the descriptors out of a received control message.  Returns how
 * many, or -1 (all of them closed) when there are more than max_fds or
 * the control data was cut short. */
static int take_fds(struct msghdr *mh, struct pm_msg *m, unsigned max_fds)
{
	int got[PM_FDS_MAX * 4];
	unsigned n = 0;
	bool bad = (mh->msg_flags & MSG_CTRUNC) != 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			bad = true;
			continue;
		}
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (n < sizeof(got) / sizeof(got[0]))
				got[n++] = fd;
			else
				close(fd);
		}
	}
	if (bad || n > max_fds) {
		for (unsigned i = 0; i < n; i++)
			close(got[i]);
		return -1;
	}
	for (unsigned i = 0; i < n; i++)
		m->fds[i] = got[i];
	m->nfds = n;
	return (int)n;
}

int pm_recv(int fd, unsigned char *buf, struct pm_msg *m, unsigned max_fds, int timeout_ms)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * PM_FDS_MAX * 4)];
	} ctl;
	struct iovec iov = { buf, PM_MSG_MAX };
	struct msghdr mh;
	struct pollfd pfd = { fd, POLLIN, 0 };
	struct pm_msg fdm;
	ssize_t n;
	int r;

	pm_init(m, PM_ANSWER);
	pm_init(&fdm, PM_ANSWER);
	r = poll(&pfd, 1, timeout_ms);
	if (r < 0)
		return -1;
	if (r == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.space;
	mh.msg_controllen = sizeof(ctl.space);
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN ? (errno = EINTR, -1) : -1;
	if (take_fds(&mh, &fdm, (mh.msg_flags & MSG_TRUNC) != 0 ? 0 : max_fds) < 0 ||
	    (mh.msg_flags & MSG_TRUNC) != 0) {
		errno = EPROTO;
		return -1;
	}
	if (n == 0 && fdm.nfds == 0)
		return 0;
	if (pm_decode(buf, (size_t)n, m) != 0) {
		for (unsigned i = 0; i < fdm.nfds; i++)
			close(fdm.fds[i]);
		errno = EPROTO;
		return -1;
	}
	memcpy(m->fds, fdm.fds, sizeof(m->fds));
	m->nfds = fdm.nfds;
	return 1;
}
