/*
 * tls: the server TLS context and the TLS transport of one connection
 * (see tls.h).
 *
 * Runs as root: tls_server_create() is called at start-up, before any
 * client byte is read, and is the only place the private key is read; the
 * key bytes are wiped as soon as OpenSSL has parsed them.  The connection
 * side runs in each session process, as root before login and as the user
 * after it.
 *
 * Choices made once, in make_ctx(), and why:
 *   - TLS 1.2 at least (RFC 8996, RFC 8314 §4.1); tls-version may pin 1.2
 *     or 1.3 but never name anything older.
 *   - No renegotiation (TLS 1.2): a client-started renegotiation is a known
 *     DoS and injection vector, and POP3 never needs it.
 *   - No session cache and no tickets: each connection is its own process
 *     (inetd, or a daemon child), so a cache could not be shared anyway.
 *   - An EOF without close_notify is an ordinary EOF: POP3 is line based,
 *     so a truncated line is dropped by netio and there is nothing to
 *     truncate silently (most clients just close after QUIT).
 *
 * Transport: SSL_read/SSL_write on the non-blocking descriptors; "want
 * read"/"want write" become EAGAIN, and wait_for() tells netio which way to
 * poll, since a TLS read may have to write first and a write to read.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "lib/tls.h"

const char *tls_version_parse(const char *name, enum tls_proto *min_r, enum tls_proto *max_r)
{
	enum tls_proto lo = TLS_PROTO_1_2, hi = TLS_PROTO_1_3;

	if (name == NULL || name[0] == '\0' || strcasecmp(name, "default") == 0 ||
	    strcasecmp(name, "SSLv23") == 0 || strcasecmp(name, "all") == 0) {
		/* Qpopper's "negotiate the best": today that is 1.2 or 1.3. */
	} else if (strcasecmp(name, "TLSv1.2") == 0) {
		hi = TLS_PROTO_1_2;
	} else if (strcasecmp(name, "TLSv1.3") == 0) {
		lo = TLS_PROTO_1_3;
	} else if (strcasecmp(name, "SSLv2") == 0 || strcasecmp(name, "SSLv3") == 0 ||
		   strcasecmp(name, "TLSv1") == 0 || strcasecmp(name, "TLSv1.0") == 0 ||
		   strcasecmp(name, "TLSv1.1") == 0) {
		return "SSLv2, SSLv3, TLS 1.0 and TLS 1.1 are insecure and refused (RFC 8996); "
		       "use default, TLSv1.2 or TLSv1.3";
	} else {
		return "expected default, SSLv23, all, TLSv1.2 or TLSv1.3";
	}
	if (min_r != NULL)
		*min_r = lo;
	if (max_r != NULL)
		*max_r = hi;
	return NULL;
}

#ifndef HAVE_OPENSSL

/* ---- built without OpenSSL: every entry point says so ---------------- */

#include <stdio.h>

#define NO_TLS "TLS support is not available (built without OpenSSL)"

bool tls_available(void)
{
	return false;
}

struct tls_server *tls_server_create(const struct tls_server_config *cfg,
				     char *err, size_t errsize)
{
	(void)cfg;
	snprintf(err, errsize, "%s", NO_TLS);
	return NULL;
}

const char *tls_server_warning(const struct tls_server *srv)
{
	(void)srv;
	return "";
}

void tls_server_destroy(struct tls_server *srv)
{
	(void)srv;
}

struct tls_conn *tls_conn_create(struct tls_server *srv, int fd_in, int fd_out,
				 char *err, size_t errsize)
{
	(void)srv;
	(void)fd_in;
	(void)fd_out;
	snprintf(err, errsize, "%s", NO_TLS);
	return NULL;
}

enum tls_status tls_conn_handshake(struct tls_conn *c, int timeout_ms,
				   char *err, size_t errsize)
{
	(void)c;
	(void)timeout_ms;
	snprintf(err, errsize, "%s", NO_TLS);
	return TLS_FAILED;
}

void tls_conn_transport(struct tls_conn *c, struct netio_transport *t)
{
	(void)c;
	memset(t, 0, sizeof(*t));
}

