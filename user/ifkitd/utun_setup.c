// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Making a utun: a fresh, anonymous network namespace for its hidden end,
 * the veth pair (hutunN there, utunN in the client's namespace), the XDP
 * program on hutunN and the AF_XDP socket with its UMEM -- everything the
 * client gets, and nothing the loader keeps.
 *
 * Why a namespace per utun: a socket holds a reference on the namespace it
 * was created in, and a namespace that dies takes its virtual devices with
 * it (a veth's peer goes too).  The AF_XDP socket is created inside the new
 * namespace and handed to the client; the namespace has no process, no
 * bind mount and no name, and the loader closes its own descriptor of it
 * before the answer leaves.  So the client's socket is the only thing that
 * keeps hutunN alive: close it or die (kill -9 included) and the kernel
 * removes hutunN and utunN (in its cleanup_net work, well under a second),
 * whether a loader runs or not.
 */
#include <sched.h>
#include <stdint.h>
#include "ethtool.h"
#include "utun_int.h"

#define UMEM_BYTES	((size_t)(UMEM_RX + UMEM_TX) * FRAME_SIZE)
#define BIND_TRIES	200		/* x 0.5 ms: the kernel may still release a queue */

/* One queue: veth spreads frames over its queues; the socket only sees queue 0. */
static int hidden_one_channel(const char *hname)
{
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err;

	if (sock < 0)
		return -errno;
	err = ethtool_one_channel(sock, hname);
	close(sock);
	return err;
}

/*
 * The AF_XDP socket on hutunN's queue 0 (copy mode, XDP_USE_SG: any MTU up
 * to 65535 crosses as a chain of frames) over a UMEM in a memfd the client
 * maps.  The memfd is sealed before anyone else sees it: a client that could
 * shrink it would make the loader's touch of the control page fault
 * (SIGBUS) and take every utun and iptap down.  The loader maps the frames
 * only for XDP_UMEM_REG (the kernel pins the pages) and keeps only the
 * control page mapped: the UMEM costs the loader no resident memory.
 */
static int xsk_make(struct utun_dev *u, struct utun_made *m)
{
	struct xdp_umem_reg mr = { .chunk_size = FRAME_SIZE, .headroom = 0, .len = UMEM_BYTES };
	struct sockaddr_xdp sxdp = {
		.sxdp_family = AF_XDP,
		.sxdp_ifindex = (__u32)u->hid_ifindex,
		.sxdp_queue_id = 0,
		.sxdp_flags = XDP_COPY | XDP_USE_SG_,
	};
	__u32 ring = UMEM_RING;
	void *area;
	int err = 0;

	m->memfd = memfd_create(u->name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (m->memfd < 0)
		return -errno;
	if (ftruncate(m->memfd, (off_t)(UMEM_BYTES + UTUN_SHM_CTL_SIZE)) < 0 ||
	    fcntl(m->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return -errno;
	area = mmap(NULL, UMEM_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, m->memfd, 0);
	if (area == MAP_FAILED)
		return -errno;
	m->xsk_fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	mr.addr = (uintptr_t)area;
	if (m->xsk_fd < 0 ||
	    setsockopt(m->xsk_fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof(mr)) ||
	    setsockopt(m->xsk_fd, SOL_XDP, XDP_UMEM_FILL_RING, &ring, sizeof(ring)) ||
	    setsockopt(m->xsk_fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &ring, sizeof(ring)) ||
	    setsockopt(m->xsk_fd, SOL_XDP, XDP_RX_RING, &ring, sizeof(ring)) ||
	    setsockopt(m->xsk_fd, SOL_XDP, XDP_TX_RING, &ring, sizeof(ring)))
		err = -errno;
	munmap(area, UMEM_BYTES);	/* pinned by the UMEM now; the client maps its own */
	if (err)
		return err;
	/*
	 * The fill ring is left empty: libutun fills it with the rx frames
	 * when it attaches (it owns the rings from then on).
	 */
	for (int tries = 0;; tries++) {
		if (bind(m->xsk_fd, (struct sockaddr *)&sxdp, sizeof(sxdp)) == 0)
			break;
		if (errno != EBUSY || tries >= BIND_TRIES)
			return -errno;
		usleep(500);
	}
	m->hello.magic = UTUN_SHM_MAGIC;
	m->hello.frame_size = FRAME_SIZE;
	m->hello.rx_frames = UMEM_RX;
	m->hello.tx_frames = UMEM_TX;
	m->hello.ring_size = UMEM_RING;
	m->hello.unit = u->unit;
	m->hello.umem_size = UMEM_BYTES;
	return 0;
}

#define FAIL(e, what) do { err = (e); *step = (what); goto out; } while (0)

/*
 * Runs on the main thread, which leaves the private namespace for a new
 * one (unshare) and comes back; the devices are made from inside, so
 * hutunN gets the ifindex asked for (unique among our utuns: utun_ports
 * stays keyed by ingress ifindex).  -EEXIST: utunN's name is taken in the
 * client's namespace (nothing is left behind then: the new namespace dies
 * with our last descriptor of it).
 */
int utun_setup(struct ifkitd *d, struct utun_dev *u, int client_ns_fd, struct utun_made *m,
	       const char **step)
{
	char hname[IFNAMSIZ];
	struct veth_end hid = { .name = hname, .netns_fd = -1, .mtu = HIDDEN_MTU,
				.ifindex = u->hid_ifindex };
	struct veth_end vis = { .name = u->name, .netns_fd = client_ns_fd, .mtu = UTUN_MTU };
	struct link_change chg = LINK_CHANGE_NONE;
	struct nl_sock nl = { 0 };
	struct link_info hl;
	socklen_t len = sizeof(u->hid_cookie);
	__u32 key = u->unit;
	int hid_ns = -1, err = 0, mode;
	bool away = false;

	m->xsk_fd = m->memfd = -1;
	*step = "";
	name_hidden(hname, sizeof(hname), UTUN_PREFIX, u->unit);
	if (unshare(CLONE_NEWNET) < 0)
		FAIL(-errno, "new namespace");
	away = true;
	hid_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (hid_ns < 0)
		FAIL(-errno, "open new namespace");
	/* The hidden end must never speak: no IPv6 autoconfiguration, DAD or MLD. */
	err = netns_silence_ipv6();
	if (err)
		pr_debug("%s: disable_ipv6: %s", hname, strerror(-err));
	err = nl_open(&nl);
	if (err)
		FAIL(err, "netlink");
	err = nl_veth_create(&nl, &hid, &vis);
	if (err == -EEXIST)
		goto out;
	if (err)
		FAIL(err, "create veth pair");
	err = nl_link_get(&nl, hname, 0, -1, &hl);
	if (err)
		FAIL(err, "find hidden end");
	if (hl.ifindex != u->hid_ifindex)
		FAIL(-EPROTO, "hidden end's ifindex");
	memcpy(u->hid_mac, hl.mac, 6);
	memcpy(m->hello.hid_mac, hl.mac, 6);
	chg.arp = 0;
	chg.addrgenmode = 1;	/* IN6_ADDR_GEN_MODE_NONE */
	chg.up = 1;
	err = nl_link_set(&nl, hl.ifindex, -1, &chg);
	if (err)
		FAIL(err, "set up hidden end");
	err = hidden_one_channel(hname);
	if (err)
		FAIL(err, "ethtool channels (hidden end)");
	mode = XDP_FLAGS_DRV_MODE;
	err = bpf_xdp_attach(hl.ifindex, d->utun->prog_fd, mode, NULL);
	if (err) {
		mode = XDP_FLAGS_SKB_MODE;
		err = bpf_xdp_attach(hl.ifindex, d->utun->prog_fd, mode, NULL);
	}
	if (err)
		FAIL(err, "attach XDP");
	err = xsk_make(u, m);
	if (err)
		FAIL(err, "AF_XDP socket");
	/*
	 * The XSKMAP entry goes away by itself when the client's socket is
	 * released (the kernel removes a socket from every map it is in).
	 */
	if (bpf_map_update_elem(d->utun->xsks_fd, &key, &m->xsk_fd, BPF_ANY))
		FAIL(-errno, "write utun_xsks");
	if (getsockopt(m->xsk_fd, SOL_SOCKET, SO_NETNS_COOKIE, &u->hid_cookie, &len) < 0)
		u->hid_cookie = 0;
	pr_debug("%s: XDP %s mode", u->name, mode == XDP_FLAGS_DRV_MODE ? "native" : "generic");
out:
	if (nl.mnl)
		nl_close(&nl);
	if (away && setns(d->priv_ns_fd, CLONE_NEWNET) < 0) {
		/* Every later request would run in the wrong namespace. */
		pr_err("cannot return to the private namespace: %s", strerror(errno));
		abort();
	}
	if (!err) {
		/*
		 * Ids for both namespaces in the private one: hutunN is then
		 * reachable with IFLA_TARGET_NETNSID (stats for show) and the
		 * kernel tells us (RTM_DELNSID) when the utun's namespace dies.
		 * An nsid holds no reference.
		 */
		/*
		 * Our own ids, counting up, for the utun namespaces: the
		 * kernel would hand out the lowest free one, which a namespace
		 * that just died may have freed a moment ago, before its
		 * RTM_DELNSID reaches us -- that event would then name the
		 * new utun.  Counted ids are not reused (2^30 of them).
		 */
		u->hid_nsid = -EEXIST;
		for (int tries = 0; tries < 64 && u->hid_nsid == -EEXIST; tries++) {
			int id = d->utun->next_nsid;

			d->utun->next_nsid = id >= INT32_MAX - 1 ? UTUN_NSID_BASE : id + 1;
			u->hid_nsid = nl_netns_id_set(&d->nl, hid_ns, id);
			if (u->hid_nsid == 0)
				u->hid_nsid = id;
		}
		u->vis_nsid = nl_netns_id_alloc(&d->nl, client_ns_fd);
		if (u->hid_nsid < 0) {
			err = u->hid_nsid;
			*step = "nsid";
		}
	}
	if (hid_ns >= 0)
		close(hid_ns);	/* from here on only the socket holds the namespace */
	if (err) {
		if (m->xsk_fd >= 0)
			close(m->xsk_fd);
		if (m->memfd >= 0)
			close(m->memfd);
		m->xsk_fd = m->memfd = -1;
	}
	return err;
}
