// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests of the pure code every tool shares: names, MACs, config, control messages. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <CUnit/CUnit.h>
#include "config.h"
#include "ctl.h"
#include "harness.h"
#include "names.h"

static void test_unit_parse(void)
{
	uint32_t unit = 99;

	CU_ASSERT_EQUAL(name_parse_unit("feth0", "feth", &unit), 0);
	CU_ASSERT_EQUAL(unit, 0);
	CU_ASSERT_EQUAL(name_parse_unit("feth4095", "feth", &unit), 0);
	CU_ASSERT_EQUAL(unit, 4095);
	CU_ASSERT_EQUAL(name_parse_unit("feth4096", "feth", &unit), -EINVAL);
	CU_ASSERT_EQUAL(name_parse_unit("feth", "feth", &unit), -EINVAL);
	CU_ASSERT_EQUAL(name_parse_unit("feth01", "feth", &unit), -EINVAL);
	CU_ASSERT_EQUAL(name_parse_unit("feth-1", "feth", &unit), -EINVAL);
	CU_ASSERT_EQUAL(name_parse_unit("feth1x", "feth", &unit), -EINVAL);
	CU_ASSERT_EQUAL(name_parse_unit("eth0", "feth", &unit), -EINVAL);
	CU_ASSERT_EQUAL(name_parse_unit("feth99999999999", "feth", &unit), -EINVAL);
	CU_ASSERT_EQUAL(name_parse_unit(NULL, "feth", &unit), -EINVAL);
}

static void test_name_format(void)
{
	char buf[16];

	CU_ASSERT_EQUAL(name_format(buf, sizeof(buf), "feth", 7), 0);
	CU_ASSERT_STRING_EQUAL(buf, "feth7");
	CU_ASSERT_EQUAL(name_hidden(buf, sizeof(buf), "feth", 4095), 0);
	CU_ASSERT_STRING_EQUAL(buf, "hfeth4095");
	CU_ASSERT_EQUAL(name_format(buf, 4, "feth", 7), -ENAMETOOLONG);
	CU_ASSERT_TRUE(ifname_valid("feth0"));
	CU_ASSERT_FALSE(ifname_valid(""));
	CU_ASSERT_FALSE(ifname_valid("a/b"));
	CU_ASSERT_FALSE(ifname_valid("a b"));
	CU_ASSERT_FALSE(ifname_valid("0123456789abcdef"));	/* 16 chars */
	CU_ASSERT_TRUE(ifname_valid("0123456789abcde"));	/* 15 chars */
}

static void test_feth_mac(void)
{
	uint8_t mac[6];
	static const uint8_t unit0[6] = { 0x66, 0x65, 0x74, 0x68, 0x00, 0x00 };
	static const uint8_t unit258[6] = { 0x66, 0x65, 0x74, 0x68, 0x01, 0x02 };

	feth_mac(0, mac);
	CU_ASSERT_EQUAL(memcmp(mac, unit0, 6), 0);
	feth_mac(258, mac);
	CU_ASSERT_EQUAL(memcmp(mac, unit258, 6), 0);
	/* "feth" is a locally administered unicast address: bit 0 of 'f' is 0. */
	CU_ASSERT_EQUAL(mac[0] & 1, 0);
}

static void test_media(void)
{
	CU_ASSERT_EQUAL(feth_media_parse("autoselect"), FETH_MEDIA_AUTOSELECT);
	CU_ASSERT_EQUAL(feth_media_parse("10GbaseT"), FETH_MEDIA_10GBASET_FDX);
	CU_ASSERT_EQUAL(feth_media_parse("2500baseT"), FETH_MEDIA_2500BASET_FDX);
	CU_ASSERT_EQUAL(feth_media_parse("5000baseT"), FETH_MEDIA_5000BASET_FDX);
	CU_ASSERT_EQUAL(feth_media_parse("100baseTX"), -EINVAL);
	CU_ASSERT_STRING_EQUAL(feth_media_name(FETH_MEDIA_5000BASET_FDX), "5000baseT");
	CU_ASSERT_STRING_EQUAL(feth_media_name(77), "unknown");
}

