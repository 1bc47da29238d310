// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "log.h"

/* The one piece of process-wide logging state. */
static struct {
	enum log_level level;
	enum log_stamp stamp;
	const char *prefix;
	unsigned long errors;
} log_ctx = { LOG_LVL_INFO, LOG_STAMP_AUTO, "ifkit", 0 };

void log_set_level(enum log_level level) { log_ctx.level = level; }
enum log_level log_get_level(void) { return log_ctx.level; }
void log_set_prefix(const char *prefix) { log_ctx.prefix = prefix; }
void log_set_stamp(enum log_stamp stamp) { log_ctx.stamp = stamp; }
unsigned long log_error_count(void) { return log_ctx.errors; }

bool log_fd_is_journal(int fd)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char end;

	/* systemd sets it for stdout/stderr connected to the journal; a child
	 * whose stderr was redirected inherits it, hence the comparison. */
	if (!env || sscanf(env, "%llu:%llu%c", &dev, &ino, &end) != 2)
		return false;
	if (fstat(fd, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

enum log_stamp log_get_stamp(void)
{
	if (log_ctx.stamp == LOG_STAMP_AUTO) {
		tzset();	/* localtime_r() alone need not read the zone */
		log_ctx.stamp = log_fd_is_journal(STDERR_FILENO) ? LOG_STAMP_JOURNAL : LOG_STAMP_TIME;
	}
	return log_ctx.stamp;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	/* syslog(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
	static const int prio[] = { 3, 4, 6, 7 };
	char line[2048];
	size_t len = 0;
	int n;

	if (level == LOG_LVL_ERROR)
		log_ctx.errors++;
	if (level > log_ctx.level)
		return;
	/* Build the line whole and write it with one call, so lines of the
	 * relay threads never interleave mid-line. */
	switch (log_get_stamp()) {
	case LOG_STAMP_JOURNAL:
		n = snprintf(line, sizeof(line), "<%d>", prio[level]);
		len = n > 0 ? (size_t)n : 0;
		break;
	case LOG_STAMP_TIME: {
		struct timeval tv;
		struct tm tm;

		gettimeofday(&tv, NULL);
		localtime_r(&tv.tv_sec, &tm);
		len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(line + len, sizeof(line) - len, ".%03ld", (long)tv.tv_usec / 1000);
		len += n > 0 ? (size_t)n : 0;
		len += strftime(line + len, sizeof(line) - len, "%z ", &tm);
		break;
	}
	default:
		break;
	}
	/* The journal records the program already: no prefix of ours there. */
	n = snprintf(line + len, sizeof(line) - len, "%s%s%s: ",
		     log_ctx.stamp == LOG_STAMP_JOURNAL ? "" : log_ctx.prefix,
		     log_ctx.stamp == LOG_STAMP_JOURNAL ? "" : ": ", names[level]);
	if (n > 0)
		len += (size_t)n;
	if (len < sizeof(line)) {
		n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
		if (n > 0)
			len += (size_t)n;
	}
	if (len >= sizeof(line) - 1) {	/* truncated: keep room for the newline */
		len = sizeof(line) - 2;
		memcpy(line + len - 3, "...", 3);
	}
	/* One message, one line: a message ending in '\n' (libbpf's) keeps just that one. */
	while (len && line[len - 1] == '\n')
		len--;
	line[len++] = '\n';
	fwrite(line, 1, len, stderr);
	fflush(stderr);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
