/*
 * tap.h: the tiny TAP producer every unit test uses.  tests/run.py reads
 * the "ok"/"not ok" lines; "# SKIP reason" marks a test that could not run.
 */
#ifndef POPPER_TAP_H
#define POPPER_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* A test's own setup failed (not the code under test): stop at once. */
static void die(const char *what) __attribute__((unused, noreturn));
static void die(const char *what)
{
	perror(what);
	exit(2);
}

static int tap_count;
static int tap_failed;

static void tap_result(int pass, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5), unused));
static void tap_result(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	tap_count++;
	if (!pass)
		tap_failed++;
	printf("%s %d - ", pass ? "ok" : "not ok", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass)
		printf("#   failed at %s:%d\n", file, line);
	fflush(stdout);
}

static void tap_skip(const char *reason, const char *what) __attribute__((unused));
static void tap_skip(const char *reason, const char *what)
{
	tap_count++;
	printf("ok %d - %s # SKIP %s\n", tap_count, what, reason);
	fflush(stdout);
}

static int tap_done(void) __attribute__((unused));
static int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#define ok(cond, ...) tap_result(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(a, b, ...) do { long long tap_a_ = (a), tap_b_ = (b); \
	tap_result(tap_a_ == tap_b_, __FILE__, __LINE__, __VA_ARGS__); \
	if (tap_a_ != tap_b_) printf("#   got %lld, expected %lld\n", tap_a_, tap_b_); } while (0)
#define is_str(a, b, ...) do { const char *tap_a_ = (a), *tap_b_ = (b); \
	int tap_eq_ = tap_a_ && tap_b_ && strcmp(tap_a_, tap_b_) == 0; \
	tap_result(tap_eq_, __FILE__, __LINE__, __VA_ARGS__); \
	if (!tap_eq_) printf("#   got \"%s\", expected \"%s\"\n", tap_a_ ? tap_a_ : "(null)", tap_b_ ? tap_b_ : "(null)"); } while (0)

#endif
