// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libutun-darwin: macOS's utun client calls on Linux, unchanged.
 *
 *   fd = socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL);   -> placeholder socket
 *   ioctl(fd, CTLIOCGINFO, &info);                          -> id of the utun control
 *   connect(fd, &sockaddr_ctl, sizeof(sockaddr_ctl));       -> utun_open(); the packet
 *                                                              descriptor is dup2'd over fd
 *   getsockopt/setsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_*) -> utun_getopt/utun_setopt
 *
 * These five functions are interposed (defined here, the next definition
 * found with dlsym(RTLD_NEXT)): linked with -lutun-darwin they come before
 * libc's, and LD_PRELOAD of the shared library does the same for a binary
 * built against the headers only.  Every call that is not about a
 * PF_SYSTEM socket goes to the next definition untouched.  After connect
 * the descriptor is libutun's SOCK_SEQPACKET packet socket itself, so
 * read/write/readv/writev/send/recv/poll/select/epoll/close need nothing.
 */
/*
 * Not _GNU_SOURCE (the build passes it): with it glibc declares connect()
 * with a transparent-union address argument, and our definition must be
 * the plain one.  RTLD_NEXT is spelled out below for the same reason.
 */
#undef _GNU_SOURCE
#define _DEFAULT_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/kern_control.h>
#include <sys/sys_domain.h>
#include <net/if_utun.h>
#include "ifkit/utun.h"

#ifndef RTLD_NEXT
#define RTLD_NEXT ((void *)-1l)	/* glibc's value; the name needs _GNU_SOURCE */
#endif

#define EXPORT __attribute__((visibility("default")))

/* The id CTLIOCGINFO gives the utun control (macOS assigns one at boot). */
#define UTUN_CTL_ID 0x75747563u	/* "utuc" */

enum pf_state {
	PF_NONE = 0,
	PF_PLACEHOLDER,		/* socket(PF_SYSTEM) done, not connected */
	PF_UTUN,		/* connected: fd is the utun packet socket */
};

/* What a PF_SYSTEM descriptor is; the inode tells a reused fd number apart. */
struct pf_entry {
	enum pf_state state;
	int type;		/* SOCK_DGRAM or SOCK_STREAM as asked */
	dev_t dev;
	ino_t ino;
};

typedef int (*socket_fn)(int, int, int);
typedef int (*ioctl_fn)(int, unsigned long, ...);
typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*getsockopt_fn)(int, int, int, void *, socklen_t *);
typedef int (*setsockopt_fn)(int, int, int, const void *, socklen_t);

/* All the library's state: the next definitions and the PF_SYSTEM descriptors. */
static struct darwin_ctx {
	pthread_once_t once;
	socket_fn next_socket;
	ioctl_fn next_ioctl;
	connect_fn next_connect;
	getsockopt_fn next_getsockopt;
	setsockopt_fn next_setsockopt;
	pthread_mutex_t lock;
	struct pf_entry *fds;	/* indexed by descriptor number */
	size_t nfds;
	unsigned int live;	/* entries not PF_NONE: zero skips the lock */
} ctx = { .once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER };

/*
 * Fall-backs when there is no next definition (a fully static binary has
 * no dynamic loader to ask): the system calls themselves.
 */
static int sys_socket(int d, int t, int p) { return (int)syscall(SYS_socket, d, t, p); }
static int sys_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	return (int)syscall(SYS_ioctl, fd, req, arg);
}
static int sys_connect(int fd, const struct sockaddr *a, socklen_t l)
{
	return (int)syscall(SYS_connect, fd, a, l);
}
static int sys_getsockopt(int fd, int lv, int o, void *v, socklen_t *l)
{
	return (int)syscall(SYS_getsockopt, fd, lv, o, v, l);
}
static int sys_setsockopt(int fd, int lv, int o, const void *v, socklen_t l)
{
	return (int)syscall(SYS_setsockopt, fd, lv, o, v, l);
}

/* A child forked while another thread held the lock must not inherit it held. */
static void fork_prepare(void)
{
	pthread_mutex_lock(&ctx.lock);
}

static void fork_done(void)
{
	pthread_mutex_unlock(&ctx.lock);
}

static void resolve_next(void)
{
	pthread_atfork(fork_prepare, fork_done, fork_done);
	ctx.next_socket = (socket_fn)dlsym(RTLD_NEXT, "socket");
	ctx.next_ioctl = (ioctl_fn)dlsym(RTLD_NEXT, "ioctl");
	ctx.next_connect = (connect_fn)dlsym(RTLD_NEXT, "connect");
	ctx.next_getsockopt = (getsockopt_fn)dlsym(RTLD_NEXT, "getsockopt");
	ctx.next_setsockopt = (setsockopt_fn)dlsym(RTLD_NEXT, "setsockopt");
	if (!ctx.next_socket)
		ctx.next_socket = sys_socket;
	if (!ctx.next_ioctl)
		ctx.next_ioctl = sys_ioctl;
	if (!ctx.next_connect)
		ctx.next_connect = sys_connect;
	if (!ctx.next_getsockopt)
		ctx.next_getsockopt = sys_getsockopt;
	if (!ctx.next_setsockopt)
		ctx.next_setsockopt = sys_setsockopt;
}

