# Sluice top-level Makefile. ./configure writes mk/config.mk; without it the
# defaults in mk/defaults.mk apply.
SHELL := /bin/bash
.DEFAULT_GOAL := all

-include mk/config.mk
include mk/defaults.mk

BUILD ?= build
include mk/flags.mk

# Libraries in dependency order (a library only uses those before it).
# Every lib/bdev/<module>/ directory with sources is a library of its own.
BDEV_MODULES := $(sort $(patsubst lib/%/,%,$(dir $(wildcard lib/bdev/*/*.c))))
LIBS := log util env thread rpc event sock vfio nvme bdev $(BDEV_MODULES) nvmf
APPS := $(sort $(notdir $(patsubst %/,%,$(dir $(wildcard app/*/*.c)))))

OBJ := $(BUILD)/obj
lib_srcs = $(sort $(wildcard lib/$(1)/*.c))
lib_archive = $(BUILD)/lib/libsluice_$(subst /,_,$(1)).a

ALL_LIB_ARCHIVES := $(foreach l,$(LIBS),$(call lib_archive,$(l)))
# Whole-archive: libraries register RPC methods, log flags and subsystems
# from constructors, which a plain static link would drop.
LINK_SLUICE := -Wl,--whole-archive $(ALL_LIB_ARCHIVES) -Wl,--no-whole-archive

define LIB_RULES
$(call lib_archive,$(1)): $(patsubst %.c,$(OBJ)/%.o,$(call lib_srcs,$(1)))
	@mkdir -p $$(@D)
	@rm -f $$@
	$$(if $$(Q),@echo "  AR $$@")
	$$(Q)ar crs $$@ $$^
endef
$(foreach l,$(LIBS),$(eval $(call LIB_RULES,$(l))))

define APP_RULES
$(BUILD)/bin/$(1): $(patsubst %.c,$(OBJ)/%.o,$(sort $(wildcard app/$(1)/*.c))) $(ALL_LIB_ARCHIVES)
	@mkdir -p $$(@D)
	$$(if $$(Q),@echo "  LD $$@")
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) $$(LINK_SLUICE) $$(SYS_LIBS)
endef
$(foreach a,$(APPS),$(eval $(call APP_RULES,$(a))))

# V=1 shows full command lines.
Q := $(if $(filter 1,$(V)),,@)
$(OBJ)/%.o: %.c
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# Unit tests: test/unit/<lib>/<name>_ut.c, each one program (cmocka).
UNIT_SRCS := $(sort $(wildcard test/unit/*/*_ut.c))
UNIT_BINS := $(patsubst test/unit/%.c,$(BUILD)/test/unit/%,$(UNIT_SRCS))

$(BUILD)/test/unit/%: $(OBJ)/test/unit/%.o $(ALL_LIB_ARCHIVES)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LINK_SLUICE) $(SYS_LIBS) -lcmocka

