// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* utun in the loader (placeholder until the utun relay lands). */
#include <errno.h>
#include "ifkitd.h"

int utun_init(struct ifkitd *d) { (void)d; return 0; }
void utun_fini(struct ifkitd *d) { (void)d; }
void utun_link_event(struct ifkitd *d, const struct link_info *link, int deleted)
{
	(void)d, (void)link, (void)deleted;
}
int utun_count(struct ifkitd *d) { (void)d; return 0; }
int utun_handle(struct ifkitd *d, struct client *c, const struct ifkit_req *req, int ns_fd,
		struct reply *r)
{
	(void)d, (void)c, (void)req, (void)ns_fd;
	return reply_error(r, -EOPNOTSUPP, "utun is not implemented in this build");
}
