// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include "ethtool.h"

static int ethtool_call(int sock, const char *ifname, void *cmd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = cmd;
	return ioctl(sock, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
}

int ethtool_one_channel(int sock, const char *ifname)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	int err = ethtool_call(sock, ifname, &ch);

	if (err)
		return err;
	if (ch.rx_count == 1 && ch.tx_count == 1)
		return 0;
	ch.cmd = ETHTOOL_SCHANNELS;
	ch.rx_count = 1;
	ch.tx_count = 1;
	ch.combined_count = 0;
	return ethtool_call(sock, ifname, &ch);
}

int ethtool_set_tx_csum(int sock, const char *ifname, bool on)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_STXCSUM, .data = on };

	return ethtool_call(sock, ifname, &ev);
}
