// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The few route netlink requests ifkit needs, on libmnl. */
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/net_namespace.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>
#include "nl.h"

/* Big enough for one dump batch of links with stats (mnl 1.0.4 has no DUMP_SIZE). */
#define NL_RECV_SIZE 32768
/* One request: a link message with a few attributes never comes near it. */
#define NL_REQ_SIZE 8192

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

static int nl_open_groups(struct nl_sock *nl, unsigned int groups)
{
	int one = 1;

	memset(nl, 0, sizeof(*nl));
	nl->mnl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->mnl)
		return -errno;
	mnl_socket_setsockopt(nl->mnl, NETLINK_EXT_ACK, &one, sizeof(one));
	if (mnl_socket_bind(nl->mnl, groups, MNL_SOCKET_AUTOPID) < 0) {
		int err = -errno;

		mnl_socket_close(nl->mnl);
		nl->mnl = NULL;
		return err;
	}
	nl->portid = mnl_socket_get_portid(nl->mnl);
	nl->seq = (unsigned int)time(NULL);
	return 0;
}

int nl_open(struct nl_sock *nl) { return nl_open_groups(nl, 0); }

int nl_open_monitor(struct nl_sock *nl)
{
	int err = nl_open_groups(nl, RTMGRP_LINK);

	if (!err)
		fcntl(mnl_socket_get_fd(nl->mnl), F_SETFL, O_NONBLOCK);
	return err;
}

void nl_close(struct nl_sock *nl)
{
	if (nl->mnl)
		mnl_socket_close(nl->mnl);
	nl->mnl = NULL;
}

int nl_fd(const struct nl_sock *nl) { return mnl_socket_get_fd(nl->mnl); }

static void nl_note_ext_ack(struct nl_sock *nl, const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr;
	size_t off = sizeof(*err);

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
	mnl_attr_for_each(attr, nlh, off) {
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG) {
			snprintf(nl->errmsg, sizeof(nl->errmsg), "%s", mnl_attr_get_str(attr));
			return;
		}
	}
}

/* Send one request and run cb over the answer until ACK/DONE/error. */
static int nl_talk(struct nl_sock *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *arg)
{
	char buf[NL_RECV_SIZE];
	unsigned int seq = ++nl->seq;
	ssize_t n;
	int ret;

	nl->errmsg[0] = '\0';
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nl->mnl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		int left;

		n = mnl_socket_recvfrom(nl->mnl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		/* Keep the kernel's error text before mnl consumes the message. */
		left = (int)n;
		for (struct nlmsghdr *h = (void *)buf; mnl_nlmsg_ok(h, left);
		     h = mnl_nlmsg_next(h, &left))
			if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_seq == seq)
				nl_note_ext_ack(nl, h);
		ret = mnl_cb_run(buf, (size_t)n, seq, nl->portid, cb, arg);
	} while (ret > 0);
	return ret < 0 ? -errno : 0;
}

static int parse_linkinfo(const struct nlattr *attr, struct link_info *out)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, attr) {
		if (mnl_attr_get_type(a) == IFLA_INFO_KIND)
			snprintf(out->kind, sizeof(out->kind), "%s", mnl_attr_get_str(a));
	}
	return 0;
}

static int parse_link(const struct nlmsghdr *nlh, struct link_info *out)
{
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;

	memset(out, 0, sizeof(*out));
	out->ifindex = ifm->ifi_index;
	out->flags = ifm->ifi_flags;
	out->type = ifm->ifi_type;
	out->link_netnsid = -1;
	mnl_attr_for_each(a, nlh, sizeof(*ifm)) {
		switch (mnl_attr_get_type(a)) {
		case IFLA_IFNAME:
			snprintf(out->name, sizeof(out->name), "%s", mnl_attr_get_str(a));
			break;
		case IFLA_MTU:
			out->mtu = mnl_attr_get_u32(a);
			break;
		case IFLA_MIN_MTU:
			out->min_mtu = mnl_attr_get_u32(a);
			break;
		case IFLA_MAX_MTU:
			out->max_mtu = mnl_attr_get_u32(a);
			break;
		case IFLA_CARRIER:
			out->carrier = mnl_attr_get_u8(a);
			break;
		case IFLA_LINK:
			out->link = (int)mnl_attr_get_u32(a);
			break;
		case IFLA_LINK_NETNSID:
			out->link_netnsid = (int)mnl_attr_get_u32(a);
			break;
		case IFLA_ADDRESS:
			if (mnl_attr_get_payload_len(a) == 6)
				memcpy(out->mac, mnl_attr_get_payload(a), 6);
			break;
		case IFLA_STATS64:
			if (mnl_attr_get_payload_len(a) >= sizeof(out->stats))
				memcpy(&out->stats, mnl_attr_get_payload(a), sizeof(out->stats));
			break;
		case IFLA_LINKINFO:
			parse_linkinfo(a, out);
			break;
		}
	}
	return 0;
}

