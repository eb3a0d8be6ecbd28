/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fio external ioengine "sluice_bdev": fio jobs do I/O to Sluice bdevs inside
 * the fio process, without a target in between.
 *
 *   fio --ioengine=external:build/fio/sluice_bdev --thread=1 \
 *       --sluice_json_conf=bdev.json --filename=Malloc0 ...
 *
 * or LD_PRELOAD=build/fio/sluice_bdev fio --ioengine=sluice_bdev ...
 *
 * One background OS thread owns the environment: it starts the EAL, loads the
 * JSON config (sl_subsystems_start) on its own sl_thread, then keeps polling
 * that thread, which serves the control-path messages of the bdev layer,
 * until the process exits. Every fio job (an OS thread: thread=1) gets its own
 * sl_thread and its own bdev channels; queue() submits straight into the bdev
 * layer from the job's thread and getevents() polls that thread until enough
 * completions arrived. The I/O path takes no lock and allocates nothing.
 */
#include "fio.h"
#include "optgroup.h"

#include "sluice/bdev.h"
#include "sluice/env.h"
#include "sluice/event.h"
#include "sluice/log.h"
#include "sluice/thread.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * queue() returns enum fio_q_status from FIO_IOOPS_VERSION 25 on. Written for
 * and tested with 31 (fio 3.33); the ops are set by field name, so the layout
 * changes of later versions need no code here.
 */
#if FIO_IOOPS_VERSION < 25
#error "the sluice_bdev fio plugin needs a fio with FIO_IOOPS_VERSION 25 or newer"
#endif

#define ENGINE_NAME "sluice_bdev"
#define STOP_TIMEOUT_SEC 30
#define DRAIN_TIMEOUT_SEC 30
#define YIELD_AFTER_IDLE_POLLS 32
#define IDLE_SLEEP_MIN_NS 50000L
#define IDLE_SLEEP_MAX_NS 10000000L

/* Per-job engine options. Offset 0 is reserved: fio keeps a pointer there. */
struct sl_fio_options {
	void *pad;
	char *json_conf;
	char *spdk_json_conf;
	unsigned int mem_mb;
	unsigned int spdk_mem_mb;
};

/* One fio file = one open bdev with the job thread's channel. */
struct sl_fio_target {
	struct sl_bdev_desc *desc;
	struct sl_io_channel *ch;
	uint64_t block_mask; /* block size - 1 */
	uint32_t block_shift;
	uint64_t num_blocks;
	bool misaligned_logged;
	struct sl_fio_target *next, **pprev; /* the job's open targets */
};

/* One fio job (td). */
struct sl_fio_job {
	struct sl_thread *thread;
	/*
	 * Completed io_us, in completion order: done[head, tail) are not yet
	 * reaped, done[head, head + nr_reaped) were handed to fio by the last
	 * getevents and are consumed when the next one starts.
	 */
	struct io_u **done;
	unsigned int head;
	unsigned int tail;
	unsigned int nr_reaped;
	unsigned int cap;
	uint64_t inflight;
	uint64_t ticks_hz;
	struct sl_fio_target *targets;
};

/* ---- the shared environment ---- */

enum env_state {
	ENV_NONE,
	ENV_STARTING,
	ENV_READY,
	ENV_FAILED,
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum env_state state;
	int rc;
	char *json_conf;
	unsigned int mem_mb;
	pthread_t tid;
	bool thread_started;
	atomic_bool stop;
} g_env = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static void env_set_state(enum env_state state, int rc)
{
	pthread_mutex_lock(&g_env.lock);
	g_env.state = state;
	g_env.rc = rc;
	pthread_cond_broadcast(&g_env.cond);
	pthread_mutex_unlock(&g_env.lock);
}

/*
 * Poll the environment thread. It only serves the control path, so when idle
 * it sleeps, longer the longer it stays idle (up to IDLE_SLEEP_MAX_NS), never
 * past its next timed poller: it must not take CPU time from the jobs.
 */