static void test_config_lines(void)
{
	struct ifkit_req req;
	char err[128];

	CU_ASSERT_EQUAL(config_parse_line("  # comment only\n", &req, err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(config_parse_line("\n", &req, err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(config_parse_line("feth create", &req, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(req.cmd, IFKIT_CMD_FETH_CREATE);
	CU_ASSERT_STRING_EQUAL(req.name, "");
	CU_ASSERT_EQUAL(config_parse_line("feth create feth3 # note", &req, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(req.name, "feth3");
	CU_ASSERT_EQUAL(config_parse_line("feth peer feth0\tfeth1", &req, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(req.cmd, IFKIT_CMD_FETH_PEER);
	CU_ASSERT_STRING_EQUAL(req.peer, "feth1");
	CU_ASSERT_EQUAL(config_parse_line("feth set feth0 mtu 9000", &req, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(req.value, 9000);
	CU_ASSERT_EQUAL(config_parse_line("feth set feth0 media 2500baseT", &req, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(req.value, FETH_MEDIA_2500BASET_FDX);
	CU_ASSERT_EQUAL(config_parse_line("iptap create", &req, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(req.cmd, IFKIT_CMD_IPTAP_CREATE);
	/* Every request the parser makes passes the loader's own check. */
	CU_ASSERT_EQUAL(ctl_req_check(&req, sizeof(req), NULL), 0);

	CU_ASSERT_EQUAL(config_parse_line("feth", &req, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(config_parse_line("feth explode", &req, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "explode"));
	CU_ASSERT_EQUAL(config_parse_line("feth peer feth0", &req, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(config_parse_line("feth set feth0 mtu -5", &req, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(config_parse_line("feth set feth0 mtu 99999999999", &req, err, sizeof(err)),
			-EINVAL);
	CU_ASSERT_EQUAL(config_parse_line("feth set feth0 media fast", &req, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(config_parse_line("feth create waytoolonganame0", &req, err, sizeof(err)),
			-EINVAL);
	CU_ASSERT_EQUAL(config_parse_line("bridge create br0", &req, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(config_parse_line("feth create a b c d e f g", &req, err, sizeof(err)),
			-EINVAL);
}

static void test_req_check(void)
{
	struct ifkit_req req;
	char big[sizeof(req) + 8];
	const char *why;

	ctl_req_init(&req, IFKIT_CMD_FETH_SHOW);
	CU_ASSERT_EQUAL(ctl_req_check(&req, sizeof(req), &why), 0);
	CU_ASSERT_EQUAL(ctl_req_check(&req, sizeof(req) - 1, &why), -EBADMSG);
	memcpy(big, &req, sizeof(req));
	CU_ASSERT_EQUAL(ctl_req_check(big, sizeof(big), &why), -EBADMSG);
	req.magic = 0xdeadbeef;
	CU_ASSERT_EQUAL(ctl_req_check(&req, sizeof(req), &why), -EPROTO);
	ctl_req_init(&req, IFKIT_CMD_FETH_SHOW);
	req.version = IFKIT_CTL_VERSION + 1;
	CU_ASSERT_EQUAL(ctl_req_check(&req, sizeof(req), &why), -EPROTO);
	ctl_req_init(&req, IFKIT_CMD(IFKIT_KIND_MAX, 1));
	CU_ASSERT_EQUAL(ctl_req_check(&req, sizeof(req), &why), -EOPNOTSUPP);
	ctl_req_init(&req, IFKIT_CMD(IFKIT_KIND_FETH, 0));
	CU_ASSERT_EQUAL(ctl_req_check(&req, sizeof(req), &why), -EOPNOTSUPP);
	ctl_req_init(&req, 0);
	CU_ASSERT_EQUAL(ctl_req_check(&req, sizeof(req), &why), -EOPNOTSUPP);
	ctl_req_init(&req, IFKIT_CMD_FETH_CREATE);
	memset(req.name, 'a', sizeof(req.name));	/* no terminator */
	CU_ASSERT_EQUAL(ctl_req_check(&req, sizeof(req), &why), -EBADMSG);
	CU_ASSERT_PTR_NOT_NULL(why);
	ctl_req_init(&req, IFKIT_CMD_FETH_CREATE);
	req.reserved[15] = 1;
	CU_ASSERT_EQUAL(ctl_req_check(&req, sizeof(req), &why), -EBADMSG);
}

static void test_rep_check(void)
{
	struct {
		struct ifkit_rep rep;
		struct ifkit_feth_info items[2];
	} m;

	memset(&m, 0, sizeof(m));
	m.rep.magic = IFKIT_CTL_MAGIC;
	m.rep.version = IFKIT_CTL_VERSION;
	CU_ASSERT_EQUAL(ctl_rep_check(&m, sizeof(m.rep), NULL), 0);
	CU_ASSERT_EQUAL(ctl_rep_check(&m, sizeof(m.rep) - 4, NULL), -EBADMSG);
	m.rep.item_count = 2;
	m.rep.item_size = sizeof(m.items[0]);
	CU_ASSERT_EQUAL(ctl_rep_check(&m, sizeof(m), NULL), 0);
	CU_ASSERT_EQUAL(ctl_rep_check(&m, sizeof(m) - 1, NULL), -EBADMSG);
	m.rep.item_count = 0x7fffffff;	/* count * size would overflow */
	CU_ASSERT_EQUAL(ctl_rep_check(&m, sizeof(m), NULL), -EBADMSG);
	m.rep.item_count = 2;
	m.rep.item_size = 0;
	CU_ASSERT_EQUAL(ctl_rep_check(&m, sizeof(m), NULL), -EBADMSG);
	m.rep.item_size = sizeof(m.items[0]);
	memset(m.rep.msg, 'x', sizeof(m.rep.msg));
	CU_ASSERT_EQUAL(ctl_rep_check(&m, sizeof(m), NULL), -EBADMSG);
}

/* A descriptor survives the trip; extra descriptors a peer sends are closed. */
static void test_fd_passing(void)
{
	int sv[2], pipefd[2], got = -1;
	char buf[64];
	ssize_t n;

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	CU_ASSERT_FATAL(pipe(pipefd) == 0);
	CU_ASSERT_EQUAL(ctl_send(sv[0], "hello", 5, pipefd[1]), 5);
	n = ctl_recv(sv[1], buf, sizeof(buf), &got);
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_TRUE(got >= 0);
	if (got >= 0) {
		CU_ASSERT_EQUAL(write(got, "x", 1), 1);
		CU_ASSERT_EQUAL(read(pipefd[0], buf, 1), 1);
		CU_ASSERT_EQUAL(buf[0], 'x');
		close(got);
	}
	/* truncation is reported, not silently accepted */
	CU_ASSERT_EQUAL(ctl_send(sv[0], "0123456789", 10, -1), 10);
	CU_ASSERT_EQUAL(ctl_recv(sv[1], buf, 4, &got), -EMSGSIZE);
	CU_ASSERT_EQUAL(got, -1);
	close(pipefd[0]);
	close(pipefd[1]);
	close(sv[0]);
	close(sv[1]);
}

static void add_suites(void)
{
	CU_pSuite s = CU_add_suite("core", NULL, NULL);

	CU_add_test(s, "unit names parse", test_unit_parse);
	CU_add_test(s, "names format", test_name_format);
	CU_add_test(s, "feth MAC from unit", test_feth_mac);
	CU_add_test(s, "feth media words", test_media);
	CU_add_test(s, "config lines", test_config_lines);
	CU_add_test(s, "control request check", test_req_check);
	CU_add_test(s, "control reply check", test_rep_check);
	CU_add_test(s, "descriptor passing", test_fd_passing);
}

int main(int argc, char **argv)
{
	return h_main(argc, argv, add_suites);
}
