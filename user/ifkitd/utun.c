// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * utun in the loader: it makes a utun and hands it over; it does not move
 * its packets.
 *
 * A client's open makes (utun_setup.c) a veth pair, utunN in the client's
 * namespace (MTU 1500, up, NOARP, no IPv6 link-local, tx checksumming off)
 * and hutunN alone in a new anonymous namespace, with the XDP program
 * utun_xdp (xdp.frags: any MTU up to 65535) redirecting IPv4/IPv6 frames
 * into an AF_XDP socket created in that namespace.  The answer carries one
 * end of a socketpair on which the socket and the sealed memfd behind its
 * UMEM are queued (include/utun_shm.h); libutun takes them and moves
 * packets itself, on both of its APIs:
 *
 *   stack -> utunN -> hutunN XDP -> AF_XDP rx -> libutun -> application
 *   application -> libutun (validate) -> AF_XDP tx on hutunN -> input on utunN
 *
 * The loader keeps no descriptor that pins the utun's namespace, so the
 * client's socket is its life: close or kill -9 and the kernel deletes
 * hutunN and utunN, loader or no loader.  The loader learns of it from
 * RTM_DELNSID (it gave the namespace an id, which holds no reference) and
 * forgets the utun.  A loader restart interrupts nothing: the data path
 * never crosses the loader, the XDP program and maps stay referenced by
 * the attached program, and the pinned utun_registry lets the new loader
 * adopt every live utun (show lists them, their units stay taken).
 */
#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include "ethtool.h"
#include "fdpass.h"
#include "utun_int.h"
#include "utun.skel.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/* ---- device life cycle (main thread) ---- */

static struct utun_dev *find_unit(struct ifkitd *d, uint32_t unit)
{
	for (struct utun_dev *u = d->utun->devs; u; u = u->next)
		if (u->unit == unit)
			return u;
	return NULL;
}

static void stats_clear(struct ifkitd *d, uint32_t unit)
{
	struct utun_xdp_stat *zero = calloc((size_t)d->utun->nr_cpus, sizeof(*zero));

	if (zero)
		bpf_map_update_elem(d->utun->stats_fd, &unit, zero, BPF_ANY);
	free(zero);
}

static int port_write(struct ifkitd *d, struct utun_dev *u)
{
	struct utun_port port = { .unit = u->unit, .flags = LOAD(&u->flags) };
	__u32 key = (__u32)u->hid_ifindex;

	return bpf_map_update_elem(d->utun->ports_fd, &key, &port, BPF_ANY) ? -errno : 0;
}

static int reg_write(struct ifkitd *d, struct utun_dev *u)
{
	struct utun_reg reg = {
		.pid = (__u32)u->owner, .uid = (__u32)u->owner_uid,
		.vis_ifindex = u->vis_ifindex, .hid_ifindex = u->hid_ifindex,
		.hid_nsid = u->hid_nsid, .vis_nsid = u->vis_nsid, .hid_cookie = u->hid_cookie,
		.xsk_ino = u->xsk_ino, .memfd_ino = u->memfd_ino,
		.flags = LOAD(&u->flags), .mtu = LOAD(&u->mtu),
	};
	__u32 key = u->unit;

	snprintf(reg.name, sizeof(reg.name), "%s", u->name);
	snprintf(reg.netns, sizeof(reg.netns), "%s", u->netns);
	return bpf_map_update_elem(d->utun->reg_fd, &key, &reg, BPF_ANY) ? -errno : 0;
}

/* Forget every map entry of a utun that is gone (or was never handed over). */
static void maps_clear(struct ifkitd *d, uint32_t unit, int hid_ifindex)
{
	__u32 key = (__u32)hid_ifindex;

	if (hid_ifindex > 0)
		bpf_map_delete_elem(d->utun->ports_fd, &key);
	key = unit;
	bpf_map_delete_elem(d->utun->reg_fd, &key);
	stats_clear(d, unit);
}

static void dev_free(struct utun_dev *u)
{
	utun_offload_free(u);
	if (u->ctl)
		munmap(u->ctl, UTUN_SHM_CTL_SIZE);
	if (u->handoff_fd >= 0)
		close(u->handoff_fd);
	free(u);
}

static void dev_unlink(struct ifkitd *d, struct utun_dev *u)
{
	for (struct utun_dev **pp = &d->utun->devs; *pp; pp = &(*pp)->next) {
		if (*pp == u) {
			*pp = u->next;
			return;
		}
	}
}

/*
 * The utun's namespace died: the kernel has deleted (or is deleting)
 * hutunN and utunN and dropped the socket from utun_xsks; clear the rest.
 */
static void dev_remove(struct ifkitd *d, struct utun_dev *u, const char *why)
{
	pr_info("%s: removed (%s)", u->name, why);
	dev_unlink(d, u);
	utun_offload_forget(d, u);
	maps_clear(d, u->unit, u->hid_ifindex);
	dev_free(u);
}

