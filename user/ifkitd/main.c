// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ifkitd - the ifkit loader.  Loads the BPF programs, pins their maps, owns
 * ifkit's private network namespace (where the hidden veth ends live) and
 * serves the control socket.  Device state lives in the kernel, so the
 * loader can be killed and restarted: it adopts what it finds.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "bpffs.h"
#include "config.h"
#include "ctl.h"
#include "ifkit/version.h"
#include "ifkitd.h"
#include "log.h"
#include "netns.h"
#include "sd_notify.h"

/* Send r in as many datagrams as its items need; never blocks on a slow reader. */
static int reply_send(int sock, struct reply *r)
{
	size_t per = r->hdr.item_size ?
		(IFKIT_CTL_MAX_DGRAM - sizeof(r->hdr)) / r->hdr.item_size : 0;
	size_t sent = 0;
	char *buf;
	int err = 0;

	buf = malloc(IFKIT_CTL_MAX_DGRAM);
	if (!buf)
		return -ENOMEM;
	do {
		size_t n = r->count - sent;
		struct ifkit_rep *hdr = (struct ifkit_rep *)buf;
		ssize_t ret;

		if (n > per)
			n = per;
		*hdr = r->hdr;
		hdr->item_count = (__u32)n;
		if (!n)
			hdr->item_size = 0;
		hdr->flags = sent + n < r->count ? IFKIT_REP_F_MORE : 0;
		if (n)
			memcpy(buf + sizeof(*hdr), r->items + sent * r->hdr.item_size,
			       n * r->hdr.item_size);
		ret = ctl_send(sock, buf, sizeof(*hdr) + n * r->hdr.item_size,
			       sent == 0 ? r->fd : -1);
		if (ret < 0) {
			err = (int)ret;
			break;
		}
		sent += n;
	} while (sent < r->count);
	free(buf);
	return err;
}

static int module_count(struct ifkitd *d, enum ifkit_kind kind)
{
	const struct ifkitd_module *m = ifkitd_module_of(kind);

	return m && m->count ? m->count(d) : 0;
}

static int handle_status(struct ifkitd *d, struct client *c, const struct ifkit_req *req,
			 int ns_fd, struct reply *r)
{
	struct ifkit_status_info st = { 0 };

	(void)c, (void)req, (void)ns_fd;
	st.pid = (__u32)getpid();
	st.feth_count = (__u32)module_count(d, IFKIT_KIND_FETH);
	st.utun_count = (__u32)module_count(d, IFKIT_KIND_UTUN);
	st.iptap_count = (__u32)module_count(d, IFKIT_KIND_IPTAP);
	st.uptime_ms = ifkitd_now_ms() - d->start_ms;
	snprintf(st.pin_dir, sizeof(st.pin_dir), "%s", d->pin_dir);
	snprintf(st.netns, sizeof(st.netns), "%s", d->netns_name);
	snprintf(st.sock, sizeof(st.sock), "%s", d->sock_path);
	return reply_add_item(r, IFKIT_ITEM_STATUS, &st, sizeof(st));
}

/* The core's own commands: status. */
static req_handler core_handler(unsigned int cmd)
{
	return cmd == IFKIT_CMD_STATUS ? handle_status : NULL;
}

/* May a caller with this uid run cmd?  Changes are root's; queries are anyone's. */
static bool cmd_permitted(unsigned int cmd, uid_t uid)
{
	const struct ifkitd_module *m;

	if (uid == 0 || cmd == IFKIT_CMD_STATUS)
		return true;
	m = ifkitd_module_of(IFKIT_CMD_KIND(cmd));
	return m && (m->unpriv_ops & IFKITD_OP_BIT(cmd));
}

