// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The device modules the loader runs: one row per kind. */
#include <stddef.h>
#include <linux/types.h>
#include "feth.h"
#include "ifkitd.h"
#include "names.h"
#include "utun_xdp.h"

/* Units are global to the loader; every kind's maps are sized for all of them. */
_Static_assert(FETH_MAX_UNITS == IFKIT_MAX_UNITS, "feth maps sized for every unit");
_Static_assert(UTUN_MAX_UNITS == IFKIT_MAX_UNITS, "utun maps sized for every unit");

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
