/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * systemd's readiness protocol (sd_notify(3)), without libsystemd: one
 * datagram "READY=1" (or "STOPPING=1", "STATUS=...") to the AF_UNIX socket
 * named by $NOTIFY_SOCKET; a leading '@' names an abstract socket.
 */
#ifndef IFKIT_SD_NOTIFY_H
#define IFKIT_SD_NOTIFY_H

struct sd_notifier {
	int fd;		/* connected datagram socket, or -1: nobody listens */
};

/*
 * Connect to $NOTIFY_SOCKET now, in the caller's namespaces: an abstract
 * socket belongs to a network namespace, so a process that later enters
 * another one must open it first.  Unsets $NOTIFY_SOCKET so children do not
 * notify in our name.  0 (also when it is unset: n->fd stays -1) or -errno.
 */
int sd_notifier_open(struct sd_notifier *n);
/* Send state ("READY=1\nSTATUS=..."): 0 sent or nobody listens, -errno. */
int sd_notifier_send(struct sd_notifier *n, const char *state);
void sd_notifier_close(struct sd_notifier *n);

#endif