static int link_one_cb(const struct nlmsghdr *nlh, void *arg)
{
	if (nlh->nlmsg_type == RTM_NEWLINK)
		parse_link(nlh, arg);
	return MNL_CB_OK;
}

/* buf is NL_REQ_SIZE bytes, zeroed so attribute padding is too (libmnl 1.0.4 leaves it). */
static struct nlmsghdr *link_msg(char *buf, int type, int flags, int ifindex)
{
	struct nlmsghdr *nlh;

	memset(buf, 0, NL_REQ_SIZE);
	nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifm;

	nlh->nlmsg_type = (unsigned short)type;
	nlh->nlmsg_flags = (unsigned short)(NLM_F_REQUEST | flags);
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	return nlh;
}

int nl_link_get(struct nl_sock *nl, const char *name, int ifindex, int target_nsid,
		struct link_info *out)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_GETLINK, 0, name ? 0 : ifindex);
	int err;

	if (name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (target_nsid >= 0)
		mnl_attr_put_u32(nlh, IFLA_TARGET_NETNSID, (uint32_t)target_nsid);
	out->ifindex = 0;
	err = nl_talk(nl, nlh, link_one_cb, out);
	if (err)
		return err;
	return out->ifindex ? 0 : -ENODEV;
}

struct dump_ctx {
	struct link_info *links;
	size_t n, cap;
	int err;
};

static int link_dump_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct dump_ctx *ctx = arg;

	if (nlh->nlmsg_type != RTM_NEWLINK || ctx->err)
		return MNL_CB_OK;
	if (ctx->n == ctx->cap) {
		size_t cap = ctx->cap ? ctx->cap * 2 : 32;
		struct link_info *grown = realloc(ctx->links, cap * sizeof(*grown));

		if (!grown) {
			ctx->err = -ENOMEM;
			return MNL_CB_OK;
		}
		ctx->links = grown;
		ctx->cap = cap;
	}
	parse_link(nlh, &ctx->links[ctx->n++]);
	return MNL_CB_OK;
}

/*
 * The whole dump is read before cb runs, so cb may issue its own requests
 * on the same socket without mixing them into the dump.
 */
int nl_link_dump(struct nl_sock *nl, link_cb cb, void *arg)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_GETLINK, NLM_F_DUMP, 0);
	struct dump_ctx ctx = { 0 };
	int err = nl_talk(nl, nlh, link_dump_cb, &ctx);

	if (!err)
		err = ctx.err;
	for (size_t i = 0; !err && i < ctx.n; i++)
		err = cb(&ctx.links[i], arg);
	free(ctx.links);
	return err;
}

static void put_veth_end(struct nlmsghdr *nlh, const struct veth_end *end)
{
	mnl_attr_put_strz(nlh, IFLA_IFNAME, end->name);
	if (end->netns_fd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)end->netns_fd);
	if (end->mac)
		mnl_attr_put(nlh, IFLA_ADDRESS, 6, end->mac);
	if (end->mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, end->mtu);
}

int nl_veth_create(struct nl_sock *nl, const struct veth_end *dev, const struct veth_end *peer)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	struct nlattr *linkinfo, *data, *peer_nest;
	struct ifinfomsg *pifm;

	put_veth_end(nlh, dev);
	if (dev->ifindex > 0)	/* rtnetlink gives the new device the ifindex asked for */
		((struct ifinfomsg *)mnl_nlmsg_get_payload(nlh))->ifi_index = dev->ifindex;
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	peer_nest = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	pifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifm));
	memset(pifm, 0, sizeof(*pifm));
	put_veth_end(nlh, peer);
	mnl_attr_nest_end(nlh, peer_nest);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);
	return nl_talk(nl, nlh, NULL, NULL);
}

