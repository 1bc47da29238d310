/*
 * Edge cases of the system-domain calls, written as macOS code (only headers
 * macOS has).  Needs no utun loader: everything here is answered before one
 * is asked.  Prints "CHECK <name> ok|FAIL ..." per check and exits with the
 * number of failures; tests/test_darwin.c runs it in every build variant.
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/kern_control.h>
#include <sys/sys_domain.h>
#include <net/if_utun.h>
#include <netinet/in.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int failures;

static void check(const char *name, int ok, int err)
{
	if (ok) {
		printf("CHECK %s ok\n", name);
	} else {
		printf("CHECK %s FAIL (errno %d %s)\n", name, err, strerror(err));
		failures++;
	}
}

/* rc must be -1 with errno want. */
static void want_errno(const char *name, int rc, int want)
{
	int err = errno;

	check(name, rc == -1 && err == want, rc == -1 ? err : 0);
}

static void *socket_churn(void *arg)
{
	long bad = 0;

	(void)arg;
	for (int i = 0; i < 2000; i++) {
		int s = socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL);
		int u = socket(AF_INET, SOCK_DGRAM, 0);
		struct ctl_info info;

		memset(&info, 0, sizeof(info));
		strncpy(info.ctl_name, UTUN_CONTROL_NAME, sizeof(info.ctl_name));
		if (s < 0 || u < 0 || ioctl(s, CTLIOCGINFO, &info) < 0 || info.ctl_id == 0)
			bad++;
		/* the ordinary socket never answers as a system socket */
		if (u >= 0 && ioctl(u, CTLIOCGINFO, &info) != -1)
			bad++;
		if (s >= 0)
			close(s);
		if (u >= 0)
			close(u);
	}
	return (void *)bad;
}

int main(void)
{
	struct ctl_info info;
	struct sockaddr_ctl sc;
	uint32_t v = 0;
	socklen_t len = sizeof(v);
	int fd, udp, ref_err, rc, n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	want_errno("event-socket", socket(PF_SYSTEM, SOCK_RAW, SYSPROTO_EVENT), EPROTONOSUPPORT);
	want_errno("raw-control", socket(PF_SYSTEM, SOCK_RAW, SYSPROTO_CONTROL), EPROTOTYPE);

	fd = socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL);
	check("socket", fd >= 0, errno);
	if (fd < 0)
		return 1;
	n = -1;
	check("ctliocgcount", ioctl(fd, CTLIOCGCOUNT, &n) == 0 && n == 1, errno);
	memset(&info, 0, sizeof(info));
	strncpy(info.ctl_name, "com.apple.net.ipsec_control", sizeof(info.ctl_name));
	want_errno("unknown-control", ioctl(fd, CTLIOCGINFO, &info), ENOENT);
	memset(info.ctl_name, 'x', sizeof(info.ctl_name));
	want_errno("unterminated-name", ioctl(fd, CTLIOCGINFO, &info), EINVAL);
	memset(&info, 0, sizeof(info));
	strncpy(info.ctl_name, UTUN_CONTROL_NAME, sizeof(info.ctl_name));
	check("ctliocginfo", ioctl(fd, CTLIOCGINFO, &info) == 0 && info.ctl_id != 0, errno);

	/* options before connect */
	want_errno("getopt-unconnected",
		   getsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_FLAGS, &v, &len), ENOTCONN);
	want_errno("setopt-unconnected",
		   setsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_FLAGS, &v, sizeof(v)), ENOTCONN);
	/* ordinary socket options on the system socket still work */
	len = sizeof(v);
	check("sol-socket-option", getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len) == 0, errno);

	memset(&sc, 0, sizeof(sc));
	sc.sc_len = sizeof(sc);
	sc.sc_family = AF_SYSTEM;
	sc.ss_sysaddr = AF_SYS_CONTROL;
	sc.sc_id = info.ctl_id + 1;
	want_errno("connect-wrong-id", connect(fd, (struct sockaddr *)&sc, sizeof(sc)), ENOENT);
	sc.sc_id = info.ctl_id;
	want_errno("connect-short-addr", connect(fd, (struct sockaddr *)&sc, 8), EINVAL);
	sc.sc_family = AF_INET;
	want_errno("connect-wrong-family", connect(fd, (struct sockaddr *)&sc, sizeof(sc)),
		   EAFNOSUPPORT);
	close(fd);

	/* utun is a datagram control: a stream socket cannot connect to it */
	fd = socket(PF_SYSTEM, SOCK_STREAM, SYSPROTO_CONTROL);
	check("stream-socket", fd >= 0, errno);
	sc.sc_family = AF_SYSTEM;
	want_errno("stream-connect", connect(fd, (struct sockaddr *)&sc, sizeof(sc)), EPROTOTYPE);
	close(fd);

	/*
	 * A closed system socket's number reused by an ordinary socket: calls
	 * on it reach the C library, exactly as on a socket never touched.
	 */
	fd = socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL);
	close(fd);
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	check("number-reused", udp == fd, 0);
	len = sizeof(v);
	rc = getsockopt(udp, SYSPROTO_CONTROL, UTUN_OPT_FLAGS, &v, &len);
	ref_err = errno;
	{
		int fresh = socket(AF_INET, SOCK_DGRAM, 0);
		socklen_t l2 = sizeof(v);
		int rc2 = getsockopt(fresh, SYSPROTO_CONTROL, UTUN_OPT_FLAGS, &v, &l2);

		check("reused-getsockopt-is-libc", rc == rc2 && (rc == 0 || errno == ref_err),
		      ref_err);
		close(fresh);
	}
	want_errno("reused-ioctl-is-libc", ioctl(udp, CTLIOCGINFO, &info), ENOTTY);
	close(udp);

	/* the per-descriptor table under concurrent use */
	{
		pthread_t t[4];
		long bad = 0;

		for (int i = 0; i < 4; i++)
			pthread_create(&t[i], NULL, socket_churn, NULL);
		for (int i = 0; i < 4; i++) {
			void *r;

			pthread_join(t[i], &r);
			bad += (long)r;
		}
		check("threads", bad == 0, 0);
	}
	printf("DONE %d\n", failures);
	return failures;
}