static void env_poll(struct sl_thread *thread, long *sleep_ns)
{
	struct timespec ts = { .tv_sec = 0 };
	uint64_t next, now;

	if (sl_thread_poll(thread, 0, 0) == SL_POLLER_BUSY || sl_thread_has_messages(thread)) {
		*sleep_ns = IDLE_SLEEP_MIN_NS;
		return;
	}
	ts.tv_nsec = *sleep_ns;
	if (*sleep_ns < IDLE_SLEEP_MAX_NS)
		*sleep_ns *= 2;
	next = sl_thread_next_poller_expiration(thread);
	now = sl_get_ticks();
	if (next) {
		uint64_t ns = next > now ? (next - now) * 1000000000ULL / sl_get_ticks_hz() : 0;

		if (ns < (uint64_t)ts.tv_nsec)
			ts.tv_nsec = (long)ns;
	}
	if (ts.tv_nsec)
		nanosleep(&ts, NULL);
}

static bool poll_until(struct sl_thread *thread, volatile bool *flag, unsigned int timeout_sec)
{
	uint64_t deadline = sl_get_ticks() + (uint64_t)timeout_sec * sl_get_ticks_hz();
	long sleep_ns = IDLE_SLEEP_MIN_NS;

	while (!*flag) {
		if (sl_get_ticks() > deadline)
			return false;
		env_poll(thread, &sleep_ns);
	}
	return true;
}

struct start_ctx {
	volatile bool done;
	int rc;
};

static void subsystems_started(int rc, void *arg)
{
	struct start_ctx *c = arg;

	c->rc = rc;
	c->done = true;
}

static void subsystems_stopped(void *arg)
{
	*(volatile bool *)arg = true;
}

static void env_teardown(struct sl_thread *thread)
{
	volatile bool stopped = false;
	long sleep_ns = IDLE_SLEEP_MIN_NS;

	sl_subsystems_stop(subsystems_stopped, (void *)&stopped);
	if (!poll_until(thread, &stopped, STOP_TIMEOUT_SEC)) {
		/* Something still holds a bdev: leave the environment as it is. */
		log_err(ENGINE_NAME ": subsystems did not stop within %d s\n", STOP_TIMEOUT_SEC);
		return;
	}
	sl_thread_exit(thread);
	while (!sl_thread_is_exited(thread))
		env_poll(thread, &sleep_ns);
	sl_thread_destroy(thread);
	sl_set_thread(NULL);
	sl_thread_lib_fini();
	sl_env_fini();
}

static void *env_main(void *arg)
{
	struct sl_env_opts opts;
	struct start_ctx start = { 0 };
	struct sl_thread *thread;
	long sleep_ns = IDLE_SLEEP_MIN_NS;
	cpu_set_t cpus;
	bool have_cpus;
	int rc;

	(void)arg;
	/*
	 * rte_eal_init pins its calling thread to the main lcore. That is this
	 * thread, not a fio job's: jobs are created by fio's main thread and keep
	 * its affinity. This thread is no reactor either, so it gets its own back.
	 */
	have_cpus = pthread_getaffinity_np(pthread_self(), sizeof(cpus), &cpus) == 0;
	sl_env_opts_init(&opts);
	opts.name = "sluice_fio";
	opts.core_mask = "0x1";
	opts.mem_size_mb = g_env.mem_mb;
	opts.quiet = true;
	rc = sl_env_init(&opts);
	if (have_cpus)
		pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
	if (rc) {
		log_err(ENGINE_NAME ": cannot start the environment: %s\n", strerror(-rc));
		env_set_state(ENV_FAILED, rc);
		return NULL;
	}

	sl_thread_lib_init(NULL, 0);
	thread = sl_thread_create("fio_env", -1);
	if (!thread) {
		sl_thread_lib_fini();
		sl_env_fini();
		env_set_state(ENV_FAILED, -ENOMEM);
		return NULL;
	}
	sl_set_thread(thread);

	sl_subsystems_start(g_env.json_conf, false, subsystems_started, &start);
	while (!start.done)
		env_poll(thread, &sleep_ns);
	if (start.rc) {
		log_err(ENGINE_NAME ": loading %s failed: %s\n", g_env.json_conf,
			strerror(start.rc < 0 ? -start.rc : start.rc));
		env_teardown(thread);
		env_set_state(ENV_FAILED, start.rc < 0 ? start.rc : -start.rc);
		return NULL;
	}
	env_set_state(ENV_READY, 0);

	while (!atomic_load_explicit(&g_env.stop, memory_order_relaxed))
		env_poll(thread, &sleep_ns);
	env_teardown(thread);
	return NULL;
}

