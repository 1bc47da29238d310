// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * utun in the loader.
 *
 * A client's open makes a veth pair: utunN in the client's namespace (MTU
 * 1500, up, NOARP, no IPv6 link-local, tx checksumming off) and hutunN in
 * ifkit's private namespace.  hutunN carries the XDP program utun_xdp
 * (xdp.frags: any MTU up to 65535), which redirects IPv4/IPv6 frames into
 * this loader's AF_XDP socket for the unit (copy mode, XDP_USE_SG: a packet
 * larger than a frame is a chain of descriptors).  The client's descriptor
 * is one end of a SOCK_SEQPACKET socketpair:
 *
 *   stack -> utunN -> hutunN XDP -> AF_XDP rx -> [family hdr] -> client
 *   client -> validate -> [Ethernet hdr] -> AF_XDP tx on hutunN -> input on utunN
 *
 * Relays run on RELAY_WORKERS epoll threads shared by all utuns (batches
 * both ways, sendmmsg/recvmmsg straight into and out of the UMEM, one tx
 * kick per batch, never blocking on a client: a full client queue drops and
 * counts).  Each UMEM starts small and grows when traffic or the fast path
 * needs it.  When the client closes its end or dies, its worker sees the
 * hang-up, the main thread forgets the utun and the reaper thread deletes
 * the pair (taking addresses and routes with it), the socket and the map
 * entries: the control loop never waits for a teardown.
 *
 * A client may instead ask for the rings themselves (utun_enable_fastpath,
 * include/utun_shm.h): the relay hands over the AF_XDP socket and the memfd
 * behind the UMEM (sealed: it cannot be shrunk under us) once, then only
 * watches the descriptor for the hang-up.
 *
 * The relay cannot outlive the loader (the AF_XDP socket is the loader's),
 * so utun devices die with it: a restarted loader deletes leftovers.
 */
#include "ethtool.h"
#include "utun_int.h"
#include "utun.skel.h"

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
	__u32 key = (__u32)u->hidden_ifindex;

	return bpf_map_update_elem(d->utun->ports_fd, &key, &port, BPF_ANY) ? -errno : 0;
}

/*
 * Undo everything create made (any subset of it); frees u.  Runs on the
 * reaper thread (with its netlink socket), or on the main thread for a
 * failed create and at exit.  Everything keyed by the unit is cleared
 * before the hidden end goes: once it is gone the unit may be reused.
 */
