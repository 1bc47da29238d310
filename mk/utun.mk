# utun: libutun (static and shared), the ifkit-tunnel program, pkg-config file.
# Included by the top-level Makefile.

# This file is included before the top-level `all` rule: keep `all` the default.
.DEFAULT_GOAL := all

LIBUTUN_SRCS := $(wildcard user/libutun/*.c)
LIBUTUN_OBJS := $(LIBUTUN_SRCS:user/libutun/%.c=$(BUILD)/obj/libutun/%.o)
# What libutun needs of libifkit (compiled -fPIC there): the control-socket
# client (with descriptor passing) and the one utun frame engine the loader
# and the CLI use too.
LIBUTUN_DEPS := $(BUILD)/obj/lib/ctl.o $(BUILD)/obj/lib/fdpass.o $(BUILD)/obj/lib/utun_frame.o
LIBUTUN_A    := $(BUILD)/libutun.a
LIBUTUN_SO   := $(BUILD)/libutun.so
LIBUTUN_SONAME := libutun.so.1
UTUN_TUNNEL  := $(BUILD)/ifkit-tunnel
UTUN_WIRE    := $(BUILD)/ifkit-wire
UTUN_PC      := $(BUILD)/libutun.pc

ALL_TARGETS += $(LIBUTUN_A) $(LIBUTUN_SO) $(UTUN_TUNNEL) $(UTUN_WIRE) $(UTUN_PC)

$(BUILD)/obj/libutun/%.o: user/libutun/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -fPIC -c $< -o $@

$(LIBUTUN_A): $(LIBUTUN_OBJS) $(LIBUTUN_DEPS)
	@echo "  AR      $@"
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(LIBUTUN_SO): $(LIBUTUN_OBJS) $(LIBUTUN_DEPS) user/libutun/libutun.map
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(LIBUTUN_SONAME) \
		-Wl,--version-script=user/libutun/libutun.map -o $@ $(LIBUTUN_OBJS) $(LIBUTUN_DEPS) \
		-lpthread

$(UTUN_PC): mk/utun.mk
	@mkdir -p $(@D)
	@printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
		'Name: libutun' 'Description: XNU utun on Linux through the ifkit loader' \
		'Version: 1.0' 'Libs: -L$${libdir} -lutun' 'Libs.private: -lpthread' \
		'Cflags: -I$${includedir}' > $@

$(BUILD)/obj/tunnel/%.o: user/tunnel/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(UTUN_TUNNEL): $(BUILD)/obj/tunnel/ifkit-tunnel.o $(LIBUTUN_A)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -lpthread

# The user-space wire of the benchmark and the 64 KB checksum tests (not installed).
$(UTUN_WIRE): $(BUILD)/obj/tunnel/ifkit-wire.o $(LIBUTUN_A) $(LIBIFKIT)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -lpthread

# utun tests link libutun too (explicit rules win over the generic pattern).
$(BUILD)/tests/test_utun: $(BUILD)/tests/test_utun.o $(BUILD)/tests/utun_wire.o $(TEST_HARNESS) $(LIBUTUN_A) $(LIBIFKIT)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) -lcunit -lpthread
$(BUILD)/tests/test_utun_offload: $(BUILD)/tests/test_utun_offload.o $(BUILD)/tests/utun_wire.o $(TEST_HARNESS) $(LIBUTUN_A) \
		$(LIBIFKIT)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) -lcunit -lpthread

.PHONY: install-utun
install: install-utun
install-utun: $(LIBUTUN_A) $(LIBUTUN_SO) $(UTUN_PC) $(UTUN_TUNNEL)
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/ifkit \
		$(DESTDIR)$(PREFIX)/bin
	install -m 0644 $(LIBUTUN_A) $(DESTDIR)$(PREFIX)/lib/libutun.a
	install -m 0755 $(LIBUTUN_SO) $(DESTDIR)$(PREFIX)/lib/$(LIBUTUN_SONAME)
	ln -sf $(LIBUTUN_SONAME) $(DESTDIR)$(PREFIX)/lib/libutun.so
	install -m 0644 include/ifkit/utun.h $(DESTDIR)$(PREFIX)/include/ifkit/utun.h
	install -m 0644 $(UTUN_PC) $(DESTDIR)$(PREFIX)/lib/pkgconfig/libutun.pc
	install -m 0755 $(UTUN_TUNNEL) $(DESTDIR)$(PREFIX)/bin/ifkit-tunnel
