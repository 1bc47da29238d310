/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef IFKIT_CONFIG_H
#define IFKIT_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include "ifkit_ctl.h"

/* Longest config line, newline excluded; a longer one is an error, never cut. */
#define CONFIG_LINE_MAX		511
#define CONFIG_MAX_WORDS	8

/*
 * Read the next line of f into buf (len >= CONFIG_LINE_MAX + 1), without
 * its newline, and count it in *lineno.  A line longer than
 * CONFIG_LINE_MAX, or holding a NUL byte, is consumed whole and reported:
 * the caller gets an error for that line and the next read starts on the
 * next line, so line numbers stay right.  Returns 1 (a line), 0 (end of
 * file), -E2BIG (too long), -EINVAL (NUL byte) or -errno from the read.
 */
int config_read_line(FILE *f, char *buf, size_t len, unsigned int *lineno);

/*
 * Parse one line of ifkitd.conf into a request.  A line is an ifkit command
 * without the program name, in exactly the CLI's grammar (cmdline.h), e.g.
 *	feth create [fethN]
 *	feth peer fethA fethB
 *	feth set fethN mtu MTU
 *	feth set fethN media WORD
 *	iptap create [iptapN]
 * Only commands that make or configure devices are allowed.  '#' starts a
 * comment.  Returns 0 with req filled, 1 for a blank line, or -EINVAL with
 * a reason in err.
 */
int config_parse_line(const char *line, struct ifkit_req *req, char *err, size_t errlen);

#endif
