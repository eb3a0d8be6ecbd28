/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe specification structures shared by the NVMe driver, the NVMe-oF
 * target and the bdev layer's passthrough. Layouts follow the NVM Express
 * Base Specification; sizes are checked at compile time.
 */
#ifndef SLUICE_NVME_SPEC_H
#define SLUICE_NVME_SPEC_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
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
	SL_NVME_SC_INVALID_NUM_SGL_DESCRIPTORS = 0x0e,
	SL_NVME_SC_METADATA_SGL_LENGTH_INVALID = 0x10,
	SL_NVME_SC_ATOMIC_WRITE_UNIT_EXCEEDED = 0x14,
	SL_NVME_SC_OPERATION_DENIED = 0x15,
	SL_NVME_SC_KEEP_ALIVE_EXPIRED = 0x19,
	SL_NVME_SC_KEEP_ALIVE_INVALID = 0x1a,
	SL_NVME_SC_COMMAND_INTERRUPTED = 0x21,
	SL_NVME_SC_TRANSIENT_TRANSPORT_ERROR = 0x22,
	/* NVM command set specific generic statuses. */
	SL_NVME_SC_LBA_OUT_OF_RANGE = 0x80,
	SL_NVME_SC_CAPACITY_EXCEEDED = 0x81,
	SL_NVME_SC_NAMESPACE_NOT_READY = 0x82,
	SL_NVME_SC_RESERVATION_CONFLICT = 0x83,
};