/*
 * Runs at exit(), before library destructors: by then every job has closed
 * its bdevs. The environment is not torn down when the last job of a group
 * ends because the EAL cannot be started twice in a process, and a later
 * group (stonewall) needs it again.
 */
static void env_atexit(void)
{
	if (!g_env.thread_started)
		return;
	atomic_store(&g_env.stop, true);
	pthread_join(g_env.tid, NULL);
	g_env.thread_started = false;
	free(g_env.json_conf);
	g_env.json_conf = NULL;
}

static const char *job_json_conf(struct thread_data *td)
{
	struct sl_fio_options *o = td->eo;

	if (o->json_conf && o->spdk_json_conf && strcmp(o->json_conf, o->spdk_json_conf)) {
		log_err(ENGINE_NAME ": job %s sets both sluice_json_conf=%s and spdk_json_conf=%s; "
				    "give one\n",
			td->o.name, o->json_conf, o->spdk_json_conf);
		return NULL;
	}
	if (o->json_conf)
		return o->json_conf;
	if (o->spdk_json_conf)
		return o->spdk_json_conf;
	log_err(ENGINE_NAME ": job %s has no sluice_json_conf=FILE (or spdk_json_conf=FILE): "
			    "the JSON config that creates the bdevs\n",
		td->o.name);
	return NULL;
}

/* Checks common to setup and init; starts the environment once, waits for it. */
static int env_ensure(struct thread_data *td)
{
	struct sl_fio_options *o = td->eo;
	const char *json;
	int rc = 0;

	if (!td->o.use_thread) {
		log_err(ENGINE_NAME
			": the sluice_bdev engine requires thread=1 (job %s): its "
			"jobs share one Sluice environment, which forked job processes cannot\n",
			td->o.name);
		return -EINVAL;
	}
	if (td->o.io_submit_mode == IO_MODE_OFFLOAD) {
		/* Offload workers would submit on the job's channels from other threads. */
		log_err(ENGINE_NAME ": job %s: io_submit_mode=offload is not supported\n",
			td->o.name);
		return -EINVAL;
	}
	json = job_json_conf(td);
	if (!json)
		return -EINVAL;

	pthread_mutex_lock(&g_env.lock);
	if (g_env.state == ENV_NONE) {
		if (access(json, R_OK)) {
			rc = -errno;
			log_err(ENGINE_NAME ": cannot read the JSON config %s: %s\n", json,
				strerror(errno));
			goto out;
		}
		g_env.json_conf = strdup(json);
		g_env.mem_mb = o->mem_mb ? o->mem_mb : o->spdk_mem_mb;
		if (!g_env.json_conf) {
			rc = -ENOMEM;
			goto out;
		}
		g_env.state = ENV_STARTING;
		rc = -pthread_create(&g_env.tid, NULL, env_main, NULL);
		if (rc) {
			log_err(ENGINE_NAME ": cannot create the environment thread: %s\n",
				strerror(-rc));
			g_env.state = ENV_FAILED;
			g_env.rc = rc;
			goto out;
		}
		g_env.thread_started = true;
		atexit(env_atexit);
	}
	while (g_env.state == ENV_STARTING)
		pthread_cond_wait(&g_env.cond, &g_env.lock);
	if (g_env.state == ENV_FAILED) {
		rc = g_env.rc ? g_env.rc : -EIO;
	} else if (strcmp(json, g_env.json_conf)) {
		log_err(ENGINE_NAME ": job %s asks for %s, but this fio process already loaded %s: "
				    "every job of one run must use the same JSON config\n",
			td->o.name, json, g_env.json_conf);
		rc = -EINVAL;
	}
out:
	pthread_mutex_unlock(&g_env.lock);
	return rc;
}

