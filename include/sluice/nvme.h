/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * User-space NVMe driver. PCIe controllers through lib/vfio; queues in DMA
 * memory; completions found by polling.
 *
 * Threading: a controller's admin queue may be used from any thread (it is
 * locked); an I/O qpair belongs to the thread that allocated it and is only
 * used there, without locks. Nothing here blocks except connect, reset,
 * qpair allocation and detach, which poll the admin queue until done.
 */
#ifndef SLUICE_NVME_H
#define SLUICE_NVME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "sluice/nvme_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_nvme_ctrlr;
struct sl_nvme_ns;
struct sl_nvme_qpair;

/* Completion callback: cpl is valid during the call only. */
typedef void (*sl_nvme_cmd_cb)(void *ctx, const struct sl_nvme_cpl *cpl);

static inline bool sl_nvme_cpl_is_error(const struct sl_nvme_cpl *cpl)
{
	return cpl->status.sc != 0 || cpl->status.sct != 0;
}

/* Transport ID: "trtype:PCIe traddr:0000:00:05.0" (keys case-insensitive). */
struct sl_nvme_transport_id {
	char trtype[16];
	char traddr[64];
};
/* -EINVAL for unknown keys, missing values or a trtype other than PCIe. */
int sl_nvme_transport_id_parse(struct sl_nvme_transport_id *trid, const char *str);

struct sl_nvme_ctrlr_opts {
	uint32_t num_io_queues;	   /* asked for in Set Features; default 64 */
	uint32_t io_queue_size;	   /* entries per I/O queue; default 256, capped by CAP.MQES */
	uint32_t admin_queue_size; /* default 32 */
	uint64_t io_timeout_us;	   /* 0: no I/O timeouts; else abort, then reset */
	uint64_t admin_timeout_us; /* synchronous admin commands; default 30 s */
	bool use_sgl;		   /* prefer SGLs over PRPs where the controller supports them */
};
void sl_nvme_ctrlr_opts_init(struct sl_nvme_ctrlr_opts *opts);

/*
 * Attach a PCIe controller bound to vfio-pci: open it, bring it up (disable,
 * admin queues, enable, identify, number of queues, AERs) and read its active
 * namespaces. opts may be NULL. -ENODEV, -EBUSY, -ETIMEDOUT (never became
 * ready), -EIO (fatal status or failed admin command), -ENOTSUP (no NVM
 * command set), -ENOMEM.
 */
int sl_nvme_ctrlr_connect(const struct sl_nvme_transport_id *trid,
			  const struct sl_nvme_ctrlr_opts *opts, struct sl_nvme_ctrlr **ctrlr);

/* Call fn for every PCI NVMe controller (class 01:08:02) bound to vfio-pci. */
int sl_nvme_pcie_enumerate(int (*fn)(void *ctx, const char *bdf), void *ctx);

/*
 * Normal shutdown (CC.SHN), then release everything. All I/O qpairs must have
 * been freed. Returns 0 or -ETIMEDOUT when the shutdown did not complete (the
 * controller is released anyway).
 */
int sl_nvme_ctrlr_detach(struct sl_nvme_ctrlr *ctrlr);

/*
 * Reset: disable, bring the admin queue back up, and make every I/O qpair
 * reconnect on its own thread at its next use: commands outstanding at the
 * reset complete with ABORTED_SQ_DELETION (never silently lost). -EIO when
 * the controller does not come back (it is then failed).
 */
int sl_nvme_ctrlr_reset(struct sl_nvme_ctrlr *ctrlr);
bool sl_nvme_ctrlr_is_failed(const struct sl_nvme_ctrlr *ctrlr);

const struct sl_nvme_ctrlr_data *sl_nvme_ctrlr_get_data(const struct sl_nvme_ctrlr *ctrlr);
const char *sl_nvme_ctrlr_get_traddr(const struct sl_nvme_ctrlr *ctrlr);
uint64_t sl_nvme_ctrlr_get_cap(const struct sl_nvme_ctrlr *ctrlr);
uint32_t sl_nvme_ctrlr_get_vs(const struct sl_nvme_ctrlr *ctrlr);
uint32_t sl_nvme_ctrlr_get_num_io_queues(const struct sl_nvme_ctrlr *ctrlr);
uint32_t sl_nvme_ctrlr_get_max_xfer_size(const struct sl_nvme_ctrlr *ctrlr);
bool sl_nvme_ctrlr_sgl_supported(const struct sl_nvme_ctrlr *ctrlr);

/* Active namespaces in NSID order; 0 ends. */
uint32_t sl_nvme_ctrlr_first_active_ns(const struct sl_nvme_ctrlr *ctrlr);
uint32_t sl_nvme_ctrlr_next_active_ns(const struct sl_nvme_ctrlr *ctrlr, uint32_t prev);
/* NULL when nsid is not active. */
struct sl_nvme_ns *sl_nvme_ctrlr_get_ns(struct sl_nvme_ctrlr *ctrlr, uint32_t nsid);

