/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe over Fabrics and NVMe/TCP transport structures, shared by the
 * NVMe-oF target and the (later) NVMe/TCP initiator. Layouts follow the NVMe
 * over Fabrics and NVMe/TCP transport specifications; every multi-byte field
 * is little endian on the wire (this code only runs on x86-64).
 */
#ifndef SLUICE_NVMF_SPEC_H
#define SLUICE_NVMF_SPEC_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/nvme_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_NVMF_DISCOVERY_NQN "nqn.2014-08.org.nvmexpress.discovery"
#define SL_NVMF_NQN_MAX_LEN 223
#define SL_NVMF_NQN_UUID_PREFIX "nqn.2014-08.org.nvmexpress:uuid:"
#define SL_NVMF_TRSVCID_MAX_LEN 32
#define SL_NVMF_TRADDR_MAX_LEN 256

/* Fabrics command types (FCTYPE, byte 4 of an opcode 7Fh command). */
enum sl_nvmf_fctype {
	SL_NVMF_FCTYPE_PROPERTY_SET = 0x00,
	SL_NVMF_FCTYPE_CONNECT = 0x01,
	SL_NVMF_FCTYPE_PROPERTY_GET = 0x04,
	SL_NVMF_FCTYPE_AUTHENTICATION_SEND = 0x05,
	SL_NVMF_FCTYPE_AUTHENTICATION_RECV = 0x06,
	SL_NVMF_FCTYPE_DISCONNECT = 0x08,
};

/* Command specific statuses of Fabrics commands. */
enum sl_nvmf_fabric_sc {
	SL_NVMF_SC_INCOMPATIBLE_FORMAT = 0x80,
	SL_NVMF_SC_CONTROLLER_BUSY = 0x81,
	SL_NVMF_SC_INVALID_PARAM = 0x82,
	SL_NVMF_SC_RESTART_DISCOVERY = 0x83,
	SL_NVMF_SC_INVALID_HOST = 0x84,
	SL_NVMF_SC_INVALID_QUEUE_TYPE = 0x85,
	SL_NVMF_SC_LOG_RESTART_DISCOVERY = 0x90,
	SL_NVMF_SC_AUTH_REQUIRED = 0x91,
};

/* Generic Fabrics command layout: the common part of every 7Fh command. */
struct __attribute__((packed)) sl_nvmf_capsule_cmd {
	uint8_t opcode;
	uint8_t rsvd1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd2[35];
	uint8_t fabric_specific[24];
};
static_assert(sizeof(struct sl_nvmf_capsule_cmd) == 64, "fabrics command is 64 bytes");

/* Connect command. */
struct __attribute__((packed)) sl_nvmf_connect_cmd {
	uint8_t opcode;
	uint8_t rsvd1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd2[19];
	uint8_t sgl1[16];
	uint16_t recfmt; /* record format, 0 */
	uint16_t qid;
	uint16_t sqsize; /* 0's based */
	uint8_t cattr;	 /* bit 2: disable SQ flow control */
	uint8_t rsvd3;
	uint32_t kato; /* keep alive timeout, ms */
	uint8_t rsvd4[12];
};
static_assert(sizeof(struct sl_nvmf_connect_cmd) == 64, "connect command is 64 bytes");
static_assert(offsetof(struct sl_nvmf_connect_cmd, qid) == 42, "connect qid offset");

#define SL_NVMF_CONNECT_CATTR_DISABLE_SQ_FLOW_CONTROL 0x04

/* Connect command data (1024 bytes). */
struct __attribute__((packed)) sl_nvmf_connect_data {
	uint8_t hostid[16];
	uint16_t cntlid;
	uint8_t rsvd4[238];
	char subnqn[256];
	char hostnqn[256];
	uint8_t rsvd5[256];
};
static_assert(sizeof(struct sl_nvmf_connect_data) == 1024, "connect data is 1024 bytes");
static_assert(offsetof(struct sl_nvmf_connect_data, subnqn) == 256, "subnqn offset");

/*
 * Connect Invalid Parameters: completion dword 0 holds the offset of the bad
 * field in bits 15:0 and, in bit 16, whether it lies in the data (1) or in
 * the command (0).
 */
static inline uint32_t sl_nvmf_connect_invalid_param(int in_data, uint16_t offset)
{
	return ((uint32_t)(in_data ? 1 : 0) << 16) | offset;
}

#define SL_NVMF_CNTLID_DYNAMIC 0xffff
#define SL_NVMF_CNTLID_MIN 1
#define SL_NVMF_CNTLID_MAX 0xffef