/* ---- files ---- */

static int set_file_size(struct thread_data *td, struct fio_file *f)
{
	struct sl_bdev *bdev = sl_bdev_get_by_name(f->file_name);

	if (!bdev) {
		log_err(ENGINE_NAME ": job %s: no bdev named '%s' in %s\n", td->o.name,
			f->file_name, g_env.json_conf);
		return 1;
	}
	f->real_file_size = sl_bdev_get_num_blocks(bdev) * sl_bdev_get_block_size(bdev);
	f->filetype = FIO_TYPE_BLOCK;
	fio_file_set_size_known(f);
	return 0;
}

/* Called once per job before its files are used (fio's main thread by default). */
static int sl_fio_setup(struct thread_data *td)
{
	if (env_ensure(td))
		return 1;
	for (unsigned int i = 0; i < td->files_index; i++)
		if (set_file_size(td, td->files[i]))
			return 1;
	return 0;
}

static int sl_fio_get_file_size(struct thread_data *td, struct fio_file *f)
{
	if (fio_file_size_known(f))
		return 0;
	if (env_ensure(td))
		return 1;
	return set_file_size(td, f);
}

static void bdev_event(enum sl_bdev_event_type type, struct sl_bdev *bdev, void *ctx)
{
	(void)ctx;
	if (type == SL_BDEV_EVENT_REMOVE)
		log_err(ENGINE_NAME ": bdev %s is being removed; its I/O fails from now on\n",
			sl_bdev_get_name(bdev));
}

static int sl_fio_open_file(struct thread_data *td, struct fio_file *f)
{
	struct sl_fio_job *job = td->io_ops_data;
	struct sl_fio_target *tg;
	struct sl_bdev *bdev;
	uint32_t bs;
	int rc;

	tg = calloc(1, sizeof(*tg));
	if (!tg)
		return 1;
	sl_set_thread(job->thread);
	rc = sl_bdev_open_ext(f->file_name, td_write(td) || td_trim(td), bdev_event, tg, &tg->desc);
	if (rc) {
		log_err(ENGINE_NAME ": job %s: cannot open bdev %s: %s\n", td->o.name, f->file_name,
			rc == -ENODEV ? "no such bdev" : strerror(-rc));
		goto out_free;
	}
	bdev = sl_bdev_desc_get_bdev(tg->desc);
	bs = sl_bdev_get_block_size(bdev);
	if (bs == 0 || (bs & (bs - 1))) {
		log_err(ENGINE_NAME ": bdev %s: block size %u is not a power of two\n",
			f->file_name, bs);
		goto out_close;
	}
	tg->block_mask = bs - 1;
	tg->block_shift = (uint32_t)__builtin_ctz(bs);
	tg->num_blocks = sl_bdev_get_num_blocks(bdev);
	tg->ch = sl_bdev_get_io_channel(tg->desc);
	if (!tg->ch) {
		log_err(ENGINE_NAME ": bdev %s: cannot get an I/O channel\n", f->file_name);
		goto out_close;
	}
	f->engine_data = tg;
	tg->next = job->targets;
	if (tg->next)
		tg->next->pprev = &tg->next;
	tg->pprev = &job->targets;
	job->targets = tg;
	return 0;

out_close:
	sl_bdev_close(tg->desc);
out_free:
	free(tg);
	td->error = EIO;
	return 1;
}

/* Drop the events fio reaped, move the unreaped ones to the front: polls append. */
static void done_compact(struct sl_fio_job *job)
{
	unsigned int avail;

	job->head += job->nr_reaped;
	job->nr_reaped = 0;
	avail = job->tail - job->head;
	if (job->head && avail)
		memmove(job->done, job->done + job->head, avail * sizeof(*job->done));
	job->head = 0;
	job->tail = avail;
}

