/*
 * confparse: the Qpopper configuration-file grammar, and nothing else.
 *
 *   set NAME = VALUE      set BOOLNAME        reset BOOLNAME
 *   # comment (also after a value)
 * VALUE is a word up to the next blank, or a string quoted with ", ' or `
 * in which a backslash escapes the quote character and backslash itself.
 * Option names are letters, digits and '-' and are matched without regard
 * to case.  What the options mean is the caller's business: each statement
 * is handed to a callback, which returns NULL or an error text.
 */
#ifndef POPPER_CONFPARSE_H
#define POPPER_CONFPARSE_H

#include <stdbool.h>
#include <stddef.h>

#define CONFPARSE_MAX_LINE 4096
#define CONFPARSE_MAX_VALUE 1024
#define CONFPARSE_MAX_DEPTH 16   /* nested config-file includes */

enum confparse_op { CONFPARSE_SET, CONFPARSE_RESET };

struct confparse_stmt {
	enum confparse_op op;
	const char *name;     /* option name as written */
	const char *value;    /* NULL for "set NAME" and "reset NAME" */
	const char *file;     /* for messages */
	unsigned line;
	unsigned depth;       /* include depth (0 = top file) */
};

/* Returns NULL if accepted, else a static or thread-local message such as
 * "unknown option" (the parser adds file and line). */
typedef const char *confparse_fn(const struct confparse_stmt *stmt, void *ctx);

/* Parses the text of one file.  Stops at the first error and writes
 * "FILE:LINE: MESSAGE" into err (size errsize).  Returns 0 or -1. */
int confparse_buffer(const char *text, size_t len, const char *file,
		     unsigned depth, confparse_fn *fn, void *ctx,
		     char *err, size_t errsize);

/* Reads file (a regular file, no symlink, at most 1 MiB) and parses it.
 * Returns 0 or -1 with err set (also for I/O errors). */
int confparse_file(const char *path, unsigned depth, confparse_fn *fn,
		   void *ctx, char *err, size_t errsize);

/* Helpers for callbacks: parse a Qpopper boolean ("true", "false", "1", "0",
 * also "yes"/"no"/"on"/"off", any case) or a non-negative integer (decimal,
 * or 0x hex / leading-0 octal as Qpopper's strtol base 0 allowed). */
bool confparse_bool(const char *value, bool *b_r);
bool confparse_uint(const char *value, unsigned long max, unsigned long *n_r);

#endif
