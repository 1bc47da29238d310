/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Root qdisc replacement over rtnetlink (what `tc qdisc replace dev X root KIND` does). */
#ifndef IFKIT_QDISC_H
#define IFKIT_QDISC_H

/* Replace ifindex's root qdisc (in the caller's namespace) by kind, e.g. "noqueue". 0 or -errno. */
int qdisc_replace_root(int ifindex, const char *kind);

#endif