static void init_once(void)
{
	pthread_once(&ctx.once, resolve_next);
}

static int fail(int err)
{
	errno = err;
	return -1;
}

/* The state of fd, or PF_NONE (also for a number reused since by another file). */
static enum pf_state lookup(int fd, struct pf_entry *out)
{
	struct pf_entry e = { .state = PF_NONE };
	struct stat st;

	if (fd < 0 || !__atomic_load_n(&ctx.live, __ATOMIC_ACQUIRE))
		return PF_NONE;
	pthread_mutex_lock(&ctx.lock);
	if ((size_t)fd < ctx.nfds)
		e = ctx.fds[fd];
	pthread_mutex_unlock(&ctx.lock);
	if (e.state == PF_NONE)
		return PF_NONE;
	if (fstat(fd, &st) < 0 || st.st_dev != e.dev || st.st_ino != e.ino)
		return PF_NONE;	/* closed (we do not wrap close) and maybe reused */
	if (out)
		*out = e;
	return e.state;
}

/* Record fd as state (PF_NONE forgets it).  0 or -errno. */
static int record(int fd, enum pf_state state, int type)
{
	struct pf_entry e = { .state = state, .type = type };
	struct stat st;
	int err = 0;

	if (state != PF_NONE) {
		if (fstat(fd, &st) < 0)
			return -errno;
		e.dev = st.st_dev;
		e.ino = st.st_ino;
	}
	pthread_mutex_lock(&ctx.lock);
	if ((size_t)fd >= ctx.nfds) {
		size_t n = ctx.nfds ? ctx.nfds : 64;
		struct pf_entry *grown;

		while (n <= (size_t)fd)
			n *= 2;
		grown = state == PF_NONE ? NULL : realloc(ctx.fds, n * sizeof(*grown));
		if (!grown) {
			err = state == PF_NONE ? 0 : -ENOMEM;
			goto out;
		}
		memset(grown + ctx.nfds, 0, (n - ctx.nfds) * sizeof(*grown));
		ctx.fds = grown;
		ctx.nfds = n;
	}
	if (ctx.fds[fd].state == PF_NONE && state != PF_NONE)
		__atomic_add_fetch(&ctx.live, 1, __ATOMIC_RELEASE);
	else if (ctx.fds[fd].state != PF_NONE && state == PF_NONE)
		__atomic_sub_fetch(&ctx.live, 1, __ATOMIC_RELEASE);
	ctx.fds[fd] = e;
out:
	pthread_mutex_unlock(&ctx.lock);
	return err;
}

EXPORT int socket(int domain, int type, int protocol)
{
	int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	int fd, err;

	init_once();
	if (domain != PF_SYSTEM)
		return ctx.next_socket(domain, type, protocol);
	/* SYSPROTO_EVENT (kernel event sockets) has no Linux counterpart here. */
	if (protocol != SYSPROTO_CONTROL)
		return fail(EPROTONOSUPPORT);
	if (base != SOCK_DGRAM && base != SOCK_STREAM)
		return fail(EPROTOTYPE);
	/*
	 * A real socket of the kind the utun descriptor will be, so fcntl,
	 * SOL_SOCKET options and close work before connect as after.
	 */
	fd = ctx.next_socket(AF_UNIX, SOCK_SEQPACKET | (type & (SOCK_NONBLOCK | SOCK_CLOEXEC)), 0);
	if (fd < 0)
		return -1;
	err = record(fd, PF_PLACEHOLDER, base);
	if (err) {
		close(fd);
		return fail(-err);
	}
	return fd;
}

static int ctl_ioctl(int fd, unsigned long request, void *arg)
{
	struct ctl_info *info = arg;

	if (request == CTLIOCGCOUNT) {
		if (!arg)
			return fail(EFAULT);
		*(int *)arg = 1;
		return 0;
	}
	if (!info)
		return fail(EFAULT);
	/* As macOS: the name must be NUL-terminated within MAX_KCTL_NAME. */
	if (!memchr(info->ctl_name, '\0', sizeof(info->ctl_name)))
		return fail(EINVAL);
	if (strcmp(info->ctl_name, UTUN_CONTROL_NAME) != 0)
		return fail(ENOENT);
	(void)fd;
	info->ctl_id = UTUN_CTL_ID;
	return 0;
}

EXPORT int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	init_once();
	if ((request == CTLIOCGINFO || request == CTLIOCGCOUNT) && lookup(fd, NULL) != PF_NONE)
		return ctl_ioctl(fd, request, arg);
	return ctx.next_ioctl(fd, request, arg);
}