/* What the loader sets on the visible end, from inside the client's namespace. */
struct vis_arg {
	struct utun_dev *u;
	int err;
	const char *step;
};

static int vis_setup(void *arg)
{
	struct vis_arg *va = arg;
	struct utun_dev *u = va->u;
	struct ifreq ifr;
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (sock < 0) {
		va->step = "socket";
		return -errno;
	}
	/* XDP cannot carry CHECKSUM_PARTIAL: the stack must finish checksums itself. */
	va->err = ethtool_set_tx_csum(sock, u->name, false);
	if (va->err) {
		va->step = "ethtool tx-checksumming off";
		goto out;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", u->name);
	if (ioctl(sock, SIOCGIFHWADDR, &ifr) < 0) {
		va->err = -errno;
		va->step = "read MAC";
		goto out;
	}
	memcpy(u->vis_mac, ifr.ifr_hwaddr.sa_data, 6);
	if ((va->err = ethtool_one_channel(sock, u->name))) {
		va->step = "ethtool channels";
		goto out;
	}
	if (ioctl(sock, SIOCGIFINDEX, &ifr) < 0) {
		va->err = -errno;
		va->step = "read ifindex";
		goto out;
	}
	u->vis_ifindex = ifr.ifr_ifindex;
out:
	close(sock);
	return va->err;
}

#define FAIL(e, what) do { err = (e); step = (what); goto fail; } while (0)

static int create_unit(struct ifkitd *d, struct client *c, uint32_t unit, uint32_t flags,
		       int ns_fd, struct reply *r)
{
	struct link_change chg = LINK_CHANGE_NONE;
	struct utun_made m = { .xsk_fd = -1, .memfd = -1 };
	struct vis_arg va = { 0 };
	struct utun_dev *u;
	struct stat st;
	int sv[2] = { -1, -1 }, fds[2], err;
	const char *step = "";
	void *ctl;

	u = calloc(1, sizeof(*u));
	if (!u)
		return reply_error(r, -ENOMEM, "out of memory");
	u->unit = unit;
	u->owner = c ? c->pid : 0;
	u->owner_uid = c ? c->uid : 0;
	u->handoff_fd = -1;
	u->hid_ifindex = UTUN_HID_IFINDEX_BASE + (int)unit;
	u->hid_nsid = u->vis_nsid = -1;
	u->flags = flags;
	u->mtu = UTUN_MTU;
	name_format(u->name, sizeof(u->name), UTUN_PREFIX, unit);
	netns_name_of(ns_fd, u->netns, sizeof(u->netns));

	/* The program looks the unit up by hutunN's ifindex: before any frame. */
	stats_clear(d, unit);
	err = port_write(d, u);
	if (err)
		FAIL(err, "write utun_ports");
	err = utun_setup(d, u, ns_fd, &m, &step);
	if (err == -EEXIST) {
		maps_clear(d, unit, u->hid_ifindex);
		free(u);
		return err;	/* the name is taken in the client's namespace */
	}
	if (err)
		goto fail;
	va.u = u;
	err = ifkitd_in_netns(d, ns_fd, vis_setup, &va);
	if (err)
		FAIL(err, va.step ? va.step : "enter client namespace");
	memcpy(m.hello.vis_mac, u->vis_mac, 6);
	snprintf(m.hello.ifname, sizeof(m.hello.ifname), "%s", u->name);
	chg.arp = 0;
	chg.addrgenmode = 1;	/* the seed's IFEF_NOAUTOIPV6LL */
	err = ifkitd_link_set_in(d, ns_fd, u->vis_ifindex, &chg);
	if (!err) {
		chg = (struct link_change)LINK_CHANGE_NONE;
		chg.up = 1;
		err = ifkitd_link_set_in(d, ns_fd, u->vis_ifindex, &chg);
	}
	if (err)
		FAIL(err, "set up utun");
	/* Only the control page stays mapped here (sealed memfd: it cannot fault). */
	ctl = mmap(NULL, UTUN_SHM_CTL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, m.memfd,
		   (off_t)m.hello.umem_size);
	if (ctl == MAP_FAILED)
		FAIL(-errno, "map control page");
	u->ctl = ctl;
	STORE(&u->ctl->flags, flags);
	STORE(&u->ctl->mtu, UTUN_MTU);
	STORE(&u->ctl->xsk_fd, -1);
	if (fstat(m.xsk_fd, &st) < 0)
		FAIL(-errno, "fstat socket");
	u->xsk_ino = st.st_ino;
	if (fstat(m.memfd, &st) < 0)
		FAIL(-errno, "fstat memfd");
	u->memfd_ino = st.st_ino;
	/*
	 * The hand-off: the socket and the memfd wait on a socketpair whose
	 * other end is the answer's descriptor.  Our end and our copies close
	 * right away; from now on the client holds the utun's life.
	 */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		FAIL(-errno, "socketpair");
	fds[0] = m.xsk_fd;
	fds[1] = m.memfd;
	err = (int)fdpass_send(sv[0], &m.hello, sizeof(m.hello), fds, 2);
	if (err < 0)
		FAIL(err, "queue the hand-off");
	err = reg_write(d, u);
	if (err)
		FAIL(err, "write utun_registry");
	close(sv[0]);
	close(m.xsk_fd);
	close(m.memfd);
	u->handoff_fd = sv[1];
	u->next = d->utun->devs;
	d->utun->devs = u;
	snprintf(r->hdr.name, sizeof(r->hdr.name), "%s", u->name);
	r->hdr.value = flags;
	r->fd = u->handoff_fd;	/* closed after the answer left (ev_cb) */
	{
		uint64_t one = 1;

		if (write(d->utun->ev_fd, &one, sizeof(one)) < 0)
			pr_warn("%s: eventfd: %s", u->name, strerror(errno));
	}
	pr_info("%s: opened by pid %d", u->name, (int)u->owner);
	return 0;
fail:
	reply_error(r, err, "%s: %s: %s", u->name, step,
		    d->nl.errmsg[0] ? d->nl.errmsg : strerror(-err));
	pr_warn("%s", r->hdr.msg);
	/* Closing the socket lets the namespace die, and the pair with it. */
	for (int i = 0; i < 2; i++)
		if (sv[i] >= 0)
			close(sv[i]);
	if (m.xsk_fd >= 0)
		close(m.xsk_fd);
	if (m.memfd >= 0)
		close(m.memfd);
	maps_clear(d, unit, u->hid_ifindex);
	dev_free(u);
	return err;
}

static int cmd_open(struct ifkitd *d, struct client *c, const struct ifkit_req *req, int ns_fd,
		    struct reply *r)
{
	uint32_t flags = req->value;
	int err;

	if (flags & ~(uint32_t)(UTUN_FLAGS_NO_OUTPUT | UTUN_FLAGS_NO_INPUT))
		return reply_error(r, -EINVAL, "unknown utun flags 0x%x", flags);
	if (ns_fd < 0)
		ns_fd = d->home_ns_fd;
	if (req->unit >= 0) {
		uint32_t unit = (uint32_t)req->unit;

		if (unit >= UTUN_MAX_UNITS)
			return reply_error(r, -EINVAL, "unit %u out of range (0..%u)", unit,
					   UTUN_MAX_UNITS - 1);
		if (find_unit(d, unit))
			return reply_error(r, -EBUSY, "utun%u is in use", unit);
		err = create_unit(d, c, unit, flags, ns_fd, r);
		if (err == -EEXIST)
			return reply_error(r, -EBUSY, "utun%u: a device of that name exists", unit);
		return err;
	}
	for (uint32_t unit = 0; unit < UTUN_MAX_UNITS; unit++) {
		if (find_unit(d, unit))
			continue;
		err = create_unit(d, c, unit, flags, ns_fd, r);
		if (err != -EEXIST)	/* a foreign (or dying) device may hold the name: skip it */
			return err;
		r->hdr.error = 0;
		r->hdr.msg[0] = '\0';
	}
	return reply_error(r, -ENOSPC, "no free utun unit");
}

/* The utun a request means: the AF_XDP socket libutun attaches, else its name. */
static struct utun_dev *resolve(struct ifkitd *d, const struct ifkit_req *req, int fd,
				struct reply *r)
{
	struct stat st;
	uint32_t unit;

	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
		for (struct utun_dev *u = d->utun->devs; u; u = u->next)
			if (u->xsk_ino == (uint64_t)st.st_ino)
				return u;
		reply_error(r, -EBADF, "descriptor is not an open utun");
		return NULL;
	}
	if (!req->name[0]) {
		reply_error(r, -EINVAL, "missing utun name");
		return NULL;
	}
	if (name_parse_unit(req->name, UTUN_PREFIX, &unit) == 0) {
		struct utun_dev *u = find_unit(d, unit);

		if (u)
			return u;
	}
	reply_error(r, -ENODEV, "%s: no such utun", req->name);
	return NULL;
}

