// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The device modules the loader runs: one row per kind. */
#include <stddef.h>
#include "ifkitd.h"

const struct ifkitd_module *const ifkitd_modules[] = {
	&feth_module,
	&utun_module,
	&iptap_module,
	NULL
};

const struct ifkitd_module *ifkitd_module_of(enum ifkit_kind kind)
{
	for (size_t i = 0; ifkitd_modules[i]; i++)
		if (ifkitd_modules[i]->kind == kind)
			return ifkitd_modules[i];
	return NULL;
}