/* Command specific status codes (SCT 1) of admin commands. */
enum sl_nvme_command_specific_sc {
	SL_NVME_SC_COMPLETION_QUEUE_INVALID = 0x00,
	SL_NVME_SC_INVALID_QUEUE_IDENTIFIER = 0x01,
	SL_NVME_SC_INVALID_QUEUE_SIZE = 0x02,
	SL_NVME_SC_ABORT_COMMAND_LIMIT_EXCEEDED = 0x03,
	SL_NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED = 0x05,
	SL_NVME_SC_INVALID_FIRMWARE_SLOT = 0x06,
	SL_NVME_SC_INVALID_INTERRUPT_VECTOR = 0x08,
	SL_NVME_SC_INVALID_LOG_PAGE = 0x09,
	SL_NVME_SC_INVALID_FORMAT = 0x0a,
	SL_NVME_SC_FEATURE_ID_NOT_SAVEABLE = 0x0d,
	SL_NVME_SC_FEATURE_NOT_CHANGEABLE = 0x0e,
	SL_NVME_SC_FEATURE_NOT_NAMESPACE_SPECIFIC = 0x0f,
	/* NVM command set: I/O command specific. */
	SL_NVME_SC_CONFLICTING_ATTRIBUTES = 0x80,
	SL_NVME_SC_INVALID_PROTECTION_INFO = 0x81,
	SL_NVME_SC_ATTEMPTED_WRITE_TO_RO_RANGE = 0x82,
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

static inline uint16_t sl_nvme_status_make(int sct, int sc, bool dnr)
{
	/* Status field without the phase bit: SC in 8:1, SCT in 11:9, DNR in 15. */
	return (uint16_t)(((sc & 0xff) << 1) | ((sct & 0x7) << 9) | ((dnr ? 1 : 0) << 15));
}

/* Admin command set opcodes. */
enum sl_nvme_admin_opcode {
	SL_NVME_OPC_DELETE_IO_SQ = 0x00,
	SL_NVME_OPC_CREATE_IO_SQ = 0x01,
	SL_NVME_OPC_GET_LOG_PAGE = 0x02,
	SL_NVME_OPC_DELETE_IO_CQ = 0x04,
	SL_NVME_OPC_CREATE_IO_CQ = 0x05,
	SL_NVME_OPC_IDENTIFY = 0x06,
	SL_NVME_OPC_ABORT = 0x08,
	SL_NVME_OPC_SET_FEATURES = 0x09,
	SL_NVME_OPC_GET_FEATURES = 0x0a,
	SL_NVME_OPC_ASYNC_EVENT_REQUEST = 0x0c,
	SL_NVME_OPC_NS_MANAGEMENT = 0x0d,
	SL_NVME_OPC_FIRMWARE_COMMIT = 0x10,
	SL_NVME_OPC_FIRMWARE_IMAGE_DOWNLOAD = 0x11,
	SL_NVME_OPC_DEVICE_SELF_TEST = 0x14,
	SL_NVME_OPC_NS_ATTACHMENT = 0x15,
	SL_NVME_OPC_KEEP_ALIVE = 0x18,
	SL_NVME_OPC_DIRECTIVE_SEND = 0x19,
	SL_NVME_OPC_DIRECTIVE_RECEIVE = 0x1a,
	SL_NVME_OPC_DOORBELL_BUFFER_CONFIG = 0x7c,
	SL_NVME_OPC_FABRICS = 0x7f,
	SL_NVME_OPC_FORMAT_NVM = 0x80,
	SL_NVME_OPC_SECURITY_SEND = 0x81,
	SL_NVME_OPC_SECURITY_RECEIVE = 0x82,
	SL_NVME_OPC_SANITIZE = 0x84,
};

/* Data transfer direction encoded in the low two opcode bits. */
enum sl_nvme_data_transfer {
	SL_NVME_DATA_NONE = 0,
	SL_NVME_DATA_HOST_TO_CONTROLLER = 1,
	SL_NVME_DATA_CONTROLLER_TO_HOST = 2,
	SL_NVME_DATA_BIDIRECTIONAL = 3,
};

static inline enum sl_nvme_data_transfer sl_nvme_opc_data_transfer(uint8_t opc)
{
	return (enum sl_nvme_data_transfer)(opc & 3);
}

/* ---- Controller registers (PCIe memory-mapped; Fabrics properties) ---- */

enum sl_nvme_reg_offset {
	SL_NVME_REG_CAP = 0x00,
	SL_NVME_REG_VS = 0x08,
	SL_NVME_REG_INTMS = 0x0c,
	SL_NVME_REG_INTMC = 0x10,
	SL_NVME_REG_CC = 0x14,
	SL_NVME_REG_CSTS = 0x1c,
	SL_NVME_REG_NSSR = 0x20,
	SL_NVME_REG_AQA = 0x24,
	SL_NVME_REG_ASQ = 0x28,
	SL_NVME_REG_ACQ = 0x30,
	SL_NVME_REG_DOORBELL_BASE = 0x1000,
};

union sl_nvme_cap_register {
	uint64_t raw;
	struct {
		uint64_t mqes : 16; /* maximum queue entries, 0's based */
		uint64_t cqr : 1;   /* contiguous queues required */
		uint64_t ams : 2;   /* arbitration mechanisms */
		uint64_t rsvd1 : 5;
		uint64_t to : 8;    /* ready timeout, 500 ms units */
		uint64_t dstrd : 4; /* doorbell stride: 4 << dstrd bytes */
		uint64_t nssrs : 1; /* subsystem reset supported */
		uint64_t css : 8; /* command sets supported (bit 0 NVM, bit 6 I/O sets, bit 7 none)
				   */
		uint64_t bps : 1;
		uint64_t cps : 2;
		uint64_t mpsmin : 4; /* 2 ^ (12 + mpsmin) */
		uint64_t mpsmax : 4;
		uint64_t pmrs : 1;
		uint64_t cmbs : 1;
		uint64_t nsss : 1;
		uint64_t crms : 2;
		uint64_t rsvd2 : 3;
	} bits;
};
static_assert(sizeof(union sl_nvme_cap_register) == 8, "CAP is 8 bytes");

union sl_nvme_vs_register {
	uint32_t raw;
	struct {
		uint32_t ter : 8;
		uint32_t mnr : 8;
		uint32_t mjr : 16;
	} bits;
};

#define SL_NVME_VERSION(mjr, mnr, ter) (((uint32_t)(mjr) << 16) | ((uint32_t)(mnr) << 8) | (ter))

enum sl_nvme_shn {
	SL_NVME_SHN_NONE = 0,
	SL_NVME_SHN_NORMAL = 1,
	SL_NVME_SHN_ABRUPT = 2,
};

enum sl_nvme_shst {
	SL_NVME_SHST_NORMAL = 0,
	SL_NVME_SHST_OCCURRING = 1,
	SL_NVME_SHST_COMPLETE = 2,
};

union sl_nvme_cc_register {
	uint32_t raw;
	struct {
		uint32_t en : 1;
		uint32_t rsvd1 : 3;
		uint32_t css : 3; /* I/O command set selected: 0 NVM */
		uint32_t mps : 4; /* memory page size 2 ^ (12 + mps) */
		uint32_t ams : 3;
		uint32_t shn : 2;    /* shutdown notification */
		uint32_t iosqes : 4; /* log2 SQ entry size (6) */
		uint32_t iocqes : 4; /* log2 CQ entry size (4) */
		uint32_t crime : 1;
		uint32_t rsvd2 : 7;
	} bits;
};
static_assert(sizeof(union sl_nvme_cc_register) == 4, "CC is 4 bytes");

union sl_nvme_csts_register {
	uint32_t raw;
	struct {
		uint32_t rdy : 1;
		uint32_t cfs : 1;  /* controller fatal status */
		uint32_t shst : 2; /* shutdown status */
		uint32_t nssro : 1;
		uint32_t pp : 1;
		uint32_t st : 1;
		uint32_t rsvd : 25;
	} bits;
};
static_assert(sizeof(union sl_nvme_csts_register) == 4, "CSTS is 4 bytes");

union sl_nvme_aqa_register {
	uint32_t raw;
	struct {
		uint32_t asqs : 12; /* admin SQ size, 0's based */
		uint32_t rsvd1 : 4;
		uint32_t acqs : 12; /* admin CQ size, 0's based */
		uint32_t rsvd2 : 4;
	} bits;
};

/* ---- Identify ---- */

enum sl_nvme_identify_cns {
	SL_NVME_CNS_NS = 0x00,
	SL_NVME_CNS_CTRLR = 0x01,
	SL_NVME_CNS_ACTIVE_NS_LIST = 0x02,
	SL_NVME_CNS_NS_ID_DESCRIPTOR_LIST = 0x03,
	SL_NVME_CNS_NVM_SET_LIST = 0x04,
	SL_NVME_CNS_IOCS_NS = 0x05,
	SL_NVME_CNS_IOCS_CTRLR = 0x06,
	SL_NVME_CNS_IOCS_ACTIVE_NS_LIST = 0x07,
	SL_NVME_CNS_IOCS_INDEPENDENT_NS = 0x08,
	SL_NVME_CNS_ALLOCATED_NS_LIST = 0x10,
	SL_NVME_CNS_ALLOCATED_NS = 0x11,
	SL_NVME_CNS_ATTACHED_CTRLR_LIST = 0x12,
	SL_NVME_CNS_CTRLR_LIST = 0x13,
	SL_NVME_CNS_IO_COMMAND_SET = 0x1c,
};

/* Command set identifiers. */
enum sl_nvme_csi {
	SL_NVME_CSI_NVM = 0x0,
	SL_NVME_CSI_KV = 0x1,
	SL_NVME_CSI_ZNS = 0x2,
};

/* Power state descriptor (32 bytes). */
struct sl_nvme_power_state {
	uint16_t mp; /* maximum power, centiwatts */
	uint8_t rsvd2;
	uint8_t mxps_nops;
	uint32_t enlat;
	uint32_t exlat;
	uint8_t rrt;
	uint8_t rrl;
	uint8_t rwt;
	uint8_t rwl;
	uint16_t idlp;
	uint8_t ips;
	uint8_t rsvd19;
	uint16_t actp;
	uint8_t apw_aps;
	uint8_t rsvd23[9];
};
static_assert(sizeof(struct sl_nvme_power_state) == 32, "power state descriptor is 32 bytes");

/* Identify Controller data structure (CNS 01h, 4096 bytes). */
struct __attribute__((packed)) sl_nvme_ctrlr_data {
	uint16_t vid;
	uint16_t ssvid;
	char sn[20];
	char mn[40];
	char fr[8];
	uint8_t rab;
	uint8_t ieee[3];
	uint8_t cmic;
	uint8_t mdts; /* 2 ^ mdts memory pages (CAP.MPSMIN), 0 = no limit */
	uint16_t cntlid;
	uint32_t ver;
	uint32_t rtd3r;
	uint32_t rtd3e;
	uint32_t oaes; /* bit 8: namespace attribute notices, bit 31: discovery log change */
	uint32_t ctratt;
	uint16_t rrls;
	uint8_t rsvd102[9];
	uint8_t cntrltype; /* 1 I/O, 2 discovery, 3 administrative */
	uint8_t fguid[16];
	uint16_t crdt[3];
	uint8_t rsvd134[106];
	uint8_t rsvd_mi[16];
	/* 256: admin command set attributes */
	uint16_t oacs;
	uint8_t acl;  /* abort command limit, 0's based */
	uint8_t aerl; /* async event request limit, 0's based */
	uint8_t frmw;
	uint8_t lpa; /* bit 2: extended data for get log page */
	uint8_t elpe;
	uint8_t npss;
	uint8_t avscc;
	uint8_t apsta;
	uint16_t wctemp;
	uint16_t cctemp;
	uint16_t mtfa;
	uint32_t hmpre;
	uint32_t hmmin;
	uint8_t tnvmcap[16];
	uint8_t unvmcap[16];
	uint32_t rpmbs;
	uint16_t edstt;
	uint8_t dsto;
	uint8_t fwug;
	uint16_t kas; /* keep alive granularity, 100 ms units */
	uint16_t hctma;
	uint16_t mntmt;
	uint16_t mxtmt;
	uint32_t sanicap;
	uint32_t hmminds;
	uint16_t hmmaxd;
	uint16_t nsetidmax;
	uint16_t endgidmax;
	uint8_t anatt;
	uint8_t anacap;
	uint32_t anagrpmax;
	uint32_t nanagrpid;
	uint32_t pels;
	uint16_t domainid;
	uint8_t rsvd358[10];
	uint8_t megcap[16];
	uint8_t rsvd384[128];
	/* 512: NVM command set attributes */
	uint8_t sqes; /* required (3:0) and maximum (7:4) log2 SQ entry size */
	uint8_t cqes;
	uint16_t maxcmd;
	uint32_t nn; /* number of namespaces (highest NSID) */
	uint16_t oncs;
	uint16_t fuses;
	uint8_t fna;
	uint8_t vwc;
	uint16_t awun;
	uint16_t awupf;
	uint8_t icsvscc;
	uint8_t nwpc;
	uint16_t acwu;
	uint16_t ocfs;
	uint32_t sgls;
	uint32_t mnan;
	uint8_t maxdna[16];
	uint32_t maxcna;
	uint8_t rsvd564[204];
	char subnqn[256];
	uint8_t rsvd1024[768];
	/* 1792: NVMe over Fabrics attributes */
	uint32_t ioccsz; /* I/O queue command capsule size, 16-byte units */
	uint32_t iorcsz; /* I/O queue response capsule size, 16-byte units */
	uint16_t icdoff;
	uint8_t fcatt;
	uint8_t msdbd;
	uint16_t ofcs;
	uint8_t rsvd1806[242];
	struct sl_nvme_power_state psd[32];
	uint8_t vs[1024];
};
static_assert(sizeof(struct sl_nvme_ctrlr_data) == 4096, "identify controller is 4096 bytes");
static_assert(offsetof(struct sl_nvme_ctrlr_data, oacs) == 256, "oacs offset");
static_assert(offsetof(struct sl_nvme_ctrlr_data, sqes) == 512, "sqes offset");
static_assert(offsetof(struct sl_nvme_ctrlr_data, subnqn) == 768, "subnqn offset");
static_assert(offsetof(struct sl_nvme_ctrlr_data, ioccsz) == 1792, "ioccsz offset");
static_assert(offsetof(struct sl_nvme_ctrlr_data, psd) == 2048, "psd offset");

/* Optional NVM command support (ONCS). */
enum {
	SL_NVME_ONCS_COMPARE = 1 << 0,
	SL_NVME_ONCS_WRITE_UNCORRECTABLE = 1 << 1,
	SL_NVME_ONCS_DSM = 1 << 2,
	SL_NVME_ONCS_WRITE_ZEROES = 1 << 3,
	SL_NVME_ONCS_SAVE_SELECT = 1 << 4,
	SL_NVME_ONCS_RESERVATIONS = 1 << 5,
	SL_NVME_ONCS_TIMESTAMP = 1 << 6,
	SL_NVME_ONCS_VERIFY = 1 << 7,
	SL_NVME_ONCS_COPY = 1 << 8,
};

/* SGL support (SGLS) bits 1:0. */
enum {
	SL_NVME_SGLS_SUPPORTED = 0x1,
	SL_NVME_SGLS_SUPPORTED_DWORD_ALIGNED = 0x2,
	SL_NVME_SGLS_KEYED = 1 << 2,
	SL_NVME_SGLS_BIT_BUCKET = 1 << 16,
	SL_NVME_SGLS_OFFSET = 1 << 20,
};

/* Optional asynchronous events supported (OAES). */
enum {
	SL_NVME_OAES_NS_ATTRIBUTE_NOTICES = 1 << 8,
	SL_NVME_OAES_FW_ACTIVATION_NOTICES = 1 << 9,
	SL_NVME_OAES_DISCOVERY_LOG_CHANGE = 1u << 31,
};

/* LBA format (4 bytes). */
struct sl_nvme_lbaf {
	uint32_t ms : 16;   /* metadata size */
	uint32_t lbads : 8; /* log2 LBA data size */
	uint32_t rp : 2;    /* relative performance */
	uint32_t rsvd : 6;
};
static_assert(sizeof(struct sl_nvme_lbaf) == 4, "LBA format is 4 bytes");

/* Identify Namespace data structure (CNS 00h, 4096 bytes). */
struct __attribute__((packed)) sl_nvme_ns_data {
	uint64_t nsze;
	uint64_t ncap;
	uint64_t nuse;
	uint8_t nsfeat; /* bit 0 thin provisioning, bit 2 DAE, bit 3 UID reuse, bit 4 optperf */
	uint8_t nlbaf;	/* number of LBA formats, 0's based */
	uint8_t flbas;	/* bits 3:0 format index (low), 4 extended metadata, 6:5 index high */
	uint8_t mc;
	uint8_t dpc;
	uint8_t dps;
	uint8_t nmic;
	uint8_t rescap;
	uint8_t fpi;
	uint8_t dlfeat; /* bits 2:0 = 1: deallocated blocks read as zeroes */
	uint16_t nawun;
	uint16_t nawupf;
	uint16_t nacwu;
	uint16_t nabsn;
	uint16_t nabo;
	uint16_t nabspf;
	uint16_t noiob;
	uint8_t nvmcap[16];
	uint16_t npwg;
	uint16_t npwa;
	uint16_t npdg;
	uint16_t npda;
	uint16_t nows;
	uint16_t mssrl;
	uint32_t mcl;
	uint8_t msrc;
	uint8_t rsvd81[11];
	uint32_t anagrpid;
	uint8_t rsvd96[3];
	uint8_t nsattr;
	uint16_t nvmsetid;
	uint16_t endgid;
	uint8_t nguid[16];
	uint8_t eui64[8];
	struct sl_nvme_lbaf lbaf[64];
	uint8_t rsvd384[3712];
};
static_assert(sizeof(struct sl_nvme_ns_data) == 4096, "identify namespace is 4096 bytes");
static_assert(offsetof(struct sl_nvme_ns_data, nguid) == 104, "nguid offset");
static_assert(offsetof(struct sl_nvme_ns_data, lbaf) == 128, "lbaf offset");

/* Namespace identification descriptor (CNS 03h list entries). */
enum sl_nvme_nidt {
	SL_NVME_NIDT_EUI64 = 0x1,
	SL_NVME_NIDT_NGUID = 0x2,
	SL_NVME_NIDT_UUID = 0x3,
	SL_NVME_NIDT_CSI = 0x4,
};

struct sl_nvme_ns_id_desc {
	uint8_t nidt;
	uint8_t nidl;
	uint16_t rsvd;
	uint8_t nid[];
};

/* ---- Log pages ---- */

enum sl_nvme_log_page {
	SL_NVME_LOG_SUPPORTED_LOG_PAGES = 0x00,
	SL_NVME_LOG_ERROR = 0x01,
	SL_NVME_LOG_HEALTH_INFORMATION = 0x02,
	SL_NVME_LOG_FIRMWARE_SLOT = 0x03,
	SL_NVME_LOG_CHANGED_NS_LIST = 0x04,
	SL_NVME_LOG_COMMAND_EFFECTS = 0x05,
	SL_NVME_LOG_DEVICE_SELF_TEST = 0x06,
	SL_NVME_LOG_ANA = 0x0c,
	SL_NVME_LOG_DISCOVERY = 0x70,
	SL_NVME_LOG_RESERVATION_NOTIFICATION = 0x80,
};

/* Error information log entry (64 bytes). */
struct __attribute__((packed)) sl_nvme_error_information_entry {
	uint64_t error_count;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status; /* status field with the phase tag in bit 0 */
	uint16_t error_location;
	uint64_t lba;
	uint32_t nsid;
	uint8_t vendor_specific;
	uint8_t trtype;
	uint8_t rsvd30[2];
	uint64_t command_specific;
	uint16_t trtype_specific;
	uint8_t rsvd42[22];
};
static_assert(sizeof(struct sl_nvme_error_information_entry) == 64, "error log entry is 64 bytes");

/* SMART / Health Information log (512 bytes). 128-bit counters as two u64 (low, high). */
struct __attribute__((packed)) sl_nvme_health_information_page {
	uint8_t critical_warning;
	uint16_t temperature; /* kelvin */
	uint8_t available_spare;
	uint8_t available_spare_threshold;
	uint8_t percentage_used;
	uint8_t endurance_group_critical_warning;
	uint8_t rsvd7[25];
	uint64_t data_units_read[2]; /* thousands of 512-byte units */
	uint64_t data_units_written[2];
	uint64_t host_read_commands[2];
	uint64_t host_write_commands[2];
	uint64_t controller_busy_time[2];
	uint64_t power_cycles[2];
	uint64_t power_on_hours[2];
	uint64_t unsafe_shutdowns[2];
	uint64_t media_errors[2];
	uint64_t num_error_info_log_entries[2];
	uint32_t warning_temp_time;
	uint32_t critical_temp_time;
	uint16_t temp_sensor[8];
	uint32_t thermal_mgmt_temp1_transition_count;
	uint32_t thermal_mgmt_temp2_transition_count;
	uint32_t total_time_thermal_mgmt_temp1;
	uint32_t total_time_thermal_mgmt_temp2;
	uint8_t rsvd232[280];
};
static_assert(sizeof(struct sl_nvme_health_information_page) == 512, "SMART log is 512 bytes");

/* Firmware slot information log (512 bytes). */
struct __attribute__((packed)) sl_nvme_firmware_page {
	uint8_t afi; /* active slot in bits 2:0 */
	uint8_t rsvd1[7];
	char revision[7][8];
	uint8_t rsvd64[448];
};
static_assert(sizeof(struct sl_nvme_firmware_page) == 512, "firmware slot log is 512 bytes");

/* Changed namespace list: up to 1024 NSIDs; 0xffffffff in entry 0 means more changed. */
#define SL_NVME_CHANGED_NS_LIST_MAX 1024

/* ---- Features ---- */

enum sl_nvme_feature {
	SL_NVME_FEAT_ARBITRATION = 0x01,
	SL_NVME_FEAT_POWER_MANAGEMENT = 0x02,
	SL_NVME_FEAT_LBA_RANGE_TYPE = 0x03,
	SL_NVME_FEAT_TEMPERATURE_THRESHOLD = 0x04,
	SL_NVME_FEAT_ERROR_RECOVERY = 0x05,
	SL_NVME_FEAT_VOLATILE_WRITE_CACHE = 0x06,
	SL_NVME_FEAT_NUMBER_OF_QUEUES = 0x07,
	SL_NVME_FEAT_INTERRUPT_COALESCING = 0x08,
	SL_NVME_FEAT_INTERRUPT_VECTOR_CONFIGURATION = 0x09,
	SL_NVME_FEAT_WRITE_ATOMICITY = 0x0a,
	SL_NVME_FEAT_ASYNC_EVENT_CONFIGURATION = 0x0b,
	SL_NVME_FEAT_AUTONOMOUS_POWER_STATE_TRANSITION = 0x0c,
	SL_NVME_FEAT_TIMESTAMP = 0x0e,
	SL_NVME_FEAT_KEEP_ALIVE_TIMER = 0x0f,
	SL_NVME_FEAT_HOST_IDENTIFIER = 0x81,
	SL_NVME_FEAT_RESERVATION_NOTIFICATION_MASK = 0x82,
	SL_NVME_FEAT_RESERVATION_PERSISTENCE = 0x83,
};

/* ---- Asynchronous events (completion dword 0 of an AER) ---- */

enum sl_nvme_async_event_type {
	SL_NVME_ASYNC_EVENT_TYPE_ERROR = 0x0,
	SL_NVME_ASYNC_EVENT_TYPE_SMART = 0x1,
	SL_NVME_ASYNC_EVENT_TYPE_NOTICE = 0x2,
	SL_NVME_ASYNC_EVENT_TYPE_IO = 0x6,
	SL_NVME_ASYNC_EVENT_TYPE_VENDOR = 0x7,
};

enum sl_nvme_async_event_notice {
	SL_NVME_ASYNC_EVENT_NS_ATTR_CHANGED = 0x00,
	SL_NVME_ASYNC_EVENT_FW_ACTIVATION_START = 0x01,
	SL_NVME_ASYNC_EVENT_TELEMETRY_LOG_CHANGED = 0x02,
	SL_NVME_ASYNC_EVENT_ANA_CHANGE = 0x03,
	SL_NVME_ASYNC_EVENT_DISCOVERY_LOG_CHANGE = 0xf0,
};

/* AER completion dword 0: type 2:0, info 15:8, log page 23:16. */
static inline uint32_t sl_nvme_async_event_cdw0(int type, int info, int log_page)
{
	return (uint32_t)(type & 0x7) | ((uint32_t)(info & 0xff) << 8) |
	       ((uint32_t)(log_page & 0xff) << 16);
}

/* Async event configuration (feature 0Bh) bits. */
enum {
	SL_NVME_AEC_NS_ATTR_NOTICES = 1 << 8,
	SL_NVME_AEC_FW_ACTIVATION_NOTICES = 1 << 9,
	SL_NVME_AEC_DISCOVERY_LOG_CHANGE = 1u << 31,
};

/* ---- Dataset Management ---- */

enum {
	SL_NVME_DSM_ATTR_INTEGRAL_READ = 1 << 0,
	SL_NVME_DSM_ATTR_INTEGRAL_WRITE = 1 << 1,
	SL_NVME_DSM_ATTR_DEALLOCATE = 1 << 2,
};

struct sl_nvme_dsm_range {
	uint32_t attributes;
	uint32_t length; /* logical blocks (1's based) */
	uint64_t starting_lba;
};
static_assert(sizeof(struct sl_nvme_dsm_range) == 16, "DSM range is 16 bytes");

#define SL_NVME_DSM_MAX_RANGES 256

/* ---- SGL descriptors ---- */

enum sl_nvme_sgl_type {
	SL_NVME_SGL_TYPE_DATA_BLOCK = 0x0,
	SL_NVME_SGL_TYPE_BIT_BUCKET = 0x1,
	SL_NVME_SGL_TYPE_SEGMENT = 0x2,
	SL_NVME_SGL_TYPE_LAST_SEGMENT = 0x3,
	SL_NVME_SGL_TYPE_KEYED_DATA_BLOCK = 0x4,
	SL_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK = 0x5,
	SL_NVME_SGL_TYPE_VENDOR_SPECIFIC = 0xf,
};

enum sl_nvme_sgl_subtype {
	SL_NVME_SGL_SUBTYPE_ADDRESS = 0x0,
	SL_NVME_SGL_SUBTYPE_OFFSET = 0x1,
	SL_NVME_SGL_SUBTYPE_TRANSPORT = 0xa,
};

/* Generic SGL descriptor (16 bytes): address, length, 3 reserved bytes, identifier. */
struct __attribute__((packed)) sl_nvme_sgl_descriptor {
	uint64_t address;
	uint32_t length;
	uint8_t rsvd[3];
	uint8_t subtype : 4;
	uint8_t type : 4;
};
static_assert(sizeof(struct sl_nvme_sgl_descriptor) == 16, "SGL descriptor is 16 bytes");

/* PSDT values in the command's byte 1. */
enum sl_nvme_psdt {
	SL_NVME_PSDT_PRP = 0x0,
	SL_NVME_PSDT_SGL_MPTR_CONTIG = 0x1,
	SL_NVME_PSDT_SGL_MPTR_SGL = 0x2,
};

#ifdef __cplusplus
}
#endif
#endif