/* Is ns_fd ifkit's own private namespace?  Nothing of a user's may live there. */
static bool is_private_netns(struct ifkitd *d, int ns_fd)
{
	struct stat a, b;

	return ns_fd >= 0 && fstat(ns_fd, &a) == 0 && fstat(d->priv_ns_fd, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Run one request; used for control connections and for the config file. */
int ifkitd_dispatch(struct ifkitd *d, struct client *c, const struct ifkit_req *req, int ns_fd,
		    struct reply *r)
{
	const struct ifkitd_module *m = ifkitd_module_of(IFKIT_CMD_KIND(req->cmd));
	req_handler h = IFKIT_CMD_KIND(req->cmd) == IFKIT_KIND_CORE ? core_handler(req->cmd) :
			m ? m->handle : NULL;
	int err;

	r->hdr.magic = IFKIT_CTL_MAGIC;
	r->hdr.version = IFKIT_CTL_VERSION;
	r->hdr.cmd = req->cmd;
	r->hdr.seq = req->seq;
	r->fd = -1;
	if (!h)
		return reply_error(r, -EOPNOTSUPP, "unknown command %#x", req->cmd);
	if (is_private_netns(d, ns_fd))
		return reply_error(r, -EINVAL,
				   "namespace %s is ifkit's private namespace: devices cannot live there",
				   d->netns_name);
	err = h(d, c, req, ns_fd, r);
	if (err && !r->hdr.error)
		reply_error(r, err, NULL);
	return err;
}

/*
 * Close a client now, free it after the current event batch: another event
 * of the same epoll_wait may still point at it.
 */
static void client_free(struct ifkitd *d, struct client *c)
{
	struct client **pp;

	for (pp = &d->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			d->nclients--;
			if (c->uid != 0)
				d->nclients_unpriv--;
			break;
		}
	}
	if (c->on_close)
		c->on_close(d, c);
	c->on_close = NULL;
	ifkitd_watch_del(d, &c->w);
	close(c->w.fd);
	c->w.fd = -1;
	c->next = d->dead_clients;
	d->dead_clients = c;
}

static void reap_clients(struct ifkitd *d)
{
	while (d->dead_clients) {
		struct client *c = d->dead_clients;

		d->dead_clients = c->next;
		free(c);
	}
}

static void client_cb(struct ifkitd *d, struct watch *w, uint32_t events)
{
	struct client *c = w->data;
	struct reply r = { .fd = -1 };
	union {
		struct ifkit_req req;
		char raw[sizeof(struct ifkit_req) + 64];
	} in;
	const char *why = NULL;
	struct ucred sender;
	int ns_fd = -1, err;
	ssize_t n;

	if (!(events & EPOLLIN)) {
		client_free(d, c);
		return;
	}
	n = ctl_recv_cred(w->fd, in.raw, sizeof(in.raw), &ns_fd, &sender);
	if (n == -EAGAIN || n == -EINTR)
		return;		/* spurious wake-up: the connection is fine */
	if (n == 0 || (n < 0 && n != -EMSGSIZE)) {
		if (n < 0)
			pr_debug("client pid %d: %s", c->pid, strerror((int)-n));
		client_free(d, c);
		return;
	}
	memset(&r.hdr, 0, sizeof(r.hdr));
	r.hdr.magic = IFKIT_CTL_MAGIC;
	r.hdr.version = IFKIT_CTL_VERSION;
	err = n < 0 ? -EBADMSG : ctl_req_check(in.raw, (size_t)n, &why);
	if (err) {
		/* Answer what we can so the sender learns why, then forget it. */
		if (n >= (ssize_t)offsetof(struct ifkit_req, flags)) {
			r.hdr.cmd = in.req.cmd;
			r.hdr.seq = in.req.seq;
		}
		reply_error(&r, err, "malformed request: %s", why ? why : "too long");
		pr_warn("client pid %d: malformed request: %s", c->pid, why ? why : "too long");
	} else if (!cmd_permitted(in.req.cmd, c->uid ? c->uid : sender.uid)) {
		/*
		 * Root is who opened the connection (SO_PEERCRED) and who sends
		 * this message (SCM_CREDENTIALS): a connection a root process
		 * opened and a process that dropped root inherited changes nothing.
		 */
		r.hdr.cmd = in.req.cmd;
		r.hdr.seq = in.req.seq;
		reply_error(&r, -EPERM, "root privileges required");
	} else {
		ifkitd_dispatch(d, c, &in.req, ns_fd, &r);
	}
	if (ns_fd >= 0)
		close(ns_fd);
	/* A descriptor in r.fd is lent by the module, which keeps its own copy. */
	err = reply_send(w->fd, &r);
	free(r.items);
	if (err || r.hdr.error == -EPERM)	/* a refused caller has nothing more to say */
		client_free(d, c);
}

/* Log a refused connection, or count it for the next summary line. */
static void refusal_note(struct ifkitd *d, pid_t pid)
{
	struct refusal_log *rl = &d->refusals;

	rl->last_pid = pid;
	if (rl->window_end_ms) {
		rl->suppressed++;
		return;
	}
	pr_warn("refusing connection from pid %d: too many clients "
		"(further refusals summarised every %d s)", pid,
		IFKITD_REFUSAL_LOG_INTERVAL_MS / 1000);
	rl->window_end_ms = ifkitd_now_ms() + IFKITD_REFUSAL_LOG_INTERVAL_MS;
}

/* End a summary window that is due; returns ms until the next one is, or -1. */
static int refusal_flush(struct ifkitd *d)
{
	struct refusal_log *rl = &d->refusals;
	uint64_t now = ifkitd_now_ms();

	if (!rl->window_end_ms)
		return -1;
	if (now < rl->window_end_ms)
		return (int)(rl->window_end_ms - now);
	if (!rl->suppressed) {
		rl->window_end_ms = 0;
		return -1;
	}
	pr_warn("refused %lu more connections in the last %d s: too many clients (last pid %d)",
		rl->suppressed, IFKITD_REFUSAL_LOG_INTERVAL_MS / 1000, rl->last_pid);
	rl->suppressed = 0;
	rl->window_end_ms = now + IFKITD_REFUSAL_LOG_INTERVAL_MS;
	return IFKITD_REFUSAL_LOG_INTERVAL_MS;
}

static void listen_cb(struct ifkitd *d, struct watch *w, uint32_t events)
{
	int sndbuf = 4 << 20, one = 1;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct client *c;
	int fd;

	(void)events;
	fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		free(c);
		close(fd);
		return;
	}
	/*
	 * The socket is world-connectable so non-root callers learn EPERM; cap
	 * what they (and everyone) can hold open so nobody exhausts our fds.
	 */
	if (d->nclients >= IFKITD_MAX_CLIENTS ||
	    (cred.uid != 0 && d->nclients_unpriv >= IFKITD_MAX_UNPRIV_CLIENTS)) {
		refusal_note(d, cred.pid);
		free(c);
		close(fd);
		return;
	}
	/* Room for a long answer (status of many devices) without EAGAIN. */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
	/* Every request carries its sender's credentials (see client_cb). */
	setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->w.fd = fd;
	c->w.cb = client_cb;
	c->w.data = c;
	if (ifkitd_watch_add(d, &c->w, EPOLLIN | EPOLLRDHUP)) {
		close(fd);
		free(c);
		return;
	}
	c->next = d->clients;
	d->clients = c;
	d->nclients++;
	if (c->uid != 0)
		d->nclients_unpriv++;
}

