// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <CUnit/CUnit.h>
#include "harness.h"
#include "utun_wire.h"

bool utun_wire_up(void *arg)
{
	return h_sh("ip netns exec %s ping -c 1 -W 1 10.80.0.2 >/dev/null 2>&1", (char *)arg) == 0;
}

void utun_wire_tcp(const char *src, const char *dst, const char *dst_addr, int port, long n)
{
	char out[256], want[256], helper[300];
	pid_t rx;

	snprintf(helper, sizeof(helper), "%s", h_bin("tests/test_utun"));
	rx = h_spawn(dst, "exec %s --tcp-recv %s %d %s", helper, dst_addr, port, h_tmp("tcp.out"));
	CU_ASSERT_FATAL(rx > 0);
	CU_ASSERT_FATAL(h_wait_listen(dst, 't', port, 3000));
	CU_ASSERT_EQUAL(h_sh_out(want, sizeof(want), "ip netns exec %s %s --tcp-send %s %d %ld", src,
				 helper, dst_addr, port, n), 0);
	CU_ASSERT_EQUAL(h_wait(rx, 20000), 0);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "cat %s", h_tmp("tcp.out")), 0);
	CU_ASSERT_STRING_EQUAL(out, want);
}

void utun_wire_udp(const char *src, const char *dst, const char *dst_addr, int port, int count,
		   int size, const char *loader_sock)
{
	char out[64], helper[300];
	pid_t rx;

	snprintf(helper, sizeof(helper), "%s", h_bin("tests/test_utun"));
	rx = h_spawn(dst, "exec %s --udp-recv %s %d %d %d > %s", helper, dst_addr, port, count, size,
		     h_tmp("udp.out"));
	CU_ASSERT_FATAL(rx > 0);
	CU_ASSERT_FATAL(h_wait_listen(dst, 'u', port, 3000));
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s %s --udp-send %s %d %d %d >/dev/null", src, helper,
			     dst_addr, port, count, size), 0);
	CU_ASSERT_EQUAL(h_wait(rx, 10000), 0);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "cat %s", h_tmp("udp.out")), 0);
	if (atoi(out) != count) {
		char diag[4096];

		printf("\n    UDP %s -> %s, %d x %d bytes: %d arrived", src, dst, count, size, atoi(out));
		h_sh_out(diag, sizeof(diag), "ip netns exec %s nstat -az | awk '$2 > 0' | grep -E "
			 "'Udp|Reasm|Discard|Drop|Frag|InErr'; %s -s %s utun show", dst,
			 h_bin("ifkit"), loader_sock);
		printf("\n%s", diag);
	}
	CU_ASSERT_EQUAL(atoi(out), count);
}
