// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Index of each named feature in ETH_SS_FEATURES (-1 if the kernel has none by that name). */
static int feature_bits(int sock, const char *ifname, const char *const *names, int *bits,
			unsigned int *count)
{
	struct {
		struct ethtool_sset_info hdr;
		__u32 len;
	} si = { .hdr = { .cmd = ETHTOOL_GSSET_INFO, .sset_mask = 1ULL << ETH_SS_FEATURES } };
	struct ethtool_gstrings *gs;
	int err;

	err = ethtool_call(sock, ifname, &si);
	if (err)
		return err;
	if (!si.hdr.sset_mask || si.len == 0 || si.len > 4096)
		return -EOPNOTSUPP;
	gs = calloc(1, sizeof(*gs) + (size_t)si.len * ETH_GSTRING_LEN);
	if (!gs)
		return -ENOMEM;
	gs->cmd = ETHTOOL_GSTRINGS;
	gs->string_set = ETH_SS_FEATURES;
	gs->len = si.len;
	err = ethtool_call(sock, ifname, gs);
	for (size_t n = 0; !err && names[n]; n++) {
		bits[n] = -1;
		for (__u32 i = 0; i < gs->len; i++)
			if (!strncmp((const char *)gs->data + (size_t)i * ETH_GSTRING_LEN, names[n],
				     ETH_GSTRING_LEN))
				bits[n] = (int)i;
	}
	*count = gs->len;
	free(gs);
	return err;
}

int ethtool_set_features(int sock, const char *ifname, const char *const *names, bool on)
{
	struct ethtool_sfeatures *sf;
	unsigned int count = 0, blocks;
	int bits[32], err;
	size_t n = 0;

	while (names[n])
		n++;
	if (n > 32)
		return -EINVAL;
	err = feature_bits(sock, ifname, names, bits, &count);
	if (err)
		return err;
	blocks = (count + 31) / 32;
	sf = calloc(1, sizeof(*sf) + blocks * sizeof(sf->features[0]));
	if (!sf)
		return -ENOMEM;
	sf->cmd = ETHTOOL_SFEATURES;
	sf->size = blocks;
	for (size_t i = 0; i < n; i++) {
		if (bits[i] < 0)
			continue;	/* an older kernel without that feature */
		sf->features[bits[i] / 32].valid |= 1u << (bits[i] % 32);
		if (on)
			sf->features[bits[i] / 32].requested |= 1u << (bits[i] % 32);
	}
	/* A positive answer (ETHTOOL_F_WISH) only says the device could not do all of it. */
	err = ethtool_call(sock, ifname, sf);
	free(sf);
	return err;
}