static void signal_cb(struct ifkitd *d, struct watch *w, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)events;
	if (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
		pr_info("signal %u: exiting", si.ssi_signo);
		d->stop = true;
	}
}

static int resync_link(const struct link_info *link, void *arg)
{
	struct ifkitd *d = arg;

	for (size_t i = 0; ifkitd_modules[i]; i++)
		if (ifkitd_modules[i]->link_event)
			ifkitd_modules[i]->link_event(d, link, 0);
	return 0;
}

static int on_link_event(const struct link_info *link, int deleted, void *arg)
{
	struct ifkitd *d = arg;

	for (size_t i = 0; ifkitd_modules[i]; i++)
		if (ifkitd_modules[i]->link_event)
			ifkitd_modules[i]->link_event(d, link, deleted);
	return 0;
}

static void monitor_cb(struct ifkitd *d, struct watch *w, uint32_t events)
{
	int err;

	(void)w, (void)events;
	err = nl_monitor_read(&d->mon, on_link_event, d);
	if (err == -ENOBUFS) {
		/* Deletions may be among the lost events: each module re-checks. */
		pr_warn("link events lost; resynchronising");
		nl_link_dump(&d->nl, resync_link, d);
		for (size_t i = 0; ifkitd_modules[i]; i++)
			if (ifkitd_modules[i]->resync)
				ifkitd_modules[i]->resync(d);
	}
}

