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
SKELS      := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/%.skel.h)

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

.PHONY: all deps run test bench install clean fuzz
all: $(ALL_TARGETS) $(TEST_BINS)

# Install missing Debian packages once; the stamp remembers it worked.
$(DEPS_STAMP):
	@mkdir -p $(BUILD)
	@if ! command -v $(CLANG) >/dev/null || ! command -v $(BPFTOOL) >/dev/null || \
	    ! test -f /usr/include/bpf/libbpf.h || ! test -f /usr/include/xdp/xsk.h || \
	    ! test -f /usr/include/libmnl/libmnl.h || ! test -f /usr/include/CUnit/CUnit.h || \
	    ! command -v tshark >/dev/null || ! command -v iperf3 >/dev/null; then \
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
	BUILD=$(BUILD) bench/run.sh

install: $(ALL_TARGETS)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/etc/ifkit \
		$(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0755 $(BUILD)/ifkitd $(DESTDIR)$(PREFIX)/sbin/ifkitd
	install -m 0755 $(BUILD)/ifkit $(DESTDIR)$(PREFIX)/sbin/ifkit
	test -f $(DESTDIR)/etc/ifkit/ifkitd.conf || install -m 0644 etc/ifkitd.conf $(DESTDIR)/etc/ifkit/
	install -m 0644 docs/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/

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
FUZZ_LIB_SRCS := user/lib/ctl.c user/lib/fdpass.c user/lib/config.c user/lib/names.c
$(BUILD)/fuzz_ctl: tests/fuzz/fuzz_ctl.c $(FUZZ_LIB_SRCS) $(wildcard user/lib/*.h include/*.h) | $(DEPS_STAMP)
	@mkdir -p $(BUILD)/fuzz-corpus
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) -o $@ $< $(FUZZ_LIB_SRCS)
fuzz: $(BUILD)/fuzz_ctl
	$(BUILD)/fuzz_ctl -max_total_time=$(FUZZ_SECS) -max_len=4096 $(BUILD)/fuzz-corpus