uint32_t sl_nvme_ns_get_id(const struct sl_nvme_ns *ns);
uint64_t sl_nvme_ns_get_num_sectors(const struct sl_nvme_ns *ns);
uint32_t sl_nvme_ns_get_sector_size(const struct sl_nvme_ns *ns);
const struct sl_nvme_ns_data *sl_nvme_ns_get_data(const struct sl_nvme_ns *ns);

/*
 * Called on the thread that polls the admin queue for every Asynchronous
 * Event (cdw0 of the completion). The namespace list is already refreshed
 * when a Namespace Attribute Changed event arrives.
 */
typedef void (*sl_nvme_aer_cb)(void *ctx, uint32_t cdw0);
void sl_nvme_ctrlr_register_aer_callback(struct sl_nvme_ctrlr *ctrlr, sl_nvme_aer_cb cb, void *ctx);

/* Poll the admin queue: AERs, admin passthrough completions, timeouts. Returns completions. */
int32_t sl_nvme_ctrlr_process_admin_completions(struct sl_nvme_ctrlr *ctrlr);

/* Raw admin command; buf (DMA memory or NULL) of len bytes per the opcode's direction. */
int sl_nvme_ctrlr_cmd_admin_raw(struct sl_nvme_ctrlr *ctrlr, const struct sl_nvme_cmd *cmd,
				void *buf, uint32_t len, sl_nvme_cmd_cb cb, void *ctx);

struct sl_nvme_io_qpair_opts {
	uint32_t io_queue_size; /* 0: the controller's option */
};

/*
 * Create an I/O queue pair for the calling thread. NULL when the controller
 * has no free queue IDs, memory runs out or the admin commands fail.
 */
struct sl_nvme_qpair *sl_nvme_ctrlr_alloc_io_qpair(struct sl_nvme_ctrlr *ctrlr,
						   const struct sl_nvme_io_qpair_opts *opts);
/* Delete the queues on the controller; outstanding commands complete as aborted. */
int sl_nvme_ctrlr_free_io_qpair(struct sl_nvme_qpair *qpair);

/*
 * Reap up to max completions (0: all available), calling their callbacks,
 * then write the CQ head doorbell once. Returns the number reaped, or -ENXIO
 * when the controller failed (outstanding commands were completed with an
 * error first).
 */
int32_t sl_nvme_qpair_process_completions(struct sl_nvme_qpair *qpair, uint32_t max);
uint32_t sl_nvme_qpair_outstanding(const struct sl_nvme_qpair *qpair);

/*
 * I/O commands. Buffers are DMA memory (env or registered). iovecs map
 * straight to PRPs when each element except the first starts on a memory page
 * and each except the last ends on one, else to SGLs when the controller has
 * them. Returns 0 (cb will be called), -ENOMEM (queue full: retry after
 * completions), -EINVAL (bad LBA range, misaligned buffer, too large),
 * -ENXIO (controller failed), -EAGAIN (controller resetting).
 */
int sl_nvme_ns_cmd_readv(struct sl_nvme_ns *ns, struct sl_nvme_qpair *qpair, uint64_t lba,
			 uint32_t lba_count, const struct iovec *iov, int iovcnt, sl_nvme_cmd_cb cb,
			 void *ctx);
int sl_nvme_ns_cmd_writev(struct sl_nvme_ns *ns, struct sl_nvme_qpair *qpair, uint64_t lba,
			  uint32_t lba_count, const struct iovec *iov, int iovcnt,
			  sl_nvme_cmd_cb cb, void *ctx);
int sl_nvme_ns_cmd_read(struct sl_nvme_ns *ns, struct sl_nvme_qpair *qpair, void *buf, uint64_t lba,
			uint32_t lba_count, sl_nvme_cmd_cb cb, void *ctx);
int sl_nvme_ns_cmd_write(struct sl_nvme_ns *ns, struct sl_nvme_qpair *qpair, void *buf,
			 uint64_t lba, uint32_t lba_count, sl_nvme_cmd_cb cb, void *ctx);
int sl_nvme_ns_cmd_flush(struct sl_nvme_ns *ns, struct sl_nvme_qpair *qpair, sl_nvme_cmd_cb cb,
			 void *ctx);
int sl_nvme_ns_cmd_write_zeroes(struct sl_nvme_ns *ns, struct sl_nvme_qpair *qpair, uint64_t lba,
				uint32_t lba_count, sl_nvme_cmd_cb cb, void *ctx);
/* Dataset Management deallocate; ranges is DMA memory holding count entries. */
int sl_nvme_ns_cmd_dsm(struct sl_nvme_ns *ns, struct sl_nvme_qpair *qpair,
		       const struct sl_nvme_dsm_range *ranges, uint16_t count, uint32_t attributes,
		       sl_nvme_cmd_cb cb, void *ctx);
/* Raw I/O command on a qpair (cid and data pointer are filled in). */
int sl_nvme_ctrlr_cmd_io_raw(struct sl_nvme_qpair *qpair, const struct sl_nvme_cmd *cmd, void *buf,
			     uint32_t len, sl_nvme_cmd_cb cb, void *ctx);

/* "SUCCESS", "INVALID FIELD", ... for logs. */
const char *sl_nvme_cpl_status_string(const struct sl_nvme_cpl *cpl);

#ifdef __cplusplus
}
#endif
#endif