/* ---- what the kernel and the client counted ---- */

static int sys_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int sys_pidfd_getfd(int pidfd, int fd)
{
	return (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
}

/*
 * A copy of the client's AF_XDP socket, for XDP_STATISTICS: the client
 * tells its number in the control page (a number it could fake, so the
 * copy must be the very socket handed over: same inode).  Held only for
 * the getsockopt: the loader must never keep the namespace alive.
 */
static int client_fd_by_ino(int pidfd, pid_t pid, uint64_t ino);

static int client_xsk(struct utun_dev *u)
{
	int num = u->ctl ? LOAD(&u->ctl->xsk_fd) : -1, pidfd, fd = -1;
	struct stat st;

	if (u->owner <= 0)
		return -1;
	pidfd = sys_pidfd_open(u->owner);
	if (pidfd < 0)
		return -1;
	if (num >= 0)
		fd = sys_pidfd_getfd(pidfd, num);
	if (fd >= 0 && (fstat(fd, &st) < 0 || (uint64_t)st.st_ino != u->xsk_ino)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)	/* a wrong number (or none): look for the socket itself */
		fd = client_fd_by_ino(pidfd, u->owner, u->xsk_ino);
	close(pidfd);
	return fd;
}

/*
 * Drops the kernel counted: the AF_XDP socket's own statistics (rx ring
 * full, no free fill frame: the client was too slow; invalid tx
 * descriptors a fast-path client wrote) and the veth pair's (utunN's
 * tx_dropped: frames the veth could not hand to hutunN; hutunN's
 * tx_dropped: client packets utunN's input refused), reached through the
 * nsids without entering any namespace.
 */
static void kernel_drops(struct ifkitd *d, struct utun_dev *u, struct ifkit_utun_info *info)
{
	struct xdp_statistics xs;
	socklen_t len = sizeof(xs);
	struct link_info hl, vl;
	int fd = client_xsk(u);

	memset(&xs, 0, sizeof(xs));
	if (fd >= 0) {
		if (getsockopt(fd, SOL_XDP, XDP_STATISTICS, &xs, &len) < 0)
			memset(&xs, 0, sizeof(xs));
		close(fd);
	}
	info->errors[UTUN_ERR_RING_FULL] += xs.rx_ring_full + xs.rx_dropped;
	info->out_drops += xs.rx_ring_full + xs.rx_dropped;
	info->errors[UTUN_ERR_BAD_DESC] += xs.tx_invalid_descs;
	info->in_drops += xs.tx_invalid_descs;
	if (u->hid_nsid >= 0 && nl_link_get(&d->nl, NULL, u->hid_ifindex, u->hid_nsid, &hl) == 0) {
		info->errors[UTUN_ERR_DEV_DROP] += hl.stats.tx_dropped;
		info->in_drops += hl.stats.tx_dropped;
	}
	if (u->vis_nsid >= 0 && nl_link_get(&d->nl, NULL, u->vis_ifindex, u->vis_nsid, &vl) == 0) {
		info->errors[UTUN_ERR_DEV_DROP] += vl.stats.tx_dropped;
		info->out_drops += vl.stats.tx_dropped;
		if (vl.mtu >= 68)
			STORE(&u->mtu, vl.mtu);
	}
	if (u->ctl)
		STORE(&u->ctl->mtu, LOAD(&u->mtu));
}

static void fill_info(struct ifkitd *d, struct client *c, struct utun_dev *u,
		      struct ifkit_utun_info *info)
{
	struct utun_xdp_stat *pc = calloc((size_t)d->utun->nr_cpus, sizeof(*pc));

	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%s", u->name);
	snprintf(info->netns, sizeof(info->netns), "%s", u->netns);
	info->unit = u->unit;
	/* Like ps for another user's process under hidepid: no pid for strangers. */
	if (!c || c->uid == 0 || c->uid == u->owner_uid)
		info->owner_pid = (__u32)u->owner;
	info->flags = LOAD(&u->flags);
	info->ifindex = (__u32)u->vis_ifindex;
	kernel_drops(d, u, info);	/* also reads the MTU of now */
	info->mtu = LOAD(&u->mtu);
	if (u->ctl) {
		/*
		 * What libutun moved, and what it dropped or refused (queue
		 * full, malformed writes, NO_INPUT): the client's own numbers
		 * (it could write anything there), added up and shown, never
		 * used for anything else.  Every other cause comes from the
		 * kernel or the XDP program, where no client can change it.
		 */
		const struct utun_shm_ctl *ctl = u->ctl;

		info->out_packets += LOAD(&ctl->out_packets);
		info->out_bytes += LOAD(&ctl->out_bytes);
		info->out_drops += LOAD(&ctl->out_drops);
		info->in_packets += LOAD(&ctl->in_packets);
		info->in_bytes += LOAD(&ctl->in_bytes);
		info->in_drops += LOAD(&ctl->in_drops);
		static const int own[] = { UTUN_ERR_TOO_SHORT, UTUN_ERR_BAD_FAMILY,
					   UTUN_ERR_MISMATCH, UTUN_ERR_TOO_LONG,
					   UTUN_ERR_BAD_LENGTH, UTUN_ERR_NO_INPUT,
					   UTUN_ERR_QUEUE_FULL };

		/* Only the causes libutun sees; the kernel's are read from the kernel. */
		for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
			info->errors[own[i]] += LOAD(&ctl->errors[own[i]]);
	}
	if (pc && bpf_map_lookup_elem(d->utun->stats_fd, &u->unit, pc) == 0) {
		for (int i = 0; i < d->utun->nr_cpus; i++) {
			/* errors[UTUN_ERR_NONE] carries the non-IP frames never relayed. */
			info->errors[UTUN_ERR_NONE] += pc[i].non_ip_drops;
			info->errors[UTUN_ERR_NO_OUTPUT] += pc[i].no_output_drops;
			info->out_drops += pc[i].no_output_drops + pc[i].no_socket_drops;
			info->errors[UTUN_ERR_RING_FULL] += pc[i].no_socket_drops;
		}
	}
	free(pc);
	/* The client's word (display only): the switch to the fast path is libutun's alone. */
	if (u->ctl && LOAD(&u->ctl->fast) == 1)
		info->mode = IFKIT_UTUN_MODE_FAST;
	utun_offload_fill(d, u, info);	/* mode, and what the offload programs counted */
}

static int utun_handle(struct ifkitd *d, struct client *c, const struct ifkit_req *req, int ns_fd,
		struct reply *r)
{
	struct ifkit_utun_info info;
	struct utun_dev *u;

	if (!d->utun)
		return reply_error(r, -EOPNOTSUPP, "utun is not available");
	switch (req->cmd) {
	case IFKIT_CMD_UTUN_OPEN:
		return cmd_open(d, c, req, ns_fd, r);
	case IFKIT_CMD_UTUN_GET_FLAGS:
		u = resolve(d, req, ns_fd, r);
		if (!u)
			return r->hdr.error;
		r->hdr.value = LOAD(&u->flags);
		snprintf(r->hdr.name, sizeof(r->hdr.name), "%s", u->name);
		return 0;
	case IFKIT_CMD_UTUN_SET_FLAGS: {
		int err;

		if (req->value & ~(uint32_t)(UTUN_FLAGS_NO_OUTPUT | UTUN_FLAGS_NO_INPUT))
			return reply_error(r, -EINVAL, "unknown utun flags 0x%x", req->value);
		u = resolve(d, req, ns_fd, r);
		if (!u)
			return r->hdr.error;
		/* NO_OUTPUT is the XDP program's (utun_ports), NO_INPUT libutun's (control page). */
		STORE(&u->flags, req->value);
		if (u->ctl)
			STORE(&u->ctl->flags, req->value);
		err = port_write(d, u);
		if (!err)
			err = reg_write(d, u);
		if (err)
			return reply_error(r, err, "%s: utun maps: %s", u->name, strerror(-err));
		r->hdr.value = req->value;
		snprintf(r->hdr.name, sizeof(r->hdr.name), "%s", u->name);
		pr_info("%s: flags 0x%x", u->name, req->value);
		return 0;
	}
	case IFKIT_CMD_UTUN_OFFLOAD:
		/* libutun attaches the utun's AF_XDP socket: it names the utun and reaches its namespace. */
		if (ns_fd < 0)
			return reply_error(r, -EBADF, "offload: no utun socket attached");
		u = resolve(d, req, ns_fd, r);
		if (!u)
			return r->hdr.error;
		return utun_offload_enable(d, u, ns_fd, r);
	case IFKIT_CMD_UTUN_SHOW:
		if (req->name[0]) {
			u = resolve(d, req, -1, r);
			if (!u)
				return r->hdr.error;
			fill_info(d, c, u, &info);
			return reply_add_item(r, IFKIT_ITEM_UTUN, &info, sizeof(info));
		}
		for (u = d->utun->devs; u; u = u->next) {
			int err;

			fill_info(d, c, u, &info);
			err = reply_add_item(r, IFKIT_ITEM_UTUN, &info, sizeof(info));
			if (err)
				return err;
		}
		return 0;
	}
	return reply_error(r, -EOPNOTSUPP, "unknown utun command");
}

/*
 * The module's eventfd: descriptors lent to an answer are closed here (the
 * answer went out before any later callback runs).
 */
static void ev_cb(struct ifkitd *d, struct watch *w, uint32_t events)
{
	uint64_t v;

	(void)events;
	if (read(w->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_debug("utun eventfd: %s", strerror(errno));
	for (struct utun_dev *u = d->utun->devs; u; u = u->next) {
		if (u->handoff_fd >= 0) {
			close(u->handoff_fd);
			u->handoff_fd = -1;
		}
		utun_offload_answered(u);
	}
}

/*
 * Is u's namespace still there, with hutunN in it?  Asked through the
 * nsid, and by ifindex and name: an nsid is freed when its namespace dies,
 * before we read the event, and may already name a newer utun's namespace
 * (which holds another unit's hutun).
 */
static bool dev_alive(struct ifkitd *d, const struct utun_dev *u)
{
	char hname[IFNAMSIZ];
	struct link_info li;

	name_hidden(hname, sizeof(hname), UTUN_PREFIX, u->unit);
	return u->hid_nsid >= 0 && nl_link_get(&d->nl, NULL, u->hid_ifindex, u->hid_nsid, &li) == 0 &&
	       !strcmp(li.name, hname);
}

/*
 * hutunN went away while its namespace lives on (utunN deleted by hand, or
 * the client's namespace died): the client's socket lost its device.  Its
 * relay end is hung up (a copy through pidfd_getfd, the number from the
 * control page; a wrong one only hurts the liar), so the application
 * reads EOF as before, and libutun releases the namespace.
 */
static int hid_link_event(const struct link_info *link, int deleted, void *arg)
{
	struct ifkitd *d = arg;

	if (!deleted || link->ifindex < UTUN_HID_IFINDEX_BASE)
		return 0;
	for (struct utun_dev *u = d->utun->devs; u; u = u->next) {
		int num, pidfd, fd = -1;
		struct stat st;

		if (u->hid_ifindex != link->ifindex)
			continue;
		/* Events come from every namespace we have an id for: is it really ours? */
		if (dev_alive(d, u))
			return 0;
		num = u->ctl ? LOAD(&u->ctl->rel_fd) : -1;
		pidfd = num >= 0 && u->owner > 0 ? sys_pidfd_open(u->owner) : -1;
		if (pidfd >= 0) {
			/*
			 * Only in the process that still holds the utun's socket:
			 * the opener may be gone (a forked child kept the utun)
			 * and its pid reused by a stranger.
			 */
			int xsk = client_fd_by_ino(pidfd, u->owner, u->xsk_ino);

			if (xsk >= 0) {
				close(xsk);
				fd = sys_pidfd_getfd(pidfd, num);
			}
			close(pidfd);
		}
		if (fd >= 0) {
			if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
				shutdown(fd, SHUT_RDWR);
			close(fd);
		}
		dev_remove(d, u, "device deleted");
		return 0;
	}
	return 0;
}

/*
 * A utun's namespace died.  Its id is one we counted out (utun_setup.c),
 * never reused, so the event names that utun alone: no netlink request on
 * this path (and no wait for RTNL, which the kernel holds while it deletes
 * a burst of devices).
 */
static void nsid_event(int nsid, int deleted, void *arg)
{
	struct ifkitd *d = arg;

	if (!deleted)
		return;
	for (struct utun_dev *u = d->utun->devs; u; u = u->next) {
		if (u->hid_nsid == nsid) {
			dev_remove(d, u, "client closed");
			return;
		}
	}
}

/* Lost events (or a start): forget every utun whose namespace died. */
static void utun_resync(struct ifkitd *d)
{
	struct utun_dev *u, *next;

	if (!d->utun)
		return;
	for (u = d->utun->devs; u; u = next) {
		next = u->next;
		if (!dev_alive(d, u))
			dev_remove(d, u, "client closed");
	}
}

static void nsid_cb(struct ifkitd *d, struct watch *w, uint32_t events)
{
	int err;

	(void)w;
	(void)events;
	err = nl_nsid_monitor_read(&d->utun->nsid_mon, nsid_event, hid_link_event, d);
	if (err == -ENOBUFS)
		utun_resync(d);
	else if (err)
		pr_warn("utun: nsid events: %s", strerror(-err));
}

/* ---- adoption: the utuns a previous loader opened ---- */

int utun_client_fd_by_ino(pid_t pid, int num, uint64_t ino)
{
	int pidfd = pid > 0 ? sys_pidfd_open(pid) : -1, fd = -1;
	struct stat st;

	if (pidfd < 0)
		return -1;
	/* The number the client told first (one syscall), checked by inode. */
	if (num >= 0)
		fd = sys_pidfd_getfd(pidfd, num);
	if (fd >= 0 && (fstat(fd, &st) < 0 || (uint64_t)st.st_ino != ino)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		fd = client_fd_by_ino(pidfd, pid, ino);
	close(pidfd);
	return fd;
}

/*
 * Find the client's descriptor of inode ino (its /proc fd table), and
 * take a copy (pidfd_getfd: root may).  -1 if the client has none.
 */
static int client_fd_by_ino(int pidfd, pid_t pid, uint64_t ino)
{
	char path[64];
	struct dirent *de;
	DIR *dir;
	int fd = -1;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while (fd < 0 && (de = readdir(dir))) {
		char lpath[64 + 256 + 2];
		struct stat st;
		int num = atoi(de->d_name);

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(lpath, sizeof(lpath), "%s/%s", path, de->d_name);
		if (stat(lpath, &st) < 0 || (uint64_t)st.st_ino != ino)
			continue;
		fd = sys_pidfd_getfd(pidfd, num);
		if (fd >= 0 && (fstat(fd, &st) < 0 || (uint64_t)st.st_ino != ino)) {
			close(fd);
			fd = -1;
		}
	}
	closedir(dir);
	return fd;
}

/*
 * Is the utun of registry entry reg alive, and may we see its control
 * page again?  Alive: its namespace still has its nsid and hutunN is in it
 * (a dead namespace loses its nsid before its devices go).  The control
 * page comes from the client's memfd (found by inode); without it show
 * still lists the utun with what the maps and the kernel count, and
 * NO_INPUT cannot be changed.
 */
static struct utun_dev *adopt_one(struct ifkitd *d, uint32_t unit, const struct utun_reg *reg)
{
	struct link_info hl;
	struct utun_dev *u;
	char hname[IFNAMSIZ];
	int pidfd, memfd;

	name_hidden(hname, sizeof(hname), UTUN_PREFIX, unit);
	if (reg->hid_nsid < 0 ||
	    nl_link_get(&d->nl, NULL, reg->hid_ifindex, reg->hid_nsid, &hl) != 0 ||
	    strcmp(hl.name, hname) != 0)
		return NULL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->unit = unit;
	u->owner = (pid_t)reg->pid;
	u->owner_uid = (uid_t)reg->uid;
	u->hid_ifindex = reg->hid_ifindex;
	u->hid_nsid = reg->hid_nsid;
	u->vis_nsid = reg->vis_nsid;
	u->vis_ifindex = reg->vis_ifindex;
	u->hid_cookie = reg->hid_cookie;
	u->xsk_ino = reg->xsk_ino;
	u->memfd_ino = reg->memfd_ino;
	u->flags = reg->flags;
	u->mtu = reg->mtu;
	u->adopted = true;
	u->handoff_fd = -1;
	memcpy(u->hid_mac, hl.mac, 6);
	snprintf(u->name, sizeof(u->name), "%.*s", (int)sizeof(reg->name) - 1, reg->name);
	snprintf(u->netns, sizeof(u->netns), "%.*s", (int)sizeof(reg->netns) - 1, reg->netns);
	pidfd = sys_pidfd_open(u->owner);
	memfd = pidfd >= 0 ? client_fd_by_ino(pidfd, u->owner, u->memfd_ino) : -1;
	if (memfd >= 0) {
		struct stat st;

		/* Same checks as ours: sealed against shrinking, big enough. */
		if (fstat(memfd, &st) == 0 && st.st_size >= UTUN_SHM_CTL_SIZE &&
		    (fcntl(memfd, F_GET_SEALS) & F_SEAL_SHRINK)) {
			void *ctl = mmap(NULL, UTUN_SHM_CTL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
					 memfd, st.st_size - UTUN_SHM_CTL_SIZE);

			if (ctl != MAP_FAILED)
				u->ctl = ctl;
		}
		close(memfd);
	}
	if (pidfd >= 0)
		close(pidfd);
	utun_offload_adopt(d, u);	/* was it in offload mode? */
	return u;
}

static void adopt(struct ifkitd *d)
{
	struct utun_state *s = d->utun;
	__u32 key, next, *dead = NULL;
	size_t ndead = 0;
	struct utun_reg reg;
	int adopted = 0;

	for (int more = bpf_map_get_next_key(s->reg_fd, NULL, &next) == 0; more;
	     more = bpf_map_get_next_key(s->reg_fd, &key, &next) == 0) {
		struct utun_dev *u = NULL;

		key = next;
		if (key < UTUN_MAX_UNITS && bpf_map_lookup_elem(s->reg_fd, &key, &reg) == 0 &&
		    !find_unit(d, key))
			u = adopt_one(d, key, &reg);
		if (u) {
			u->next = s->devs;
			s->devs = u;
			adopted++;
			pr_info("%s: adopted (pid %d%s)", u->name, (int)u->owner,
				u->ctl ? "" : ", no control page");
			continue;
		}
		__u32 *grown = realloc(dead, (ndead + 1) * sizeof(*dead));

		if (grown) {
			dead = grown;
			dead[ndead++] = key;
		}
	}
	/* Entries of utuns that died while no loader ran. */
	for (size_t i = 0; i < ndead; i++)
		if (bpf_map_lookup_elem(s->reg_fd, &dead[i], &reg) == 0)
			maps_clear(d, dead[i], reg.hid_ifindex);
	free(dead);
	/* utun_ports entries no live utun owns. */
	ndead = 0;
	dead = NULL;
	for (int more = bpf_map_get_next_key(s->ports_fd, NULL, &next) == 0; more;
	     more = bpf_map_get_next_key(s->ports_fd, &key, &next) == 0) {
		struct utun_port port;
		struct utun_dev *u;

		key = next;
		if (bpf_map_lookup_elem(s->ports_fd, &key, &port))
			continue;
		u = find_unit(d, port.unit);
		if (u && u->hid_ifindex == (int)key)
			continue;
		__u32 *grown = realloc(dead, (ndead + 1) * sizeof(*dead));

		if (grown) {
			dead = grown;
			dead[ndead++] = key;
		}
	}
	for (size_t i = 0; i < ndead; i++)
		bpf_map_delete_elem(s->ports_fd, &dead[i]);
	free(dead);
	utun_offload_prune(d);
	if (adopted)
		pr_info("utun: adopted %d live utun%s", adopted, adopted == 1 ? "" : "s");
}

static int purge_one(const struct link_info *link, void *arg)
{
	struct ifkitd *d = arg;
	uint32_t unit;

	/* hutunN in the private namespace: left by a loader of the relay era. */
	if (link->name[0] == 'h' && name_parse_unit(link->name + 1, UTUN_PREFIX, &unit) == 0) {
		nl_link_del(&d->nl, link->ifindex, -1);
		pr_info("utun%u: removed (left by an older loader)", unit);
	}
	return 0;
}

static int utun_init(struct ifkitd *d)
{
	LIBBPF_OPTS(bpf_object_open_opts, oopts, .pin_root_path = d->pin_dir);
	struct utun_state *s;
	int err;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	d->utun = s;
	s->ev_fd = -1;
	s->nr_cpus = libbpf_num_possible_cpus();
	s->skel = utun_bpf__open_opts(&oopts);
	if (!s->skel) {
		err = -errno;
		pr_err("utun: open BPF object: %s", strerror(-err));
		return err;
	}
	err = utun_bpf__load(s->skel);
	if (err) {
		pr_err("utun: load BPF object: %s", strerror(-err));
		return err;
	}
	s->ports_fd = bpf_map__fd(s->skel->maps.utun_ports);
	s->xsks_fd = bpf_map__fd(s->skel->maps.utun_xsks);
	s->stats_fd = bpf_map__fd(s->skel->maps.utun_stats);
	s->reg_fd = bpf_map__fd(s->skel->maps.utun_registry);
	s->prog_fd = bpf_program__fd(s->skel->progs.utun_xdp);
	nl_link_dump(&d->nl, purge_one, d);
	/* Subscribe before adopting: a utun that dies meanwhile is not missed. */
	err = nl_open_nsid_monitor(&s->nsid_mon, true);
	if (err == -EPERM) {
		/* No CAP_NET_BROADCAST: a hidden end deleted by hand is forgotten only at close. */
		pr_warn("utun: no link events from utun namespaces (CAP_NET_BROADCAST): %s",
			strerror(-err));
		err = nl_open_nsid_monitor(&s->nsid_mon, false);
	}
	if (err) {
		pr_err("utun: nsid monitor: %s", strerror(-err));
		return err;
	}
	adopt(d);
	/* Count on from the ids adopted utuns hold (or from the base). */
	s->next_nsid = UTUN_NSID_BASE;
	for (struct utun_dev *u = s->devs; u; u = u->next)
		if (u->hid_nsid >= s->next_nsid && u->hid_nsid < INT32_MAX - 1)
			s->next_nsid = u->hid_nsid + 1;
	s->ev_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->ev_fd < 0)
		return -errno;
	s->ev_w = (struct watch){ s->ev_fd, ev_cb, NULL };
	s->nsid_w = (struct watch){ nl_fd(&s->nsid_mon), nsid_cb, NULL };
	err = ifkitd_watch_add(d, &s->ev_w, 0);
	if (!err)
		err = ifkitd_watch_add(d, &s->nsid_w, 0);
	if (!err)
		utun_resync(d);	/* died between the subscription and the adoption */
	return err;
}

/*
 * A stopping loader lets its utuns live (their clients hold them) and
 * leaves the registry for the next one.
 */
static void utun_fini(struct ifkitd *d)
{
	struct utun_state *s = d->utun;

	if (!s)
		return;
	while (s->devs) {
		struct utun_dev *u = s->devs;

		s->devs = u->next;
		dev_free(u);
	}
	if (s->ev_fd >= 0) {
		ifkitd_watch_del(d, &s->ev_w);
		close(s->ev_fd);
	}
	if (s->nsid_mon.mnl) {
		ifkitd_watch_del(d, &s->nsid_w);
		nl_close(&s->nsid_mon);
	}
	utun_offload_fini(d);
	utun_bpf__destroy(s->skel);
	free(s);
	d->utun = NULL;
}

static int utun_count(struct ifkitd *d)
{
	int n = 0;

	if (!d->utun)
		return 0;
	for (struct utun_dev *u = d->utun->devs; u; u = u->next)
		n++;
	return n;
}

const struct ifkitd_module utun_module = {
	.name = "utun",
	.kind = IFKIT_KIND_UTUN,
	.init = utun_init,
	.fini = utun_fini,
	.handle = utun_handle,
	/*
	 * Getting flags/ifname is a query (as the seed's utun_ctl_getopt, which
	 * checks no privilege): a client that opened as root and dropped it
	 * keeps it.  SET_FLAGS stays root's, judged by the credentials of the
	 * connection that carries it.
	 */
	.unpriv_ops = IFKITD_OP_BIT(IFKIT_CMD_UTUN_SHOW) | IFKITD_OP_BIT(IFKIT_CMD_UTUN_GET_FLAGS),
	.resync = utun_resync,
	.count = utun_count,
};