char *tls_conn_describe(const struct tls_conn *c, char *buf, size_t size)
{
	(void)c;
	if (size > 0)
		buf[0] = '\0';
	return buf;
}

void tls_conn_destroy(struct tls_conn *c)
{
	(void)c;
}

#else /* HAVE_OPENSSL */

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "lib/ctcompare.h"
#include "lib/log.h"

#if OPENSSL_VERSION_NUMBER < 0x10101000L
#error "popper needs OpenSSL 1.1.1 or later (TLS 1.3, min/max protocol version)"
#endif

/* A PEM key file, even with a long chain in front of it, is a few KB; a
 * bound keeps a wrong path (a log, a device) from being read whole. */
#define TLS_KEY_FILE_MAX (1024 * 1024)
/* Room for the start-up warning. */
#define TLS_WARNING_MAX 512

struct tls_server {
	SSL_CTX *ctx;
	char warning[TLS_WARNING_MAX];
};

struct tls_conn {
	SSL *ssl;
	int fd_in, fd_out;
	bool established;        /* the handshake finished */
	bool broken;             /* a fatal error: no close_notify, no more I/O */
	enum netio_wait read_wait, write_wait; /* after the last EAGAIN */
};

bool tls_available(void)
{
	return true;
}

/* The first queued OpenSSL error (the root cause), or fallback; the queue
 * is emptied so the next operation starts clean. */
static void ssl_reason(char *buf, size_t size, const char *fallback)
{
	unsigned long e = ERR_get_error();

	if (e == 0) {
		snprintf(buf, size, "%s", fallback);
	} else {
		ERR_error_string_n(e, buf, size);
		/* Later entries only repeat the cause in less detail. */
		ERR_clear_error();
	}
}

static void fail(char *err, size_t errsize, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsize, fmt, ap);
	va_end(ap);
}

