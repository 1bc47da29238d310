/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef IFKIT_CTL_LIB_H
#define IFKIT_CTL_LIB_H

#include <stddef.h>
#include <sys/types.h>
#include "ifkit_ctl.h"

/* Fill a request with magic, version and cmd; everything else zero. */
void ctl_req_init(struct ifkit_req *req, enum ifkit_cmd cmd);
/*
 * Check a received request datagram of len bytes: size, magic, version,
 * command, NUL-terminated names, zero reserved bytes.  Returns 0 or -EPROTO /
 * -EBADMSG / -EOPNOTSUPP with a reason in why (may be NULL).
 */
int ctl_req_check(const void *buf, size_t len, const char **why);
/* Same for one reply datagram (header plus the items it announces). */
int ctl_rep_check(const void *buf, size_t len, const char **why);

/* sendmsg/recvmsg with up to one descriptor attached; -errno on failure. */
ssize_t ctl_send(int sock, const void *buf, size_t len, int fd);
/* *fd is set to a received descriptor or -1; 0 returned on orderly close. */
ssize_t ctl_recv(int sock, void *buf, size_t len, int *fd);
/*
 * Same, and cred (may be NULL) gets the sender's SCM_CREDENTIALS when the
 * socket has SO_PASSCRED (uid (uid_t)-1 when none came).
 */
struct ucred;
ssize_t ctl_recv_cred(int sock, void *buf, size_t len, int *fd, struct ucred *cred);

/*
 * Client time-out: a stopped or overloaded loader must not hang its callers
 * (the CLI, libutun).  IFKIT_TIMEOUT (seconds, decimals allowed, 0 = wait
 * for ever) overrides the default.
 */
#define CTL_TIMEOUT_DEFAULT_MS	5000
#define CTL_TIMEOUT_MAX_MS	(86400 * 1000)
/* "2.5" -> 2500 (ms).  0 means no time-out.  -EINVAL for anything else. */
int ctl_timeout_parse(const char *secs, int *ms);
/* $IFKIT_TIMEOUT if it parses, else CTL_TIMEOUT_DEFAULT_MS. */
int ctl_timeout_default(void);
/* "ifkitd at SOCK did not answer within N s (stopped or overloaded?)" */
void ctl_timeout_describe(char *buf, size_t len, const char *path, int timeout_ms);

/*
 * Client side: connect to the loader's socket within timeout_ms (0: no
 * limit).  The limit stays on the socket (SO_SNDTIMEO/SO_RCVTIMEO) and
 * bounds each ctl_call() on it.  -ECONNREFUSED/-ENOENT if no loader,
 * -ETIMEDOUT if its listen backlog stayed full.
 */
int ctl_connect_timeout(const char *path, int timeout_ms);
/* Same with ctl_timeout_default(). */
int ctl_connect(const char *path);
/*
 * One request/answer round trip.  items/nitems get a malloc'd array of the
 * answer's items (caller frees); rep gets the last header; rep_fd the
 * descriptor the answer carried, if any (else -1).  Returns rep.error
 * (0 or -errno), or -errno for a transport failure: -ETIMEDOUT when the
 * whole answer did not arrive within the socket's receive time-out (set by
 * ctl_connect*; none on a socket without one).
 */
int ctl_call(int sock, const struct ifkit_req *req, int send_fd,
	     struct ifkit_rep *rep, void **items, size_t *nitems, int *rep_fd);

#endif