static int listen_on(struct ifkitd *d)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char dir[sizeof(addr.sun_path)];
	char *slash;
	int fd, probe;

	if (strlen(d->sock_path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, d->sock_path);
	strcpy(dir, d->sock_path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
	}
	probe = ctl_connect(d->sock_path);
	/* A loader that is stopped with a full backlog still owns the socket. */
	if (probe >= 0 || probe == -ETIMEDOUT || probe == -EAGAIN) {
		if (probe >= 0)
			close(probe);
		pr_err("another ifkitd is serving %s", d->sock_path);
		return -EADDRINUSE;
	}
	unlink(d->sock_path);	/* stale socket of a loader that died */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 64) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	/* Anyone may connect; the loader answers non-root callers with EPERM. */
	chmod(d->sock_path, 0666);
	d->listen_fd = fd;
	return 0;
}

/* Enter (creating if needed) the private namespace and make it quiet. */
static int enter_private_netns(struct ifkitd *d, bool create)
{
	int fd = create ? netns_open_or_create(d->netns_name) : netns_open(d->netns_name);
	int err;

	if (fd < 0)
		return fd;
	d->priv_ns_fd = fd;
	if (setns(fd, CLONE_NEWNET) < 0)
		return -errno;
	/*
	 * Hidden ends must never speak: no IPv6 autoconfiguration, no DAD, no
	 * MLD, or every feth/utun would receive the hidden end's chatter.
	 */
	err = netns_silence_ipv6();
	if (err)
		pr_debug("%s: disable_ipv6: %s", d->netns_name, strerror(-err));
	return 0;
}

/*
 * libbpf's lines ("libbpf: ...") go through our log: same time stamp or
 * priority.  Its closing summaries of a failed load repeat the cause it
 * already printed, and the module logs the failure with its step: debug only.
 */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum log_level lvl = level == LIBBPF_WARN ? LOG_LVL_WARN : LOG_LVL_DEBUG;

	if (!strncmp(fmt, "libbpf: failed to load object", 29) ||
	    !strncmp(fmt, "libbpf: failed to load BPF skeleton", 35))
		lvl = LOG_LVL_DEBUG;
	log_vmsg(lvl, fmt, ap);
	return 0;
}