/* Refuses to let OpenSSL prompt on the terminal for a passphrase: popper
 * needs an unencrypted key (Qpopper did too). */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Reads the private key from path: a regular file that only its owner may
 * read or write.  The check is made on the opened file (fstat), so the file
 * checked is the file read.  Symbolic links are followed on purpose: that
 * is how certificate managers (certbot's live/ directory) publish keys. */
static EVP_PKEY *read_key(const char *path, char *err, size_t errsize)
{
	EVP_PKEY *key = NULL;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	BIO *bio;
	int fd;

	fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		fail(err, errsize, "private key file %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		fail(err, errsize, "private key file %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		fail(err, errsize, "private key file %s: not a regular file", path);
		goto out;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		fail(err, errsize, "private key file %s is accessible by group or others "
		     "(mode %04o); it must be readable by its owner only (chmod 600)",
		     path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size > TLS_KEY_FILE_MAX) {
		fail(err, errsize, "private key file %s: larger than %d bytes", path,
		     TLS_KEY_FILE_MAX);
		goto out;
	}
	buf = malloc(TLS_KEY_FILE_MAX + 1);
	if (buf == NULL) {
		fail(err, errsize, "private key file %s: out of memory", path);
		goto out;
	}
	/* Read to EOF but never past the bound: the file may grow meanwhile. */
	while (len <= TLS_KEY_FILE_MAX) {
		ssize_t n = read(fd, buf + len, TLS_KEY_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fail(err, errsize, "private key file %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > TLS_KEY_FILE_MAX) {
		fail(err, errsize, "private key file %s: larger than %d bytes", path,
		     TLS_KEY_FILE_MAX);
		goto out;
	}
	bio = BIO_new_mem_buf(buf, (int)len);
	if (bio == NULL) {
		fail(err, errsize, "private key file %s: out of memory", path);
		goto out;
	}
	/* Other PEM blocks (a certificate in a combined file) are skipped. */
	ERR_clear_error();
	key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (key == NULL) {
		char why[256];

		ssl_reason(why, sizeof(why), "no key found");
		fail(err, errsize, "private key file %s: no usable unencrypted PEM private key "
		     "(%s)", path, why);
	}
out:
	if (buf != NULL) {
		ct_wipe(buf, len);
		free(buf);
	}
	close(fd);
	return key;
}

/* A time of a certificate as text, e.g. "Jan  1 00:00:00 2024 GMT". */
static void asn1_time_text(const ASN1_TIME *t, char *buf, size_t size)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int n = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	if (bio == NULL)
		return;
	if (ASN1_TIME_print(bio, t) == 1)
		n = BIO_read(bio, buf, (int)(size - 1));
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(bio);
}

/* The start-up warning for a certificate outside its validity period. */
static void check_validity(struct tls_server *srv, const char *path)
{
	X509 *cert = SSL_CTX_get0_certificate(srv->ctx);
	char when[64];

	if (cert == NULL)
		return;
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
		asn1_time_text(X509_get0_notAfter(cert), when, sizeof(when));
		snprintf(srv->warning, sizeof(srv->warning),
			 "TLS certificate %s expired on %s; clients will refuse it", path, when);
	} else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
		asn1_time_text(X509_get0_notBefore(cert), when, sizeof(when));
		snprintf(srv->warning, sizeof(srv->warning),
			 "TLS certificate %s is not valid before %s; clients will refuse it",
			 path, when);
	}
	if (srv->warning[0] != '\0')
		log_warning("%s", srv->warning);
}

static int proto_version(enum tls_proto p)
{
	return p == TLS_PROTO_1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
}

/* The context with every fixed choice (see the header comment). */
static SSL_CTX *make_ctx(const struct tls_server_config *cfg, char *err, size_t errsize)
{
	enum tls_proto lo, hi;
	const char *why;
	SSL_CTX *ctx;
	uint64_t opts;
	char reason[256];

	why = tls_version_parse(cfg->version, &lo, &hi);
	if (why != NULL) {
		fail(err, errsize, "tls-version \"%s\": %s", cfg->version, why);
		return NULL;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		ssl_reason(reason, sizeof(reason), "out of memory");
		fail(err, errsize, "cannot create the TLS context: %s", reason);
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, proto_version(lo)) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, proto_version(hi)) != 1) {
		ssl_reason(reason, sizeof(reason), "unsupported");
		fail(err, errsize, "tls-version: this OpenSSL cannot do TLS 1.%d..1.%d: %s",
		     (int)lo - 10, (int)hi - 10, reason);
		SSL_CTX_free(ctx);
		return NULL;
	}
	opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET |
	       SSL_OP_CIPHER_SERVER_PREFERENCE;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	opts |= SSL_OP_IGNORE_UNEXPECTED_EOF;
#endif
	SSL_CTX_set_options(ctx, opts);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	/* netio retries a write with the same bytes but possibly from a new
	 * address (its buffer), and accepts partial writes. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	SSL_CTX_set_dh_auto(ctx, 1);
#endif
	if (cfg->cipher_list != NULL && cfg->cipher_list[0] != '\0' &&
	    SSL_CTX_set_cipher_list(ctx, cfg->cipher_list) != 1) {
		ssl_reason(reason, sizeof(reason), "no cipher matches");
		fail(err, errsize, "tls-cipher-list \"%s\": %s", cfg->cipher_list, reason);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

struct tls_server *tls_server_create(const struct tls_server_config *cfg,
				     char *err, size_t errsize)
{
	struct tls_server *srv;
	const char *key_file;
	EVP_PKEY *key;
	char reason[256];
	struct stat st;

	if (cfg->cert_file == NULL || cfg->cert_file[0] == '\0') {
		fail(err, errsize, "TLS needs a certificate: set tls-server-cert-file");
		return NULL;
	}
	/* Our own message for the common mistakes; OpenSSL's says less. */
	if (stat(cfg->cert_file, &st) < 0) {
		fail(err, errsize, "certificate file %s: %s", cfg->cert_file, strerror(errno));
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		fail(err, errsize, "certificate file %s: not a regular file", cfg->cert_file);
		return NULL;
	}
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		fail(err, errsize, "out of memory");
		return NULL;
	}
	srv->ctx = make_ctx(cfg, err, errsize);
	if (srv->ctx == NULL)
		goto fail;

	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(srv->ctx, cfg->cert_file) != 1) {
		ssl_reason(reason, sizeof(reason), "no certificate found");
		fail(err, errsize, "certificate file %s: no usable PEM certificate (%s)",
		     cfg->cert_file, reason);
		goto fail;
	}
	key_file = cfg->key_file != NULL && cfg->key_file[0] != '\0' ? cfg->key_file
								      : cfg->cert_file;
	key = read_key(key_file, err, errsize);
	if (key == NULL)
		goto fail;
	ERR_clear_error();
	if (SSL_CTX_use_PrivateKey(srv->ctx, key) != 1 ||
	    SSL_CTX_check_private_key(srv->ctx) != 1) {
		ssl_reason(reason, sizeof(reason), "mismatch");
		fail(err, errsize, "private key %s does not match the certificate %s (%s)",
		     key_file, cfg->cert_file, reason);
		EVP_PKEY_free(key);
		goto fail;
	}
	EVP_PKEY_free(key);
	check_validity(srv, cfg->cert_file);
	return srv;

