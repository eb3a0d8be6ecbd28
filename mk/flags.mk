# Compiler and linker flags shared by every target.

# x86-64-v2 at most: binaries also run in TCG guests (-cpu max has no AVX-512).
ARCH_FLAGS := -march=x86-64-v2 -mtune=generic

DPDK_CFLAGS := $(filter-out -march=%,$(shell pkg-config --cflags libdpdk))

# gcc's -Wshadow=local has no clang spelling; clang gets -Wshadow instead.
SHADOW_FLAG := $(if $(findstring clang,$(shell $(CC) --version 2>/dev/null | head -n 1)),-Wshadow,-Wshadow=local)

COMMON_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wmissing-prototypes -Wstrict-prototypes -Wformat=2 $(SHADOW_FLAG) \
	-fno-strict-aliasing -fPIC -D_GNU_SOURCE $(ARCH_FLAGS) -Iinclude $(DPDK_CFLAGS)

ifeq ($(CONFIG_DEBUG),y)
COMMON_CFLAGS += -O0 -g3 -DDEBUG
else
COMMON_CFLAGS += -O2 -g -DNDEBUG
endif

SAN_FLAGS :=
ifeq ($(CONFIG_ASAN),y)
SAN_FLAGS += -fsanitize=address
endif
ifeq ($(CONFIG_UBSAN),y)
SAN_FLAGS += -fsanitize=undefined -fno-sanitize-recover=all
endif
ifneq ($(SAN_FLAGS),)
COMMON_CFLAGS += $(SAN_FLAGS) -fno-omit-frame-pointer
endif

CFLAGS ?=
CFLAGS := $(COMMON_CFLAGS) $(CFLAGS)

# DPDK is linked statically: no PMD plugins are loaded at start, only what we use.
DPDK_LIBS := -Wl,--whole-archive -l:librte_mempool_ring.a -Wl,--no-whole-archive \
	-l:librte_mempool.a -l:librte_ring.a -l:librte_eal.a -l:librte_kvargs.a \
	-l:librte_telemetry.a

SYS_LIBS := $(DPDK_LIBS) -ljansson -lisal -luring -laio -lnuma -lbsd -latomic -lpthread -ldl -lm

LDFLAGS ?=
LDFLAGS := $(SAN_FLAGS) $(LDFLAGS)
