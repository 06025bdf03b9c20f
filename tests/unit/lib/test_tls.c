/*
 * test_tls: lib/tls.c without a server around it.
 *
 * The version mnemonics; the server context from good and bad files
 * (certificates and keys are made here with OpenSSL, in a temporary
 * directory: a matching pair, a mismatched key, a group-readable key, an
 * encrypted key, a combined file, an expired certificate, a bad cipher
 * list); then real handshakes over a socketpair with an OpenSSL client in a
 * forked child: pipelined lines read through netio over TLS, a reply bigger
 * than the socket buffer (partial writes, waiting for output), close_notify;
 * garbage instead of a ClientHello, a client that closes mid-handshake and
 * one that never speaks (the timeout).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/netio.h"
#include "lib/tls.h"
#include "tests/unit/tap.h"

static void test_versions(void)
{
	enum tls_proto lo = 0, hi = 0;

	ok(tls_version_parse(NULL, &lo, &hi) == NULL && lo == TLS_PROTO_1_2 && hi == TLS_PROTO_1_3,
	   "unset tls-version: TLS 1.2 .. 1.3");
	ok(tls_version_parse("default", &lo, &hi) == NULL && lo == TLS_PROTO_1_2 &&
	   hi == TLS_PROTO_1_3, "default: 1.2 .. 1.3");
	ok(tls_version_parse("SSLv23", &lo, &hi) == NULL && lo == TLS_PROTO_1_2 &&
	   hi == TLS_PROTO_1_3, "SSLv23 (Qpopper: negotiate the best): 1.2 .. 1.3");
	ok(tls_version_parse("ALL", &lo, &hi) == NULL && lo == TLS_PROTO_1_2 && hi == TLS_PROTO_1_3,
	   "all (any case): 1.2 .. 1.3");
	ok(tls_version_parse("TLSv1.2", &lo, &hi) == NULL && lo == TLS_PROTO_1_2 &&
	   hi == TLS_PROTO_1_2, "TLSv1.2 pins 1.2");
	ok(tls_version_parse("tlsv1.3", &lo, &hi) == NULL && lo == TLS_PROTO_1_3 &&
	   hi == TLS_PROTO_1_3, "TLSv1.3 pins 1.3");
	for (const char *const *n = (const char *const[]){ "SSLv2", "SSLv3", "TLSv1", "TLSv1.0",
							   "TLSv1.1", NULL }; *n; n++) {
		const char *why = tls_version_parse(*n, NULL, NULL);

		ok(why != NULL && strstr(why, "refused") != NULL, "%s is refused: %s", *n,
		   why ? why : "accepted");
	}
	ok(tls_version_parse("TLSv9", NULL, NULL) != NULL, "an unknown name is refused");
}

#ifndef HAVE_OPENSSL

int main(void)
{
	struct tls_server_config cfg = { "/nonexistent", NULL, NULL, NULL };
	char err[256];

	test_versions();
	ok(!tls_available(), "built without OpenSSL: tls_available() is false");
	ok(tls_server_create(&cfg, err, sizeof(err)) == NULL && strstr(err, "without OpenSSL"),
	   "tls_server_create says why: %s", err);
	tap_skip("built without OpenSSL", "contexts and handshakes");
	return tap_done();
}

#else

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Every wait in these tests is bounded. */
#define HANDSHAKE_MS 10000
#define BIG_REPLY (600 * 1024)

static char dir[] = "/tmp/popper-test-tls-XXXXXX";
static char path_buf[8][512];
static int path_n;

static const char *path(const char *name)
{
	char *p = path_buf[path_n++ % 8];

	snprintf(p, sizeof(path_buf[0]), "%s/%s", dir, name);
	return p;
}

static EVP_PKEY *make_key(void)
{
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
	EVP_PKEY *k = NULL;

	if (pc == NULL || EVP_PKEY_keygen_init(pc) <= 0 ||
	    EVP_PKEY_CTX_set_ec_paramgen_curve_nid(pc, NID_X9_62_prime256v1) <= 0 ||
	    EVP_PKEY_keygen(pc, &k) <= 0)
		k = NULL;
	EVP_PKEY_CTX_free(pc);
	return k;
}

