/* username: the one rule for what a user name may look like. */
#ifndef POPPER_USERNAME_H
#define POPPER_USERNAME_H

#include <stdbool.h>
#include <stddef.h>

/* Longest accepted user name (POSIX login names are shorter; virtual names
 * may carry a domain). */
#define USERNAME_MAX 64

/* True when name is 1..USERNAME_MAX bytes of [A-Za-z0-9._@+-], does not start
 * with '-' or '.', and contains no "..".  Everything else (control
 * characters, '/', spaces, 8-bit bytes) is refused before it can reach a
 * path, a database key or a log line. */
bool username_valid(const char *name);

#endif
