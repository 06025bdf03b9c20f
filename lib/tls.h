/*
 * tls: popper's one use of OpenSSL for the connection: implicit TLS
 * (RFC 8314, port 995, "tls-support alternate-port") and STLS (RFC 2595,
 * "tls-support stls").
 *
 * A server context (struct tls_server) is built once at start-up from the
 * tls-* options, before any client is served, so every configuration fault
 * stops popper with a message instead of failing each connection: the
 * certificate chain and the private key are loaded and checked against
 * each other, the key file must be readable by its owner only, the protocol
 * is TLS 1.2 at least (1.3 is the library's first choice), and the cipher
 * list is applied.  An expired or not yet valid certificate is a warning,
 * not an error: the administrator hears of it at start-up, clients refuse it.
 *
 * A connection (struct tls_conn) does the server side of the handshake on
 * the session's non-blocking descriptors, bounded by a deadline (poll), and
 * then becomes netio's transport (netio_set_transport), so the engine reads
 * lines and writes replies exactly as it does in clear text.
 *
 * Without OpenSSL (no HAVE_OPENSSL) the module still links: tls_available()
 * is false and tls_server_create() fails saying so.  The tls-version
 * mnemonics are parsed the same in both builds.
 */
#ifndef POPPER_TLS_H
#define POPPER_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/netio.h"

/* Protocol versions a tls-version mnemonic may name (RFC 8996 retired
 * everything older than TLS 1.2). */
enum tls_proto {
	TLS_PROTO_1_2 = 12,
	TLS_PROTO_1_3 = 13
};

/* Maps a tls-version mnemonic (case-insensitive) onto the lowest and the
 * highest protocol version: "default", "SSLv23" and "all" (Qpopper's
 * "negotiate the best") give 1.2..1.3; "TLSv1.2" and "TLSv1.3" pin one
 * version.  NULL or "" is "default".  Qpopper's "SSLv2", "SSLv3", "TLSv1"
 * and "TLSv1.1" (and "TLSv1.0") are refused.  Returns NULL, or a static
 * message saying why the name is refused.  min_r/max_r may be NULL. */
const char *tls_version_parse(const char *name, enum tls_proto *min_r, enum tls_proto *max_r);

/* True when popper was built with OpenSSL. */
bool tls_available(void);

struct tls_server_config {
	const char *cert_file;   /* PEM: the server certificate, then its chain */
	const char *key_file;    /* PEM, unencrypted; NULL: the key is in cert_file */
	const char *cipher_list; /* OpenSSL cipher list (TLS 1.2); NULL: library default */
	const char *version;     /* tls-version mnemonic; NULL: "default" */
};

struct tls_server;
struct tls_conn;

/* Builds the server context.  Returns NULL with err filled (a message for
 * the administrator naming the file and the problem).  A warning (expired
 * certificate) is logged with log_warning() and kept for
 * tls_server_warning().  Free with tls_server_destroy(). */
struct tls_server *tls_server_create(const struct tls_server_config *cfg,
				     char *err, size_t errsize);

/* The start-up warning ("" when there is none); valid while srv lives. */
const char *tls_server_warning(const struct tls_server *srv);

void tls_server_destroy(struct tls_server *srv);

enum tls_status {
	TLS_OK,
	TLS_TIMEOUT,   /* the handshake did not finish before the deadline */
	TLS_FAILED     /* protocol error, bad client, closed connection */
};

/* A server connection on fd_in/fd_out (equal for a socket; they must be
 * non-blocking, as netio_create() leaves them).  Nothing is read or written
 * yet.  Returns NULL with err filled.  Free with tls_conn_destroy(). */
struct tls_conn *tls_conn_create(struct tls_server *srv, int fd_in, int fd_out,
				 char *err, size_t errsize);

/* The server handshake, waiting (poll) at most timeout_ms in all (< 0:
 * no limit); a caught signal ends it (TLS_FAILED).  On failure err gets the
 * reason, for the log only. */
enum tls_status tls_conn_handshake(struct tls_conn *c, int timeout_ms,
				   char *err, size_t errsize);

/* Fills *t with the transport that reads and writes through the TLS
 * connection (after a successful handshake), for netio_set_transport().
 * c must outlive its use by netio. */
void tls_conn_transport(struct tls_conn *c, struct netio_transport *t);

/* "protocol=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256" for the log
 * record of a handshake.  Returns buf. */
char *tls_conn_describe(const struct tls_conn *c, char *buf, size_t size);

/* Sends close_notify when the connection is healthy (one attempt, never
 * blocks) and frees c.  NULL is allowed. */
void tls_conn_destroy(struct tls_conn *c);

#endif
