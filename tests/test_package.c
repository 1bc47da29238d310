// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What gets installed: `make install DESTDIR=...` and the Debian packages
 * built by `make deb` (dpkg-buildpackage), file by file.
 *
 * Runs from the source tree (as `make test` does).  The packages are built
 * into this test's own directory from a copy of the tree (scripts/build-deb.sh),
 * which takes ~10-60 s on a 2-core VM.  Without Debian's packaging tools
 * (scripts/install-deps.sh --deb) the package tests are skipped, saying so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"
#include "ifkit/version.h"

enum deb_state { DEB_NOT_TRIED = 0, DEB_BUILT, DEB_SKIPPED, DEB_FAILED };

static struct {
	enum deb_state state;
	char dir[192];		/* where the .debs are */
	char root[192];		/* the three packages unpacked (dpkg-deb -x) */
} P;

/* The build directory of the binaries under test (h_bin's). */
static const char *build_dir(void)
{
	static char dir[256];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", h_bin("ifkitd"));
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	return dir;
}

/* Does `listing` (dpkg-deb -c or find output in listing_file) hold path? */
static bool listed(const char *listing_file, const char *path)
{
	return h_sh("grep -q ' \\./%s\\( ->.*\\)\\?$' %s", path, listing_file) == 0;
}

/* ---- make install --------------------------------------------------------- */

static void test_make_install(void)
{
	static const char *const want[] = {
		"usr/sbin/ifkitd", "usr/bin/ifkit", "usr/bin/ifkit-tunnel",
		"etc/ifkit/ifkitd.conf", "lib/systemd/system/ifkitd.service",
		"usr/share/bash-completion/completions/ifkit",
		"usr/share/man/man8/ifkitd.8", "usr/share/man/man8/ifkit.8",
		"usr/share/man/man3/libutun.3",
		"usr/include/ifkit/utun.h", "usr/include/ifkit/version.h",
		"usr/lib/libutun.so.1", "usr/lib/libutun.so", "usr/lib/libutun.a",
		"usr/lib/pkgconfig/libutun.pc",
	};
	char dest[192], list[192], out[512];

	if (access("Makefile", R_OK) || access("debian/control", R_OK)) {
		h_skip("not run from the source tree (run it as make test does)");
		return;
	}
	snprintf(dest, sizeof(dest), "%s", h_tmp("destdir"));
	snprintf(list, sizeof(list), "%s", h_tmp("destdir.list"));
	CU_ASSERT_EQUAL_FATAL(h_sh("make -s BUILD=%s install DESTDIR=%s PREFIX=/usr", build_dir(),
				   dest), 0);
	/* The same listing format as dpkg-deb -c: " ./path". */
	CU_ASSERT_EQUAL_FATAL(h_sh("cd %s && find . ! -type d | sed 's/^/ /' > %s", dest, list),
			      0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!listed(list, want[i]))
			printf("\n    not installed: %s", want[i]);
		CU_ASSERT_TRUE(listed(list, want[i]));
	}
	/* The unit runs the installed loader; the .pc names the prefix. */
	CU_ASSERT_EQUAL(h_sh("grep -qx 'ExecStart=/usr/sbin/ifkitd' "
			     "%s/lib/systemd/system/ifkitd.service", dest), 0);
	CU_ASSERT_EQUAL(h_sh("grep -qx 'prefix=/usr' %s/usr/lib/pkgconfig/libutun.pc", dest), 0);
	/* A second install keeps an edited config. */
	CU_ASSERT_EQUAL(h_sh("echo '# edited' >> %s/etc/ifkit/ifkitd.conf", dest), 0);
	CU_ASSERT_EQUAL(h_sh("make -s BUILD=%s install DESTDIR=%s PREFIX=/usr", build_dir(), dest),
			0);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "tail -n 1 %s/etc/ifkit/ifkitd.conf", dest), 0);
	CU_ASSERT_STRING_EQUAL(out, "# edited\n");
}

/* ---- make deb -------------------------------------------------------------- */

/* Build once for all tests of the suite: DEB_BUILT, DEB_SKIPPED (reason printed) or DEB_FAILED. */
static enum deb_state build_debs(void)
{
	const char *tools[] = { "dpkg-buildpackage", "dh", "dpkg-deb", "fakeroot" };