fail:
	tls_server_destroy(srv);
	return NULL;
}

const char *tls_server_warning(const struct tls_server *srv)
{
	return srv != NULL ? srv->warning : "";
}

void tls_server_destroy(struct tls_server *srv)
{
	if (srv == NULL)
		return;
	SSL_CTX_free(srv->ctx);
	free(srv);
}

/* ---- one connection --------------------------------------------------- */

struct tls_conn *tls_conn_create(struct tls_server *srv, int fd_in, int fd_out,
				 char *err, size_t errsize)
{
	struct tls_conn *c;
	char reason[256];

	if (srv == NULL) {
		fail(err, errsize, "no TLS context");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		fail(err, errsize, "out of memory");
		return NULL;
	}
	c->fd_in = fd_in;
	c->fd_out = fd_out;
	c->read_wait = NETIO_WAIT_INPUT;
	c->write_wait = NETIO_WAIT_OUTPUT;
	ERR_clear_error();
	c->ssl = SSL_new(srv->ctx);
	if (c->ssl == NULL || SSL_set_rfd(c->ssl, fd_in) != 1 ||
	    SSL_set_wfd(c->ssl, fd_out) != 1) {
		ssl_reason(reason, sizeof(reason), "out of memory");
		fail(err, errsize, "cannot set up the TLS connection: %s", reason);
		SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	SSL_set_accept_state(c->ssl);
	return c;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd/events until deadline_ms (< 0: none).  1 ready, 0 timeout,
 * -1 error.  A caught signal ends the wait (-1, EINTR): before login a
 * session catches only the signals that end it (SIGTERM, SIGHUP), and a
 * stopping daemon should not wait for a slow handshake. */
static int wait_until(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		struct pollfd pfd = { fd, events, 0 };
		int tmo = -1, r;

		if (deadline_ms >= 0) {
			int64_t left = deadline_ms - now_ms();

			if (left <= 0)
				return 0;
			tmo = left > INT_MAX ? INT_MAX : (int)left;
		}
		r = poll(&pfd, 1, tmo);
		if (r < 0)
			return -1;
		if (r > 0)
			return 1;
	}
}

enum tls_status tls_conn_handshake(struct tls_conn *c, int timeout_ms,
				   char *err, size_t errsize)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	char reason[256];

	for (;;) {
		int r, e, saved;

		ERR_clear_error();
		errno = 0;
		r = SSL_do_handshake(c->ssl);
		if (r == 1) {
			c->established = true;
			return TLS_OK;
		}
		saved = errno;
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			bool in = e == SSL_ERROR_WANT_READ;

			switch (wait_until(in ? c->fd_in : c->fd_out, in ? POLLIN : POLLOUT,
					   deadline)) {
			case 1:
				continue;
			case 0:
				c->broken = true;
				fail(err, errsize, "no handshake within %.1f seconds",
				     (double)timeout_ms / 1000.0);
				return TLS_TIMEOUT;
			default:
				c->broken = true;
				fail(err, errsize, "%s", errno == EINTR ? "interrupted by a signal"
									: strerror(errno));
				return TLS_FAILED;
			}
		}
		c->broken = true;
		if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
			if (saved == 0)
				fail(err, errsize, "the client closed the connection during the handshake");
			else
				fail(err, errsize, "%s", strerror(saved));
		} else if (e == SSL_ERROR_ZERO_RETURN) {
			fail(err, errsize, "the client closed the connection during the handshake");
		} else {
			ssl_reason(reason, sizeof(reason), "protocol error");
			fail(err, errsize, "%s", reason);
		}
		ERR_clear_error();
		return TLS_FAILED;
	}
}

