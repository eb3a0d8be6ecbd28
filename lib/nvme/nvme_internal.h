/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe driver internals: controller, queue pairs, trackers, PRP/SGL builders.
 *
 * The PCIe layer only touches controller registers and doorbells through the
 * pointers below, so unit tests back them with plain memory and complete
 * commands in software by writing CQEs into the completion queue.
 */
#ifndef SLUICE_NVME_INTERNAL_H
#define SLUICE_NVME_INTERNAL_H

#include "sluice/log.h"
#include "sluice/nvme.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define NVME_PAGE_SIZE 4096u
#define NVME_PAGE_SHIFT 12
#define NVME_PRPS_PER_PAGE (NVME_PAGE_SIZE / 8)
#define NVME_SGLS_PER_PAGE (NVME_PAGE_SIZE / 16)
#define NVME_MAX_AERS 4
#define NVME_ADMIN_QID 0

/* Memory and translation used by queues; tests replace them. */
struct nvme_mem_ops {
	void *(*zmalloc)(size_t size, size_t align);
	void (*free)(void *buf);
	uint64_t (*vtoiova)(const void *vaddr, uint64_t *size);
};
extern const struct nvme_mem_ops nvme_env_mem_ops;

struct nvme_tracker {
	sl_nvme_cmd_cb cb;
	void *cb_ctx;
	uint64_t submit_tick; /* for timeouts; 0 when timeouts are off */
	uint16_t cid;
	bool active;
	bool abort_sent;
	void *list; /* PRP list / SGL segment pages, DMA memory */
	uint64_t list_iova;
};

enum nvme_qpair_state {
	NVME_QPAIR_ENABLED,
	NVME_QPAIR_DISCONNECTED, /* controller reset: reconnect on next use */
	NVME_QPAIR_FAILED,
};

struct nvme_ctrlr_regs_view;

struct sl_nvme_qpair {
	/* Hot fields first. */
	struct sl_nvme_cmd *sq;
	volatile struct sl_nvme_cpl *cq;
	volatile uint32_t *sq_tdbl;
	volatile uint32_t *cq_hdbl;
	struct nvme_tracker *trackers; /* indexed by cid */
	uint16_t *free_cids;
	uint32_t num_free;
	uint16_t sq_tail;
	uint16_t sq_head; /* last SQHD the controller reported */
	uint16_t cq_head;
	uint16_t num_entries;
	uint8_t phase;
	uint8_t state;
	bool use_sgl;
	uint32_t generation; /* controller generation this qpair is connected in */
	uint64_t (*vtoiova)(const void *vaddr, uint64_t *size);
	uint32_t list_pages; /* PRP/SGL list pages per tracker */
	uint32_t max_xfer;
	uint64_t timeout_ticks;
	uint64_t next_timeout_check;

	struct sl_nvme_ctrlr *ctrlr;
	uint16_t qid;
	uint64_t sq_iova;
	uint64_t cq_iova;
	void *list_mem;
	const struct nvme_mem_ops *mem;
	struct sl_nvme_qpair *next; /* ctrlr's list of I/O qpairs */
};

struct sl_nvme_ns {
	struct sl_nvme_ctrlr *ctrlr;
	uint32_t id;
	bool active;
	uint32_t sector_size;
	uint32_t sector_shift;
	uint64_t num_sectors;
	uint32_t max_lba_count;	      /* from the controller's max transfer size */
	struct sl_nvme_ns_data *data; /* DMA memory */
};

struct sl_nvme_ctrlr {
	char traddr[64];
	volatile uint8_t *regs;	   /* BAR0 or plain memory in tests */
	volatile uint32_t *dbells; /* regs + 0x1000 */
	uint32_t dstrd_words;	   /* doorbell stride in 32-bit words */
	union sl_nvme_cap_register cap;
	uint32_t vs;
	struct sl_nvme_ctrlr_opts opts;
	const struct nvme_mem_ops *mem;
	struct sl_vfio_device *vdev;

	pthread_mutex_t lock; /* admin queue, qid allocation, qpair list */
	struct sl_nvme_qpair *adminq;
	struct sl_nvme_ctrlr_data *cdata; /* DMA memory */
	uint32_t max_xfer_size;
	uint32_t num_io_queues; /* granted by the controller */
	uint8_t *qid_used;	/* 1..num_io_queues */
	struct sl_nvme_qpair *io_qpairs;
	uint32_t generation; /* bumped by every reset */
	bool failed;
	bool resetting;
	bool reset_requested;
	bool sgl_supported;

	uint32_t num_ns;	  /* NN */
	struct sl_nvme_ns *ns;	  /* [num_ns], index nsid - 1 */
	uint32_t *active_ns_list; /* DMA scratch: 1024 entries */
	bool ns_refresh_needed;

	sl_nvme_aer_cb aer_cb;
	void *aer_ctx;
	uint32_t aers_outstanding;
};

/* ---- registers ---- */
static inline uint32_t nvme_reg_read4(const struct sl_nvme_ctrlr *c, uint32_t off)
{
	return *(volatile const uint32_t *)(c->regs + off);
}

