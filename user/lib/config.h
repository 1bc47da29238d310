/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef IFKIT_CONFIG_H
#define IFKIT_CONFIG_H

#include <stddef.h>
#include "ifkit_ctl.h"

/*
 * Parse one line of ifkitd.conf into a request.  A line is an ifkit command
 * without the program name:
 *	feth create [fethN]
 *	feth peer fethA fethB
 *	feth mtu fethN MTU          (same as `ifkit feth set fethN mtu MTU`)
 *	feth media fethN WORD
 *	iptap create [iptapN]
 * '#' starts a comment.  Returns 0 with req filled, 1 for a blank line, or
 * -EINVAL with a reason in err.
 */
int config_parse_line(const char *line, struct ifkit_req *req, char *err, size_t errlen);

#endif