/*
 * Put the packet descriptor where the placeholder was: dup2 replaces it in
 * one step, so the number the program holds never points at nothing.
 * O_NONBLOCK and FD_CLOEXEC set on the placeholder are carried over.
 */
static int adopt(int fd, int pkt_fd)
{
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD), err = 0;

	if (fl < 0 || fdfl < 0 || dup2(pkt_fd, fd) < 0)
		err = errno;
	else if (fcntl(fd, F_SETFL, (fcntl(fd, F_GETFL) & ~O_NONBLOCK) | (fl & O_NONBLOCK)) < 0 ||
		 fcntl(fd, F_SETFD, fdfl) < 0)
		err = errno;
	close(pkt_fd);
	return err ? fail(err) : 0;
}

static int ctl_connect_utun(int fd, const struct pf_entry *e, const struct sockaddr *addr,
			    socklen_t len)
{
	struct sockaddr_ctl sc;
	char ifname[IFNAMSIZ];
	int pkt_fd, err;

	if (e->state == PF_UTUN)
		return fail(EISCONN);
	if (!addr)
		return fail(EFAULT);
	/* macOS wants sc_len == sizeof(struct sockaddr_ctl); length from the call. */
	if (len < sizeof(sc))
		return fail(EINVAL);
	memcpy(&sc, addr, sizeof(sc));
	if (sc.sc_family != AF_SYSTEM || sc.ss_sysaddr != AF_SYS_CONTROL)
		return fail(EAFNOSUPPORT);
	if (sc.sc_id != UTUN_CTL_ID)
		return fail(ENOENT);
	/* utun is a datagram control: macOS refuses a stream socket. */
	if (e->type != SOCK_DGRAM)
		return fail(EPROTOTYPE);
	/* sc_unit 0 = first free; N = utun(N-1). */
	if (sc.sc_unit > 4096)
		return fail(EINVAL);
	pkt_fd = utun_open((int)sc.sc_unit - 1, ifname, sizeof(ifname));
	if (pkt_fd < 0)
		return -1;
	if (adopt(fd, pkt_fd))
		return -1;
	err = record(fd, PF_UTUN, SOCK_DGRAM);
	if (err) {
		/* Cannot serve options for it: give the utun back rather than half-work. */
		close(fd);
		return fail(-err);
	}
	return 0;
}

EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct pf_entry e;

	init_once();
	if (lookup(fd, &e) == PF_NONE)
		return ctx.next_connect(fd, addr, len);
	return ctl_connect_utun(fd, &e, addr, len);
}

/*
 * A utun descriptor this process did not connect itself (inherited across
 * exec, received over a socket): an AF_UNIX SOCK_SEQPACKET socket the loader
 * knows as a utun.  Asked only for a UTUN_OPT_* call at SYSPROTO_CONTROL,
 * a level no Unix socket has, so other sockets lose nothing.
 */
static enum pf_state adopt_foreign(int fd, int opt)
{
	int domain = 0, type = 0;
	socklen_t l1 = sizeof(domain), l2 = sizeof(type);
	uint32_t flags;

	if ((opt != UTUN_OPT_FLAGS && opt != UTUN_OPT_IFNAME) ||
	    ctx.next_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l1) ||
	    ctx.next_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l2) ||
	    domain != AF_UNIX || type != SOCK_SEQPACKET)
		return PF_NONE;
	if (utun_get_flags(fd, &flags) || record(fd, PF_UTUN, SOCK_DGRAM))
		return PF_NONE;
	return PF_UTUN;
}

EXPORT int getsockopt(int fd, int level, int opt, void *val, socklen_t *len)
{
	enum pf_state st;
	size_t n;

	init_once();
	if (level != SYSPROTO_CONTROL)
		return ctx.next_getsockopt(fd, level, opt, val, len);
	st = lookup(fd, NULL);
	if (st == PF_NONE)
		st = adopt_foreign(fd, opt);
	if (st == PF_NONE)
		return ctx.next_getsockopt(fd, level, opt, val, len);
	if (st != PF_UTUN)
		return fail(ENOTCONN);
	if (!len)
		return fail(EFAULT);
	n = *len;
	if (utun_getopt(fd, opt, val, &n))
		return -1;
	/* macOS's socket layer copies out at most what the caller gave (sooptcopyout). */
	if (n < *len)
		*len = (socklen_t)n;
	return 0;
}

EXPORT int setsockopt(int fd, int level, int opt, const void *val, socklen_t len)
{
	enum pf_state st;

	init_once();
	if (level != SYSPROTO_CONTROL)
		return ctx.next_setsockopt(fd, level, opt, val, len);
	st = lookup(fd, NULL);
	if (st == PF_NONE)
		st = adopt_foreign(fd, opt);
	if (st == PF_NONE)
		return ctx.next_setsockopt(fd, level, opt, val, len);
	if (st != PF_UTUN)
		return fail(ENOTCONN);
	return utun_setopt(fd, opt, val, len);
}
