/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Datagrams with descriptors attached (SCM_RIGHTS), written once for everyone. */
#ifndef IFKIT_FDPASS_H
#define IFKIT_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

#define FDPASS_MAX 8

/* Send buf with nfds (<= FDPASS_MAX) descriptors; retries EINTR, never SIGPIPE. -errno. */
ssize_t fdpass_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds);
/*
 * Receive one datagram and up to *nfds descriptors (O_CLOEXEC) into fds;
 * *nfds becomes the number received.  Descriptors beyond *nfds are closed,
 * never leaked.  A truncated datagram or control part gives -EMSGSIZE with
 * every received descriptor closed.  0 on orderly close, else the length.
 */
ssize_t fdpass_recv(int sock, void *buf, size_t len, int *fds, size_t *nfds);

/* The same without blocking (MSG_DONTWAIT): -EAGAIN when it would. */
ssize_t fdpass_send_nowait(int sock, const void *buf, size_t len, const int *fds, size_t nfds);
ssize_t fdpass_recv_nowait(int sock, void *buf, size_t len, int *fds, size_t *nfds);

/*
 * The same with SCM_CREDENTIALS: send attaches *cred (may be NULL; the
 * kernel accepts only ids the sender has), receive fills *cred (may be
 * NULL; uid (uid_t)-1 when none came - the receiving socket needs
 * SO_PASSCRED for the kernel to deliver them).
 */
struct ucred;
ssize_t fdpass_send_cred(int sock, const void *buf, size_t len, const int *fds, size_t nfds,
			 const struct ucred *cred);
ssize_t fdpass_recv_cred(int sock, void *buf, size_t len, int *fds, size_t *nfds,
			 struct ucred *cred);

#endif