# Helper programs for functional tests and benchmarks: test/<tier>/progs/<name>.c
PROG_SRCS := $(sort $(wildcard test/*/progs/*.c))
PROG_BINS := $(patsubst test/%.c,$(BUILD)/test/%,$(PROG_SRCS))

$(BUILD)/test/%: $(OBJ)/test/%.o $(ALL_LIB_ARCHIVES)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LINK_SLUICE) $(SYS_LIBS)

.SECONDARY:

.PHONY: all libs apps tests clean distclean install deps check check-unit check-func check-vm \
	check-asan run format format-check

all: libs apps tests
libs: $(ALL_LIB_ARCHIVES)
apps: $(foreach a,$(APPS),$(BUILD)/bin/$(a))
tests: $(UNIT_BINS) $(PROG_BINS)

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)

clean:
	rm -rf $(BUILD) build-asan

distclean: clean
	rm -f mk/config.mk

# ---- install -------------------------------------------------------------
DESTDIR ?=
PREFIX := $(CONFIG_PREFIX)
VERSION := $(shell sed -n 's/^#define SL_VERSION_STRING "\(.*\)"/\1/p' include/sluice/version.h)

install: all
	install -d $(DESTDIR)$(PREFIX)/include/sluice $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/bin
	install -m 644 include/sluice/*.h $(DESTDIR)$(PREFIX)/include/sluice/
	install -m 644 $(ALL_LIB_ARCHIVES) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(foreach a,$(APPS),$(BUILD)/bin/$(a)) $(DESTDIR)$(PREFIX)/bin/
	install -m 755 scripts/rpc.py $(DESTDIR)$(PREFIX)/bin/sluice-rpc.py
	if [ -f $(BUILD)/fio/sluice_bdev ]; then \
		install -d $(DESTDIR)$(PREFIX)/lib/sluice/fio && \
		install -m 755 $(BUILD)/fio/sluice_bdev $(DESTDIR)$(PREFIX)/lib/sluice/fio/; fi
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
		-e 's|@LIBS@|$(foreach l,$(LIBS),-lsluice_$(subst /,_,$(l)))|g' \
		-e 's|@SYS_LIBS@|$(SYS_LIBS)|g' mk/sluice.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/sluice.pc

# ---- tests ---------------------------------------------------------------
# `make check` and `make run` are the README's two commands on a fresh machine:
# they install dependencies first (SL_SKIP_PKGDEP=1 skips that).
deps:
	@if [ "$${SL_SKIP_PKGDEP:-0}" != 1 ]; then scripts/pkgdep.sh; fi

check: deps
	$(MAKE) all
	$(MAKE) check-unit
	$(MAKE) check-func
	$(MAKE) check-vm

check-unit: tests
	BUILD=$(BUILD) test/unit/run.sh

check-func: all
	BUILD=$(BUILD) test/func/run.sh

check-vm: all
	BUILD=$(BUILD) test/vm/run_tests.sh

# Unit and functional tiers again in an AddressSanitizer + UBSan build.
check-asan:
	$(MAKE) BUILD=build-asan CONFIG_ASAN=y CONFIG_UBSAN=y CONFIG_DEBUG=y check-unit
	$(MAKE) BUILD=build-asan CONFIG_ASAN=y CONFIG_UBSAN=y CONFIG_DEBUG=y check-func

# ---- run -----------------------------------------------------------------
run: deps
	$(MAKE) all
	BUILD=$(BUILD) scripts/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@out=$$(clang-format --dry-run $$(git ls-files '*.c' '*.h') 2>&1); \
	if [ -n "$$out" ]; then echo "$$out" | head -40; echo "format-check: run make format"; exit 1; fi

# ---- fio plugin ----------------------------------------------------------
# build/fio/sluice_bdev: fio external ioengine (ioengine=external:<path>),
# compiled against a configured source tree of the installed fio version:
# CONFIG_FIO_SOURCE_DIR (./configure --with-fio=DIR), else the tree that
# scripts/pkgdep.sh prepares. Without either, `all` skips the plugin.
FIO_PKGDEP_SRC := /var/tmp/sluice-fio-src/current/src
ifeq ($(CONFIG_FIO_SOURCE_DIR),none)
FIO_SRC_DIR :=
else ifneq ($(CONFIG_FIO_SOURCE_DIR),)
FIO_SRC_DIR := $(CONFIG_FIO_SOURCE_DIR)
else
FIO_SRC_DIR := $(if $(wildcard $(FIO_PKGDEP_SRC)/config-host.h),$(FIO_PKGDEP_SRC))
endif

FIO_PLUGIN := $(BUILD)/fio/sluice_bdev
FIO_PLUGIN_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(sort $(wildcard fio/sluice_bdev/*.c)))
FIO_PLUGIN_MAP := fio/sluice_bdev/exports.map

.PHONY: fio-plugin fio-plugin-skip

ifneq ($(FIO_SRC_DIR),)
all: $(FIO_PLUGIN)
fio-plugin: $(FIO_PLUGIN)

# fio's headers are not -Wextra clean: -isystem keeps their warnings out.
$(OBJ)/fio/%.o: CFLAGS += -isystem $(FIO_SRC_DIR) -include $(FIO_SRC_DIR)/config-host.h

# A shared object with the Sluice archives (and static DPDK, built PIC) inside;
# -z nodelete: fio dlclose()s the engine after each job, but the environment
# thread lives until exit.
$(FIO_PLUGIN): $(FIO_PLUGIN_OBJS) $(ALL_LIB_ARCHIVES) $(FIO_PLUGIN_MAP)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD $@")
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,-z,nodelete -Wl,--version-script=$(FIO_PLUGIN_MAP) \
		-o $@ $(FIO_PLUGIN_OBJS) $(LINK_SLUICE) $(SYS_LIBS)
	@src=$$(sed -n 's/^DEF_VER=//p' $(FIO_SRC_DIR)/FIO-VERSION-GEN 2>/dev/null); \
	inst=$$(fio --version 2>/dev/null || true); \
	if [ -n "$$inst" ] && [ -n "$$src" ] && [ "$$inst" != "$$src" ]; then \
		echo "warning: $@ is built against $$src headers ($(FIO_SRC_DIR)) but the" \
			"installed fio is $$inst: rerun scripts/pkgdep.sh" >&2; \
	fi
else
all: fio-plugin-skip
fio-plugin-skip:
	@echo "  SKIP $(FIO_PLUGIN): no configured fio source (run scripts/pkgdep.sh as root," \
		"or ./configure --with-fio=DIR)"
fio-plugin:
	@echo "no configured fio source: run scripts/pkgdep.sh as root (fetches the installed" \
		"fio's source into $(FIO_PKGDEP_SRC)), or ./configure --with-fio=DIR" >&2; exit 1
endif
# ---- end fio plugin ----
