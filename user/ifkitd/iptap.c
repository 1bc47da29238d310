// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* iptap in the loader (placeholder until the iptap fan-out lands). */
#include <errno.h>
#include "ifkitd.h"

int iptap_init(struct ifkitd *d) { (void)d; return 0; }
void iptap_fini(struct ifkitd *d) { (void)d; }
void iptap_link_event(struct ifkitd *d, const struct link_info *link, int deleted)
{
	(void)d, (void)link, (void)deleted;
}
int iptap_count(struct ifkitd *d) { (void)d; return 0; }
int iptap_teardown(struct ifkitd *d) { (void)d; return 0; }
int iptap_handle(struct ifkitd *d, struct client *c, const struct ifkit_req *req, int ns_fd,
		 struct reply *r)
{
	(void)d, (void)c, (void)req, (void)ns_fd;
	return reply_error(r, -EOPNOTSUPP, "iptap is not implemented in this build");
}
