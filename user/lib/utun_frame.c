// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The utun frame engine: the 4-byte family header of XNU's utun framing,
 * its conversion to and from an Ethernet type, and the validation every
 * write goes through.  One copy, in libifkit (compiled -fPIC): the loader
 * and the CLI link it from there, libutun links the same object.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include "ifkit/utun.h"

#define IPV4_MIN_HDR 20
#define IPV6_HDR 40

const char *utun_err_name(enum utun_err_cause cause)
{
	static const char *const names[UTUN_ERR_MAX] = {
		[UTUN_ERR_NONE] = "none",
		[UTUN_ERR_TOO_SHORT] = "too_short",
		[UTUN_ERR_BAD_FAMILY] = "bad_family",
		[UTUN_ERR_MISMATCH] = "family_mismatch",
		[UTUN_ERR_TOO_LONG] = "too_long",
		[UTUN_ERR_NO_INPUT] = "no_input",
		[UTUN_ERR_QUEUE_FULL] = "queue_full",
		[UTUN_ERR_BAD_LENGTH] = "bad_length",
		[UTUN_ERR_RING_FULL] = "ring_full",
		[UTUN_ERR_NO_OUTPUT] = "no_output",
		[UTUN_ERR_BAD_DESC] = "bad_desc",
		[UTUN_ERR_DEV_DROP] = "dev_drop",
		[UTUN_ERR_BAD_GSO] = "bad_gso",
	};

	return (unsigned int)cause < UTUN_ERR_MAX ? names[cause] : "unknown";
}

void utun_frame_hdr(void *hdr, int family)
{
	uint32_t be = htonl((uint32_t)family);

	memcpy(hdr, &be, sizeof(be));
}

int utun_frame_family(const void *frame, size_t len)
{
	uint32_t be;

	if (!frame || len < UTUN_HDR_LEN)
		return -1;
	memcpy(&be, frame, sizeof(be));
	return (int)ntohl(be);
}

/*
 * Code ported from macOS may hard-code AF_INET6 as 30 (Darwin's value) in
 * the header it writes; take it as IPv6 rather than drop every such packet.
 * AF_INET is 2 on both.  Reads always carry the host's AF_INET6.
 */
static int host_family(int family)
{
	return family == UTUN_DARWIN_AF_INET6 ? AF_INET6 : family;
}

uint16_t utun_family_to_ethertype(int family)
{
	switch (host_family(family)) {
	case AF_INET:
		return 0x0800;
	case AF_INET6:
		return 0x86DD;
	}
	return 0;
}

int utun_ethertype_to_family(uint16_t ethertype)
{
	switch (ethertype) {
	case 0x0800:
		return AF_INET;
	case 0x86DD:
		return AF_INET6;
	}
	return -1;
}

enum utun_err_cause utun_validate(int family, const void *pkt, size_t len, unsigned int mtu)
{
	const uint8_t *p = pkt;
	unsigned int version;

	family = host_family(family);
	if (family != AF_INET && family != AF_INET6)
		return UTUN_ERR_BAD_FAMILY;
	if (!pkt || len < IPV4_MIN_HDR)
		return UTUN_ERR_TOO_SHORT;
	version = p[0] >> 4;
	if (version != 4 && version != 6)
		return UTUN_ERR_MISMATCH;
	if ((family == AF_INET) != (version == 4))
		return UTUN_ERR_MISMATCH;
	if (version == 6 && len < IPV6_HDR)
		return UTUN_ERR_TOO_SHORT;
	if (len > mtu)
		return UTUN_ERR_TOO_LONG;
	if (version == 4) {
		unsigned int ihl = (p[0] & 0x0f) * 4u;
		unsigned int tot = (unsigned int)p[2] << 8 | p[3];

		/* Bytes past the total length would reach the stack as junk: refuse them too. */
		if (ihl < IPV4_MIN_HDR || tot < ihl || tot != len)
			return UTUN_ERR_BAD_LENGTH;
	} else {
		unsigned int plen = (unsigned int)p[4] << 8 | p[5];

		/* A zero payload length means a jumbogram: never valid below 64 KiB. */
		if (plen == 0 && len > IPV6_HDR)
			return UTUN_ERR_BAD_LENGTH;
		if (IPV6_HDR + plen != len)
			return UTUN_ERR_BAD_LENGTH;
	}
	return UTUN_ERR_NONE;
}

enum utun_err_cause utun_validate_frame(const void *frame, size_t len, unsigned int mtu)
{
	int family;

	if (!frame || len < UTUN_HDR_LEN)
		return UTUN_ERR_TOO_SHORT;
	family = utun_frame_family(frame, len);
	return utun_validate(family, (const uint8_t *)frame + UTUN_HDR_LEN, len - UTUN_HDR_LEN,
			     mtu);
}
