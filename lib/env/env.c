/* SPDX-License-Identifier: BSD-3-Clause */
/* EAL start-up and teardown, cores, ticks. */
#include "env_internal.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>

#define NO_HUGE_DEFAULT_MB 256

static bool g_initialized;
static bool g_no_huge;
static uint64_t g_cores[2];
static uint32_t g_main_core;

void sl_env_opts_init(struct sl_env_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->name = "sluice";
	opts->core_mask = "0x1";
}

bool sl_env_is_initialized(void)
{
	return g_initialized;
}

bool sl_env_no_huge(void)
{
	return g_no_huge;
}

static bool core_in(const uint64_t cores[2], uint32_t core)
{
	return core < SL_ENV_MAX_CORES && (cores[core / 64] >> (core % 64)) & 1;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int parse_core_list(const char *s, uint64_t cores[2])
{
	/* "[0,2-3]" */
	const char *p = s + 1;

	while (*p && *p != ']') {
		char *end;
		unsigned long a, b;

		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		a = strtoul(p, &end, 10);
		b = a;
		p = end;
		if (*p == '-') {
			p++;
			if (!isdigit((unsigned char)*p))
				return -EINVAL;
			b = strtoul(p, &end, 10);
			p = end;
		}
		if (a > b || b >= SL_ENV_MAX_CORES)
			return -EINVAL;
		for (unsigned long c = a; c <= b; c++)
			cores[c / 64] |= 1ULL << (c % 64);
		if (*p == ',' && isdigit((unsigned char)p[1]))
			p++;
		else if (*p != ']')
			return -EINVAL;
	}
	if (*p != ']' || p[1] != '\0')
		return -EINVAL;
	return 0;
}

int sl_env_parse_core_mask(const char *mask, uint64_t cores[2])
{
	size_t len;

	cores[0] = cores[1] = 0;
	if (!mask || !*mask)
		return -EINVAL;
	if (mask[0] == '[') {
		if (parse_core_list(mask, cores))
			return -EINVAL;
	} else {
		if (mask[0] == '0' && (mask[1] == 'x' || mask[1] == 'X'))
			mask += 2;
		len = strlen(mask);
		if (len == 0 || len > SL_ENV_MAX_CORES / 4)
			return -EINVAL;
		for (size_t i = 0; i < len; i++) {
			int v = hexval((unsigned char)mask[len - 1 - i]);

			if (v < 0)
				return -EINVAL;
			cores[(i * 4) / 64] |= (uint64_t)v << ((i * 4) % 64);
		}
	}
	return cores[0] || cores[1] ? 0 : -EINVAL;
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* Free hugepage memory in MiB over the sizes the kernel offers. */
static long free_hugepage_mb(void)
{
	static const struct {
		const char *path;
		long mb;
	} sizes[] = {
		{ "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", 2 },
		{ "/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages", 1024 },
	};
	long total = 0;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		long n = read_long(sizes[i].path);

		if (n > 0)
			total += n * sizes[i].mb;
	}
	return total;
}

static bool hugetlbfs_mounted(const char *dir)
{
	FILE *f = fopen("/proc/mounts", "r");
	char src[256], mnt[4096], type[64];
	bool found = false;

	if (!f)
		return false;
	while (fscanf(f, "%255s %4095s %63s %*[^\n]", src, mnt, type) == 3) {
		if (strcmp(type, "hugetlbfs"))
			continue;
		if (!dir || !strcmp(dir, mnt)) {
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

static long mem_available_mb(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char key[64];
	long kb, mb = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld kB\n", key, &kb) == 2) {
		if (!strcmp(key, "MemAvailable:")) {
			mb = kb / 1024;
			break;
		}
	}
	fclose(f);
	return mb;
}

int sl_env_init(const struct sl_env_opts *opts)
{
	char *argv[32];
	char lcores[SL_ENV_MAX_CORES * 5], mem[32], huge_dir[4200], name[64];
	int argc = 0, rc;
	size_t off = 0;
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	bool use_huge;

	if (g_initialized)
		return -EALREADY;

	if (sl_env_parse_core_mask(opts->core_mask ? opts->core_mask : "0x1", g_cores)) {
		SL_ERRLOG("invalid core mask '%s' (hex mask like 0x3, or list like [0,2-3])",
			  opts->core_mask);
		return -EINVAL;
	}
	for (uint32_t c = 0; c < SL_ENV_MAX_CORES; c++) {
		if (!core_in(g_cores, c))
			continue;
		if (c >= online) {
			SL_ERRLOG("core mask '%s' names core %u, but this machine has cores 0-%ld",
				  opts->core_mask, c, online - 1);
			return -EINVAL;
		}
		off += (size_t)snprintf(lcores + off, sizeof(lcores) - off, "%s%u", off ? "," : "",
					c);
	}

	use_huge = !opts->no_huge;
	if (use_huge && opts->huge_dir && !hugetlbfs_mounted(opts->huge_dir)) {
		SL_ERRLOG("--huge-dir %s is not a mounted hugetlbfs (run scripts/setup.sh)",
			  opts->huge_dir);
		return -EINVAL;
	}
	if (use_huge && (free_hugepage_mb() == 0 || !hugetlbfs_mounted(NULL))) {
		SL_WARNLOG(
			"no hugepages reserved or no hugetlbfs mounted: running on ordinary "
			"memory (--no-huge); devices cannot DMA. Run scripts/setup.sh to reserve "
			"hugepages.");
		use_huge = false;
	}
	if (use_huge && opts->mem_size_mb && (long)opts->mem_size_mb > free_hugepage_mb()) {
		SL_ERRLOG("memory size %zu MiB is larger than the %ld MiB of free hugepages",
			  opts->mem_size_mb, free_hugepage_mb());
		return -ENOMEM;
	}
	if (!use_huge) {
		long avail = mem_available_mb();
		size_t want = opts->mem_size_mb ? opts->mem_size_mb : NO_HUGE_DEFAULT_MB;

		if (avail >= 0 && (long)want > avail) {
			SL_ERRLOG("memory size %zu MiB is larger than the %ld MiB available", want,
				  avail);
			return -ENOMEM;
		}
		snprintf(mem, sizeof(mem), "%zu", want);
	} else if (opts->mem_size_mb) {
		snprintf(mem, sizeof(mem), "%zu", opts->mem_size_mb);
	}

	snprintf(name, sizeof(name), "%s", opts->name ? opts->name : "sluice");
	argv[argc++] = name;
	argv[argc++] = "-l";
	argv[argc++] = lcores;
	argv[argc++] = "--no-pci";
	argv[argc++] = "--no-telemetry";
	argv[argc++] = "--iova-mode=va";
	argv[argc++] = opts->quiet ? "--log-level=lib.eal:error" : "--log-level=lib.eal:warning";
	if (use_huge) {
		/* In-memory: no files under /var/run, several processes can coexist. */
		argv[argc++] = "--in-memory";
		if (opts->mem_size_mb) {
			argv[argc++] = "-m";
			argv[argc++] = mem;
		}
		if (opts->huge_dir) {
			snprintf(huge_dir, sizeof(huge_dir), "--huge-dir=%s", opts->huge_dir);
			argv[argc++] = huge_dir;
		}
	} else {
		/* DPDK 22.11 refuses --no-huge with --in-memory; --no-shconf writes nothing. */
		argv[argc++] = "--no-huge";
		argv[argc++] = "--no-shconf";
		argv[argc++] = "-m";
		argv[argc++] = mem;
	}
	argv[argc] = NULL;

	rte_log_set_global_level(opts->quiet ? RTE_LOG_ERR : RTE_LOG_WARNING);
	rc = rte_eal_init(argc, argv);
	if (rc < 0) {
		rc = rte_errno;
		SL_ERRLOG("DPDK EAL initialisation failed: %s", rte_strerror(rc));
		return rc == ENOMEM ? -ENOMEM : -EINVAL;
	}
	g_no_huge = !use_huge;
	g_main_core = rte_get_main_lcore();
	g_initialized = true;

	rc = env_memory_init();
	if (rc) {
		rte_eal_cleanup();
		g_initialized = false;
		return rc;
	}
	return 0;
}

void sl_env_fini(void)
{
	if (!g_initialized)
		return;
	env_memory_fini();
	rte_eal_cleanup();
	g_initialized = false;
}

uint32_t sl_env_get_core_count(void)
{
	return (uint32_t)(__builtin_popcountll(g_cores[0]) + __builtin_popcountll(g_cores[1]));
}

uint32_t sl_env_get_next_core(uint32_t prev)
{
	for (uint32_t c = prev == UINT32_MAX ? 0 : prev + 1; c < SL_ENV_MAX_CORES; c++)
		if (core_in(g_cores, c))
			return c;
	return UINT32_MAX;
}

uint32_t sl_env_get_first_core(void)
{
	return sl_env_get_next_core(UINT32_MAX);
}

uint32_t sl_env_get_last_core(void)
{
	uint32_t last = UINT32_MAX;

	for (uint32_t c = sl_env_get_first_core(); c != UINT32_MAX; c = sl_env_get_next_core(c))
		last = c;
	return last;
}

uint32_t sl_env_get_current_core(void)
{
	unsigned int id = rte_lcore_id();

	return id == LCORE_ID_ANY ? UINT32_MAX : id;
}

uint32_t sl_env_get_main_core(void)
{
	return g_main_core;
}

int sl_env_thread_launch_pinned(uint32_t core, int (*fn)(void *), void *arg)
{
	int rc;

	if (!g_initialized || !core_in(g_cores, core) || core == g_main_core)
		return -EINVAL;
	rc = rte_eal_remote_launch(fn, arg, core);
	return rc == 0 ? 0 : -EBUSY;
}

void sl_env_thread_wait_all(void)
{
	if (g_initialized)
		rte_eal_mp_wait_lcore();
}

uint64_t sl_get_ticks(void)
{
	return rte_get_tsc_cycles();
}

static uint64_t calibrate_tsc_hz(void)
{
	struct timespec a, b;
	uint64_t t0, t1, ns;
	struct timespec req = { .tv_sec = 0, .tv_nsec = 20 * 1000 * 1000 };

	clock_gettime(CLOCK_MONOTONIC_RAW, &a);
	t0 = rte_get_tsc_cycles();
	nanosleep(&req, NULL);
	clock_gettime(CLOCK_MONOTONIC_RAW, &b);
	t1 = rte_get_tsc_cycles();
	ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ULL + (uint64_t)(b.tv_nsec - a.tv_nsec);
	return ns ? (t1 - t0) * 1000000000ULL / ns : 1000000000ULL;
}

uint64_t sl_get_ticks_hz(void)
{
	static uint64_t hz;

	if (g_initialized)
		return rte_get_tsc_hz();
	if (!hz)
		hz = calibrate_tsc_hz();
	return hz;
}

void sl_delay_us(unsigned int us)
{
	uint64_t end = sl_get_ticks() + (uint64_t)us * sl_get_ticks_hz() / 1000000ULL;

	while (sl_get_ticks() < end)
		;
}
