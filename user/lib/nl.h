/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef IFKIT_NL_H
#define IFKIT_NL_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/if_link.h>

/* A route netlink socket bound in the network namespace it was opened in. */
struct nl_sock {
	struct mnl_socket *mnl;
	unsigned int portid;
	unsigned int seq;
	char errmsg[128];	/* kernel's extended ack text of the last failure */
};

struct link_info {
	int ifindex;
	char name[IFNAMSIZ];
	char kind[16];			/* IFLA_INFO_KIND, "" if none */
	unsigned int flags;		/* IFF_* including IFF_LOWER_UP */
	unsigned int mtu;
	unsigned int min_mtu, max_mtu;
	int carrier;
	int link;			/* IFLA_LINK: peer ifindex, 0 if none */
	int link_netnsid;		/* IFLA_LINK_NETNSID, -1 if same namespace */
	unsigned short type;		/* ARPHRD_* */
	uint8_t mac[6];
	struct rtnl_link_stats64 stats;
};

struct veth_end {
	const char *name;
	int netns_fd;			/* -1: the socket's namespace */
	const uint8_t *mac;		/* NULL: random */
	unsigned int mtu;		/* 0: default */
	int ifindex;			/* 0: the kernel picks (first end only) */
};

/* Changes for nl_link_set; fields left at -1/NULL are not touched. */
struct link_change {
	int up;				/* 1 up, 0 down */
	int mtu;
	int arp;			/* 1 ARP on, 0 IFF_NOARP */
	int addrgenmode;		/* IN6_ADDR_GEN_MODE_* */
	int netns_fd;			/* move to this namespace */
	const char *name;
};
#define LINK_CHANGE_NONE { .up = -1, .mtu = -1, .arp = -1, .addrgenmode = -1, .netns_fd = -1 }

int nl_open(struct nl_sock *nl);
/* Same, but subscribed to link events (RTMGRP_LINK), for nl_monitor_read. */
int nl_open_monitor(struct nl_sock *nl);
void nl_close(struct nl_sock *nl);
int nl_fd(const struct nl_sock *nl);

/* Look a link up by name (if non-NULL) or ifindex, in target_nsid (-1 = own namespace). */
int nl_link_get(struct nl_sock *nl, const char *name, int ifindex, int target_nsid,
		struct link_info *out);
typedef int (*link_cb)(const struct link_info *link, void *arg);
int nl_link_dump(struct nl_sock *nl, link_cb cb, void *arg);
int nl_veth_create(struct nl_sock *nl, const struct veth_end *dev, const struct veth_end *peer);
int nl_link_set(struct nl_sock *nl, int ifindex, int target_nsid, const struct link_change *chg);
int nl_link_del(struct nl_sock *nl, int ifindex, int target_nsid);
int nl_link_del_name(struct nl_sock *nl, const char *name);
/* The nsid this socket's namespace has for the namespace of ns_fd, or -ENOENT. */
int nl_netns_id(struct nl_sock *nl, int ns_fd);
/* The same, giving the namespace an nsid first if it has none (RTM_NEWNSID). */
int nl_netns_id_alloc(struct nl_sock *nl, int ns_fd);
/* Give the namespace of ns_fd this nsid; -EEXIST if either is taken. */
int nl_netns_id_set(struct nl_sock *nl, int ns_fd, int nsid);
/*
 * A socket subscribed to namespace id events (RTNLGRP_NSID), non-blocking.
 * The kernel sends RTM_DELNSID when a namespace this one has an id for
 * dies: a way to learn of a namespace's end without holding it.  With
 * all_links, also link events of every namespace this one has an id for
 * (NETLINK_LISTEN_ALL_NSID, which holds no reference either).
 */
int nl_open_nsid_monitor(struct nl_sock *nl, bool all_links);
/*
 * Drain pending events: cb(nsid, deleted, arg) for nsid events, link_cb
 * (may be NULL) for link events.  -ENOBUFS: events were lost.
 */
typedef void (*nsid_event_cb)(int nsid, int deleted, void *arg);
typedef int (*link_event_cb)(const struct link_info *link, int deleted, void *arg);
int nl_nsid_monitor_read(struct nl_sock *nl, nsid_event_cb cb, link_event_cb link_cb, void *arg);

/*
 * Drain pending link events without blocking; cb gets each link with
 * deleted set for RTM_DELLINK.  Returns 0, or -errno (-ENOBUFS: events were
 * lost, the caller must resynchronise with a dump).
 */
int nl_monitor_read(struct nl_sock *nl, link_event_cb cb, void *arg);

#endif
