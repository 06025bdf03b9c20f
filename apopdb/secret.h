/*
 * secret: how apopdb and popauth read a secret and judge it.
 *
 * A secret never comes from the command line (ps shows it).  On a terminal
 * it is prompted for with echo off (a new one twice); otherwise it is one
 * line of standard input, read with read(2) byte by byte so no copy stays in
 * a stdio buffer.  The strength rule is here so both tools apply the same
 * one; popauth enforces it, apopdb (administrators, migrations) warns.
 * Both tools also hold the same signals while they change the database.
 */
#ifndef POPPER_SECRET_H
#define POPPER_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "auth/userdb/userdb.h"

/* A buffer for one secret: the longest one, a CR, and the NUL. */
#define SECRET_BUF_SIZE (USERDB_SECRET_MAX + 2)

/* The strength rule (apopdb(8), popauth(8)). */
#define SECRET_MIN_LEN 8         /* with 3 of the 4 character classes */
#define SECRET_MIN_LEN_2 12      /* with 2 classes */
#define SECRET_MIN_LEN_1 20      /* a passphrase: any characters */

/* Negative results of the readers. */
enum {
	SECRET_ERR_IO = -1,       /* read error (errno) or no terminal */
	SECRET_ERR_TOO_LONG = -2, /* more than USERDB_SECRET_MAX bytes */
	SECRET_ERR_NUL = -3,      /* a NUL byte */
	SECRET_ERR_MISMATCH = -4, /* the retyped secret differs */
	SECRET_ERR_CONTROL = -5   /* a control character (TAB, ESC, DEL...) */
};

/* True when standard input is a terminal (prompts are used). */
bool secret_interactive(void);

/* Reads one secret into buf (size SECRET_BUF_SIZE): on a terminal after
 * prompt, echo off; else one line of standard input.  Returns the length
 * (0 = empty) or a SECRET_ERR_ value; buf is wiped on error. */
ssize_t secret_read(const char *prompt, char *buf, size_t bufsize);

/* Reads a new secret: on a terminal prompted twice (prompt, then retype);
 * the second is skipped when the first is empty.  Otherwise one line.
 * Returns the length or a SECRET_ERR_ value. */
ssize_t secret_read_new(const char *prompt, const char *retype,
			char *buf, size_t bufsize);

/* Why a secret fails the strength rule for user, or NULL when it passes.
 * The secret "*" is not judged here (it disables APOP). */
const char *secret_weakness(const char *secret, size_t len, const char *user);

/* True for popauth's "*": APOP off for the user, entry kept (Qpopper). */
bool secret_is_disable(const char *secret, size_t len);

/* A short English text for a SECRET_ERR_ value. */
const char *secret_error_text(ssize_t err);

/* Blocks the signals an operator or a terminal may send that must not cut a
 * change to the database in half or stop it with the lock held (INT, TERM,
 * HUP, QUIT, TSTP, TTIN, TTOU, PIPE), from the start of a copy until it is
 * renamed or thrown away; release_signals() unblocks them and so delivers
 * any that came.  SIGSTOP cannot be held: the lock does not rely on it
 * (auth/userdb/userdb_write.c, "Locking").  Shared by apopdb and popauth. */
void hold_signals(void);
void release_signals(void);

#endif
