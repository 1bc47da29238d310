/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef IFKIT_LOG_H
#define IFKIT_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/*
 * How a line starts.  LOG_STAMP_AUTO (the default) decides at the first
 * message: under journald (JOURNAL_STREAM names stderr's device and inode,
 * as systemd.exec(5) documents) lines carry a syslog priority "<3>" and no
 * time (the journal stamps them); anywhere else they start with the local
 * time to the millisecond.
 */
enum log_stamp { LOG_STAMP_AUTO = 0, LOG_STAMP_TIME, LOG_STAMP_JOURNAL, LOG_STAMP_NONE };

/* Set once at start-up; messages above it are discarded. */
void log_set_level(enum log_level level);
void log_set_prefix(const char *prefix);
void log_set_stamp(enum log_stamp stamp);
enum log_level log_get_level(void);
/* The stamp in effect (after AUTO is resolved). */
enum log_stamp log_get_stamp(void);
/* Is fd the stream journald gave us ($JOURNAL_STREAM = "dev:ino" of fd)? */
bool log_fd_is_journal(int fd);
/*
 * Errors logged so far.  A caller that would add its own line about a failure
 * a callee may already have reported compares the count before and after,
 * so each failure is logged once: by whoever knew most about it.
 */
unsigned long log_error_count(void);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* For callbacks that hand over a va_list (libbpf's print function). */
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define pr_err(...)   log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define pr_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define pr_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define pr_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