/* --teardown: remove every device, pin and the private namespace. */
static int teardown(struct ifkitd *d)
{
	int err = enter_private_netns(d, false);

	if (err == -ENOENT) {
		pr_info("namespace %s does not exist", d->netns_name);
	} else if (err) {
		pr_err("namespace %s: %s", d->netns_name, strerror(-err));
	} else if (!(err = nl_open(&d->nl))) {
		size_t n = 0;

		while (ifkitd_modules[n])
			n++;
		while (n--)	/* reverse init order: taps before the devices they tap */
			if (ifkitd_modules[n]->teardown)
				ifkitd_modules[n]->teardown(d);
		nl_close(&d->nl);
	}
	bpffs_remove_dir(d->pin_dir);
	netns_remove(d->netns_name);
	pr_info("removed ifkit state (namespace %s, pins %s)", d->netns_name, d->pin_dir);
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out,
"Usage: ifkitd [OPTIONS]\n"
"The ifkit loader: loads the feth, utun and iptap BPF programs, pins their maps\n"
"and serves the control socket the ifkit CLI and libutun talk to.  Runs in the\n"
"foreground as root; logs to stderr.\n"
"\n"
"  -c, --config FILE   devices to create at start (default %s)\n"
"      --no-config     do not read a config file\n"
"      --config-netns NAME  create the config's devices in /run/netns/NAME\n"
"                      (default: the namespace ifkitd was started in)\n"
"  -s, --socket PATH   control socket (default %s)\n"
"  -p, --pin-dir DIR   bpffs directory for pins (default %s)\n"
"  -n, --netns NAME    private namespace for hidden ends (default %s)\n"
"      --teardown      remove all ifkit devices, pins and the private namespace, then exit\n"
"  -v, --verbose       more log output (repeat for debug)\n"
"  -q, --quiet         errors only\n"
"  -V, --version       print the version and exit\n"
"  -h, --help          this text\n"
"\n"
"Under systemd (Type=notify) it reports READY=1 once the socket answers and the\n"
"config's devices exist.  Log lines start with the time, or with a syslog\n"
"priority when stderr is the journal.\n",
		IFKIT_DEFAULT_CONFIG, IFKIT_DEFAULT_SOCK, IFKIT_DEFAULT_PIN_DIR,
		IFKIT_DEFAULT_NETNS);
}

static int parse_args(struct ifkitd *d, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "no-config", no_argument, NULL, 'N' },
		{ "config-netns", required_argument, NULL, 'C' },
		{ "socket", required_argument, NULL, 's' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "netns", required_argument, NULL, 'n' },
		{ "teardown", no_argument, NULL, 'T' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	int level = LOG_LVL_INFO, opt;

	while ((opt = getopt_long(argc, argv, "c:s:p:n:vqhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': d->config_path = optarg; d->config_explicit = true; break;
		case 'N': d->config_path = NULL; break;
		case 'C': d->config_netns = optarg; break;
		case 's': d->sock_path = optarg; break;
		case 'p': d->pin_dir = optarg; break;
		case 'n': d->netns_name = optarg; break;
		case 'T': d->teardown = true; break;
		case 'v': level++; break;
		case 'q': level = LOG_LVL_ERROR; break;
		case 'h': usage(stdout); exit(0);
		case 'V': puts(IFKIT_VERSION_LINE("ifkitd")); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ifkitd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -EINVAL;
	}
	if (!d->netns_name[0] || strchr(d->netns_name, '/')) {
		fprintf(stderr, "ifkitd: invalid namespace name '%s'\n", d->netns_name);
		return -EINVAL;
	}
	log_set_level(level > LOG_LVL_DEBUG ? LOG_LVL_DEBUG : (enum log_level)level);
	return 0;
}

static int setup(struct ifkitd *d)
{
	sigset_t mask;
	int err;

	d->home_ns_fd = d->config_netns ? netns_open(d->config_netns) : netns_open_self();
	if (d->home_ns_fd < 0) {
		pr_err("namespace %s: %s", d->config_netns ? d->config_netns : "(own)",
		       strerror(-d->home_ns_fd));
		return d->home_ns_fd;
	}
	err = bpffs_prepare(d->pin_dir);
	if (err) {
		pr_err("pin directory %s: %s", d->pin_dir, strerror(-err));
		return err;
	}
	err = listen_on(d);
	if (err) {
		if (err != -EADDRINUSE)
			pr_err("control socket %s: %s", d->sock_path, strerror(-err));
		return err;
	}
	err = enter_private_netns(d, true);
	if (err) {
		pr_err("private namespace %s: %s", d->netns_name, strerror(-err));
		return err;
	}
	err = nl_open(&d->nl);
	if (!err)
		err = nl_open_monitor(&d->mon);
	if (err) {
		pr_err("netlink: %s", strerror(-err));
		return err;
	}
	d->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epoll_fd < 0)
		return -errno;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d->signal_fd < 0)
		return -errno;
	d->signal_w = (struct watch){ d->signal_fd, signal_cb, NULL };
	d->listen_w = (struct watch){ d->listen_fd, listen_cb, NULL };
	d->mon_w = (struct watch){ nl_fd(&d->mon), monitor_cb, NULL };
	if ((err = ifkitd_watch_add(d, &d->signal_w, 0)) ||
	    (err = ifkitd_watch_add(d, &d->listen_w, 0)) ||
	    (err = ifkitd_watch_add(d, &d->mon_w, 0)))
		return err;

	for (size_t i = 0; ifkitd_modules[i]; i++) {
		unsigned long errors = log_error_count();

		/* fini runs for a module whose init failed half-way, too. */
		d->modules_up = i + 1;
		if (!ifkitd_modules[i]->init)
			continue;
		err = ifkitd_modules[i]->init(d);
		if (err) {
			/* Once: the module's own line, with its step, if it wrote one. */
			if (log_error_count() == errors)
				pr_err("%s: %s", ifkitd_modules[i]->name, strerror(-err));
			return err;
		}
	}
	return 0;
}

