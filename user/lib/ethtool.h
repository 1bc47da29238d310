/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The few ethtool settings ifkit changes (SIOCETHTOOL on any AF_INET socket). */
#ifndef IFKIT_ETHTOOL_H
#define IFKIT_ETHTOOL_H

#include <stdbool.h>

/* One rx and one tx queue (veth spreads frames over its queues otherwise).  0 or -errno. */
int ethtool_one_channel(int sock, const char *ifname);
/* tx-checksumming on or off.  0 or -errno. */
int ethtool_set_tx_csum(int sock, const char *ifname, bool on);
/*
 * Turn the named features (ETH_SS_FEATURES names, as `ethtool -k` lists
 * them; NULL-terminated, at most 32) on or off; names this kernel lacks are
 * skipped.  0 or -errno.
 */
int ethtool_set_features(int sock, const char *ifname, const char *const *names, bool on);

#endif