static inline uint64_t nvme_reg_read8(const struct sl_nvme_ctrlr *c, uint32_t off)
{
	/* Two 32-bit reads: some controllers do not take 64-bit MMIO reads. */
	return (uint64_t)nvme_reg_read4(c, off) | ((uint64_t)nvme_reg_read4(c, off + 4) << 32);
}

static inline void nvme_reg_write4(struct sl_nvme_ctrlr *c, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(c->regs + off) = v;
}

static inline void nvme_reg_write8(struct sl_nvme_ctrlr *c, uint32_t off, uint64_t v)
{
	nvme_reg_write4(c, off, (uint32_t)v);
	nvme_reg_write4(c, off + 4, (uint32_t)(v >> 32));
}

/* SQ y tail doorbell: 0x1000 + (2y) * (4 << DSTRD); CQ y head: 0x1000 + (2y + 1) * (4 << DSTRD). */
static inline volatile uint32_t *nvme_sq_doorbell(const struct sl_nvme_ctrlr *c, uint16_t qid)
{
	return c->dbells + (2u * qid) * c->dstrd_words;
}

static inline volatile uint32_t *nvme_cq_doorbell(const struct sl_nvme_ctrlr *c, uint16_t qid)
{
	return c->dbells + (2u * qid + 1) * c->dstrd_words;
}

/* ---- nvme_ctrlr.c ---- */
/* Set up a controller whose registers are at regs (BAR0 or test memory). */
int nvme_ctrlr_construct(struct sl_nvme_ctrlr *ctrlr, volatile void *regs,
			 const struct sl_nvme_ctrlr_opts *opts, const struct nvme_mem_ops *mem);
/* Disable, set up the admin queue, enable; -ETIMEDOUT when RDY does not follow within CAP.TO. */
int nvme_ctrlr_enable(struct sl_nvme_ctrlr *ctrlr);
int nvme_ctrlr_disable(struct sl_nvme_ctrlr *ctrlr);
/* Identify, queues, AERs, namespaces. */
int nvme_ctrlr_start(struct sl_nvme_ctrlr *ctrlr);
void nvme_ctrlr_destruct(struct sl_nvme_ctrlr *ctrlr);
/* Submit an admin command and poll until it completes (caller holds no lock). */
int nvme_ctrlr_admin_sync(struct sl_nvme_ctrlr *ctrlr, struct sl_nvme_cmd *cmd, void *buf,
			  uint32_t len, struct sl_nvme_cpl *cpl);
int nvme_qpair_reconnect(struct sl_nvme_qpair *qpair);
/* CC.SHN normal and wait for SHST complete. */
int nvme_ctrlr_shutdown(struct sl_nvme_ctrlr *ctrlr);
uint64_t nvme_now_us(void);

/* ---- nvme_qpair.c ---- */
int nvme_qpair_init(struct sl_nvme_qpair *qpair, struct sl_nvme_ctrlr *ctrlr, uint16_t qid,
		    uint16_t num_entries, uint32_t max_xfer, const struct nvme_mem_ops *mem);
void nvme_qpair_fini(struct sl_nvme_qpair *qpair);
/* Zero the rings and restart at tail/head 0, phase 1 (after a controller reset). */
void nvme_qpair_reset_rings(struct sl_nvme_qpair *qpair);
/* Complete every outstanding command with the given status (SCT generic). */
void nvme_qpair_fail_all(struct sl_nvme_qpair *qpair, uint8_t sc, bool dnr);
/*
 * Submit: cmd's cid and data pointer are filled in here. len 0 = no data.
 * iov/iovcnt or a flat buffer (iov NULL, buf set).
 */
int nvme_qpair_submit(struct sl_nvme_qpair *qpair, const struct sl_nvme_cmd *cmd,
		      const struct iovec *iov, int iovcnt, uint32_t len, sl_nvme_cmd_cb cb,
		      void *ctx);
int32_t nvme_qpair_process(struct sl_nvme_qpair *qpair, uint32_t max);
void nvme_qpair_check_timeouts(struct sl_nvme_qpair *qpair);

/*
 * Build PRP1/PRP2 (and list pages, chained) for the iovecs into cmd. list
 * is list_pages pages at list_iova. -EINVAL when the iovecs break PRP rules
 * or memory is not DMA-able, -E2BIG when the list pages cannot hold them.
 */
int nvme_build_prps(struct sl_nvme_cmd *cmd, const struct iovec *iov, int iovcnt, uint32_t len,
		    uint64_t *list, uint64_t list_iova, uint32_t list_pages,
		    uint64_t (*vtoiova)(const void *, uint64_t *));
/* SGL: one data block descriptor in the command, or a last-segment list in list. */
int nvme_build_sgl(struct sl_nvme_cmd *cmd, const struct iovec *iov, int iovcnt, uint32_t len,
		   struct sl_nvme_sgl_descriptor *list, uint64_t list_iova, uint32_t list_pages,
		   uint64_t (*vtoiova)(const void *, uint64_t *));

#endif
