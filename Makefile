# ifkit — XNU's utun, iptap and feth on Linux, with eBPF, XDP and AF_XDP.
# `make` builds everything into build/; `make run` starts the loader with the
# shipped config; `make test` runs the CUnit suites (as root).

BUILD      ?= build
CLANG      ?= clang
BPFTOOL    ?= bpftool
CC         ?= gcc
PREFIX     ?= /usr/local
RUN_ARGS   ?= -c etc/ifkitd.conf

# `make V=1` shows every command.
ifeq ($(V),1)
Q :=
else
Q := @
endif

ARCH       := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
CFLAGS     ?= -O2 -g
CFLAGS     += -Wall -Wextra -std=gnu11 -D_GNU_SOURCE
# Header dependencies are generated next to each object (-MMD) and included below.
DEPFLAGS   := -MMD -MP
CPPFLAGS   += -Iinclude -Iuser/lib -I$(BUILD)
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Iinclude -I$(BUILD)
LDLIBS     += -lbpf -lxdp -lmnl -lelf -lz

DEPS_STAMP := $(BUILD)/.deps-ok

BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/%.bpf.o)
SKELS      := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/%.skel.h) $(BUILD)/iptap_compat.skel.h

LIB_SRCS   := $(wildcard user/lib/*.c)
LIB_OBJS   := $(LIB_SRCS:user/lib/%.c=$(BUILD)/obj/lib/%.o)
LIBIFKIT   := $(BUILD)/libifkit.a

IFKITD_OBJS := $(patsubst user/ifkitd/%.c,$(BUILD)/obj/ifkitd/%.o,$(wildcard user/ifkitd/*.c))
IFKIT_OBJS  := $(patsubst user/ifkit/%.c,$(BUILD)/obj/ifkit/%.o,$(wildcard user/ifkit/*.c))

TEST_HARNESS := $(BUILD)/tests/harness.o
TEST_SRCS  := $(wildcard tests/test_*.c)
TEST_BINS  := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)

ALL_TARGETS := $(BUILD)/ifkitd $(BUILD)/ifkit

# Device-specific extra targets (libutun, tunnel, ...) add to ALL_TARGETS here.
-include mk/*.mk

.PHONY: all deps run test bench install clean fuzz programs deb deb-deps
all: $(ALL_TARGETS) $(TEST_BINS)
# What gets installed, without the test binaries (the Debian build uses it).
programs: $(ALL_TARGETS)

# Install missing Debian packages once; the stamp remembers it worked.
$(DEPS_STAMP):
	@mkdir -p $(BUILD)
	@if ! command -v $(CLANG) >/dev/null || ! command -v $(BPFTOOL) >/dev/null || \
	    ! test -f /usr/include/bpf/libbpf.h || ! test -f /usr/include/xdp/xsk.h || \
	    ! test -f /usr/include/libmnl/libmnl.h || ! test -f /usr/include/CUnit/CUnit.h || \
	    ! command -v tshark >/dev/null || ! command -v iperf3 >/dev/null || \
	    ! test -f /usr/include/pcap/pcap.h || \
	    ! command -v dh >/dev/null || ! command -v systemd-analyze >/dev/null; then \
		scripts/install-deps.sh; \
	fi
	@touch $@
deps: $(DEPS_STAMP)

# vmlinux.h from the running kernel's BTF, or the committed copy.
$(BUILD)/vmlinux.h: | $(DEPS_STAMP)
	@mkdir -p $(BUILD)
	@if [ -r /sys/kernel/btf/vmlinux ]; then \
		$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@; \
	else \
		echo "  no /sys/kernel/btf/vmlinux: using vmlinux/vmlinux.h ($$(cat vmlinux/KERNEL_VERSION))"; \
		cp vmlinux/vmlinux.h $@; \
	fi

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(BUILD)/vmlinux.h | $(DEPS_STAMP)
	@echo "  BPF     $@"
	$(Q)$(CLANG) $(BPF_CFLAGS) $(DEPFLAGS) -c $< -o $@

# iptap without BPF ring buffers (kernels without bpf_dynptr_copy, < 6.15): the
# loader's fall-back when iptap.bpf.o does not load; same maps and programs.
$(BUILD)/iptap_compat.bpf.o: bpf/iptap.bpf.c $(BUILD)/vmlinux.h | $(DEPS_STAMP)
	@echo "  BPF     $@"
	$(Q)$(CLANG) $(BPF_CFLAGS) -DIPTAP_NO_RINGBUF $(DEPFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	@echo "  SKEL    $@"
	$(Q)$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/lib/%.o: user/lib/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -fPIC -c $< -o $@

$(LIBIFKIT): $(LIB_OBJS)
	@echo "  AR      $@"
	$(Q)$(AR) rcs $@ $^

# The loader and the tests include skeletons; the CLI does not need them.
$(BUILD)/obj/ifkitd/%.o: user/ifkitd/%.c | $(SKELS) $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -Iuser/ifkitd -c $< -o $@

$(BUILD)/obj/ifkit/%.o: user/ifkit/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -Iuser/ifkit -c $< -o $@

$(BUILD)/ifkitd: $(IFKITD_OBJS) $(LIBIFKIT)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/ifkit: $(IFKIT_OBJS) $(LIBIFKIT)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%.o: tests/%.c | $(SKELS) $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -Wno-format-truncation -Itests -c $< -o $@

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(TEST_HARNESS) $(TEST_EXTRA_LIBS) $(LIBIFKIT)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) -lcunit

# The loader in the foreground with the shipped config (Ctrl-C stops it).
run: all
	@if [ "$$(id -u)" != 0 ]; then echo "make run: run as root (sudo make run)"; exit 1; fi
	$(BUILD)/ifkitd $(RUN_ARGS)

test: all
	@if [ "$$(id -u)" != 0 ]; then echo "make test: run as root (sudo make test)"; exit 1; fi
	BUILD=$(BUILD) tests/run.sh $(TEST_BINS)

bench: all
	@if [ "$$(id -u)" != 0 ]; then echo "make bench: run as root (sudo make bench)"; exit 1; fi
	BUILD=$(BUILD) BENCH_PARTS="$(BENCH_PARTS)" bench/run.sh

# ---- Installation and packaging -------------------------------------------
# `make install [DESTDIR=...] [PREFIX=/usr]`.  Device makefiles (mk/*.mk) add
# their own `install: install-<name>` rules; the Debian package installs
# whatever `make install DESTDIR=debian/tmp PREFIX=/usr` puts there
# (debian/*.install use directories and globs), so new components land in a
# package without editing debian/ (see debian/README.source).
IFKIT_VERSION  := $(shell sed -n 's/^\#define IFKIT_VERSION "\(.*\)"$$/\1/p' include/ifkit/version.h)
SBINDIR        ?= $(PREFIX)/sbin
BINDIR         ?= $(PREFIX)/bin
MANDIR         ?= $(PREFIX)/share/man
INCLUDEDIR     ?= $(PREFIX)/include
SYSCONFDIR     ?= /etc
# Where systemd looks for units: the distribution's directory for PREFIX=/usr
# (Debian 12: /lib/systemd/system), else under PREFIX (systemd also reads
# /usr/local/lib/systemd/system).
UNITDIR        ?= $(if $(filter /usr,$(PREFIX)),$(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system),$(PREFIX)/lib/systemd/system)
COMPLETIONSDIR ?= $(PREFIX)/share/bash-completion/completions

# Files that embed PREFIX (pkg-config files, ...) depend on this stamp: it is
# rewritten only when PREFIX changes, so `make; make install PREFIX=/usr`
# does not install a libutun.pc that says /usr/local.
PREFIX_STAMP := $(BUILD)/.prefix
$(PREFIX_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(PREFIX)' | cmp -s - $@ || echo '$(PREFIX)' > $@
.PHONY: FORCE
FORCE:
ifdef UTUN_PC
$(UTUN_PC): $(PREFIX_STAMP)
endif

# ifkit goes to bin/: read-only queries (show, status) work for every user.
# An edited config is never overwritten (the Debian package makes it a
# conffile).  Man pages are installed by their section suffix (ifkitd.8,
# libutun.3, ...).  Without DESTDIR, new libraries and the unit take effect now.
install: $(ALL_TARGETS)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/ifkit \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(COMPLETIONSDIR) $(DESTDIR)$(INCLUDEDIR)/ifkit
	install -m 0755 $(BUILD)/ifkitd $(DESTDIR)$(SBINDIR)/ifkitd
	install -m 0755 $(BUILD)/ifkit $(DESTDIR)$(BINDIR)/ifkit
	test -f $(DESTDIR)$(SYSCONFDIR)/ifkit/ifkitd.conf || \
		install -m 0644 etc/ifkitd.conf $(DESTDIR)$(SYSCONFDIR)/ifkit/ifkitd.conf
	sed 's|@SBINDIR@|$(SBINDIR)|g' etc/ifkitd.service.in > $(DESTDIR)$(UNITDIR)/ifkitd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/ifkitd.service
	install -m 0644 etc/bash-completion/ifkit $(DESTDIR)$(COMPLETIONSDIR)/ifkit
	install -m 0644 include/ifkit/version.h $(DESTDIR)$(INCLUDEDIR)/ifkit/version.h
	for page in docs/*.[1-8]; do \
		sec=$${page##*.}; \
		install -d $(DESTDIR)$(MANDIR)/man$$sec && \
		install -m 0644 $$page $(DESTDIR)$(MANDIR)/man$$sec/ || exit 1; \
	done
	if [ -z "$(DESTDIR)" ]; then \
		ldconfig 2>/dev/null || true; \
		if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi; \
	fi

# Debian packages (ifkit, libutun1, libutun-dev) with Debian's own tooling:
# dpkg-buildpackage on a copy of the tree under $(BUILD)/deb; the .debs land
# in $(BUILD)/deb.  Tools: `scripts/install-deps.sh --deb` (make deb-deps).
deb:
	BUILD=$(BUILD) IFKIT_VERSION=$(IFKIT_VERSION) scripts/build-deb.sh
deb-deps:
	scripts/install-deps.sh --deb

clean:
	rm -rf $(BUILD)

# Keep every intermediate (objects of test binaries included); never keep a
# half-written target of a failed command.
.SECONDARY:
.DELETE_ON_ERROR:

# Header dependencies written by -MMD (absent on the first build: nothing to track yet).
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Fuzz the parsers that take outside input (libFuzzer + ASan/UBSan).
FUZZ_SECS ?= 60
FUZZ_LIB_SRCS := user/lib/ctl.c user/lib/fdpass.c user/lib/config.c user/lib/cmdline.c user/lib/names.c
$(BUILD)/fuzz_ctl: tests/fuzz/fuzz_ctl.c $(FUZZ_LIB_SRCS) $(wildcard user/lib/*.h include/*.h) | $(DEPS_STAMP)
	@mkdir -p $(BUILD)/fuzz-corpus
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) -o $@ $< $(FUZZ_LIB_SRCS)
fuzz: $(BUILD)/fuzz_ctl
	$(BUILD)/fuzz_ctl -max_total_time=$(FUZZ_SECS) -max_len=4096 $(BUILD)/fuzz-corpus

# The cBPF -> eBPF translation of iptap filters against libpcap (as root: the
# verifier and BPF_PROG_TEST_RUN too).
$(BUILD)/fuzz_cbpf: tests/fuzz/fuzz_cbpf.c user/lib/iptap_jit.c user/lib/iptap_filter.c $(wildcard user/lib/iptap_*.h include/*.h) | $(DEPS_STAMP)
	@mkdir -p $(BUILD)/fuzz-cbpf-corpus
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) -o $@ $< user/lib/iptap_jit.c user/lib/iptap_filter.c -lbpf -lpcap
.PHONY: fuzz-cbpf
fuzz-cbpf: $(BUILD)/fuzz_cbpf
	$(BUILD)/fuzz_cbpf -max_total_time=$(FUZZ_SECS) -max_len=2048 $(BUILD)/fuzz-cbpf-corpus