/* Turns a failed SSL_read/SSL_write into the read(2)/write(2) convention;
 * records which way to wait on EAGAIN.  Returns 0 for EOF, -1 otherwise. */
static ssize_t io_failure(struct tls_conn *c, int r, bool reading)
{
	int saved = errno;
	int e = SSL_get_error(c->ssl, r);
	enum netio_wait *w = reading ? &c->read_wait : &c->write_wait;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		*w = NETIO_WAIT_INPUT;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		*w = NETIO_WAIT_OUTPUT;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		/* close_notify: the peer has finished (an EOF to netio). */
		if (reading)
			return 0;
		errno = EPIPE;
		return -1;
	case SSL_ERROR_SYSCALL:
		c->broken = true;
		ERR_clear_error();
		if (reading && saved == 0)
			return 0;   /* EOF without close_notify (older OpenSSL) */
		errno = saved != 0 ? saved : EPIPE;
		return -1;
	default:
		c->broken = true;
		ERR_clear_error();
		errno = EPROTO;
		return -1;
	}
}

static ssize_t tls_read(void *ctx, void *buf, size_t len)
{
	struct tls_conn *c = ctx;
	int r;

	if (c->broken) {
		errno = EPROTO;
		return -1;
	}
	if (len > INT_MAX)
		len = INT_MAX;
	ERR_clear_error();
	errno = 0;
	r = SSL_read(c->ssl, buf, (int)len);
	if (r > 0)
		return r;
	return io_failure(c, r, true);
}

static ssize_t tls_write(void *ctx, const void *buf, size_t len)
{
	struct tls_conn *c = ctx;
	int r;

	if (c->broken) {
		errno = EPROTO;
		return -1;
	}
	if (len == 0)
		return 0;
	if (len > INT_MAX)
		len = INT_MAX;
	ERR_clear_error();
	errno = 0;
	r = SSL_write(c->ssl, buf, (int)len);
	if (r > 0)
		return r;
	return io_failure(c, r, false);
}

static enum netio_wait tls_wait_for(void *ctx, bool reading)
{
	const struct tls_conn *c = ctx;

	return reading ? c->read_wait : c->write_wait;
}

void tls_conn_transport(struct tls_conn *c, struct netio_transport *t)
{
	t->read = tls_read;
	t->write = tls_write;
	t->ctx = c;
	t->wait_for = tls_wait_for;
}

char *tls_conn_describe(const struct tls_conn *c, char *buf, size_t size)
{
	const SSL_CIPHER *cipher = SSL_get_current_cipher(c->ssl);
	int bits = 0;

	if (cipher != NULL)
		SSL_CIPHER_get_bits(cipher, &bits);
	snprintf(buf, size, "protocol=%s cipher=%s bits=%d", SSL_get_version(c->ssl),
		 cipher != NULL ? SSL_CIPHER_get_name(cipher) : "none", bits);
	return buf;
}

void tls_conn_destroy(struct tls_conn *c)
{
	if (c == NULL)
		return;
	/* One non-blocking attempt at close_notify: a polite end for clients
	 * that wait for it; nobody waits for the peer's answer. */
	if (c->established && !c->broken) {
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl);
		ERR_clear_error();
	}
	SSL_free(c->ssl);
	free(c);
}

#endif /* HAVE_OPENSSL */
