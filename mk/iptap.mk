# iptap: the capture links libpcap (pcap-filter expressions compiled to
# classic BPF), and the Wireshark extcap program.  Included by the Makefile.

.DEFAULT_GOAL := all

# Where Wireshark looks for extcap programs (Debian: the multiarch lib dir).
EXTCAP_DIR ?= $(shell pkg-config --variable=extcapdir wireshark 2>/dev/null || \
		echo /usr/lib/$$(gcc -print-multiarch 2>/dev/null)/wireshark/extcap)

IPTAP_EXTCAP := $(BUILD)/ifkit-extcap
ALL_TARGETS  += $(IPTAP_EXTCAP)

$(BUILD)/ifkit: LDLIBS += -lpcap
$(BUILD)/tests/test_iptap: LDLIBS += -lpcap

$(BUILD)/obj/extcap/%.o: user/extcap/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -DIFKIT_BIN_DEFAULT=\"$(PREFIX)/sbin/ifkit\" -c $< -o $@

$(IPTAP_EXTCAP): $(BUILD)/obj/extcap/ifkit-extcap.o
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^

.PHONY: install-iptap
install: install-iptap
install-iptap: $(IPTAP_EXTCAP)
	install -d $(DESTDIR)$(EXTCAP_DIR)
	install -m 0755 $(IPTAP_EXTCAP) $(DESTDIR)$(EXTCAP_DIR)/ifkit-extcap
