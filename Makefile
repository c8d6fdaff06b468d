# exroll — GNU make build.
#
#   make            build exrolld, exrollctl and exchange-sim into $(BUILD)/
#   make check      unit and integration tests (installs missing packages as root)
#   make check-asan the same suite under AddressSanitizer + UBSan
#   make check-valgrind  the unit suites under valgrind
#   make demo       the daemon upgrading the simulated organization end to end
#   make bench      benchmarks (print figures; not part of check)
#   make install    PREFIX (default /usr/local) and DESTDIR are honoured
#   make deps       install the Debian packages the build and tests need
#
# User CFLAGS/LDFLAGS/CPPFLAGS are appended to the project's own flags, which
# live in EXROLL_CFLAGS so that overriding CFLAGS never drops -Werror.

PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
SBINDIR     ?= $(PREFIX)/sbin
MANDIR      ?= $(PREFIX)/share/man
DATADIR     ?= $(PREFIX)/share
SYSCONFDIR  ?= /etc
UNITDIR     ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
TMPFILESDIR ?= /usr/lib/tmpfiles.d
COMPLDIR    ?= $(DATADIR)/bash-completion/completions

CC          ?= cc
PKG_CONFIG  ?= pkg-config
BUILD       ?= build
VERSION     := 0.1.0

PKGS        := libuv libcurl jansson sqlite3
TEST_PKGS   := check
SIM_PKGS    := libmicrohttpd jansson
DEB_PKGS    := build-essential pkg-config libuv1-dev libcurl4-openssl-dev \
               libjansson-dev libsqlite3-dev check libmicrohttpd-dev openssl \
               valgrind tzdata groff-base systemd jq curl

WARN := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wmissing-prototypes \
        -Wmissing-declarations -Wstrict-prototypes -Wformat=2 -Wsign-compare \
        -Wundef -Wvla -Wnull-dereference -Wcast-align -Wswitch-enum
EXROLL_CFLAGS := -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) -MMD -MP \
        -Icommon -Idaemon -Ictl -I$(BUILD)/gen -DEXROLL_VERSION='"$(VERSION)"'

ifeq ($(SAN),1)
EXROLL_CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
        -fno-sanitize-recover=undefined
EXROLL_LDFLAGS += -fsanitize=address,undefined
endif

have_pkgs = $(shell $(PKG_CONFIG) --exists $(PKGS) $(TEST_PKGS) $(SIM_PKGS) 2>/dev/null && echo yes)
pc_cflags = $(shell $(PKG_CONFIG) --cflags $(1) 2>/dev/null)
pc_libs   = $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null)

ALL_CFLAGS  = $(EXROLL_CFLAGS) $(call pc_cflags,$(PKGS)) $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(EXROLL_LDFLAGS) $(LDFLAGS)
LIBS        = $(call pc_libs,$(PKGS)) -lm
TEST_LIBS   = $(call pc_libs,$(TEST_PKGS)) $(LIBS)
SIM_LIBS    = $(call pc_libs,$(SIM_PKGS)) -lm