int nl_link_set(struct nl_sock *nl, int ifindex, int target_nsid, const struct link_change *chg)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, 0, ifindex);
	struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);

	if (target_nsid >= 0)
		mnl_attr_put_u32(nlh, IFLA_TARGET_NETNSID, (uint32_t)target_nsid);
	if (chg->up >= 0) {
		ifm->ifi_change |= IFF_UP;
		ifm->ifi_flags |= chg->up ? IFF_UP : 0;
	}
	if (chg->arp >= 0) {
		ifm->ifi_change |= IFF_NOARP;
		ifm->ifi_flags |= chg->arp ? 0 : IFF_NOARP;
	}
	if (chg->mtu >= 0)
		mnl_attr_put_u32(nlh, IFLA_MTU, (uint32_t)chg->mtu);
	if (chg->name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, chg->name);
	if (chg->netns_fd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)chg->netns_fd);
	if (chg->addrgenmode >= 0) {
		struct nlattr *spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
		struct nlattr *inet6 = mnl_attr_nest_start(nlh, AF_INET6);

		mnl_attr_put_u8(nlh, IFLA_INET6_ADDR_GEN_MODE, (uint8_t)chg->addrgenmode);
		mnl_attr_nest_end(nlh, inet6);
		mnl_attr_nest_end(nlh, spec);
	}
	return nl_talk(nl, nlh, NULL, NULL);
}

int nl_link_del(struct nl_sock *nl, int ifindex, int target_nsid)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_DELLINK, 0, ifindex);

	if (target_nsid >= 0)
		mnl_attr_put_u32(nlh, IFLA_TARGET_NETNSID, (uint32_t)target_nsid);
	return nl_talk(nl, nlh, NULL, NULL);
}

int nl_link_del_name(struct nl_sock *nl, const char *name)
{
	char buf[NL_REQ_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_DELLINK, 0, 0);

	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	return nl_talk(nl, nlh, NULL, NULL);
}

static int nsid_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWNSID)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(struct rtgenmsg))
		if (mnl_attr_get_type(a) == NETNSA_NSID)
			*(int *)arg = (int)mnl_attr_get_u32(a);
	return MNL_CB_OK;
}

int nl_netns_id(struct nl_sock *nl, int ns_fd)
{
	char buf[NL_REQ_SIZE] = { 0 };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtgenmsg *g;
	int nsid = -1, err;

	nlh->nlmsg_type = RTM_GETNSID;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->rtgen_family = AF_UNSPEC;
	mnl_attr_put_u32(nlh, NETNSA_FD, (uint32_t)ns_fd);
	err = nl_talk(nl, nlh, nsid_cb, &nsid);
	if (err)
		return err;
	return nsid >= 0 ? nsid : -ENOENT;
}

int nl_netns_id_alloc(struct nl_sock *nl, int ns_fd)
{
	char buf[NL_REQ_SIZE] = { 0 };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtgenmsg *g;
	int err;

	err = nl_netns_id(nl, ns_fd);
	if (err != -ENOENT)
		return err;
	nlh->nlmsg_type = RTM_NEWNSID;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->rtgen_family = AF_UNSPEC;
	mnl_attr_put_u32(nlh, NETNSA_FD, (uint32_t)ns_fd);
	mnl_attr_put_u32(nlh, NETNSA_NSID, (uint32_t)-1);	/* any free id */
	err = nl_talk(nl, nlh, NULL, NULL);
	if (err && err != -EEXIST)	/* EEXIST: someone gave it one meanwhile */
		return err;
	return nl_netns_id(nl, ns_fd);
}

int nl_netns_id_set(struct nl_sock *nl, int ns_fd, int nsid)
{
	char buf[NL_REQ_SIZE] = { 0 };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtgenmsg *g;

	nlh->nlmsg_type = RTM_NEWNSID;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->rtgen_family = AF_UNSPEC;
	mnl_attr_put_u32(nlh, NETNSA_FD, (uint32_t)ns_fd);
	mnl_attr_put_u32(nlh, NETNSA_NSID, (uint32_t)nsid);
	return nl_talk(nl, nlh, NULL, NULL);
}

