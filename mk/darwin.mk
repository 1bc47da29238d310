# libutun-darwin: macOS's utun client API (PF_SYSTEM sockets, CTLIOCGINFO,
# sockaddr_ctl, UTUN_OPT_*) on Linux, with macOS's headers under
# include/ifkit/darwin.  Static and shared library, pkg-config files (an
# installed one and a build-tree one), macOS-style test clients built with
# the pkg-config line.  Included by the top-level Makefile after mk/utun.mk.

.DEFAULT_GOAL := all

DARWIN_INC      := include/ifkit/darwin
DARWIN_HDRS     := $(wildcard $(DARWIN_INC)/sys/*.h $(DARWIN_INC)/net/*.h)
DARWIN_SRCS     := $(wildcard user/libutun-darwin/*.c)
DARWIN_OBJS     := $(DARWIN_SRCS:user/libutun-darwin/%.c=$(BUILD)/obj/libutun-darwin/%.o)
DARWIN_A        := $(BUILD)/libutun-darwin.a
DARWIN_SONAME   := libutun-darwin.so.1
DARWIN_SO_REAL  := $(BUILD)/$(DARWIN_SONAME)
DARWIN_SO       := $(BUILD)/libutun-darwin.so
DARWIN_PC       := $(BUILD)/libutun-darwin.pc
# pkg-config prefers NAME-uninstalled.pc found on PKG_CONFIG_PATH: pointing
# PKG_CONFIG_PATH at $(BUILD) builds against the build tree.
DARWIN_PC_UNINST := $(BUILD)/libutun-darwin-uninstalled.pc
DARWIN_ABS_BUILD = $(abspath $(BUILD))
# libutun's objects (mk/utun.mk is read after this file, so named here).
DARWIN_LIBUTUN_OBJS := $(patsubst user/libutun/%.c,$(BUILD)/obj/libutun/%.o,$(wildcard user/libutun/*.c)) \
		       $(BUILD)/obj/lib/ctl.o $(BUILD)/obj/lib/fdpass.o $(BUILD)/obj/lib/utun_frame.o

# macOS-style clients (tests/darwin/*.c): linked with the pkg-config line,
# built against the headers only (for LD_PRELOAD), and with the static archive.
DARWIN_CLIENT_SRCS := $(wildcard tests/darwin/*.c)
DARWIN_CLIENTS_PC  := $(DARWIN_CLIENT_SRCS:tests/darwin/%.c=$(BUILD)/darwin/%)
DARWIN_CLIENTS_HDR := $(DARWIN_CLIENT_SRCS:tests/darwin/%.c=$(BUILD)/darwin/%-hdronly)
DARWIN_CLIENTS_A   := $(DARWIN_CLIENT_SRCS:tests/darwin/%.c=$(BUILD)/darwin/%-static)
DARWIN_CLIENTS  := $(DARWIN_CLIENTS_PC) $(DARWIN_CLIENTS_HDR) $(DARWIN_CLIENTS_A)

ALL_TARGETS += $(DARWIN_A) $(DARWIN_SO) $(DARWIN_PC) $(DARWIN_PC_UNINST) $(DARWIN_CLIENTS)

$(BUILD)/obj/libutun-darwin/%.o: user/libutun-darwin/%.c $(DARWIN_HDRS) include/ifkit/utun.h | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) -I$(DARWIN_INC) $(CFLAGS) -fPIC -c $< -o $@

# Both carry libutun (the open and option calls) and the control-socket client.
$(DARWIN_A): $(DARWIN_OBJS) $(DARWIN_LIBUTUN_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(DARWIN_SO_REAL): $(DARWIN_OBJS) $(DARWIN_LIBUTUN_OBJS) user/libutun-darwin/libutun-darwin.map
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -shared -Wl,-soname,$(DARWIN_SONAME) \
		-Wl,--version-script=user/libutun-darwin/libutun-darwin.map \
		-o $@ $(DARWIN_OBJS) $(DARWIN_LIBUTUN_OBJS) -ldl -lpthread

$(DARWIN_SO): $(DARWIN_SO_REAL)
	$(Q)ln -sf $(DARWIN_SONAME) $@

$(DARWIN_PC): mk/darwin.mk
	@mkdir -p $(@D)
	@printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
		'Name: libutun-darwin' \
		'Description: macOS utun client API (PF_SYSTEM, CTLIOCGINFO, UTUN_OPT_*) on ifkit' \
		'Version: 1.0' 'Libs: -L$${libdir} -lutun-darwin' 'Libs.private: -ldl -lpthread' \
		'Cflags: -I$${includedir}/ifkit/darwin' > $@

$(DARWIN_PC_UNINST): mk/darwin.mk
	@mkdir -p $(@D)
	@printf '%s\n' 'libdir=$(DARWIN_ABS_BUILD)' 'includedir=$(CURDIR)/$(DARWIN_INC)' '' \
		'Name: libutun-darwin' \
		'Description: macOS utun client API on ifkit (build tree)' \
		'Version: 1.0' 'Libs: -L$${libdir} -Wl,-rpath,$${libdir} -lutun-darwin' \
		'Libs.private: -ldl -lpthread' 'Cflags: -I$${includedir}' > $@

# The pkg-config line a porter uses, unchanged.
$(DARWIN_CLIENTS_PC): $(BUILD)/darwin/%: tests/darwin/%.c $(DARWIN_SO) $(DARWIN_PC_UNINST) $(DARWIN_HDRS)
	@mkdir -p $(@D)
	@echo "  CC      $@ (pkg-config libutun-darwin)"
	$(Q)PKG_CONFIG_PATH=$(DARWIN_ABS_BUILD) $(CC) $(CFLAGS) -o $@ $< \
		$$(PKG_CONFIG_PATH=$(DARWIN_ABS_BUILD) pkg-config --cflags --libs libutun-darwin)

# Headers only: needs LD_PRELOAD=libutun-darwin.so to run.
$(DARWIN_CLIENTS_HDR): $(BUILD)/darwin/%-hdronly: tests/darwin/%.c $(DARWIN_PC_UNINST) $(DARWIN_HDRS)
	@mkdir -p $(@D)
	@echo "  CC      $@ (headers only)"
	$(Q)$(CC) $(CFLAGS) -o $@ $< $$(PKG_CONFIG_PATH=$(DARWIN_ABS_BUILD) pkg-config --cflags libutun-darwin)

# The static archive.
$(DARWIN_CLIENTS_A): $(BUILD)/darwin/%-static: tests/darwin/%.c $(DARWIN_A) $(DARWIN_HDRS)
	@mkdir -p $(@D)
	@echo "  CC      $@ (static libutun-darwin)"
	$(Q)$(CC) $(CFLAGS) -I$(DARWIN_INC) -o $@ $< $(DARWIN_A) -ldl -lpthread

$(BUILD)/tests/test_darwin: $(BUILD)/tests/test_darwin.o $(TEST_HARNESS) $(BUILD)/libutun.a $(LIBIFKIT) \
			    | $(DARWIN_CLIENTS) $(DARWIN_SO)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) -lcunit -lpthread

.PHONY: install-darwin
install: install-darwin
install-darwin: $(DARWIN_A) $(DARWIN_SO) $(DARWIN_PC)
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/ifkit/darwin/sys \
		$(DESTDIR)$(PREFIX)/include/ifkit/darwin/net
	install -m 0644 $(DARWIN_A) $(DESTDIR)$(PREFIX)/lib/libutun-darwin.a
	install -m 0755 $(DARWIN_SO_REAL) $(DESTDIR)$(PREFIX)/lib/$(DARWIN_SONAME)
	ln -sf $(DARWIN_SONAME) $(DESTDIR)$(PREFIX)/lib/libutun-darwin.so
	install -m 0644 $(wildcard $(DARWIN_INC)/sys/*.h) $(DESTDIR)$(PREFIX)/include/ifkit/darwin/sys/
	install -m 0644 $(wildcard $(DARWIN_INC)/net/*.h) $(DESTDIR)$(PREFIX)/include/ifkit/darwin/net/
	install -m 0644 $(DARWIN_PC) $(DESTDIR)$(PREFIX)/lib/pkgconfig/libutun-darwin.pc

# The test includes the compat headers by their macOS names.
$(BUILD)/tests/test_darwin.o: CPPFLAGS += -I$(DARWIN_INC)