COMMON_SRC  := $(wildcard common/*.c)
DAEMON_SRC  := $(wildcard daemon/*.c)
CTL_SRC     := $(wildcard ctl/*.c)
SIM_SRC     := $(wildcard contrib/exchange-sim/*.c)
TLIB_SRC    := $(wildcard tests/lib/*.c)
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
INTEG_SRC   := $(wildcard tests/integration/test_*.c)
BENCH_SRC   := $(wildcard tests/bench/bench_*.c)
FUZZ_SRC    := $(filter-out tests/fuzz/replay_main.c,$(wildcard tests/fuzz/fuzz_*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
COMMON_OBJ  := $(call obj,$(COMMON_SRC))
DAEMON_OBJ  := $(call obj,$(filter-out daemon/main.c,$(DAEMON_SRC)))
CTL_OBJ     := $(call obj,$(filter-out ctl/main.c,$(CTL_SRC)))
SIM_OBJ     := $(call obj,$(SIM_SRC))
TLIB_OBJ    := $(call obj,$(TLIB_SRC))
# Everything but the two mains, as an archive: a test links only the
# modules it uses.
LIB         := $(BUILD)/libexroll.a

EXROLLD     := $(BUILD)/exrolld
EXROLLCTL   := $(BUILD)/exrollctl
SIM         := $(BUILD)/exchange-sim
UNIT_BIN    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
INTEG_BIN   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(INTEG_SRC))
BENCH_BIN   := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
FUZZ_REPLAY := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%-replay,$(FUZZ_SRC))
FUZZ_BIN    := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))

# Objects and generated headers are products, not intermediates: keep them
# so a later target does not rebuild what an earlier one built.
.SECONDARY:

.PHONY: all check check-unit check-integration check-asan check-valgrind \
        demo bench install uninstall clean deps deps-auto fuzz fuzz-bins

all: deps-auto $(EXROLLD) $(EXROLLCTL) $(SIM)

# Installs packages only when pkg-config cannot find them, so that a fresh
# machine needs one command and a provisioned one pays nothing.
deps-auto:
	@if [ "$(have_pkgs)" != yes ]; then $(MAKE) --no-print-directory deps; fi

deps:
	@if [ "$$(id -u)" = 0 ]; then \
		echo "installing: $(DEB_PKGS)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $(DEB_PKGS); \
	else \
		echo "missing build dependencies; as root run:"; \
		echo "  apt-get install $(DEB_PKGS)"; exit 1; \
	fi

# SQL migrations are compiled into the daemon (schema/embed-sql turns the
# numbered files into a C table), so the binary never looks for them on disk.
MIGRATIONS  := $(sort $(wildcard schema/[0-9]*.sql))
$(BUILD)/gen/migrations.h: $(MIGRATIONS) schema/embed-sql
	@mkdir -p $(@D)
	schema/embed-sql $(MIGRATIONS) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/daemon/store.o: $(BUILD)/gen/migrations.h

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/obj/contrib/exchange-sim/%.o: contrib/exchange-sim/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(call pc_cflags,$(SIM_PKGS)) -c -o $@ $<

$(BUILD)/obj/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/lib $(call pc_cflags,$(TEST_PKGS)) -c -o $@ $<

$(LIB): $(DAEMON_OBJ) $(CTL_OBJ) $(COMMON_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(EXROLLD): $(BUILD)/obj/daemon/main.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(EXROLLCTL): $(BUILD)/obj/ctl/main.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(SIM): $(SIM_OBJ) $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SIM_LIBS) $(LIBS)

# Unit and integration binaries live apart (tests/unit/, tests/integration/)
# so that two suites of the same name can never shadow each other.
$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TLIB_OBJ) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TEST_LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(TLIB_OBJ) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TEST_LIBS)

# Fuzz harnesses define LLVMFuzzerTestOneInput; the replay driver runs them
# over their checked-in corpus with any compiler, so `make check` exercises
# every corpus entry. `make fuzz` builds the libFuzzer binaries with clang.
$(BUILD)/fuzz/%-replay: $(BUILD)/obj/tests/fuzz/%.o $(BUILD)/obj/tests/fuzz/replay_main.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# libFuzzer binaries (make fuzz): libFuzzer brings its own main.
$(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

fuzz-bins: $(FUZZ_BIN)

export EXROLL_BUILD := $(abspath $(BUILD))
export EXROLL_SRCDIR := $(abspath .)

check: all $(UNIT_BIN) $(INTEG_BIN) $(FUZZ_REPLAY)
	@tests/run-suite $(UNIT_BIN) $(INTEG_BIN) -- $(FUZZ_REPLAY)

check-unit: all $(UNIT_BIN)
	@tests/run-suite $(UNIT_BIN)

check-integration: all $(INTEG_BIN)
	@tests/run-suite $(INTEG_BIN)

check-asan:
	$(MAKE) BUILD=build-asan SAN=1 check

check-valgrind: all $(UNIT_BIN)
	@EXROLL_VALGRIND=1 tests/run-suite $(UNIT_BIN)

bench: all $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

demo: all
	@contrib/demo.sh $(BUILD)

fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang \
		EXROLL_LDFLAGS=-fsanitize=fuzzer,address,undefined \
		CFLAGS='-fsanitize=fuzzer-no-link,address,undefined' fuzz-bins

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(SYSCONFDIR)/exroll $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(COMPLDIR) \
		$(DESTDIR)$(DATADIR)/exroll/schema
	install -m 0755 $(EXROLLD) $(DESTDIR)$(SBINDIR)/exrolld
	install -m 0755 $(EXROLLCTL) $(DESTDIR)$(BINDIR)/exrollctl
	install -m 0755 $(SIM) $(DESTDIR)$(BINDIR)/exchange-sim
	for m in man/*.1; do [ -f "$$m" ] && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man1/; done; true
	for m in man/*.5; do [ -f "$$m" ] && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man5/; done; true
	for m in man/*.8; do [ -f "$$m" ] && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man8/; done; true
	sed 's|/usr/local/sbin/exrolld|$(SBINDIR)/exrolld|' systemd/exrolld.service \
		> $(DESTDIR)$(UNITDIR)/exrolld.service && chmod 0644 $(DESTDIR)$(UNITDIR)/exrolld.service
	[ -f systemd/exroll.sysusers ] && install -m 0644 systemd/exroll.sysusers $(DESTDIR)$(SYSUSERSDIR)/exroll.conf; true
	[ -f systemd/exroll.tmpfiles ] && install -m 0644 systemd/exroll.tmpfiles $(DESTDIR)$(TMPFILESDIR)/exroll.conf; true
	[ -f contrib/completion/exrollctl.bash ] && install -m 0644 contrib/completion/exrollctl.bash $(DESTDIR)$(COMPLDIR)/exrollctl; true
	install -m 0644 schema/*.sql schema/*.json schema/*.md $(DESTDIR)$(DATADIR)/exroll/schema/ 2>/dev/null; true
	@# The example organization as a starting point, without its rehearsal
	@# state_file and socket so that the daemon's defaults apply; never
	@# over an existing configuration. The daemon runs as group exroll:
	@# let it read the file once systemd-sysusers has created the group.
	[ -f $(DESTDIR)$(SYSCONFDIR)/exroll/exroll.json ] || \
		sed '/"state_file"\|"socket"/d' contrib/examples/exroll.json \
		> $(DESTDIR)$(SYSCONFDIR)/exroll/exroll.json
	chmod 0640 $(DESTDIR)$(SYSCONFDIR)/exroll/exroll.json
	if getent group exroll >/dev/null; then \
		chgrp exroll $(DESTDIR)$(SYSCONFDIR)/exroll/exroll.json; fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/exrolld $(DESTDIR)$(BINDIR)/exrollctl $(DESTDIR)$(BINDIR)/exchange-sim

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