int nl_open_nsid_monitor(struct nl_sock *nl, bool all_links)
{
	int grp = RTNLGRP_NSID, one = 1, err = nl_open_groups(nl, all_links ? RTMGRP_LINK : 0);

	if (err)
		return err;
	if (mnl_socket_setsockopt(nl->mnl, NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)) < 0 ||
	    (all_links &&
	     mnl_socket_setsockopt(nl->mnl, NETLINK_LISTEN_ALL_NSID, &one, sizeof(one)) < 0)) {
		err = -errno;
		nl_close(nl);
		return err;
	}
	fcntl(mnl_socket_get_fd(nl->mnl), F_SETFL, O_NONBLOCK);
	{
		/* A thousand utuns closing at once is a burst of events. */
		int sz = 8 << 20, fd = mnl_socket_get_fd(nl->mnl);

		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	return 0;
}

struct nsid_ev_ctx {
	nsid_event_cb cb;
	link_event_cb link_cb;
	void *arg;
};

static int nsid_ev_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct nsid_ev_ctx *ctx = arg;
	const struct nlattr *a;
	int nsid = -1;

	if ((nlh->nlmsg_type == RTM_NEWLINK || nlh->nlmsg_type == RTM_DELLINK) && ctx->link_cb) {
		struct link_info link;

		parse_link(nlh, &link);
		ctx->link_cb(&link, nlh->nlmsg_type == RTM_DELLINK, ctx->arg);
		return MNL_CB_OK;
	}
	if (nlh->nlmsg_type != RTM_NEWNSID && nlh->nlmsg_type != RTM_DELNSID)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(struct rtgenmsg))
		if (mnl_attr_get_type(a) == NETNSA_NSID)
			nsid = (int)mnl_attr_get_u32(a);
	if (nsid < 0)
		return MNL_CB_OK;
	ctx->cb(nsid, nlh->nlmsg_type == RTM_DELNSID, ctx->arg);
	return MNL_CB_OK;
}

/*
 * After an overrun the kernel reports ENOBUFS once and then drops silently
 * until the queue is empty again (NETLINK_S_CONGESTED): so the queue is
 * drained first and the loss reported after, for a resync that comes after
 * every event that could have been dropped unnoticed.
 */
int nl_nsid_monitor_read(struct nl_sock *nl, nsid_event_cb cb, link_event_cb link_cb, void *arg)
{
	char buf[NL_RECV_SIZE];
	struct nsid_ev_ctx ctx = { .cb = cb, .link_cb = link_cb, .arg = arg };
	bool lost = false;

	/*
	 * At most 64 datagrams a call (the caller's poll calls again), so a
	 * burst of events does not keep its event loop from other work --
	 * except after a loss, which must be drained before it is reported.
	 */
	for (int got = 0; got < 64 || lost; got++) {
		ssize_t n = mnl_socket_recvfrom(nl->mnl, buf, sizeof(buf));

		if (n < 0 && errno == ENOBUFS) {
			lost = true;
			continue;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return lost ? -ENOBUFS : 0;
			return -errno;
		}
		if (mnl_cb_run(buf, (size_t)n, 0, 0, nsid_ev_cb, &ctx) < 0)
			return -errno;
	}
	return 0;
}

struct monitor_ctx {
	link_event_cb cb;
	void *arg;
};

static int monitor_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct monitor_ctx *ctx = arg;
	struct link_info link;

	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return MNL_CB_OK;
	parse_link(nlh, &link);
	ctx->cb(&link, nlh->nlmsg_type == RTM_DELLINK, ctx->arg);
	return MNL_CB_OK;
}

int nl_monitor_read(struct nl_sock *nl, link_event_cb cb, void *arg)
{
	char buf[NL_RECV_SIZE];
	struct monitor_ctx ctx = { cb, arg };

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->mnl, buf, sizeof(buf));

		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		if (mnl_cb_run(buf, (size_t)n, 0, 0, monitor_cb, &ctx) < 0)
			return -errno;
	}
}
