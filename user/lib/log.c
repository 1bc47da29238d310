// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "log.h"

/* The one piece of process-wide logging state: level and prefix. */
static struct {
	enum log_level level;
	const char *prefix;
} log_ctx = { LOG_LVL_INFO, "ifkit" };

void log_set_level(enum log_level level) { log_ctx.level = level; }
enum log_level log_get_level(void) { return log_ctx.level; }
void log_set_prefix(const char *prefix) { log_ctx.prefix = prefix; }

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	va_list ap;

	if (level > log_ctx.level)
		return;
	fprintf(stderr, "%s: %s: ", log_ctx.prefix, names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (fmt[0] && fmt[strlen(fmt) - 1] != '\n')
		fputc('\n', stderr);
}
