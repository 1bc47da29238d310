# CLI tests: test_cli drives utun_open() against a stopped loader, so it links
# libutun like test_utun (mk/utun.mk).  Included by the top-level Makefile,
# before mk/utun.mk: name libutun by path, its variable is not set yet.

# Included before the top-level `all` rule: keep `all` the default.
.DEFAULT_GOAL := all
$(BUILD)/tests/test_cli: $(BUILD)/tests/test_cli.o $(TEST_HARNESS) $(BUILD)/libutun.a $(LIBIFKIT)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) -lcunit -lpthread
