/*
 * tlsproxy: the pre-auth process's last job after a login over TLS: it
 * keeps the TLS connection and relays clear text to and from the user's
 * session over a socketpair (see tlsproxy.c for why).
 *
 * Runs in the pre-auth process: unprivileged, chrooted, under seccomp.
 */
#ifndef POPPER_TLSPROXY_H
#define POPPER_TLSPROXY_H

struct session;

/* Relays between s->tls (on the client's descriptors) and s->proxy_fd
 * until the session has closed its end and everything it wrote is out, or
 * the client is gone; then sends close_notify and exits. */
void tlsproxy_run(struct session *s) __attribute__((noreturn));

#endif
