/*
 * sandbox: what the pre-auth process gives up before it reads a byte from
 * the client: root (it becomes the preauth-user account, with that
 * account's group only), the file system (chroot into an empty directory),
 * the ability to gain privileges again (no_new_privs), core dumps and
 * ptrace (not dumpable), most resources (rlimits), and every system call
 * it does not need (a seccomp filter, from libseccomp).
 *
 * sandbox_prepare runs once at start-up, as root: it resolves the account
 * and makes or checks the empty directory, so a bad setting stops popper
 * before any client connects.  sandbox_enter runs in each pre-auth child.
 * Not root (tests, a private instance): no chroot and no change of ids
 * (the process has nothing to give up), the rest as always.
 */
#ifndef POPPER_SANDBOX_H
#define POPPER_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "server/settings.h"

/* Resolves preauth-user (an account name, or a numeric "UID" or
 * "UID:GID" that belongs to no account) and the chroot directory
 * (preauth-chroot, default <state-dir>/empty: created mode 0555 if missing;
 * must be a real directory owned by root, not writable by anyone else,
 * and empty).  Returns 0, or -1 with err filled (a message for the
 * administrator). */
int sandbox_prepare(const struct settings *set, char *err, size_t errsize);

/* In the pre-auth child, before anything is read: chroot, ids, limits,
 * no_new_privs, the filter.  Returns 0, or -1 with reason filled (the
 * child must then exit). */
int sandbox_enter(char *reason, size_t reasonsize);

/* True when popper was built with libseccomp. */
bool sandbox_seccomp_built(void);

/* For the test tool that proves a forbidden system call kills only the
 * pre-auth process: the named call is left out of the filter's allow
 * list.  Makes the filter stricter, never looser. */
void sandbox_test_deny(const char *syscall_name);

#endif
