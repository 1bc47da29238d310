/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef IFKIT_NAMES_H
#define IFKIT_NAMES_H

#include <stddef.h>
#include <stdint.h>

/* Highest unit ifkit hands out for any device kind (maps are sized by it). */
#define IFKIT_MAX_UNITS 4096

/*
 * Parse "<prefix><unit>" (e.g. "feth7") into unit.  Returns 0, or -EINVAL if
 * name is not prefix followed by a decimal unit without leading zeros below
 * IFKIT_MAX_UNITS.
 */
int name_parse_unit(const char *name, const char *prefix, uint32_t *unit);
/* Write "<prefix><unit>" into buf; -ENAMETOOLONG if it does not fit IFNAMSIZ. */
int name_format(char *buf, size_t len, const char *prefix, uint32_t unit);
/* The name ifkit gives a device's hidden veth end inside its namespace. */
int name_hidden(char *buf, size_t len, const char *prefix, uint32_t unit);
/* feth MAC: 'f' 'e' 't' 'h' then the 16-bit unit, big endian (if_fake.c). */
void feth_mac(uint32_t unit, uint8_t mac[6]);
/* Checks a name the kernel would accept for a net device: 1..15 chars, no '/', ':' or space. */
int ifname_valid(const char *name);

const char *feth_media_name(uint32_t media);
/* Returns the media index for a word, or -EINVAL. */
int feth_media_parse(const char *word);

#endif