/* Wait for every I/O of the job (the channel must be idle before it is released). */
static void job_drain(struct thread_data *td, struct sl_fio_job *job)
{
	uint64_t deadline = sl_get_ticks() + DRAIN_TIMEOUT_SEC * job->ticks_hz;

	done_compact(job);
	while (job->inflight) {
		if (sl_get_ticks() > deadline) {
			log_err(ENGINE_NAME ": job %s: %llu I/O still in flight after %d s\n",
				td->o.name, (unsigned long long)job->inflight, DRAIN_TIMEOUT_SEC);
			return;
		}
		sl_thread_poll(job->thread, 0, 0);
	}
}

static void target_close(struct thread_data *td, struct sl_fio_job *job, struct sl_fio_target *tg)
{
	sl_set_thread(job->thread);
	job_drain(td, job);
	sl_put_io_channel(tg->ch);
	sl_bdev_close(tg->desc);
	*tg->pprev = tg->next;
	if (tg->next)
		tg->next->pprev = tg->pprev;
	free(tg);
}

static int sl_fio_close_file(struct thread_data *td, struct fio_file *f)
{
	if (f->engine_data)
		target_close(td, td->io_ops_data, f->engine_data);
	f->engine_data = NULL;
	return 0;
}

/* ---- per-job thread ---- */

static int sl_fio_init(struct thread_data *td)
{
	struct sl_fio_job *job;
	char name[64];

	if (env_ensure(td))
		return 1;
	job = calloc(1, sizeof(*job));
	if (!job)
		return 1;
	job->cap = td->o.iodepth ? td->o.iodepth : 1;
	job->done = calloc(job->cap, sizeof(*job->done));
	snprintf(name, sizeof(name), "fio_%s_%d", td->o.name ? td->o.name : "job",
		 td->thread_number);
	job->thread = sl_thread_create(name, -1);
	if (!job->done || !job->thread) {
		log_err(ENGINE_NAME ": job %s: out of memory\n", td->o.name);
		if (job->thread) {
			sl_thread_exit(job->thread);
			while (!sl_thread_is_exited(job->thread))
				sl_thread_poll(job->thread, 0, 0);
			sl_thread_destroy(job->thread);
		}
		free(job->done);
		free(job);
		return 1;
	}
	job->ticks_hz = sl_get_ticks_hz();
	sl_set_thread(job->thread);
	td->io_ops_data = job;
	return 0;
}

static void sl_fio_cleanup(struct thread_data *td)
{
	struct sl_fio_job *job = td->io_ops_data;

	if (!job)
		return;
	sl_set_thread(job->thread);
	job_drain(td, job);
	/* fio closed its files; on its error paths it may free one still open. */
	while (job->targets)
		target_close(td, job, job->targets);
	/* Exits once the channels released by close_file are destroyed. */
	sl_thread_exit(job->thread);
	while (!sl_thread_is_exited(job->thread))
		sl_thread_poll(job->thread, 0, 0);
	sl_thread_destroy(job->thread);
	sl_set_thread(NULL);
	free(job->done);
	free(job);
	td->io_ops_data = NULL;
}

/* I/O buffers from the environment's DMA-able memory, as devices need. */
static int sl_fio_iomem_alloc(struct thread_data *td, size_t total)
{
	td->orig_buffer = sl_dma_zmalloc(total, 4096, NULL);
	if (!td->orig_buffer) {
		log_err(ENGINE_NAME
			": job %s: cannot allocate %zu KiB of I/O buffers from the "
			"Sluice environment: reserve more hugepages (scripts/setup.sh), set "
			"sluice_mem=MiB, or lower iodepth x bs\n",
			td->o.name, total / 1024);
		return 1;
	}
	return 0;
}

static void sl_fio_iomem_free(struct thread_data *td)
{
	sl_dma_free(td->orig_buffer);
	td->orig_buffer = NULL;
}

static int sl_fio_io_u_init(struct thread_data *td, struct io_u *io_u)
{
	io_u->engine_data = td->io_ops_data;
	return 0;
}

/* ---- I/O path ---- */

/*
 * done[] cannot overflow: completions land after the unreaped ones, and fio
 * has at most iodepth io_us in flight or unreaped (head is 0 while polling).
 */