static void cleanup(struct ifkitd *d)
{
	while (d->clients)
		client_free(d, d->clients);
	reap_clients(d);
	while (d->modules_up--)
		if (ifkitd_modules[d->modules_up]->fini)
			ifkitd_modules[d->modules_up]->fini(d);
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		unlink(d->sock_path);
	}
	nl_close(&d->mon);
	nl_close(&d->nl);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	if (d->epoll_fd >= 0)
		close(d->epoll_fd);
	if (d->priv_ns_fd >= 0)
		close(d->priv_ns_fd);
	if (d->home_ns_fd >= 0)
		close(d->home_ns_fd);
}

int main(int argc, char **argv)
{
	struct ifkitd d = {
		.sock_path = IFKIT_DEFAULT_SOCK,
		.pin_dir = IFKIT_DEFAULT_PIN_DIR,
		.netns_name = IFKIT_DEFAULT_NETNS,
		.config_path = IFKIT_DEFAULT_CONFIG,
		.epoll_fd = -1, .listen_fd = -1, .signal_fd = -1,
		.home_ns_fd = -1, .priv_ns_fd = -1,
	};
	struct sd_notifier notifier = { .fd = -1 };
	char state[512];
	int err;

	log_set_prefix("ifkitd");
	if (parse_args(&d, argc, argv))
		return 2;
	if (geteuid() != 0) {
		fprintf(stderr, "ifkitd: must run as root (it creates devices and loads BPF programs)\n");
		return 1;
	}
	libbpf_set_print(libbpf_print);
	if (d.teardown)
		return teardown(&d) ? 1 : 0;

	/* Before setup() enters the private namespace: an abstract notify
	 * socket is only reachable from the namespace systemd runs in. */
	err = sd_notifier_open(&notifier);
	if (err)
		pr_warn("NOTIFY_SOCKET %s: %s", getenv("NOTIFY_SOCKET"), strerror(-err));
	d.start_ms = ifkitd_now_ms();
	err = setup(&d);
	if (!err)
		err = ifkitd_apply_config(&d);
	if (err) {
		snprintf(state, sizeof(state), "ERRNO=%d", -err);
		sd_notifier_send(&notifier, state);
		cleanup(&d);
		sd_notifier_close(&notifier);
		return 1;
	}
	pr_info("ready: socket %s, pins %s, namespace %s", d.sock_path, d.pin_dir, d.netns_name);
	/* The socket is listening and every module is up: clients may come. */
	snprintf(state, sizeof(state), "READY=1\nSTATUS=serving %s", d.sock_path);
	sd_notifier_send(&notifier, state);
	while (!d.stop) {
		struct epoll_event evs[32];
		int n = epoll_wait(d.epoll_fd, evs, 32, refusal_flush(&d));

		if (n < 0 && errno != EINTR) {
			pr_err("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;

			if (w->fd >= 0)	/* closed earlier in this batch */
				w->cb(&d, w, evs[i].events);
		}
		reap_clients(&d);
	}
	sd_notifier_send(&notifier, "STOPPING=1");
	cleanup(&d);
	sd_notifier_close(&notifier);
	return 0;
}
