/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * libutun - XNU's utun on Linux, through the ifkit loader (ifkitd).
 *
 *   char ifname[IFNAMSIZ];
 *   int fd = utun_open(-1, ifname, sizeof(ifname));   // utunN appears here
 *   // read()/write(): one packet each, a 4-byte protocol family in network
 *   // byte order (AF_INET 2, AF_INET6 10 - Linux values) then the IP packet.
 *   close(fd);                                         // utunN disappears
 *
 * The loader socket is $IFKIT_SOCKET if set, else /run/ifkit/ifkitd.sock.
 * The caller must be root (the seed's CTL_FLAG_PRIVILEGED).
 */
#ifndef IFKIT_UTUN_H
#define IFKIT_UTUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Socket options of macOS's if_utun.h, kept for reference. */
#define UTUN_CONTROL_NAME	"com.apple.net.utun_control"
#define UTUN_OPT_FLAGS		1
#define UTUN_OPT_IFNAME		2

#ifndef UTUN_FLAGS_NO_OUTPUT
#define UTUN_FLAGS_NO_OUTPUT	0x0001	/* drop what the stack sends on utunN */
#define UTUN_FLAGS_NO_INPUT	0x0002	/* drop what the client writes */
#endif

/* macOS's AF_INET6 value: a write with it is taken as IPv6 (reads use AF_INET6). */
#define UTUN_DARWIN_AF_INET6	30

#define UTUN_HDR_LEN		4	/* protocol family, network byte order */
#define UTUN_DEFAULT_MTU	1500
/* Largest framed packet the descriptor can carry. */
#define UTUN_MAX_FRAME		(UTUN_HDR_LEN + 65535)

/*
 * Ask the loader for utun<unit> (unit < 0: the first free one) in the
 * caller's network namespace.  Writes the interface name to ifname (may be
 * NULL) and returns the packet descriptor, or -1 with errno: EPERM (not
 * root), EBUSY (unit taken), ECONNREFUSED or ENOENT (no ifkitd running; a
 * message naming ifkitd goes to stderr), ETIMEDOUT (the loader did not answer
 * within $IFKIT_TIMEOUT seconds, default 5: stopped or overloaded; a message
 * naming it and its socket goes to stderr), EINVAL (bad argument).
 */
int utun_open(int unit, char *ifname, size_t ifname_len);
/* Same with an explicit loader socket path (NULL: $IFKIT_SOCKET or default). */
int utun_open_at(const char *sock_path, int unit, char *ifname, size_t ifname_len);

/*
 * UTUN_OPT_FLAGS / UTUN_OPT_IFNAME.  0 or -1 with errno.  Getting works for
 * whoever holds the descriptor (also after dropping root); setting flags
 * needs root (EPERM).  Unknown flag bits are refused (EINVAL): a later
 * macOS flag ifkit does not implement would otherwise do nothing silently.
 * utun_get_ifname truncates a name longer than len (NUL-terminated).
 */
int utun_get_flags(int fd, uint32_t *flags);
int utun_set_flags(int fd, uint32_t flags);
int utun_get_ifname(int fd, char *ifname, size_t len);
/*
 * getsockopt/setsockopt(SYSPROTO_CONTROL, opt) as the seed's
 * utun_ctl_getopt/utun_ctl_setopt: UTUN_OPT_FLAGS needs *len/len == 4
 * (EMSGSIZE); UTUN_OPT_IFNAME is truncated to *len and *len set to the full
 * length + 1; setting UTUN_OPT_IFNAME or any unknown opt: ENOPROTOOPT.
 */
int utun_getopt(int fd, int opt, void *val, size_t *len);
int utun_setopt(int fd, int opt, const void *val, size_t len);

/*
 * Write one packet: family (AF_INET/AF_INET6, host order) and the IP packet.
 * Validates first (utun_validate) and fails with EINVAL without sending.
 * Returns the bytes of the IP packet written, or -1 with errno.
 */
ssize_t utun_write(int fd, int family, const void *pkt, size_t len);
/* Read one packet: family (host order) into *family, IP packet into buf. */
ssize_t utun_read(int fd, int *family, void *buf, size_t len);

/* One packet of a batch: buf holds the framed packet (family header first). */
struct utun_pkt {
	void *buf;
	size_t len;		/* bytes in buf (send) / received (recv) */
	size_t cap;		/* size of buf (recv) */
};
/*
 * Receive up to n framed packets with one system call.  flags: 0 waits for
 * the first packet, MSG_DONTWAIT does not.  Returns how many, or -1 with
 * errno (0 only when the loader closed the tunnel).  A packet larger than its
 * cap is truncated and its len set to cap + 1.
 */
int utun_recv_batch(int fd, struct utun_pkt *pkts, unsigned int n, int flags);
/*
 * Send up to n framed packets with one system call (no validation).
 * Returns how many were sent, or -1 with errno.
 */
int utun_send_batch(int fd, const struct utun_pkt *pkts, unsigned int n, int flags);

/*
 * Fast path: after this call the process moves packets through the loader's
 * AF_XDP rings itself (shared memory, no loader hop).  From then on use only
 * utun_read/utun_write/utun_recv_batch/utun_send_batch on fd (plain
 * read()/write() no longer carry packets), and utun_close() to close it.
 * Validation and UTUN_FLAGS_NO_INPUT are applied by libutun on this path.
 * Packets queued on the descriptor at the switch are dropped.  One thread
 * may receive while another sends; two concurrent senders (or receivers)
 * on the same descriptor need a lock.  0 or -1.
 */
int utun_enable_fastpath(int fd);
/* The descriptor to poll()/epoll for input: fd itself, or the AF_XDP socket on the fast path. */
int utun_pollfd(int fd);
/* close() that also releases the fast-path mappings (plain close() for the rest). */
int utun_close(int fd);

/*
 * Offload mode (Linux only; the batch API's IFF_VNET_HDR): utunN keeps its
 * TSO/USO and checksum offloads, and the client receives and sends up to
 * 64 KB GSO super-packets with their segmentation and checksum metadata,
 * as wireguard-go does on a TUN with IFF_VNET_HDR + TUNSETOFFLOAD.  After
 * utun_enable_offload() the descriptor moves packets only through
 * utun_recv_offload/utun_send_offload (utun_read/utun_write and the other
 * batch calls fail with EOPNOTSUPP on it; poll utun_pollfd(fd)); it stays
 * the life line (close it with utun_close).  Exclusive with the fast path.
 * Needs root, as opening does (from any namespace: the request carries the
 * utun's own socket).  0 (also when this process already enabled it) or -1
 * with errno: EBUSY (fast path taken), EALREADY (another holder of the
 * descriptor has the offload socket), EPERM, ECONNREFUSED (no loader).
 */
int utun_enable_offload(int fd);

/* struct utun_offload_hdr.flags / gso_type: virtio_net_hdr's values. */
#define UTUN_OFFLOAD_F_NEEDS_CSUM	0x01	/* finish the L4 checksum at csum_start + csum_offset */
#define UTUN_OFFLOAD_F_DATA_VALID	0x02	/* checksum already checked (receive only) */
#define UTUN_GSO_NONE			0
#define UTUN_GSO_TCPV4			1
#define UTUN_GSO_TCPV6			4
#define UTUN_GSO_UDP_L4			5	/* UDP segmentation (USO) */
#define UTUN_GSO_ECN			0x80	/* with TCPV4/6: the CWR flag was set */

/*
 * virtio_net_hdr's layout and meaning, host byte order; offsets count from
 * the IP header (the first byte of buf), as on a TUN with IFF_NO_PI.
 */
struct utun_offload_hdr {
	uint8_t  flags;			/* UTUN_OFFLOAD_F_* */
	uint8_t  gso_type;		/* UTUN_GSO_* */
	uint16_t hdr_len;		/* bytes of IP + L4 headers (a hint) */
	uint16_t gso_size;		/* payload bytes per segment, 0 if not GSO */
	uint16_t csum_start;		/* where the checksummed L4 part starts */
	uint16_t csum_offset;		/* of the checksum field from csum_start */
};

/* One packet of an offload batch: the header, the family and the IP packet (no 4-byte header). */
struct utun_gso_pkt {
	struct utun_offload_hdr hdr;
	int family;			/* AF_INET / AF_INET6 (host order) */
	void *buf;			/* the IP packet, up to 65535 bytes */
	size_t len;			/* bytes in buf (send) / received (recv; cap + 1 if truncated) */
	size_t cap;			/* size of buf (recv) */
};

/*
 * Receive up to n packets with one system call (flags: 0 waits for the
 * first, MSG_DONTWAIT does not).  How many, or -1 with errno (ENETDOWN:
 * the utun is gone).
 */
int utun_recv_offload(int fd, struct utun_gso_pkt *pkts, unsigned int n, int flags);
/*
 * Send up to n packets with one system call, as sendmmsg: taken in order
 * until one cannot be; returns how many were taken (sent, or discarded
 * under UTUN_FLAGS_NO_INPUT), -1 with errno if the first was not (EINVAL:
 * it fails utun_validate_offload - the MTU is utunN's, a GSO packet's
 * segments must fit it -, EAGAIN with MSG_DONTWAIT).
 */
int utun_send_offload(int fd, const struct utun_gso_pkt *pkts, unsigned int n, int flags);

/* Pure helpers (no I/O). */
enum utun_err_cause {
	UTUN_ERR_NONE = 0,
	UTUN_ERR_TOO_SHORT,	/* shorter than the family header plus an IP header */
	UTUN_ERR_BAD_FAMILY,	/* family neither AF_INET nor AF_INET6 */
	UTUN_ERR_MISMATCH,	/* family does not match the IP version nibble */
	UTUN_ERR_TOO_LONG,	/* IP packet longer than the MTU */
	UTUN_ERR_NO_INPUT,	/* dropped: UTUN_FLAGS_NO_INPUT */
	UTUN_ERR_QUEUE_FULL,	/* dropped: a queue was full (slow client / busy device) */
	UTUN_ERR_BAD_LENGTH,	/* IP header's own length disagrees with the packet */
	/* Causes counted by the loader from kernel counters (never from validation). */
	UTUN_ERR_RING_FULL,	/* out: AF_XDP rx ring full or no free frame (client too slow) */
	UTUN_ERR_NO_OUTPUT,	/* out: dropped because of UTUN_FLAGS_NO_OUTPUT */
	UTUN_ERR_BAD_DESC,	/* in: invalid descriptor on the AF_XDP tx ring (fast path) */
	UTUN_ERR_DEV_DROP,	/* out/in: dropped by the veth pair itself (utunN tx / hutunN tx) */
	UTUN_ERR_BAD_GSO,	/* in: offload header that does not fit the packet (offload mode) */
	UTUN_ERR_MAX
};
const char *utun_err_name(enum utun_err_cause cause);
/* Check one framed packet (family header + IP) against mtu: a cause. */
enum utun_err_cause utun_validate_frame(const void *frame, size_t len, unsigned int mtu);
/* Check an unframed IP packet given its host-order family. */
enum utun_err_cause utun_validate(int family, const void *pkt, size_t len, unsigned int mtu);
/*
 * Check one offload packet against mtu: the packet as utun_validate does
 * (a GSO packet may exceed the MTU, its segments may not: UTUN_ERR_TOO_LONG),
 * and its header: known flags and GSO type, GSO type matching the IP version
 * and L4 protocol, gso_size > 0 exactly for GSO, the checksum field inside
 * the L4 header it names (UTUN_ERR_BAD_GSO otherwise).
 */
enum utun_err_cause utun_validate_offload(const struct utun_gso_pkt *pkt, unsigned int mtu);
/* Write the 4-byte header for family (host order) into hdr. */
void utun_frame_hdr(void *hdr, int family);
/* Family of a framed packet (host order), or -1 if too short. */
int utun_frame_family(const void *frame, size_t len);
/* Ethertype (host order) for a family: 0x0800, 0x86DD, or 0 if none. */
uint16_t utun_family_to_ethertype(int family);
/* Family for an ethertype (host order): AF_INET, AF_INET6, or -1. */
int utun_ethertype_to_family(uint16_t ethertype);

#ifdef __cplusplus
}
#endif
#endif