	if (P.state != DEB_NOT_TRIED) {
		if (P.state == DEB_SKIPPED)
			h_skip("as above");
		return P.state;
	}
	P.state = DEB_SKIPPED;
	if (access("Makefile", R_OK) || access("debian/control", R_OK)) {
		h_skip("not run from the source tree (run it as make test does)");
		return P.state;
	}
	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++) {
		if (h_sh("command -v %s", tools[i]) != 0) {
			h_skip("%s not installed: Debian packaging tools come from "
			       "scripts/install-deps.sh --deb (make deb-deps)", tools[i]);
			return P.state;
		}
	}
	P.state = DEB_FAILED;
	snprintf(P.dir, sizeof(P.dir), "%s/deb", h_tmp("debbuild"));
	snprintf(P.root, sizeof(P.root), "%s", h_tmp("debroot"));
	/* make deb's own script, into this test's directory. */
	if (h_sh("BUILD=%s scripts/build-deb.sh", h_tmp("debbuild")) != 0) {
		h_sh("tail -n 30 %s/build.log", P.dir);
		return P.state;
	}
	if (h_sh("mkdir -p %s && for p in ifkit libutun1 libutun-dev; do "
		 "dpkg-deb -x %s/${p}_%s_*.deb %s || exit 1; done", P.root, P.dir, IFKIT_VERSION,
		 P.root) != 0)
		return P.state;
	P.state = DEB_BUILT;
	return P.state;
}

/* dpkg-deb -c of package pkg into a file; its path, or NULL. */
static const char *contents(const char *pkg)
{
	char name[64];
	const char *file;

	snprintf(name, sizeof(name), "%s.contents", pkg);
	file = h_tmp(name);
	if (h_sh("dpkg-deb -c %s/%s_%s_*.deb | awk '{ $1=$2=$3=$4=$5=\"\"; sub(/^ +/, \" \"); "
		 "print }' > %s", P.dir, pkg, IFKIT_VERSION, file) != 0)
		return NULL;
	return file;
}

static void check_paths(const char *pkg, const char *const *want, size_t n,
			const char *const *unwanted, size_t m)
{
	const char *list = contents(pkg);

	CU_ASSERT_PTR_NOT_NULL_FATAL(list);
	for (size_t i = 0; i < n; i++) {
		if (!listed(list, want[i]))
			printf("\n    %s lacks %s", pkg, want[i]);
		CU_ASSERT_TRUE(listed(list, want[i]));
	}
	for (size_t i = 0; i < m; i++) {
		bool has = h_sh("grep -q ' \\./%s' %s", unwanted[i], list) == 0;

		if (has)
			printf("\n    %s has %s", pkg, unwanted[i]);
		CU_ASSERT_FALSE(has);
	}
}

static void test_deb_ifkit(void)
{
	static const char *const want[] = {
		"usr/sbin/ifkitd", "usr/bin/ifkit", "usr/bin/ifkit-tunnel",
		"etc/ifkit/ifkitd.conf", "lib/systemd/system/ifkitd.service",
		"usr/share/bash-completion/completions/ifkit",
		"usr/share/man/man8/ifkitd.8.gz", "usr/share/man/man8/ifkit.8.gz",
		"usr/share/doc/ifkit/copyright",
	};
	static const char *const unwanted[] = { "usr/lib/libutun", "usr/include" };
	char out[1024], want_v[128];

	switch (build_debs()) {
	case DEB_BUILT: break;
	case DEB_SKIPPED: return;
	default: CU_FAIL_FATAL("make deb (scripts/build-deb.sh) failed");
	}
	check_paths("ifkit", want, sizeof(want) / sizeof(want[0]), unwanted,
		    sizeof(unwanted) / sizeof(unwanted[0]));
	/* The config is a conffile: an upgrade asks before replacing edits. */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "dpkg-deb -I %s/ifkit_%s_*.deb conffiles",
				 P.dir, IFKIT_VERSION), 0);
	CU_ASSERT_STRING_EQUAL(out, "/etc/ifkit/ifkitd.conf\n");
	/* Libraries it links, found by dpkg-shlibdeps. */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "dpkg-deb -f %s/ifkit_%s_*.deb Depends",
				 P.dir, IFKIT_VERSION), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "libbpf1"));
	/* (not libxdp1: the loader sets its AF_XDP sockets up itself since utun v2) */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "libmnl0"));
	/* The packaged programs are this version and the unit runs them. */
	snprintf(want_v, sizeof(want_v), "ifkitd (ifkit) %s\n", IFKIT_VERSION);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "%s/usr/sbin/ifkitd --version", P.root), 0);
	CU_ASSERT_STRING_EQUAL(out, want_v);
	snprintf(want_v, sizeof(want_v), "ifkit (ifkit) %s\n", IFKIT_VERSION);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "%s/usr/bin/ifkit --version", P.root), 0);
	CU_ASSERT_STRING_EQUAL(out, want_v);
	CU_ASSERT_EQUAL(h_sh("grep -qx 'ExecStart=/usr/sbin/ifkitd' "
			     "%s/lib/systemd/system/ifkitd.service && "
			     "grep -qx 'Type=notify' %s/lib/systemd/system/ifkitd.service",
			     P.root, P.root), 0);
}