/* A self-signed certificate for localhost, valid from..to days from now. */
static X509 *make_cert(EVP_PKEY *key, long from_days, long to_days)
{
	X509 *x = X509_new();
	X509_NAME *name;
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	static long serial = 1;

	if (x == NULL)
		return NULL;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), from_days * 86400L);
	X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400L);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
				   -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost");
	if (ext != NULL) {
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (X509_sign(x, key, EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static bool write_pem(const char *file, X509 *cert, EVP_PKEY *key, const char *pass,
		      mode_t mode)
{
	FILE *f = fopen(file, "w");
	bool good = f != NULL;

	if (f == NULL)
		return false;
	if (cert != NULL)
		good = good && PEM_write_X509(f, cert) == 1;
	if (key != NULL && pass == NULL)
		good = good && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
	if (key != NULL && pass != NULL)
		good = good && PEM_write_PrivateKey(f, key, EVP_aes_128_cbc(),
						    (const unsigned char *)pass, (int)strlen(pass),
						    NULL, NULL) == 1;
	good = fclose(f) == 0 && good;
	return good && chmod(file, mode) == 0;
}

static X509 *good_cert;

static bool make_files(void)
{
	EVP_PKEY *key = make_key(), *other = make_key();
	X509 *expired;
	bool good;

	if (key == NULL || other == NULL)
		return false;
	good_cert = make_cert(key, -1, 30);
	expired = make_cert(key, -30, -1);
	good = good_cert != NULL && expired != NULL &&
	       write_pem(path("cert.pem"), good_cert, NULL, NULL, 0644) &&
	       write_pem(path("key.pem"), NULL, key, NULL, 0600) &&
	       write_pem(path("key-0640.pem"), NULL, key, NULL, 0640) &&
	       write_pem(path("key-0604.pem"), NULL, key, NULL, 0604) &&
	       write_pem(path("other-key.pem"), NULL, other, NULL, 0600) &&
	       write_pem(path("encrypted-key.pem"), NULL, key, "passphrase", 0600) &&
	       write_pem(path("combined.pem"), good_cert, key, NULL, 0600) &&
	       write_pem(path("expired.pem"), expired, NULL, NULL, 0644) &&
	       write_pem(path("garbage.pem"), NULL, NULL, NULL, 0600);
	X509_free(expired);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	return good;
}

static struct tls_server *server(const char *cert, const char *key, const char *ciphers,
				 const char *version, char *err, size_t errsize)
{
	struct tls_server_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.cert_file = cert;
	cfg.key_file = key;
	cfg.cipher_list = ciphers;
	cfg.version = version;
	err[0] = '\0';
	return tls_server_create(&cfg, err, errsize);
}

static void test_contexts(void)
{
	struct tls_server *srv;
	char err[512];

	srv = server(path("cert.pem"), path("key.pem"), NULL, NULL, err, sizeof(err));
	ok(srv != NULL, "certificate + matching key (0600): context built (%s)", err);
	is_str(tls_server_warning(srv), "", "a valid certificate: no warning");
	tls_server_destroy(srv);

	srv = server(path("combined.pem"), NULL, NULL, NULL, err, sizeof(err));
	ok(srv != NULL, "certificate and key in one 0600 file, no key file set (%s)", err);
	tls_server_destroy(srv);

	srv = server(path("cert.pem"), path("key-0640.pem"), NULL, NULL, err, sizeof(err));
	ok(srv == NULL && strstr(err, "group or others") && strstr(err, "key-0640.pem") &&
	   strstr(err, "0640"), "a group-readable key is refused: %s", err);
	srv = server(path("cert.pem"), path("key-0604.pem"), NULL, NULL, err, sizeof(err));
	ok(srv == NULL && strstr(err, "group or others"), "a world-readable key is refused: %s",
	   err);
	/* The combined file is the key file: 0644 is refused too. */
	srv = server(path("cert.pem"), NULL, NULL, NULL, err, sizeof(err));
	ok(srv == NULL && (strstr(err, "group or others") || strstr(err, "no usable")),
	   "no key file and no key in a 0644 certificate file: refused: %s", err);

	srv = server(path("cert.pem"), path("other-key.pem"), NULL, NULL, err, sizeof(err));
	ok(srv == NULL && strstr(err, "does not match"), "a key of another pair is refused: %s",
	   err);
	srv = server(path("cert.pem"), path("encrypted-key.pem"), NULL, NULL, err, sizeof(err));
	ok(srv == NULL && strstr(err, "unencrypted"), "an encrypted key is refused: %s", err);
	srv = server(path("cert.pem"), path("garbage.pem"), NULL, NULL, err, sizeof(err));
	ok(srv == NULL && strstr(err, "garbage.pem"), "an empty key file is refused: %s", err);
	srv = server(path("missing.pem"), path("key.pem"), NULL, NULL, err, sizeof(err));
	ok(srv == NULL && strstr(err, "missing.pem") && strstr(err, "No such file"),
	   "a missing certificate file is named: %s", err);
	srv = server(path("key.pem"), path("key.pem"), NULL, NULL, err, sizeof(err));
	ok(srv == NULL && strstr(err, "certificate"), "a key where the certificate should be: %s",
	   err);
	srv = server(NULL, path("key.pem"), NULL, NULL, err, sizeof(err));
	ok(srv == NULL && strstr(err, "tls-server-cert-file"), "no certificate at all: %s", err);
	srv = server(dir, path("key.pem"), NULL, NULL, err, sizeof(err));
	ok(srv == NULL && strstr(err, "not a regular file"), "a directory as certificate: %s", err);

	srv = server(path("expired.pem"), path("key.pem"), NULL, NULL, err, sizeof(err));
	ok(srv != NULL, "an expired certificate still starts (%s)", err);
	ok(strstr(tls_server_warning(srv), "expired") != NULL &&
	   strstr(tls_server_warning(srv), "expired.pem") != NULL,
	   "... with a warning: %s", tls_server_warning(srv));
	tls_server_destroy(srv);

	srv = server(path("cert.pem"), path("key.pem"), "NO-SUCH-CIPHER", NULL, err, sizeof(err));
	ok(srv == NULL && strstr(err, "tls-cipher-list"), "a cipher list that matches nothing: %s",
	   err);
	srv = server(path("cert.pem"), path("key.pem"), "ECDHE+AESGCM", NULL, err, sizeof(err));
	ok(srv != NULL, "a sane cipher list is applied (%s)", err);
	tls_server_destroy(srv);
	srv = server(path("cert.pem"), path("key.pem"), NULL, "SSLv3", err, sizeof(err));
	ok(srv == NULL && strstr(err, "tls-version"), "tls-version SSLv3: %s", err);
	srv = server(path("cert.pem"), path("key.pem"), NULL, "TLSv1.3", err, sizeof(err));
	ok(srv != NULL, "tls-version TLSv1.3 (%s)", err);
	tls_server_destroy(srv);
}

/* ---- handshakes ------------------------------------------------------- */

/* What the forked client does once connected. */
enum client_script {
	CL_SESSION,     /* pipelined lines, read replies + a big one, close_notify */
	CL_GARBAGE,     /* a line of text instead of a ClientHello */
	CL_HALF_HELLO,  /* the first bytes of a ClientHello, then close */
	CL_SILENT,      /* nothing at all, until killed */
	CL_TLS12_ONLY   /* a client that offers TLS 1.2 at most */
};

static void child_exit(bool good)
{
	_exit(good ? 0 : 1);
}

/* Reads to the end; true when the end was the server's close_notify. */
static bool read_all(SSL *ssl, char *buf, size_t size, size_t *len_r)
{
	size_t len = 0;
	int n;

	for (;;) {
		if (len == size)
			return false;
		n = SSL_read(ssl, buf + len, (int)(size - len));
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	*len_r = len;
	return SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN;
}

/* The client side, in the child.  Verifies the server certificate (the
 * self-signed test certificate is the trust anchor) and the host name. */
static void run_client(int fd, enum client_script script)
{
	SSL_CTX *ctx;
	SSL *ssl;
	char *buf;
	size_t len = 0;
	bool good;

	alarm(20);   /* never outlive the test */
	if (script == CL_GARBAGE) {
		static const char g[] = "CAPA\r\nthis is not a TLS ClientHello\r\n";

		child_exit(write(fd, g, sizeof(g) - 1) == (ssize_t)(sizeof(g) - 1));
	}
	if (script == CL_HALF_HELLO) {
		/* A handshake record header promising 512 bytes, then 4 of them. */
		static const unsigned char h[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc };

		child_exit(write(fd, h, sizeof(h)) == (ssize_t)sizeof(h));
	}
	if (script == CL_SILENT) {
		pause();
		child_exit(true);
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		child_exit(false);
	X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), good_cert);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (script == CL_TLS12_ONLY)
		SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	SSL_set1_host(ssl, "localhost");
	SSL_set_tlsext_host_name(ssl, "localhost");
	if (SSL_connect(ssl) != 1 || SSL_get_verify_result(ssl) != X509_V_OK)
		child_exit(false);
	/* Three commands in one record: netio must hand them out in order. */
	if (SSL_write(ssl, "USER alice\r\nCAPA\r\nNOOP\r\n", 24) != 24)
		child_exit(false);
	buf = malloc(BIG_REPLY + 4096);
	if (buf == NULL)
		child_exit(false);
	good = read_all(ssl, buf, BIG_REPLY + 4096, &len);
	/* The server answers each line, sends its description line, then
	 * BIG_REPLY bytes of 'x'. */
	good = good && len > 36 &&
	       memcmp(buf, "+OK line=1\r\n+OK line=2\r\n+OK line=3\r\n", 36) == 0 &&
	       memcmp(buf + 36, "protocol=", 9) == 0;
	if (good) {
		char *eol = memchr(buf + 36, '\n', len - 36);
		size_t start = eol != NULL ? (size_t)(eol - buf) + 1 : len;

		good = eol != NULL && len - start == BIG_REPLY;
		for (size_t i = start; good && i < len; i++)
			good = buf[i] == 'x';
	}
	free(buf);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	child_exit(good);
}

static pid_t start_client(int *server_fd_r, enum client_script script)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	/* A small socket buffer, so the big reply must wait for the client. */
	{
		int sz = 4096;

		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		run_client(sv[1], script);
		_exit(1);
	}
	close(sv[1]);
	*server_fd_r = sv[0];
	return pid;
}

static int finish_client(pid_t pid, bool kill_it)
{
	int status = 0;

	if (kill_it)
		kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_session(struct tls_server *srv, enum client_script script, const char *want_proto)
{
	char err[256], desc[200];
	struct netio_transport t;
	struct tls_conn *c;
	struct netio *io;
	enum tls_status st;
	char *line, *big;
	size_t len;
	int fd, i;
	pid_t pid = start_client(&fd, script);

	err[0] = '\0';
	if (pid < 0) {
		ok(0, "socketpair/fork: %s", strerror(errno));
		return;
	}
	io = netio_create(fd, fd);   /* makes fd non-blocking, as a session does */
	c = tls_conn_create(srv, fd, fd, err, sizeof(err));
	ok(io != NULL && c != NULL, "connection object (%s)", err);
	if (io == NULL || c == NULL)
		return;
	st = tls_conn_handshake(c, HANDSHAKE_MS, err, sizeof(err));
	ok(st == TLS_OK, "handshake with a verifying client (%s)", err);
	tls_conn_describe(c, desc, sizeof(desc));
	ok(strstr(desc, want_proto) != NULL && strstr(desc, "cipher=") && strstr(desc, "bits="),
	   "described for the log: %s", desc);
	tls_conn_transport(c, &t);
	netio_set_transport(io, &t);
	for (i = 1; i <= 3; i++) {
		static const char *const want[] = { "USER alice", "CAPA", "NOOP" };

		ok(netio_read_line(io, &line, &len, HANDSHAKE_MS) == NETIO_LINE &&
		   strcmp(line, want[i - 1]) == 0, "pipelined line %d over TLS: %s", i,
		   want[i - 1]);
		netio_printf(io, "+OK line=%d\r\n", i);
	}
	ok(!netio_input_pending(io), "nothing left after the three lines");
	netio_puts(io, desc);
	netio_puts(io, "\r\n");
	big = malloc(BIG_REPLY);
	if (big != NULL) {
		memset(big, 'x', BIG_REPLY);
		ok(netio_write(io, big, BIG_REPLY) == 0 && netio_flush(io) == 0,
		   "%d bytes written through TLS to a slow reader", BIG_REPLY);
		free(big);
	}
	tls_conn_destroy(c);   /* close_notify */
	netio_destroy(io);
	close(fd);
	is_int(finish_client(pid, false), 0,
	       "the client verified the certificate, got every reply in order and a clean end");
}

static void test_bad_client(struct tls_server *srv, enum client_script script, int timeout_ms,
			    enum tls_status want, const char *what)
{
	char err[256];
	struct tls_conn *c;
	struct netio *io;
	enum tls_status st;
	struct timespec t0, t1;
	double secs;
	int fd;
	pid_t pid = start_client(&fd, script);

	err[0] = '\0';
	if (pid < 0) {
		ok(0, "socketpair/fork: %s", strerror(errno));
		return;
	}
	io = netio_create(fd, fd);
	c = tls_conn_create(srv, fd, fd, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	st = c != NULL ? tls_conn_handshake(c, timeout_ms, err, sizeof(err)) : TLS_FAILED;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ok(st == want, "%s: handshake %s (%s)", what,
	   want == TLS_TIMEOUT ? "times out" : "fails", err);
	ok(secs < (double)timeout_ms / 1000.0 + 2.0, "%s: ended after %.1f s, within the bound",
	   what, secs);
	tls_conn_destroy(c);
	netio_destroy(io);
	close(fd);
	finish_client(pid, true);
}

static void cleanup(void)
{
	static const char *const names[] = {
		"cert.pem", "key.pem", "key-0640.pem", "key-0604.pem", "other-key.pem",
		"encrypted-key.pem", "combined.pem", "expired.pem", "garbage.pem", NULL
	};

	for (size_t i = 0; names[i] != NULL; i++)
		unlink(path(names[i]));
	rmdir(dir);
}

int main(void)
{
	struct tls_server *srv;
	char err[512];

	signal(SIGPIPE, SIG_IGN);
	test_versions();
	ok(tls_available(), "built with OpenSSL: tls_available()");
	if (mkdtemp(dir) == NULL || !make_files()) {
		ok(0, "test certificates made in %s", dir);
		cleanup();
		return tap_done();
	}
	test_contexts();

	srv = server(path("cert.pem"), path("key.pem"), NULL, NULL, err, sizeof(err));
	if (srv == NULL) {
		ok(0, "server context for the handshakes: %s", err);
		cleanup();
		return tap_done();
	}
	test_session(srv, CL_SESSION, "protocol=TLSv1.3");
	test_session(srv, CL_TLS12_ONLY, "protocol=TLSv1.2");
	test_bad_client(srv, CL_GARBAGE, HANDSHAKE_MS, TLS_FAILED, "garbage instead of a ClientHello");
	test_bad_client(srv, CL_HALF_HELLO, HANDSHAKE_MS, TLS_FAILED,
			"a client that closes mid-handshake");
	test_bad_client(srv, CL_SILENT, 500, TLS_TIMEOUT, "a client that never speaks");
	tls_server_destroy(srv);

	/* tls-version TLSv1.3: a TLS 1.2-only client cannot get in. */
	srv = server(path("cert.pem"), path("key.pem"), NULL, "TLSv1.3", err, sizeof(err));
	if (srv != NULL) {
		test_bad_client(srv, CL_TLS12_ONLY, HANDSHAKE_MS, TLS_FAILED,
				"tls-version TLSv1.3 and a TLS 1.2 client");
		tls_server_destroy(srv);
	}
	X509_free(good_cert);
	cleanup();
	return tap_done();
}

#endif