/* Property Get / Set. ATTRIB bits 2:0: 0 = 4 bytes, 1 = 8 bytes. */
struct __attribute__((packed)) sl_nvmf_property_cmd {
	uint8_t opcode;
	uint8_t rsvd1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd2[35];
	uint8_t attrib;
	uint8_t rsvd3[3];
	uint32_t ofst;
	uint64_t value; /* Property Set only */
	uint8_t rsvd4[8];
};
static_assert(sizeof(struct sl_nvmf_property_cmd) == 64, "property command is 64 bytes");

/* ---- Discovery log page ---- */

enum sl_nvmf_trtype {
	SL_NVMF_TRTYPE_RDMA = 0x1,
	SL_NVMF_TRTYPE_FC = 0x2,
	SL_NVMF_TRTYPE_TCP = 0x3,
	SL_NVMF_TRTYPE_INTRA_HOST = 0xfe,
};

enum sl_nvmf_adrfam {
	SL_NVMF_ADRFAM_IPV4 = 0x1,
	SL_NVMF_ADRFAM_IPV6 = 0x2,
	SL_NVMF_ADRFAM_IB = 0x3,
	SL_NVMF_ADRFAM_FC = 0x4,
	SL_NVMF_ADRFAM_INTRA_HOST = 0xfe,
};

enum sl_nvmf_subtype {
	SL_NVMF_SUBTYPE_DISCOVERY_REFERRAL = 0x1,
	SL_NVMF_SUBTYPE_NVME = 0x2,
	SL_NVMF_SUBTYPE_DISCOVERY_CURRENT = 0x3,
};

/* TREQ: secure channel requirement in bits 1:0, SQ flow control disable support in bit 2. */
enum {
	SL_NVMF_TREQ_SECURE_CHANNEL_NOT_SPECIFIED = 0x0,
	SL_NVMF_TREQ_SECURE_CHANNEL_REQUIRED = 0x1,
	SL_NVMF_TREQ_SECURE_CHANNEL_NOT_REQUIRED = 0x2,
	SL_NVMF_TREQ_DISABLE_SQ_FLOW_CONTROL = 0x4,
};

/* Discovery log page entry (1024 bytes). */
struct __attribute__((packed)) sl_nvmf_discovery_log_entry {
	uint8_t trtype;
	uint8_t adrfam;
	uint8_t subtype;
	uint8_t treq;
	uint16_t portid;
	uint16_t cntlid;
	uint16_t asqsz;
	uint16_t eflags;
	uint8_t rsvd12[20];
	char trsvcid[32];
	uint8_t rsvd64[192];
	char subnqn[256];
	char traddr[256];
	uint8_t tsas[256]; /* TCP: byte 0 sectype, 0 = none */
};
static_assert(sizeof(struct sl_nvmf_discovery_log_entry) == 1024, "discovery entry is 1024 bytes");

/* Discovery log page header (1024 bytes, entries follow). */
struct __attribute__((packed)) sl_nvmf_discovery_log_header {
	uint64_t genctr;
	uint64_t numrec;
	uint16_t recfmt;
	uint8_t rsvd[1006];
};
static_assert(sizeof(struct sl_nvmf_discovery_log_header) == 1024,
	      "discovery header is 1024 bytes");

/* ---- NVMe/TCP PDUs ---- */

enum sl_nvme_tcp_pdu_type {
	SL_NVME_TCP_PDU_IC_REQ = 0x00,
	SL_NVME_TCP_PDU_IC_RESP = 0x01,
	SL_NVME_TCP_PDU_H2C_TERM_REQ = 0x02,
	SL_NVME_TCP_PDU_C2H_TERM_REQ = 0x03,
	SL_NVME_TCP_PDU_CAPSULE_CMD = 0x04,
	SL_NVME_TCP_PDU_CAPSULE_RESP = 0x05,
	SL_NVME_TCP_PDU_H2C_DATA = 0x06,
	SL_NVME_TCP_PDU_C2H_DATA = 0x07,
	SL_NVME_TCP_PDU_R2T = 0x09,
};

enum {
	SL_NVME_TCP_FLAG_HDGST = 1 << 0,
	SL_NVME_TCP_FLAG_DDGST = 1 << 1,
	SL_NVME_TCP_FLAG_LAST_PDU = 1 << 2, /* H2CData, C2HData */
	SL_NVME_TCP_FLAG_SUCCESS = 1 << 3,  /* C2HData only */
};

