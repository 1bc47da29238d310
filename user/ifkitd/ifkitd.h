/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef IFKITD_H
#define IFKITD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "ifkit_ctl.h"
#include "nl.h"

struct ifkitd;

/*
 * Something in the event loop: cb runs when fd is ready.  A module that
 * closes a watch while events are being dispatched sets fd to -1 and frees
 * it only after the batch (see reap_clients in main.c).
 */
struct watch {
	int fd;
	void (*cb)(struct ifkitd *d, struct watch *w, uint32_t events);
	void *data;
};

/* A control connection from the CLI, libutun or a PKTAP reader. */
struct client {
	struct watch w;
	pid_t pid;
	uid_t uid;
	bool hold;		/* keep it open after the answer (listeners) */
	void (*on_close)(struct ifkitd *d, struct client *c);
	void *priv;		/* owned by the module that set on_close */
	struct client *next;
};

/* An answer being built; sent in datagrams of at most IFKIT_CTL_MAX_DGRAM. */
struct reply {
	struct ifkit_rep hdr;
	char *items;
	size_t count, cap;
	int fd;			/* descriptor to pass back, or -1 (not owned) */
};

#define IFKITD_MAX_CLIENTS 4096
#define IFKITD_MAX_UNPRIV_CLIENTS 16

/*
 * Refused connections are logged once, then summarised once per interval,
 * so a flood of callers cannot flood the log.
 */
#define IFKITD_REFUSAL_LOG_INTERVAL_MS 5000
struct refusal_log {
	uint64_t window_end_ms;		/* 0: no refusal logged recently */
	unsigned long suppressed;	/* refusals not logged in this window */
	pid_t last_pid;
};

struct feth_state;
struct utun_state;
struct iptap_state;

/* Everything the loader knows; the only mutable state it has. */
struct ifkitd {
	/* options */
	const char *sock_path;
	const char *pin_dir;
	const char *netns_name;
	const char *config_path;
	const char *config_netns;	/* where config devices go; NULL = home */
	bool config_explicit;		/* -c given: a missing file is an error */
	bool teardown;

	int epoll_fd;
	int listen_fd;
	int signal_fd;
	int home_ns_fd;		/* namespace the loader started in, or --config-netns */
	int priv_ns_fd;		/* ifkit's private namespace, where hidden ends live */
	struct nl_sock nl;	/* route netlink in the private namespace */
	struct nl_sock mon;	/* link events of the private namespace */
	struct watch listen_w, signal_w, mon_w;
	struct client *clients;
	unsigned int nclients, nclients_unpriv;
	struct client *dead_clients;	/* closed, freed after the event batch */
	struct refusal_log refusals;
	uint64_t start_ms;
	size_t modules_up;	/* ifkitd_modules[0..modules_up) were initialised */
	bool stop;

	struct feth_state *feth;
	struct utun_state *utun;
	struct iptap_state *iptap;
};

/* Event loop registration (EPOLLIN unless events says otherwise). */
int ifkitd_watch_add(struct ifkitd *d, struct watch *w, uint32_t events);
void ifkitd_watch_del(struct ifkitd *d, struct watch *w);
uint64_t ifkitd_now_ms(void);

/* Run fn with the calling thread in namespace ns_fd, then come back to the private one. */
int ifkitd_in_netns(struct ifkitd *d, int ns_fd, int (*fn)(void *arg), void *arg);
/* Open a route netlink socket in namespace ns_fd. */
int ifkitd_nl_open_in(struct ifkitd *d, int ns_fd, struct nl_sock *nl);

/*
 * Change a device that lives in namespace ns_fd.  RTM_SETLINK has no
 * IFLA_TARGET_NETNSID, so the change is made from a socket opened there;
 * the kernel's error text lands in d->nl.errmsg.
 */
int ifkitd_link_set_in(struct ifkitd *d, int ns_fd, int ifindex, const struct link_change *chg);
/* Open the namespace the private namespace calls nsid (scans /run/netns and /proc). */
int ifkitd_netns_by_nsid(struct ifkitd *d, int nsid);

/* Replies */
int reply_error(struct reply *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int reply_add_item(struct reply *r, enum ifkit_item_type type, const void *item, size_t size);

/* A request handler: fills r, returns 0 or -errno (also stored in r). */
typedef int (*req_handler)(struct ifkitd *d, struct client *c, const struct ifkit_req *req,
			   int ns_fd, struct reply *r);

/*
 * A device module: one row per kind of device (iproute2's struct link_util).
 * The core calls only through this table; adding a kind means its own files
 * plus one row in modules.c.  Every hook is optional.
 */
struct ifkitd_module {
	const char *name;
	enum ifkit_kind kind;
	/* Load programs, adopt what the kernel already has. */
	int (*init)(struct ifkitd *d);
	void (*fini)(struct ifkitd *d);
	/* Requests of this kind (after privilege checks); r filled, 0 or -errno. */
	req_handler handle;
	/* Operations (IFKIT_CMD_OP) a non-root caller may run: bit op set. */
	uint32_t unpriv_ops;
	/* A link of the private namespace appeared, changed or went away. */
	void (*link_event)(struct ifkitd *d, const struct link_info *link, int deleted);
	/* After lost link events: forget what the kernel no longer has. */
	void (*resync)(struct ifkitd *d);
	/* Devices of this kind, for status. */
	int (*count)(struct ifkitd *d);
	/* ifkitd --teardown: remove every device of this kind. */
	int (*teardown)(struct ifkitd *d);
};

/* Run one request (control connection, or c == NULL for the config file). */
int ifkitd_dispatch(struct ifkitd *d, struct client *c, const struct ifkit_req *req, int ns_fd,
		    struct reply *r);
/* Apply d->config_path (a missing default file is not an error). */
int ifkitd_apply_config(struct ifkitd *d);

#define IFKITD_OP_BIT(cmd)	(1u << IFKIT_CMD_OP(cmd))

extern const struct ifkitd_module feth_module, utun_module, iptap_module;
/* Every module, NULL-terminated, in init order (modules.c). */
extern const struct ifkitd_module *const ifkitd_modules[];
const struct ifkitd_module *ifkitd_module_of(enum ifkit_kind kind);


#endif
