/*
 * privsep: the messages between the network-facing pre-auth process and
 * the privileged auth monitor (server/authmon.c), and the channel they
 * travel on: one SOCK_SEQPACKET socketpair, one message per datagram, so a
 * message can never be split or run into the next.
 *
 * A message is a type byte, a field count and up to PM_FIELDS_MAX fields,
 * each a 16-bit big-endian length and that many bytes; the whole datagram
 * is at most PM_MSG_MAX.  Decoding checks every length against what is
 * left and rejects trailing bytes; what a field may hold (its bound, text
 * or binary) is the request table's business (server/authmon.c), not the
 * codec's.  Descriptors (the client connection, at the hand-over after a
 * login) ride along as SCM_RIGHTS.
 *
 * Pure data and two system calls; runs on both sides.
 */
#ifndef POPPER_PRIVSEP_H
#define POPPER_PRIVSEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Large enough for the longest request: a login's hand-over carries what
 * the client had already sent after its last authentication line (at most
 * netio's buffer after a SASL exchange, PM_LEFTOVER_MAX). */
#define PM_MSG_MAX (48 * 1024)
#define PM_FIELDS_MAX 6
#define PM_FIELD_MAX (PM_MSG_MAX - 8)
/* Descriptors a message may carry (the connection's input and output). */
#define PM_FDS_MAX 2

/* The requests of the pre-auth process, and the monitor's one answer
 * type.  Numbers are part of nothing but this build; 0 is never valid. */
enum pm_type {
	PM_USER_CHECK = 1, /* name: USER's check of the database's safety */
	PM_PLAIN,          /* name, password, tls flag: USER/PASS */
	PM_APOP,           /* name, digest (32 hex): APOP */
	PM_SASL_MECHS,     /* tls flag: the mechanisms offered now */
	PM_SASL_START,     /* mechanism, tls flag, has-initial flag, initial response */
	PM_SASL_STEP,      /* response */
	PM_SASL_CANCEL,    /* (none): the client sent "*" */
	PM_FAILED,         /* method, name, kind: a malformed credential caught early */
	PM_KPOP_RESULT,    /* (none): who the KPOP handshake proved */
	PM_KPOP_PASS,      /* name: KPOP's USER+PASS */
	PM_HANDOVER,       /* tls flag, pending input; fds: the connection */
	PM_ANSWER,         /* status, flags, data */
	PM_TYPE_END
};

struct pm_field {
	const unsigned char *p;
	size_t len;
};

struct pm_msg {
	enum pm_type type;
	unsigned nfields;
	struct pm_field f[PM_FIELDS_MAX];
	int fds[PM_FDS_MAX];
	unsigned nfds;
};

/* A message of type t without fields or descriptors. */
void pm_init(struct pm_msg *m, enum pm_type t);
/* Appends a field (the bytes are not copied: they must live until the
 * message is sent).  -1 when the message is full. */
int pm_add(struct pm_msg *m, const void *p, size_t len);
int pm_add_str(struct pm_msg *m, const char *s);
int pm_add_byte(struct pm_msg *m, unsigned char b);

/* Serialises m into buf.  Returns the length, or -1 if it does not fit or
 * a field is longer than PM_FIELD_MAX. */
long pm_encode(const struct pm_msg *m, unsigned char *buf, size_t size);
/* Parses len bytes of buf into *m (fields point into buf).  -1 for
 * anything malformed: an unknown type, more fields than PM_FIELDS_MAX, a
 * length past the end, trailing bytes. */
int pm_decode(const unsigned char *buf, size_t len, struct pm_msg *m);

/* Field i as a NUL-terminated string in out: false when it is missing,
 * holds a NUL, or does not fit outsize (NUL included). */
bool pm_field_str(const struct pm_msg *m, unsigned i, char *out, size_t outsize);
/* Field i as one byte: false unless it is exactly one byte long. */
bool pm_field_byte(const struct pm_msg *m, unsigned i, unsigned char *out);

/* Sends m (and its descriptors) as one datagram on fd.  0, or -1 with
 * errno. */
int pm_send(int fd, const struct pm_msg *m);
/* Receives one datagram into buf (PM_MSG_MAX bytes) and decodes it into
 * *m.  Returns 1, 0 at EOF (the peer is gone), or -1: errno EINTR or a
 * system error, EPROTO for a malformed or truncated message or for
 * descriptors where max_fds allows none (any descriptor received is closed
 * again in that case).  timeout_ms < 0 waits for ever. */
int pm_recv(int fd, unsigned char *buf, struct pm_msg *m, unsigned max_fds, int timeout_ms);

#endif