static void io_complete(struct sl_bdev_io *bdev_io, bool success, void *arg)
{
	struct io_u *io_u = arg;
	struct sl_fio_job *job = io_u->engine_data;

	sl_bdev_free_io(bdev_io);
	io_u->error = success ? 0 : EIO;
	job->inflight--;
	job->done[job->tail++] = io_u;
}

static enum fio_q_status queue_failed(struct thread_data *td, struct sl_fio_job *job,
				      struct io_u *io_u, int rc)
{
	if (rc == -ENOMEM && job->inflight)
		return FIO_Q_BUSY; /* no sl_bdev_io free: fio reaps, then retries */
	io_u->error = -rc;
	if (rc == -ENOMEM)
		log_err(ENGINE_NAME ": job %s: no bdev I/O available\n", td->o.name);
	return FIO_Q_COMPLETED;
}

static enum fio_q_status misaligned(struct thread_data *td, struct io_u *io_u,
				    struct sl_fio_target *tg)
{
	if (!tg->misaligned_logged) {
		tg->misaligned_logged = true;
		log_err(ENGINE_NAME
			": job %s: I/O at offset %llu, length %llu on %s is not a "
			"multiple of its %llu-byte blocks (set bs and offset accordingly)\n",
			td->o.name, io_u->offset, io_u->xfer_buflen, io_u->file->file_name,
			(unsigned long long)tg->block_mask + 1);
	}
	io_u->error = EINVAL;
	return FIO_Q_COMPLETED;
}

static enum fio_q_status sl_fio_queue(struct thread_data *td, struct io_u *io_u)
{
	struct sl_fio_job *job = td->io_ops_data;
	struct sl_fio_target *tg = io_u->file->engine_data;
	uint64_t off = io_u->offset, len = io_u->xfer_buflen;
	int rc;

	switch (io_u->ddir) {
	case DDIR_READ:
		if (__builtin_expect((off | len) & tg->block_mask, 0))
			return misaligned(td, io_u, tg);
		rc = sl_bdev_read_blocks(tg->desc, tg->ch, io_u->xfer_buf, off >> tg->block_shift,
					 len >> tg->block_shift, io_complete, io_u);
		break;
	case DDIR_WRITE:
		if (__builtin_expect((off | len) & tg->block_mask, 0))
			return misaligned(td, io_u, tg);
		rc = sl_bdev_write_blocks(tg->desc, tg->ch, io_u->xfer_buf, off >> tg->block_shift,
					  len >> tg->block_shift, io_complete, io_u);
		break;
	case DDIR_TRIM:
		if ((off | len) & tg->block_mask)
			return misaligned(td, io_u, tg);
		rc = sl_bdev_unmap_blocks(tg->desc, tg->ch, off >> tg->block_shift,
					  len >> tg->block_shift, io_complete, io_u);
		break;
	case DDIR_SYNC:
	case DDIR_DATASYNC:
	case DDIR_SYNC_FILE_RANGE:
		rc = sl_bdev_flush_blocks(tg->desc, tg->ch, 0, tg->num_blocks, io_complete, io_u);
		break;
	default:
		io_u->error = EINVAL;
		return FIO_Q_COMPLETED;
	}
	if (__builtin_expect(rc != 0, 0))
		return queue_failed(td, job, io_u, rc);
	job->inflight++;
	return FIO_Q_QUEUED;
}

/* queue() already submitted; nothing is batched. Present so fio accounts in batches. */
static int sl_fio_commit(struct thread_data *td)
{
	(void)td;
	return 0;
}

/*
 * fio reaps iodepth_batch_complete_max events at a time, 1 by default: serve
 * those from the events already found and poll the job's thread only when
 * fewer than min are left, so that one poll serves a whole batch.
 */
