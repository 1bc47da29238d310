// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include "names.h"
#include "ifkit_ctl.h"

int name_parse_unit(const char *name, const char *prefix, uint32_t *unit)
{
	size_t plen = strlen(prefix);
	const char *p;
	uint32_t val = 0;

	if (!name || strncmp(name, prefix, plen) != 0)
		return -EINVAL;
	p = name + plen;
	if (!*p || (p[0] == '0' && p[1]))
		return -EINVAL;
	for (; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		val = val * 10 + (uint32_t)(*p - '0');
		if (val >= IFKIT_MAX_UNITS)
			return -EINVAL;
	}
	*unit = val;
	return 0;
}

int name_format(char *buf, size_t len, const char *prefix, uint32_t unit)
{
	int n = snprintf(buf, len, "%s%u", prefix, unit);

	if (n < 0 || (size_t)n >= len || n >= IFNAMSIZ)
		return -ENAMETOOLONG;
	return 0;
}

int name_hidden(char *buf, size_t len, const char *prefix, uint32_t unit)
{
	/* "h" + visible name: short, and sorts next to nothing users create. */
	int n = snprintf(buf, len, "h%s%u", prefix, unit);

	if (n < 0 || (size_t)n >= len || n >= IFNAMSIZ)
		return -ENAMETOOLONG;
	return 0;
}

void feth_mac(uint32_t unit, uint8_t mac[6])
{
	memcpy(mac, "feth", 4);
	mac[4] = (uint8_t)((unit >> 8) & 0xff);
	mac[5] = (uint8_t)(unit & 0xff);
}

int ifname_valid(const char *name)
{
	size_t len;

	if (!name)
		return 0;
	len = strnlen(name, IFNAMSIZ);
	if (len == 0 || len >= IFNAMSIZ || !strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	for (; *name; name++)
		if (*name == '/' || *name == ':' || isspace((unsigned char)*name))
			return 0;
	return 1;
}

static const char *const feth_media_words[FETH_MEDIA_COUNT] = {
	[FETH_MEDIA_AUTOSELECT]    = "autoselect",
	[FETH_MEDIA_10GBASET_FDX]  = "10GbaseT",
	[FETH_MEDIA_2500BASET_FDX] = "2500baseT",
	[FETH_MEDIA_5000BASET_FDX] = "5000baseT",
};

const char *feth_media_name(uint32_t media)
{
	return media < FETH_MEDIA_COUNT ? feth_media_words[media] : "unknown";
}

int feth_media_parse(const char *word)
{
	for (int i = 0; i < FETH_MEDIA_COUNT; i++)
		if (!strcasecmp(word, feth_media_words[i]))
			return i;
	return -EINVAL;
}
