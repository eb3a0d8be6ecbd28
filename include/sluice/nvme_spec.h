/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe specification structures shared by the NVMe driver, the NVMe-oF
 * target and the bdev layer's passthrough. Layouts follow the NVM Express
 * Base Specification; sizes are checked at compile time.
 */
#ifndef SLUICE_NVME_SPEC_H
#define SLUICE_NVME_SPEC_H

#include <assert.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Submission queue entry (64 bytes). */
struct sl_nvme_cmd {
	uint8_t opc;
	uint8_t fuse : 2;
	uint8_t rsvd1 : 4;
	uint8_t psdt : 2;
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2;
	uint32_t cdw3;
	uint64_t mptr;
	union {
		struct {
			uint64_t prp1;
			uint64_t prp2;
		} prp;
		uint8_t sgl1[16];
	} dptr;
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
};
static_assert(sizeof(struct sl_nvme_cmd) == 64, "NVMe SQE is 64 bytes");

struct sl_nvme_status {
	uint16_t p : 1;	  /* phase tag */
	uint16_t sc : 8;  /* status code */
	uint16_t sct : 3; /* status code type */
	uint16_t crd : 2;
	uint16_t m : 1;
	uint16_t dnr : 1;
};
static_assert(sizeof(struct sl_nvme_status) == 2, "NVMe status is 2 bytes");

/* Completion queue entry (16 bytes). */
struct sl_nvme_cpl {
	uint32_t cdw0;
	uint32_t cdw1;
	uint16_t sqhd;
	uint16_t sqid;
	uint16_t cid;
	union {
		uint16_t status_raw;
		struct sl_nvme_status status;
	};
};
static_assert(sizeof(struct sl_nvme_cpl) == 16, "NVMe CQE is 16 bytes");

/* Status code types. */
enum sl_nvme_sct {
	SL_NVME_SCT_GENERIC = 0x0,
	SL_NVME_SCT_COMMAND_SPECIFIC = 0x1,
	SL_NVME_SCT_MEDIA_ERROR = 0x2,
	SL_NVME_SCT_PATH = 0x3,
	SL_NVME_SCT_VENDOR_SPECIFIC = 0x7,
};

/* Generic command status codes. */
enum sl_nvme_generic_sc {
	SL_NVME_SC_SUCCESS = 0x00,
	SL_NVME_SC_INVALID_OPCODE = 0x01,
	SL_NVME_SC_INVALID_FIELD = 0x02,
	SL_NVME_SC_COMMAND_ID_CONFLICT = 0x03,
	SL_NVME_SC_DATA_TRANSFER_ERROR = 0x04,
	SL_NVME_SC_ABORTED_POWER_LOSS = 0x05,
	SL_NVME_SC_INTERNAL_DEVICE_ERROR = 0x06,
	SL_NVME_SC_ABORTED_BY_REQUEST = 0x07,
	SL_NVME_SC_ABORTED_SQ_DELETION = 0x08,
	SL_NVME_SC_INVALID_NAMESPACE_OR_FORMAT = 0x0b,
	SL_NVME_SC_COMMAND_SEQUENCE_ERROR = 0x0c,
	SL_NVME_SC_INVALID_SGL_SEG_DESCRIPTOR = 0x0d,
	SL_NVME_SC_DATA_SGL_LENGTH_INVALID = 0x0f,
	SL_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID = 0x11,
	SL_NVME_SC_INVALID_CONTROLLER_MEM_BUF = 0x12,
	SL_NVME_SC_INVALID_PRP_OFFSET = 0x13,
	SL_NVME_SC_INVALID_SGL_OFFSET = 0x16,
	SL_NVME_SC_HOSTID_INCONSISTENT_FORMAT = 0x18,
	SL_NVME_SC_KEEP_ALIVE_EXPIRED = 0x19,
	SL_NVME_SC_KEEP_ALIVE_INVALID = 0x1a,
	SL_NVME_SC_NAMESPACE_NOT_READY = 0x82,
	SL_NVME_SC_LBA_OUT_OF_RANGE = 0x80,
	SL_NVME_SC_CAPACITY_EXCEEDED = 0x81,
};

/* Media and data integrity errors. */
enum sl_nvme_media_sc {
	SL_NVME_SC_WRITE_FAULTS = 0x80,
	SL_NVME_SC_UNRECOVERED_READ_ERROR = 0x81,
	SL_NVME_SC_COMPARE_FAILURE = 0x85,
};

/* NVM command set opcodes. */
enum sl_nvme_nvm_opcode {
	SL_NVME_OPC_FLUSH = 0x00,
	SL_NVME_OPC_WRITE = 0x01,
	SL_NVME_OPC_READ = 0x02,
	SL_NVME_OPC_WRITE_UNCORRECTABLE = 0x04,
	SL_NVME_OPC_COMPARE = 0x05,
	SL_NVME_OPC_WRITE_ZEROES = 0x08,
	SL_NVME_OPC_DATASET_MANAGEMENT = 0x09,
};

#ifdef __cplusplus
}
#endif
#endif