void utun_dev_destroy(struct ifkitd *d, struct utun_dev *u, struct nl_sock *nl)
{
	__u32 key;

	key = u->unit;
	if (u->veth_made)	/* the unit is ours while the pair exists */
		bpf_map_delete_elem(d->utun->xsks_fd, &key);
	if (u->hidden_ifindex > 0) {
		key = (__u32)u->hidden_ifindex;
		bpf_map_delete_elem(d->utun->ports_fd, &key);
	}
	stats_clear(d, u->unit);
	if (u->veth_made && !u->hidden_gone) {
		/* Deleting the hidden end takes utunN, its addresses and routes with it. */
		if (u->hidden_ifindex > 0) {
			nl_link_del(nl, u->hidden_ifindex, -1);
		} else {
			/* Made, but its ifindex never read: find it by name. */
			char hname[IFNAMSIZ];
			struct link_info li;

			name_hidden(hname, sizeof(hname), UTUN_PREFIX, u->unit);
			if (nl_link_get(nl, hname, 0, -1, &li) == 0)
				nl_link_del(nl, li.ifindex, -1);
		}
	}
	utun_xsk_teardown(u);
	utun_offload_free(u);
	pthread_mutex_destroy(&u->xsk_lock);
	if (u->sock >= 0)
		close(u->sock);
	if (u->client_end >= 0)
		close(u->client_end);
	if (u->ioctl_fd >= 0)
		close(u->ioctl_fd);
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
 * Forget u here and let its worker drop it; the reaper deletes the devices.
 * The control loop does not wait for any of it.
 */
static void dev_remove(struct ifkitd *d, struct utun_dev *u, const char *why)
{
	pr_info("%s: removed (%s)", u->name, why);
	dev_unlink(d, u);
	if (u->client_end >= 0) {	/* an answer never carried it away */
		close(u->client_end);
		u->client_end = -1;
	}
	if (u->worker) {
		u->worker->count--;
		if (utun_relay_send(u->worker, RELAY_DEL, u) == 0)
			return;
		pr_warn("%s: relay: cannot queue the removal", u->name);
	}
	utun_reaper_push(&d->utun->reaper, u);
}

/*
 * One queue each way: veth spreads frames over its queues, and an AF_XDP
 * socket only gets what arrives on the queue it is bound to (0).
 */
static int hidden_one_channel(const char *hname)
{
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err;

	if (sock < 0)
		return -errno;
	err = ethtool_one_channel(sock, hname);
	close(sock);
	return err;
}

/* What the loader needs in the client's namespace: ethtool, MAC, a socket for MTU reads. */
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

	u->ioctl_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (u->ioctl_fd < 0) {
		va->step = "socket";
		return -errno;
	}
	/* XDP cannot carry CHECKSUM_PARTIAL: the stack must finish checksums itself. */
	va->err = ethtool_set_tx_csum(u->ioctl_fd, u->name, false);
	if (va->err) {
		va->step = "ethtool tx-checksumming off";
		return va->err;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", u->name);
	if (ioctl(u->ioctl_fd, SIOCGIFHWADDR, &ifr) < 0) {
		va->step = "read MAC";
		return -errno;
	}
	memcpy(u->vis_mac, ifr.ifr_hwaddr.sa_data, 6);
	if ((va->err = ethtool_one_channel(u->ioctl_fd, u->name))) {
		va->step = "ethtool channels";
		return va->err;
	}
	if (ioctl(u->ioctl_fd, SIOCGIFINDEX, &ifr) < 0) {
		va->step = "read ifindex";
		return -errno;
	}
	u->vis_ifindex = ifr.ifr_ifindex;
	return 0;
}

static void sock_bufs(int fd)
{
	int sz = SOCK_BUF;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

#define FAIL(e, what) do { err = (e); step = (what); goto fail; } while (0)

static int create_unit(struct ifkitd *d, struct client *c, uint32_t unit, uint32_t flags,
		       int ns_fd, struct reply *r)
{
	char hname[IFNAMSIZ];
	struct utun_dev *u;
	struct veth_end vis = { .netns_fd = ns_fd, .mtu = UTUN_MTU };
	struct veth_end hid = { .name = hname, .netns_fd = d->priv_ns_fd, .mtu = HIDDEN_MTU };
	struct link_change chg = LINK_CHANGE_NONE;
	struct link_info hl;
	struct vis_arg va = { 0 };
	struct stat st;
	int sv[2], err, xdp_mode;
	const char *step = "";

	u = calloc(1, sizeof(*u));
	if (!u)
		return reply_error(r, -ENOMEM, "out of memory");
	u->unit = unit;
	u->owner = c ? c->pid : 0;
	u->owner_uid = c ? c->uid : 0;
	u->sock = u->client_end = u->ioctl_fd = u->xsk_fd = u->memfd = -1;
	pthread_mutex_init(&u->xsk_lock, NULL);
	utun_set_geometry(u, false);
	u->ev_fd = d->utun->ev_fd;
	u->flags = flags;
	u->mtu = UTUN_MTU;
	name_format(u->name, sizeof(u->name), UTUN_PREFIX, unit);
	name_hidden(hname, sizeof(hname), UTUN_PREFIX, unit);
	netns_name_of(ns_fd, u->netns, sizeof(u->netns));
	vis.name = u->name;

	err = nl_veth_create(&d->nl, &vis, &hid);
	if (err) {
		free(u);
		return err;	/* nothing made; -EEXIST: the name is taken */
	}
	u->veth_made = true;
	err = nl_link_get(&d->nl, hname, 0, -1, &hl);
	if (err)
		FAIL(err, "find hidden end");
	u->hidden_ifindex = hl.ifindex;
	memcpy(u->hid_mac, hl.mac, 6);
	chg.arp = 0;
	chg.addrgenmode = 1;	/* IN6_ADDR_GEN_MODE_NONE */
	chg.up = 1;
	err = nl_link_set(&d->nl, hl.ifindex, -1, &chg);
	if (err)
		FAIL(err, "set up hidden end");
	/* The visible end, from inside the client's namespace. */
	va.u = u;
	err = ifkitd_in_netns(d, ns_fd, vis_setup, &va);
	if (err)
		FAIL(err, va.step ? va.step : "enter client namespace");
	err = hidden_one_channel(hname);
	if (err)
		FAIL(err, "ethtool channels (hidden end)");
	stats_clear(d, unit);
	err = port_write(d, u);
	if (err)
		FAIL(err, "write utun_ports");
	xdp_mode = XDP_FLAGS_DRV_MODE;
	err = bpf_xdp_attach(hl.ifindex, d->utun->prog_fd, xdp_mode, NULL);
	if (err) {
		xdp_mode = XDP_FLAGS_SKB_MODE;
		err = bpf_xdp_attach(hl.ifindex, d->utun->prog_fd, xdp_mode, NULL);
	}
	if (err)
		FAIL(err, "attach XDP");
	err = utun_xsk_setup(u, hname);
	if (err)
		FAIL(err, "AF_XDP socket");
	{
		__u32 key = unit;

		if (bpf_map_update_elem(d->utun->xsks_fd, &key, &u->xsk_fd, BPF_ANY))
			FAIL(-errno, "write utun_xsks");
	}
	chg = (struct link_change)LINK_CHANGE_NONE;
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
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		FAIL(-errno, "socketpair");
	u->sock = sv[0];
	u->client_end = sv[1];
	sock_bufs(sv[0]);
	sock_bufs(sv[1]);
	fcntl(u->sock, F_SETFL, fcntl(u->sock, F_GETFL) | O_NONBLOCK);
	if (fstat(u->client_end, &st) < 0)
		FAIL(-errno, "fstat");
	u->client_ino = st.st_ino;
	{
		/* The least loaded relay thread takes it. */
		struct relay_worker *w = &d->utun->workers[0];

		for (int i = 1; i < RELAY_WORKERS; i++)
			if (d->utun->workers[i].count < w->count)
				w = &d->utun->workers[i];
		err = utun_relay_send(w, RELAY_ADD, u);
		if (err)
			FAIL(err, "relay");
		u->worker = w;
		w->count++;
	}
	u->next = d->utun->devs;
	d->utun->devs = u;
	snprintf(r->hdr.name, sizeof(r->hdr.name), "%s", u->name);
	r->hdr.value = flags;
	r->fd = u->client_end;	/* closed after the answer left (deferred_close) */
	{
		uint64_t one = 1;

		if (write(d->utun->ev_fd, &one, sizeof(one)) < 0)
			pr_warn("%s: eventfd: %s", u->name, strerror(errno));
	}
	pr_info("%s: opened by pid %d (XDP %s mode)", u->name, (int)u->owner,
		xdp_mode == XDP_FLAGS_DRV_MODE ? "native" : "generic");
	return 0;
fail:
	reply_error(r, err, "%s: %s: %s", u->name, step,
		    d->nl.errmsg[0] ? d->nl.errmsg : strerror(-err));
	pr_warn("%s", r->hdr.msg);
	utun_dev_destroy(d, u, &d->nl);
	return err;
}

static bool hidden_exists(struct ifkitd *d, uint32_t unit)
{
	char hname[IFNAMSIZ];
	struct link_info li;

	name_hidden(hname, sizeof(hname), UTUN_PREFIX, unit);
	return nl_link_get(&d->nl, hname, 0, -1, &li) == 0;
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
		if (find_unit(d, unit) || hidden_exists(d, unit))
			return reply_error(r, -EBUSY, "utun%u is in use", unit);
		err = create_unit(d, c, unit, flags, ns_fd, r);
		if (err == -EEXIST)
			return reply_error(r, -EBUSY, "utun%u: a device of that name exists", unit);
		return err;
	}
	for (uint32_t unit = 0; unit < UTUN_MAX_UNITS; unit++) {
		if (find_unit(d, unit) || hidden_exists(d, unit))
			continue;
		err = create_unit(d, c, unit, flags, ns_fd, r);
		if (err != -EEXIST)	/* a foreign device may hold the name: skip it */
			return err;
		r->hdr.error = 0;
		r->hdr.msg[0] = '\0';
	}
	return reply_error(r, -ENOSPC, "no free utun unit");
}

/* The utun a request means: the packet descriptor it carries, else its name. */
static struct utun_dev *resolve(struct ifkitd *d, const struct ifkit_req *req, int fd,
				struct reply *r)
{
	struct stat st;
	uint32_t unit;

	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
		for (struct utun_dev *u = d->utun->devs; u; u = u->next)
			if (u->client_ino == st.st_ino)
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

/*
 * Drops the kernel counted for us: the AF_XDP socket's own statistics (rx
 * ring full, no free fill frame or frame too small: the client was too slow;
 * invalid tx descriptors a fast-path client wrote) and the veth pair's
 * (utunN's tx_dropped: frames the veth could not hand to hutunN; hutunN's
 * tx_dropped: client packets utunN's input refused).  hutunN's rx_dropped
 * is not added: it counts the same failed redirects as the socket.
 */
static void kernel_drops(struct ifkitd *d, struct utun_dev *u, struct ifkit_utun_info *info)
{
	struct xdp_statistics xs;
	socklen_t len = sizeof(xs);
	struct link_info hl, vl;
	uint64_t v;

	memset(&xs, 0, sizeof(xs));
	if (u->xsk_fd < 0 || getsockopt(u->xsk_fd, SOL_XDP, XDP_STATISTICS, &xs, &len) < 0)
		memset(&xs, 0, sizeof(xs));
	{
		v = xs.rx_ring_full + xs.rx_dropped + u->xs_base.rx_ring_full + u->xs_base.rx_dropped;
		info->errors[UTUN_ERR_RING_FULL] += v;
		info->out_drops += v;
		v = xs.tx_invalid_descs + u->xs_base.tx_invalid_descs;
		info->errors[UTUN_ERR_BAD_DESC] += v;
		info->in_drops += v;
	}
	if (u->hidden_ifindex <= 0 || nl_link_get(&d->nl, NULL, u->hidden_ifindex, -1, &hl))
		return;
	info->errors[UTUN_ERR_DEV_DROP] += hl.stats.tx_dropped;
	info->in_drops += hl.stats.tx_dropped;
	if (hl.link_netnsid >= 0 && hl.link > 0 &&
	    nl_link_get(&d->nl, NULL, hl.link, hl.link_netnsid, &vl) == 0) {
		info->errors[UTUN_ERR_DEV_DROP] += vl.stats.tx_dropped;
		info->out_drops += vl.stats.tx_dropped;
	}
}

static void fill_info(struct ifkitd *d, struct client *c, struct utun_dev *u,
		      struct ifkit_utun_info *info)
{
	struct utun_xdp_stat *pc = calloc((size_t)d->utun->nr_cpus, sizeof(*pc));

	pthread_mutex_lock(&u->xsk_lock);	/* a relay may be replacing the socket */
	utun_refresh_mtu(u);		/* show the MTU of now, not of the last packet */
	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%s", u->name);
	snprintf(info->netns, sizeof(info->netns), "%s", u->netns);
	info->unit = u->unit;
	/* Like ps for another user's process under hidepid: no pid for strangers. */
	if (!c || c->uid == 0 || c->uid == u->owner_uid)
		info->owner_pid = (__u32)u->owner;
	info->flags = LOAD(&u->flags);
	info->mtu = LOAD(&u->mtu);
	info->ifindex = (__u32)u->vis_ifindex;
	info->out_packets = LOAD(&u->st.out_packets);
	info->out_bytes = LOAD(&u->st.out_bytes);
	info->out_drops = LOAD(&u->st.out_drops);
	info->in_packets = LOAD(&u->st.in_packets);
	info->in_bytes = LOAD(&u->st.in_bytes);
	info->in_drops = LOAD(&u->st.in_drops);
	for (int i = 0; i < UTUN_ERR_MAX && i < UTUN_STAT_CAUSES; i++)
		info->errors[i] = LOAD(&u->st.errors[i]);
	if (u->fast && u->ctl) {
		/*
		 * The client counts what it moves itself, and its NO_INPUT
		 * discards: those numbers are its own (it can write anything
		 * there).  Every other cause comes from the kernel or the XDP
		 * program, below, where no client can change it.
		 */
		info->out_packets += LOAD(&u->ctl->out_packets);
		info->out_bytes += LOAD(&u->ctl->out_bytes);
		info->in_packets += LOAD(&u->ctl->in_packets);
		info->in_bytes += LOAD(&u->ctl->in_bytes);
		info->errors[UTUN_ERR_NO_INPUT] += LOAD(&u->ctl->errors[UTUN_ERR_NO_INPUT]);
		info->in_drops += LOAD(&u->ctl->errors[UTUN_ERR_NO_INPUT]);
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
	kernel_drops(d, u, info);
	if (u->fast)
		info->mode = IFKIT_UTUN_MODE_FAST;
	utun_offload_fill(d, u, info);
	pthread_mutex_unlock(&u->xsk_lock);
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
		STORE(&u->flags, req->value);
		pthread_mutex_lock(&u->xsk_lock);
		if (u->ctl)
			STORE(&u->ctl->flags, req->value);
		pthread_mutex_unlock(&u->xsk_lock);
		err = port_write(d, u);
		if (err)
			return reply_error(r, err, "%s: utun_ports: %s", u->name, strerror(-err));
		r->hdr.value = req->value;
		snprintf(r->hdr.name, sizeof(r->hdr.name), "%s", u->name);
		pr_info("%s: flags 0x%x", u->name, req->value);
		return 0;
	}
	case IFKIT_CMD_UTUN_OFFLOAD:
		if (ns_fd < 0)
			return reply_error(r, -EBADF, "offload: no utun descriptor attached");
		u = resolve(d, req, ns_fd, r);
		if (!u)
			return r->hdr.error;
		return utun_offload_enable(d, u, r);
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
 * answer went out before any later callback runs), and utuns whose client
 * left are taken down.  Only this watch exists, so nothing freed here can be
 * another pending event of the same batch.
 */
static void ev_cb(struct ifkitd *d, struct watch *w, uint32_t events)
{
	uint64_t v;
	struct utun_dev *u, *next;

	(void)events;
	if (read(w->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_debug("utun eventfd: %s", strerror(errno));
	for (u = d->utun->devs; u; u = u->next) {
		if (u->client_end >= 0) {
			close(u->client_end);
			u->client_end = -1;
		}
	}
	for (u = d->utun->devs; u; u = next) {
		next = u->next;
		if (LOAD(&u->gone))
			dev_remove(d, u, "client closed");
	}
}

/* The hidden end went away (utunN deleted, or its namespace died). */
static void utun_link_event(struct ifkitd *d, const struct link_info *link, int deleted)
{
	if (!d->utun || !deleted)
		return;
	for (struct utun_dev *u = d->utun->devs; u; u = u->next) {
		if (u->hidden_ifindex == link->ifindex) {
			/* Already gone: forget it, but drop its utun_ports entry. */
			u->hidden_gone = true;
			dev_remove(d, u, "device deleted");
			return;
		}
	}
}

/*
 * After lost link events: take down every utun whose hidden end no longer
 * exists, the way a deletion event would have.
 */
static void utun_resync(struct ifkitd *d)
{
	struct utun_dev *u, *next;

	if (!d->utun)
		return;
	for (u = d->utun->devs; u; u = next) {
		char hname[IFNAMSIZ];
		struct link_info li;
		int err;

		next = u->next;
		name_hidden(hname, sizeof(hname), UTUN_PREFIX, u->unit);
		err = nl_link_get(&d->nl, NULL, u->hidden_ifindex, -1, &li);
		/* Gone, or the ifindex now names some other device. */
		if (err == -ENODEV || (!err && strcmp(li.name, hname))) {
			memset(&li, 0, sizeof(li));
			li.ifindex = u->hidden_ifindex;
			snprintf(li.name, sizeof(li.name), "%s", hname);
			utun_link_event(d, &li, 1);
		}
	}
}

static int purge_one(const struct link_info *link, void *arg)
{
	struct ifkitd *d = arg;
	uint32_t unit;

	if (link->name[0] == 'h' && name_parse_unit(link->name + 1, UTUN_PREFIX, &unit) == 0) {
		nl_link_del(&d->nl, link->ifindex, -1);
		pr_info("utun%u: removed (left by a previous loader)", unit);
	}
	return 0;
}

static int utun_init(struct ifkitd *d)
{
	LIBBPF_OPTS(bpf_object_open_opts, oopts, .pin_root_path = d->pin_dir);
	struct utun_state *s;
	__u32 key, next;
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
	s->prog_fd = bpf_program__fd(s->skel->progs.utun_xdp);
	/* Relays die with their loader: remove what a previous one left. */
	nl_link_dump(&d->nl, purge_one, d);
	while (bpf_map_get_next_key(s->ports_fd, NULL, &next) == 0) {
		key = next;
		if (bpf_map_delete_elem(s->ports_fd, &key))
			break;
	}
	s->ev_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->ev_fd < 0)
		return -errno;
	s->ev_w = (struct watch){ s->ev_fd, ev_cb, NULL };
	err = utun_workers_start(d);
	if (err) {
		pr_err("utun: relay threads: %s", strerror(-err));
		return err;
	}
	return ifkitd_watch_add(d, &s->ev_w, 0);
}

static void utun_fini(struct ifkitd *d)
{
	struct utun_state *s = d->utun;

	if (!s)
		return;
	/* Workers first (they hand what they drop to the reaper), then the rest here. */
	utun_workers_stop(d);
	while (s->devs) {
		struct utun_dev *u = s->devs;

		s->devs = u->next;
		pr_info("%s: removed (loader stopping)", u->name);
		utun_dev_destroy(d, u, &d->nl);
	}
	if (s->ev_fd >= 0) {
		ifkitd_watch_del(d, &s->ev_w);
		close(s->ev_fd);
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
	.link_event = utun_link_event,
	.resync = utun_resync,
	.count = utun_count,
};