static int sl_fio_getevents(struct thread_data *td, unsigned int min, unsigned int max,
			    const struct timespec *t)
{
	struct sl_fio_job *job = td->io_ops_data;
	unsigned int avail, n;

	job->head += job->nr_reaped;
	job->nr_reaped = 0;
	avail = job->tail - job->head;
	if (avail < min || avail == 0) {
		uint64_t deadline = 0;

		done_compact(job); /* fewer than min to move: cheap */
		if (t)
			deadline = sl_get_ticks() + (uint64_t)t->tv_sec * job->ticks_hz +
				   (uint64_t)t->tv_nsec * job->ticks_hz / 1000000000ULL;
		for (unsigned int idle = 0;;) {
			unsigned int before = job->tail;

			sl_thread_poll(job->thread, 0, 0);
			if (job->tail >= min)
				break;
			if (t && sl_get_ticks() >= deadline)
				break;
			/*
			 * Nothing completes: the I/O may be in a kernel worker (io_uring's
			 * io-wq, a file system) that needs this CPU more than the poll does.
			 */
			if (job->tail != before)
				idle = 0;
			else if (++idle % YIELD_AFTER_IDLE_POLLS == 0)
				sched_yield();
		}
		avail = job->tail;
	}
	n = avail < max ? avail : max;
	job->nr_reaped = n;
	return (int)n;
}

static struct io_u *sl_fio_event(struct thread_data *td, int event)
{
	struct sl_fio_job *job = td->io_ops_data;

	return job->done[job->head + (unsigned int)event];
}

/* ---- registration ---- */

static struct fio_option options[] = {
	{
		.name = "sluice_json_conf",
		.lname = "Sluice JSON config",
		.type = FIO_OPT_STR_STORE,
		.off1 = offsetof(struct sl_fio_options, json_conf),
		.help = "JSON config file that creates the bdevs (SPDK's config shape); filename= "
			"names the bdev(s)",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "spdk_json_conf",
		.lname = "SPDK JSON config (alias)",
		.type = FIO_OPT_STR_STORE,
		.off1 = offsetof(struct sl_fio_options, spdk_json_conf),
		.help = "Same as sluice_json_conf, so that SPDK job files work unchanged",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "sluice_mem",
		.lname = "Sluice memory (MiB)",
		.type = FIO_OPT_INT,
		.off1 = offsetof(struct sl_fio_options, mem_mb),
		.def = "0",
		.help = "Memory to reserve for the Sluice environment in MiB (0: grow on demand)",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "spdk_mem",
		.lname = "SPDK memory (alias)",
		.type = FIO_OPT_INT,
		.off1 = offsetof(struct sl_fio_options, spdk_mem_mb),
		.def = "0",
		.help = "Same as sluice_mem",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = NULL,
	},
};

/*
 * RAWIO: block-sized, page-aligned buffers; NOEXTEND: never lay out or grow
 * the target; NODISKUTIL and DISKLESSIO: a bdev name is no path, so fio must
 * not stat, open, fadvise or look it up in /sys; MEMALIGN: aligned buffers.
 */
struct ioengine_ops ioengine = {
	.name = ENGINE_NAME,
	.version = FIO_IOOPS_VERSION,
	.flags = FIO_RAWIO | FIO_NOEXTEND | FIO_NODISKUTIL | FIO_DISKLESSIO | FIO_MEMALIGN,
	.setup = sl_fio_setup,
	.init = sl_fio_init,
	.queue = sl_fio_queue,
	.commit = sl_fio_commit,
	.getevents = sl_fio_getevents,
	.event = sl_fio_event,
	.cleanup = sl_fio_cleanup,
	.open_file = sl_fio_open_file,
	.close_file = sl_fio_close_file,
	.get_file_size = sl_fio_get_file_size,
	.iomem_alloc = sl_fio_iomem_alloc,
	.iomem_free = sl_fio_iomem_free,
	.io_u_init = sl_fio_io_u_init,
	.options = options,
	.option_struct_size = sizeof(struct sl_fio_options),
};

/*
 * LD_PRELOAD=.../sluice_bdev fio --ioengine=sluice_bdev: register by name.
 * Weak, so that preloading into a program that is not fio does nothing.
 */
#pragma weak register_ioengine
#pragma weak unregister_ioengine

__attribute__((constructor)) static void sl_fio_register(void)
{
	if (register_ioengine)
		register_ioengine(&ioengine);
}

__attribute__((destructor)) static void sl_fio_unregister(void)
{
	if (unregister_ioengine)
		unregister_ioengine(&ioengine);
}