static void test_deb_libutun(void)
{
	static const char *const want_lib[] = { "usr/lib/libutun.so.1" };
	static const char *const unwanted_lib[] = { "usr/bin", "usr/sbin", "usr/include",
						    "usr/lib/libutun.a" };
	static const char *const want_dev[] = {
		"usr/include/ifkit/utun.h", "usr/include/ifkit/version.h", "usr/lib/libutun.a",
		"usr/lib/libutun.so", "usr/lib/pkgconfig/libutun.pc",
		"usr/share/man/man3/libutun.3.gz",
	};
	static const char *const unwanted_dev[] = { "usr/lib/libutun.so.1" };
	char out[512], want[128], prog[192];

	switch (build_debs()) {
	case DEB_BUILT: break;
	case DEB_SKIPPED: return;
	default: CU_FAIL_FATAL("make deb (scripts/build-deb.sh) failed");
	}
	check_paths("libutun1", want_lib, 1, unwanted_lib,
		    sizeof(unwanted_lib) / sizeof(unwanted_lib[0]));
	check_paths("libutun-dev", want_dev, sizeof(want_dev) / sizeof(want_dev[0]),
		    unwanted_dev, 1);
	/* The development link points at the runtime library, same version. */
	CU_ASSERT_EQUAL(h_sh("test \"$(readlink %s/usr/lib/libutun.so)\" = libutun.so.1", P.root),
			0);
	CU_ASSERT_EQUAL(h_sh("readelf -d %s/usr/lib/libutun.so.1 | grep -q "
			     "'SONAME.*\\[libutun.so.1\\]'", P.root), 0);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "dpkg-deb -f %s/libutun-dev_%s_*.deb Depends",
				 P.dir, IFKIT_VERSION), 0);
	snprintf(want, sizeof(want), "libutun1 (= %s)", IFKIT_VERSION);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	CU_ASSERT_EQUAL(h_sh("grep -qx 'prefix=/usr' %s/usr/lib/pkgconfig/libutun.pc", P.root), 0);
	/* A program builds from the packaged header and .so alone and runs on it. */
	snprintf(prog, sizeof(prog), "%s", h_tmp("uses-libutun"));
	CU_ASSERT_EQUAL_FATAL(h_sh("printf '%%s\\n' '#include <ifkit/utun.h>' '#include <stdio.h>' "
				   "'int main(void) { puts(utun_err_name(UTUN_ERR_TOO_SHORT)); "
				   "return 0; }' > %s.c && cc -I%s/usr/include -o %s %s.c "
				   "-L%s/usr/lib -lutun", prog, P.root, prog, prog, P.root), 0);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "LD_LIBRARY_PATH=%s/usr/lib %s", P.root, prog),
			0);
	CU_ASSERT_STRING_EQUAL(out, "too_short\n");
}

/* make deb refuses a changelog whose version is not IFKIT_VERSION. */
static void test_deb_version_check(void)
{
	char tree[192], out[1024];

	if (access("debian/changelog", R_OK) || h_sh("command -v dpkg-parsechangelog") != 0) {
		h_skip("dpkg-parsechangelog (dpkg-dev) missing or not in the source tree");
		return;
	}
	snprintf(tree, sizeof(tree), "%s", h_tmp("tree"));
	CU_ASSERT_EQUAL_FATAL(h_sh("mkdir -p %s && tar --exclude=./build --exclude=./.git -cf - . | "
				   "tar -C %s -xf - && sed -i '1s/(%s)/(0.0.1)/' "
				   "%s/debian/changelog", tree, tree, IFKIT_VERSION, tree), 0);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "BUILD=%s/build %s/scripts/build-deb.sh", tree,
				 tree), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "debian/changelog has 0.0.1"));
	CU_ASSERT_EQUAL(h_sh("test -e %s/build/deb", tree), 1);	/* nothing was built */
}

static void add_suites(void)
{
	CU_pSuite s;

	s = CU_add_suite("make install", NULL, NULL);
	CU_add_test(s, "DESTDIR tree: programs, unit, completion, man pages, libutun",
		    test_make_install);
	s = CU_add_suite("make deb", NULL, NULL);
	CU_add_test(s, "ifkit: programs, unit, conffile, man pages, completion",
		    test_deb_ifkit);
	CU_add_test(s, "libutun1 and libutun-dev: library, header, .a, .so link, .pc",
		    test_deb_libutun);
	CU_add_test(s, "a changelog version other than IFKIT_VERSION is refused",
		    test_deb_version_check);
}

int main(int argc, char **argv)
{
	return h_main(argc, argv, add_suites);
}
