/*
 * reason: filling a log-only failure text (lib/reason.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "lib/reason.h"

void reason_set(char *reason, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (reason == NULL || size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, size, fmt, ap);
	va_end(ap);
}

void reason_copy(char *reason, size_t size, const char *text)
{
	if (reason == NULL || size == 0)
		return;
	snprintf(reason, size, "%s", text != NULL ? text : "");
}