/* ICReq/ICResp DGST byte. */
enum {
	SL_NVME_TCP_DGST_HEADER = 1 << 0,
	SL_NVME_TCP_DGST_DATA = 1 << 1,
};

#define SL_NVME_TCP_DIGEST_LEN 4
#define SL_NVME_TCP_HPDA_MAX 31
#define SL_NVME_TCP_TERM_REQ_MAX_DATA 128 /* bytes of the offending header echoed back */

/* Common header of every PDU (8 bytes). */
struct __attribute__((packed)) sl_nvme_tcp_common_hdr {
	uint8_t pdu_type;
	uint8_t flags;
	uint8_t hlen;
	uint8_t pdo;
	uint32_t plen;
};
static_assert(sizeof(struct sl_nvme_tcp_common_hdr) == 8, "common header is 8 bytes");

struct __attribute__((packed)) sl_nvme_tcp_ic_req {
	struct sl_nvme_tcp_common_hdr common;
	uint16_t pfv;
	uint8_t hpda; /* host PDU data alignment, 4 * (hpda + 1) bytes */
	uint8_t dgst;
	uint32_t maxr2t; /* 0's based */
	uint8_t rsvd[112];
};
static_assert(sizeof(struct sl_nvme_tcp_ic_req) == 128, "ICReq is 128 bytes");

struct __attribute__((packed)) sl_nvme_tcp_ic_resp {
	struct sl_nvme_tcp_common_hdr common;
	uint16_t pfv;
	uint8_t cpda;
	uint8_t dgst;
	uint32_t maxh2cdata;
	uint8_t rsvd[112];
};
static_assert(sizeof(struct sl_nvme_tcp_ic_resp) == 128, "ICResp is 128 bytes");

/* Fatal error status of H2C/C2H TermReq. */
enum sl_nvme_tcp_fes {
	SL_NVME_TCP_FES_INVALID_HEADER_FIELD = 0x01,
	SL_NVME_TCP_FES_PDU_SEQUENCE_ERROR = 0x02,
	SL_NVME_TCP_FES_HDGST_ERROR = 0x03,
	SL_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE = 0x04,
	SL_NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED = 0x05, /* R2T limit exceeded */
	SL_NVME_TCP_FES_UNSUPPORTED_PARAMETER = 0x06,
};

struct __attribute__((packed)) sl_nvme_tcp_term_req_hdr {
	struct sl_nvme_tcp_common_hdr common;
	uint16_t fes;
	uint32_t fei; /* field error information: byte offset of the bad field, or parameter */
	uint8_t rsvd[10];
};
static_assert(sizeof(struct sl_nvme_tcp_term_req_hdr) == 24, "TermReq header is 24 bytes");

struct __attribute__((packed)) sl_nvme_tcp_cmd {
	struct sl_nvme_tcp_common_hdr common;
	struct sl_nvme_cmd ccsqe;
};
static_assert(sizeof(struct sl_nvme_tcp_cmd) == 72, "CapsuleCmd header is 72 bytes");

struct __attribute__((packed)) sl_nvme_tcp_rsp {
	struct sl_nvme_tcp_common_hdr common;
	struct sl_nvme_cpl rccqe;
};
static_assert(sizeof(struct sl_nvme_tcp_rsp) == 24, "CapsuleResp header is 24 bytes");

/* H2CData and C2HData share a layout (ttag is reserved in C2HData). */
struct __attribute__((packed)) sl_nvme_tcp_data_hdr {
	struct sl_nvme_tcp_common_hdr common;
	uint16_t cccid;
	uint16_t ttag;
	uint32_t datao;
	uint32_t datal;
	uint8_t rsvd[4];
};
static_assert(sizeof(struct sl_nvme_tcp_data_hdr) == 24, "data PDU header is 24 bytes");

struct __attribute__((packed)) sl_nvme_tcp_r2t_hdr {
	struct sl_nvme_tcp_common_hdr common;
	uint16_t cccid;
	uint16_t ttag;
	uint32_t r2to;
	uint32_t r2tl;
	uint8_t rsvd[4];
};
static_assert(sizeof(struct sl_nvme_tcp_r2t_hdr) == 24, "R2T header is 24 bytes");

/* Largest PDU header (ICReq/ICResp) plus a header digest. */
#define SL_NVME_TCP_MAX_HDR_LEN (128 + SL_NVME_TCP_DIGEST_LEN)

#ifdef __cplusplus
}
#endif
#endif
