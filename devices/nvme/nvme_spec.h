/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme_spec.h - definitions of the NVM Express 1.4 specification used by
 * uvfio-nvme (the device) and by the userspace NVMe driver of the tests and
 * uvfio-bench (the host side). Names follow the specification; section
 * numbers refer to NVM Express Base Specification revision 1.4.
 *
 * Only the spec lives here: no state, no functions other than trivial
 * inline field accessors. All multi-byte fields are little endian, as the
 * specification defines them; uvfio runs on little-endian hosts only.
 */
#ifndef UVFIO_NVME_SPEC_H
#define UVFIO_NVME_SPEC_H

#include <stdint.h>
#include <assert.h>

/* ---- PCI identity (section 2, PCI header) ---- */
#define NVME_PCI_CLASS 0x010802u /* mass storage, NVM, NVM Express */

/* ---- Controller registers in BAR0 (section 3.1) ---- */
#define NVME_REG_CAP 0x00      /* 64-bit Controller Capabilities */
#define NVME_REG_VS 0x08       /* Version */
#define NVME_REG_INTMS 0x0c    /* Interrupt Mask Set */
#define NVME_REG_INTMC 0x10    /* Interrupt Mask Clear */
#define NVME_REG_CC 0x14       /* Controller Configuration */
#define NVME_REG_CSTS 0x1c     /* Controller Status */
#define NVME_REG_NSSR 0x20     /* NVM Subsystem Reset */
#define NVME_REG_AQA 0x24      /* Admin Queue Attributes */
#define NVME_REG_ASQ 0x28      /* 64-bit Admin SQ Base Address */
#define NVME_REG_ACQ 0x30      /* 64-bit Admin CQ Base Address */
#define NVME_REG_CMBLOC 0x38
#define NVME_REG_CMBSZ 0x3c
#define NVME_REG_DBS 0x1000    /* first doorbell (SQ 0 tail) */

/* Doorbell of SQ y tail / CQ y head, with CAP.DSTRD = dstrd (3.1.24/25) */
#define NVME_SQ_DB(y, dstrd) (NVME_REG_DBS + (2u * (y)) * (4u << (dstrd)))
#define NVME_CQ_DB(y, dstrd) (NVME_REG_DBS + (2u * (y) + 1u) * (4u << (dstrd)))

/* CAP (3.1.1) */
#define NVME_CAP_MQES(cap) ((uint32_t)((cap) & 0xffff))   /* 0's based */
#define NVME_CAP_CQR (1ull << 16)                           /* contiguous queues required */
#define NVME_CAP_AMS_SHIFT 17
#define NVME_CAP_TO_SHIFT 24          /* timeout in 500 ms units, 8 bits */
#define NVME_CAP_TO(cap) ((uint32_t)(((cap) >> 24) & 0xff))
#define NVME_CAP_DSTRD_SHIFT 32       /* doorbell stride 4 bits */
#define NVME_CAP_DSTRD(cap) ((uint32_t)(((cap) >> 32) & 0xf))
#define NVME_CAP_NSSRS (1ull << 36)
#define NVME_CAP_CSS_SHIFT 37         /* 8 bits */
#define NVME_CAP_CSS_NVM (1ull << 37)
#define NVME_CAP_BPS (1ull << 45)
#define NVME_CAP_MPSMIN_SHIFT 48      /* 4 bits, 2^(12+MPSMIN) */
#define NVME_CAP_MPSMIN(cap) ((uint32_t)(((cap) >> 48) & 0xf))
#define NVME_CAP_MPSMAX_SHIFT 52
#define NVME_CAP_MPSMAX(cap) ((uint32_t)(((cap) >> 52) & 0xf))

/* VS (3.1.2) */
#define NVME_VS(mjr, mnr, ter) (((uint32_t)(mjr) << 16) | ((uint32_t)(mnr) << 8) | (uint32_t)(ter))
#define NVME_VS_1_4 NVME_VS(1, 4, 0)

/* CC (3.1.5) */
#define NVME_CC_EN (1u << 0)
#define NVME_CC_CSS_SHIFT 4           /* 3 bits; 0 = NVM command set */
#define NVME_CC_CSS(cc) (((cc) >> 4) & 0x7)
#define NVME_CC_MPS_SHIFT 7           /* 4 bits, page = 2^(12+MPS) */
#define NVME_CC_MPS(cc) (((cc) >> 7) & 0xf)
#define NVME_CC_AMS_SHIFT 11          /* 3 bits; 0 = round robin */
#define NVME_CC_AMS(cc) (((cc) >> 11) & 0x7)
#define NVME_CC_SHN_SHIFT 14          /* 2 bits */
#define NVME_CC_SHN(cc) (((cc) >> 14) & 0x3)
#define NVME_CC_SHN_NONE 0u
#define NVME_CC_SHN_NORMAL 1u
#define NVME_CC_SHN_ABRUPT 2u
#define NVME_CC_IOSQES_SHIFT 16       /* 4 bits, 2^n bytes */
#define NVME_CC_IOSQES(cc) (((cc) >> 16) & 0xf)
#define NVME_CC_IOCQES_SHIFT 20
#define NVME_CC_IOCQES(cc) (((cc) >> 20) & 0xf)

/* CSTS (3.1.6) */
#define NVME_CSTS_RDY (1u << 0)
#define NVME_CSTS_CFS (1u << 1)        /* controller fatal status */
#define NVME_CSTS_SHST_SHIFT 2         /* 2 bits */
#define NVME_CSTS_SHST_MASK (3u << 2)
#define NVME_CSTS_SHST_NORMAL (0u << 2)
#define NVME_CSTS_SHST_OCCURRING (1u << 2)
#define NVME_CSTS_SHST_COMPLETE (2u << 2)
#define NVME_CSTS_NSSRO (1u << 4)
#define NVME_CSTS_PP (1u << 5)

/* NSSR value that starts an NVM subsystem reset ("NVMe") */
#define NVME_NSSR_MAGIC 0x4e564d65u

/* AQA (3.1.8): 0's based sizes, 12 bits each */
#define NVME_AQA_ASQS(aqa) ((aqa) & 0xfff)
#define NVME_AQA_ACQS(aqa) (((aqa) >> 16) & 0xfff)

/* ---- Queue entries (4.2, 4.6) ---- */
#define NVME_SQE_SIZE 64
#define NVME_CQE_SIZE 16
#define NVME_SQES_LOG2 6
#define NVME_CQES_LOG2 4
#define NVME_ADMIN_QUEUE_MAX 4096   /* AQA allows 4096 entries */
#define NVME_QUEUE_MIN 2            /* a queue has at least 2 entries */

/* Command dword 0 (4.2): opcode 7:0, FUSE 9:8, PSDT 15:14, CID 31:16 */
#define NVME_FLAGS_FUSE_MASK 0x03
#define NVME_FLAGS_PSDT_MASK 0xc0     /* 0 = PRPs, else SGLs */

/* Submission queue entry, common layout (figure 105) */
struct nvme_sqe {
    uint8_t opcode;
    uint8_t flags;        /* FUSE (bits 1:0), PSDT (bits 7:6) */
    uint16_t cid;
    uint32_t nsid;
    uint32_t cdw2;
    uint32_t cdw3;
    uint64_t mptr;
    uint64_t prp1;        /* DPTR: PRP entry 1 */
    uint64_t prp2;        /* DPTR: PRP entry 2 */
    uint32_t cdw10;
    uint32_t cdw11;
    uint32_t cdw12;
    uint32_t cdw13;
    uint32_t cdw14;
    uint32_t cdw15;
};
static_assert(sizeof(struct nvme_sqe) == NVME_SQE_SIZE, "SQE is 64 bytes");

/* Completion queue entry (figure 121) */
struct nvme_cqe {
    uint32_t dw0;         /* command specific */
    uint32_t dw1;         /* reserved */
    uint16_t sq_head;     /* SQHD */
    uint16_t sq_id;       /* SQID */
    uint16_t cid;
    uint16_t status;      /* bit 0: phase tag; bits 15:1 status field */
};
static_assert(sizeof(struct nvme_cqe) == NVME_CQE_SIZE, "CQE is 16 bytes");

/* Status field (4.6.1): SC 7:0, SCT 10:8, CRD 12:11, M 13, DNR 14,
 * here as the 15-bit value the CQE carries in bits 15:1. */
#define NVME_STATUS(sct, sc) ((uint16_t)(((sct) << 8) | (sc)))
#define NVME_STATUS_SC(st) ((st) & 0xff)
#define NVME_STATUS_SCT(st) (((st) >> 8) & 0x7)
#define NVME_STATUS_MORE (1u << 13)
#define NVME_STATUS_DNR (1u << 14)
/* a CQE status word from a status field and a phase tag */
#define NVME_CQE_STATUS(st, phase) ((uint16_t)(((st) << 1) | ((phase) & 1u)))

#define NVME_SCT_GENERIC 0
#define NVME_SCT_CMD_SPECIFIC 1
#define NVME_SCT_MEDIA 2
#define NVME_SCT_PATH 3
#define NVME_SCT_VENDOR 7

/* Generic command status (figure 126) */
#define NVME_SC_SUCCESS 0x00
#define NVME_SC_INVALID_OPCODE 0x01
#define NVME_SC_INVALID_FIELD 0x02
#define NVME_SC_CMDID_CONFLICT 0x03
#define NVME_SC_DATA_XFER_ERROR 0x04
#define NVME_SC_POWER_LOSS 0x05
#define NVME_SC_INTERNAL 0x06
#define NVME_SC_ABORT_REQ 0x07
#define NVME_SC_ABORT_QUEUE 0x08           /* aborted due to SQ deletion */
#define NVME_SC_FUSED_FAIL 0x09
#define NVME_SC_FUSED_MISSING 0x0a
#define NVME_SC_INVALID_NS 0x0b            /* invalid namespace or format */
#define NVME_SC_CMD_SEQ_ERROR 0x0c
#define NVME_SC_SGL_INVALID_LAST 0x0d
#define NVME_SC_SGL_INVALID_COUNT 0x0e
#define NVME_SC_SGL_INVALID_DATA 0x0f
#define NVME_SC_SGL_INVALID_METADATA 0x10
#define NVME_SC_SGL_INVALID_TYPE 0x11
#define NVME_SC_CMB_INVALID_USE 0x12
#define NVME_SC_PRP_INVALID_OFFSET 0x13
#define NVME_SC_ATOMIC_WU_EXCEEDED 0x14
#define NVME_SC_OP_DENIED 0x15
#define NVME_SC_SGL_INVALID_OFFSET 0x16
#define NVME_SC_HOSTID_INCONSISTENT 0x18
#define NVME_SC_KA_EXPIRED 0x19
#define NVME_SC_KA_INVALID 0x1a
#define NVME_SC_ABORT_PREEMPT 0x1b
#define NVME_SC_SANITIZE_FAILED 0x1c
#define NVME_SC_SANITIZE_IN_PROGRESS 0x1d
#define NVME_SC_SGL_INVALID_GRANULARITY 0x1e
#define NVME_SC_CMD_NOT_SUP_CMB_QUEUE 0x1f
#define NVME_SC_NS_WRITE_PROTECTED 0x20
#define NVME_SC_CMD_INTERRUPTED 0x21
#define NVME_SC_TRANSIENT_TRANSPORT 0x22
/* NVM command set generic status */
#define NVME_SC_LBA_RANGE 0x80
#define NVME_SC_CAP_EXCEEDED 0x81
#define NVME_SC_NS_NOT_READY 0x82
#define NVME_SC_RESERVATION_CONFLICT 0x83
#define NVME_SC_FORMAT_IN_PROGRESS 0x84

/* Command specific status (figure 127, 128) */
#define NVME_SC_CQ_INVALID 0x00            /* completion queue invalid */
#define NVME_SC_QID_INVALID 0x01           /* invalid queue identifier */
#define NVME_SC_QUEUE_SIZE 0x02            /* invalid queue size */
#define NVME_SC_ABORT_LIMIT 0x03           /* abort command limit exceeded */
#define NVME_SC_ASYNC_LIMIT 0x05           /* AER limit exceeded */
#define NVME_SC_FW_SLOT_INVALID 0x06
#define NVME_SC_FW_IMAGE_INVALID 0x07
#define NVME_SC_INT_VECTOR_INVALID 0x08    /* invalid interrupt vector */
#define NVME_SC_LOG_PAGE_INVALID 0x09
#define NVME_SC_FORMAT_INVALID 0x0a
#define NVME_SC_QUEUE_DELETION_INVALID 0x0c
#define NVME_SC_FEATURE_NOT_SAVEABLE 0x0d
#define NVME_SC_FEATURE_NOT_CHANGEABLE 0x0e
#define NVME_SC_FEATURE_NOT_NS_SPECIFIC 0x0f
#define NVME_SC_NS_INSUFFICIENT_CAP 0x15
#define NVME_SC_NS_ID_UNAVAILABLE 0x16
#define NVME_SC_NS_ALREADY_ATTACHED 0x18
#define NVME_SC_NS_IS_PRIVATE 0x19
#define NVME_SC_NS_NOT_ATTACHED 0x1a
#define NVME_SC_THIN_PROV_NOT_SUP 0x1b
#define NVME_SC_CTRL_LIST_INVALID 0x1c
#define NVME_SC_DEVICE_SELF_TEST_IN_PROGRESS 0x1d
#define NVME_SC_BP_WRITE_PROHIBITED 0x1e
#define NVME_SC_INVALID_CTRL_ID 0x1f
#define NVME_SC_INVALID_SEC_CTRL_STATE 0x20
#define NVME_SC_INVALID_CTRL_RESOURCES 0x21
#define NVME_SC_INVALID_RESOURCE_ID 0x22
/* NVM command set specific */
#define NVME_SC_CONFLICTING_ATTRS 0x80
#define NVME_SC_INVALID_PI 0x81
#define NVME_SC_READ_ONLY 0x82             /* attempted write to read only range */

/* Media and data integrity errors (figure 130) */
#define NVME_SC_WRITE_FAULT 0x80
#define NVME_SC_READ_ERROR 0x81
#define NVME_SC_ACCESS_DENIED 0x86
#define NVME_SC_UNWRITTEN_BLOCK 0x87

/* ---- Admin command opcodes (figure 139) ---- */
#define NVME_ADM_DELETE_SQ 0x00
#define NVME_ADM_CREATE_SQ 0x01
#define NVME_ADM_GET_LOG_PAGE 0x02
#define NVME_ADM_DELETE_CQ 0x04
#define NVME_ADM_CREATE_CQ 0x05
#define NVME_ADM_IDENTIFY 0x06
#define NVME_ADM_ABORT 0x08
#define NVME_ADM_SET_FEATURES 0x09
#define NVME_ADM_GET_FEATURES 0x0a
#define NVME_ADM_ASYNC_EVENT 0x0c
#define NVME_ADM_NS_MGMT 0x0d
#define NVME_ADM_FW_COMMIT 0x10
#define NVME_ADM_FW_DOWNLOAD 0x11
#define NVME_ADM_DEV_SELF_TEST 0x14
#define NVME_ADM_NS_ATTACH 0x15
#define NVME_ADM_KEEP_ALIVE 0x18
#define NVME_ADM_DIRECTIVE_SEND 0x19
#define NVME_ADM_DIRECTIVE_RECV 0x1a
#define NVME_ADM_VIRT_MGMT 0x1c
#define NVME_ADM_NVME_MI_SEND 0x1d
#define NVME_ADM_NVME_MI_RECV 0x1e
#define NVME_ADM_DBBUF_CONFIG 0x7c
#define NVME_ADM_FORMAT_NVM 0x80
#define NVME_ADM_SECURITY_SEND 0x81
#define NVME_ADM_SECURITY_RECV 0x82
#define NVME_ADM_SANITIZE 0x84
#define NVME_ADM_GET_LBA_STATUS 0x86

/* ---- NVM command set I/O opcodes (NVM command set, figure 346) ---- */
#define NVME_CMD_FLUSH 0x00
#define NVME_CMD_WRITE 0x01
#define NVME_CMD_READ 0x02
#define NVME_CMD_WRITE_UNCOR 0x04
#define NVME_CMD_COMPARE 0x05
#define NVME_CMD_WRITE_ZEROES 0x08
#define NVME_CMD_DSM 0x09
#define NVME_CMD_VERIFY 0x0c
#define NVME_CMD_RESV_REGISTER 0x0d
#define NVME_CMD_RESV_REPORT 0x0e
#define NVME_CMD_RESV_ACQUIRE 0x11
#define NVME_CMD_RESV_RELEASE 0x15

/* Read/Write (6.9, 6.15): SLBA = cdw11:cdw10, NLB = cdw12 15:0 (0's based) */
#define NVME_RW_NLB(cdw12) ((cdw12) & 0xffff)
#define NVME_RW_FUA (1u << 30)
#define NVME_RW_LR (1u << 31)
/* Write Zeroes (6.16): cdw12 bit 25 deallocate */
#define NVME_WZ_DEAC (1u << 25)
/* Dataset Management (6.7): cdw10 NR 7:0 (0's based), cdw11 attributes */
#define NVME_DSM_NR(cdw10) ((cdw10) & 0xff)
#define NVME_DSM_IDR (1u << 0)
#define NVME_DSM_IDW (1u << 1)
#define NVME_DSM_AD (1u << 2)
#define NVME_DSM_MAX_RANGES 256
struct nvme_dsm_range {
    uint32_t cattr;
    uint32_t nlb;         /* not 0's based */
    uint64_t slba;
};
static_assert(sizeof(struct nvme_dsm_range) == 16, "DSM range is 16 bytes");

/* ---- Create / Delete queues (5.3, 5.4, 5.5, 5.6) ---- */
/* cdw10: QID 15:0, QSIZE 31:16 (0's based) */
#define NVME_QUEUE_QID(cdw10) ((cdw10) & 0xffff)
#define NVME_QUEUE_QSIZE(cdw10) (((cdw10) >> 16) & 0xffff)
/* Create I/O CQ cdw11: PC bit 0, IEN bit 1, IV 31:16 */
#define NVME_CQ_PC (1u << 0)
#define NVME_CQ_IEN (1u << 1)
#define NVME_CQ_IV(cdw11) (((cdw11) >> 16) & 0xffff)
/* Create I/O SQ cdw11: PC bit 0, QPRIO 2:1, CQID 31:16 */
#define NVME_SQ_PC (1u << 0)
#define NVME_SQ_QPRIO(cdw11) (((cdw11) >> 1) & 0x3)
#define NVME_SQ_CQID(cdw11) (((cdw11) >> 16) & 0xffff)

/* ---- Abort (5.1): cdw10 SQID 15:0, CID 31:16; dw0 bit 0 = not aborted ---- */
#define NVME_ABORT_SQID(cdw10) ((cdw10) & 0xffff)
#define NVME_ABORT_CID(cdw10) (((cdw10) >> 16) & 0xffff)

/* ---- Identify (5.15): cdw10 CNS 7:0, CNTID 31:16 ---- */
#define NVME_ID_CNS(cdw10) ((cdw10) & 0xff)
#define NVME_ID_CNS_NS 0x00
#define NVME_ID_CNS_CTRL 0x01
#define NVME_ID_CNS_NS_ACTIVE_LIST 0x02
#define NVME_ID_CNS_NS_DESC_LIST 0x03
#define NVME_ID_CNS_NVMSET_LIST 0x04
#define NVME_ID_CNS_NS_PRESENT_LIST 0x10
#define NVME_ID_CNS_NS_PRESENT 0x11
#define NVME_ID_CNS_CTRL_NS_LIST 0x12
#define NVME_ID_CNS_CTRL_LIST 0x13
#define NVME_IDENTIFY_SIZE 4096

/* Namespace identification descriptor types (figure 249) */
#define NVME_NIDT_EUI64 0x01   /* 8 bytes */
#define NVME_NIDT_NGUID 0x02   /* 16 bytes */
#define NVME_NIDT_UUID 0x03    /* 16 bytes */
struct nvme_ns_id_desc {
    uint8_t nidt;
    uint8_t nidl;
    uint16_t rsvd;
    /* nidl bytes of identifier follow */
};

/* Power state descriptor (figure 248) */
struct nvme_id_power_state {
    uint16_t max_power;   /* centiwatts */
    uint8_t rsvd2;
    uint8_t flags;
    uint32_t entry_lat;   /* us */
    uint32_t exit_lat;    /* us */
    uint8_t read_tput;
    uint8_t read_lat;
    uint8_t write_tput;
    uint8_t write_lat;
    uint16_t idle_power;
    uint8_t idle_scale;
    uint8_t rsvd19;
    uint16_t active_power;
    uint8_t active_work_scale;
    uint8_t rsvd23[9];
};
static_assert(sizeof(struct nvme_id_power_state) == 32, "power state is 32 bytes");

/* Identify Controller data structure (figure 247) */
struct nvme_id_ctrl {
    uint16_t vid;             /* 0 */
    uint16_t ssvid;           /* 2 */
    char sn[20];              /* 4 */
    char mn[40];              /* 24 */
    char fr[8];               /* 64 */
    uint8_t rab;              /* 72 */
    uint8_t ieee[3];          /* 73 */
    uint8_t cmic;             /* 76 */
    uint8_t mdts;             /* 77: 2^n min pages, 0 = no limit */
    uint16_t cntlid;          /* 78 */
    uint32_t ver;             /* 80 */
    uint32_t rtd3r;           /* 84 */
    uint32_t rtd3e;           /* 88 */
    uint32_t oaes;            /* 92 */
    uint32_t ctratt;          /* 96 */
    uint16_t rrls;            /* 100 */
    uint8_t rsvd102[9];       /* 102 */
    uint8_t cntrltype;        /* 111: 1 = I/O controller */
    uint8_t fguid[16];        /* 112 */
    uint16_t crdt1, crdt2, crdt3; /* 128 */
    uint8_t rsvd134[122];     /* 134 */
    uint16_t oacs;            /* 256 */
    uint8_t acl;              /* 258: 0's based */
    uint8_t aerl;             /* 259: 0's based */
    uint8_t frmw;             /* 260 */
    uint8_t lpa;              /* 261 */
    uint8_t elpe;             /* 262: 0's based */
    uint8_t npss;             /* 263: 0's based */
    uint8_t avscc;            /* 264 */
    uint8_t apsta;            /* 265 */
    uint16_t wctemp;          /* 266 */
    uint16_t cctemp;          /* 268 */
    uint16_t mtfa;            /* 270 */
    uint32_t hmpre;           /* 272 */
    uint32_t hmmin;           /* 276 */
    uint8_t tnvmcap[16];      /* 280 */
    uint8_t unvmcap[16];      /* 296 */
    uint32_t rpmbs;           /* 312 */
    uint16_t edstt;           /* 316 */
    uint8_t dsto;             /* 318 */
    uint8_t fwug;             /* 319 */
    uint16_t kas;             /* 320 */
    uint16_t hctma;           /* 322 */
    uint16_t mntmt;           /* 324 */
    uint16_t mxtmt;           /* 326 */
    uint32_t sanicap;         /* 328 */
    uint32_t hmminds;         /* 332 */
    uint16_t hmmaxd;          /* 336 */
    uint16_t nsetidmax;       /* 338 */
    uint16_t endgidmax;       /* 340 */
    uint8_t anatt;            /* 342 */
    uint8_t anacap;           /* 343 */
    uint32_t anagrpmax;       /* 344 */
    uint32_t nanagrpid;       /* 348 */
    uint32_t pels;            /* 352 */
    uint8_t rsvd356[156];     /* 356 */
    uint8_t sqes;             /* 512: max 7:4, required 3:0 (log2) */
    uint8_t cqes;             /* 513 */
    uint16_t maxcmd;          /* 514 */
    uint32_t nn;              /* 516: number of namespaces */
    uint16_t oncs;            /* 520 */
    uint16_t fuses;           /* 522 */
    uint8_t fna;              /* 524 */
    uint8_t vwc;              /* 525 */
    uint16_t awun;            /* 526 */
    uint16_t awupf;           /* 528 */
    uint8_t nvscc;            /* 530 */
    uint8_t nwpc;             /* 531 */
    uint16_t acwu;            /* 532 */
    uint16_t rsvd534;         /* 534 */
    uint32_t sgls;            /* 536 */
    uint32_t mnan;            /* 540 */
    uint8_t rsvd544[224];     /* 544 */
    char subnqn[256];         /* 768 */
    uint8_t rsvd1024[768];    /* 1024 */
    uint8_t nvmeof[256];      /* 1792 */
    struct nvme_id_power_state psd[32]; /* 2048 */
    uint8_t vs[1024];         /* 3072 */
};
static_assert(sizeof(struct nvme_id_ctrl) == NVME_IDENTIFY_SIZE, "identify controller is 4 KiB");

/* OACS bits */
#define NVME_OACS_SECURITY (1u << 0)
#define NVME_OACS_FORMAT (1u << 1)
#define NVME_OACS_FW (1u << 2)
#define NVME_OACS_NS_MGMT (1u << 3)
#define NVME_OACS_SELF_TEST (1u << 4)
#define NVME_OACS_DIRECTIVES (1u << 5)
#define NVME_OACS_NVME_MI (1u << 6)
#define NVME_OACS_VIRT_MGMT (1u << 7)
#define NVME_OACS_DBBUF (1u << 8)
/* ONCS bits */
#define NVME_ONCS_COMPARE (1u << 0)
#define NVME_ONCS_WRITE_UNCOR (1u << 1)
#define NVME_ONCS_DSM (1u << 2)
#define NVME_ONCS_WRITE_ZEROES (1u << 3)
#define NVME_ONCS_SAVE_FEAT (1u << 4)
#define NVME_ONCS_RESERVATIONS (1u << 5)
#define NVME_ONCS_TIMESTAMP (1u << 6)
#define NVME_ONCS_VERIFY (1u << 7)
/* LPA bits */
#define NVME_LPA_SMART_PER_NS (1u << 0)
#define NVME_LPA_CMD_EFFECTS (1u << 1)
#define NVME_LPA_EXT_DATA (1u << 2)
/* OAES bits */
#define NVME_OAES_NS_ATTR (1u << 8)
#define NVME_OAES_FW_ACT (1u << 9)
/* VWC: bit 0 volatile write cache present */
#define NVME_VWC_PRESENT (1u << 0)
/* FRMW: bit 0 slot 1 read only, bits 3:1 number of slots */

/* LBA format (figure 251) */
struct nvme_lbaf {
    uint16_t ms;          /* metadata size */
    uint8_t ds;           /* LBA data size, log2 */
    uint8_t rp;           /* relative performance */
};

/* Identify Namespace data structure (figure 249/250) */
struct nvme_id_ns {
    uint64_t nsze;            /* 0 */
    uint64_t ncap;            /* 8 */
    uint64_t nuse;            /* 16 */
    uint8_t nsfeat;           /* 24 */
    uint8_t nlbaf;            /* 25: 0's based */
    uint8_t flbas;            /* 26 */
    uint8_t mc;               /* 27 */
    uint8_t dpc;              /* 28 */
    uint8_t dps;              /* 29 */
    uint8_t nmic;             /* 30 */
    uint8_t rescap;           /* 31 */
    uint8_t fpi;              /* 32 */
    uint8_t dlfeat;           /* 33 */
    uint16_t nawun;           /* 34 */
    uint16_t nawupf;          /* 36 */
    uint16_t nacwu;           /* 38 */
    uint16_t nabsn;           /* 40 */
    uint16_t nabo;            /* 42 */
    uint16_t nabspf;          /* 44 */
    uint16_t noiob;           /* 46 */
    uint8_t nvmcap[16];       /* 48 */
    uint16_t npwg;            /* 64 */
    uint16_t npwa;            /* 66 */
    uint16_t npdg;            /* 68 */
    uint16_t npda;            /* 70 */
    uint16_t nows;            /* 72 */
    uint8_t rsvd74[18];       /* 74 */
    uint32_t anagrpid;        /* 92 */
    uint8_t rsvd96[3];        /* 96 */
    uint8_t nsattr;           /* 99 */
    uint16_t nvmsetid;        /* 100 */
    uint16_t endgid;          /* 102 */
    uint8_t nguid[16];        /* 104 */
    uint8_t eui64[8];         /* 120 */
    struct nvme_lbaf lbaf[16];/* 128 */
    uint8_t rsvd192[192];     /* 192 */
    uint8_t vs[3712];         /* 384 */
};
static_assert(sizeof(struct nvme_id_ns) == NVME_IDENTIFY_SIZE, "identify namespace is 4 KiB");
/* NSFEAT bits */
#define NVME_NSFEAT_THIN (1u << 0)
#define NVME_NSFEAT_DAE (1u << 2)     /* deallocated/unwritten error supported */
/* DLFEAT: bits 2:0 read of deallocated block: 1 = all zeroes;
 * bit 3 Write Zeroes deallocate supported */
#define NVME_DLFEAT_ZEROES 0x01
#define NVME_DLFEAT_WZ_DEAC (1u << 3)

/* ---- Get / Set Features (5.14, 5.21): cdw10 FID 7:0, SEL 10:8 (get),
 * SV bit 31 (set) ---- */
#define NVME_FEAT_FID(cdw10) ((cdw10) & 0xff)
#define NVME_FEAT_SEL(cdw10) (((cdw10) >> 8) & 0x7)
#define NVME_FEAT_SEL_CURRENT 0
#define NVME_FEAT_SEL_DEFAULT 1
#define NVME_FEAT_SEL_SAVED 2
#define NVME_FEAT_SEL_SUPPORTED 3
#define NVME_FEAT_SV (1u << 31)
#define NVME_FEAT_ARBITRATION 0x01
#define NVME_FEAT_POWER_MGMT 0x02
#define NVME_FEAT_LBA_RANGE 0x03
#define NVME_FEAT_TEMP_THRESH 0x04
#define NVME_FEAT_ERR_RECOVERY 0x05
#define NVME_FEAT_VOLATILE_WC 0x06
#define NVME_FEAT_NUM_QUEUES 0x07
#define NVME_FEAT_IRQ_COALESCE 0x08
#define NVME_FEAT_IRQ_CONFIG 0x09
#define NVME_FEAT_WRITE_ATOMIC 0x0a
#define NVME_FEAT_ASYNC_EVENT 0x0b
#define NVME_FEAT_AUTO_PST 0x0c
#define NVME_FEAT_HOST_MEM_BUF 0x0d
#define NVME_FEAT_TIMESTAMP 0x0e
#define NVME_FEAT_KATO 0x0f
#define NVME_FEAT_HCTM 0x10
#define NVME_FEAT_NOPSC 0x11
#define NVME_FEAT_RRL 0x12
#define NVME_FEAT_PLM_CONFIG 0x13
#define NVME_FEAT_PLM_WINDOW 0x14
#define NVME_FEAT_HOST_BEHAVIOR 0x16
#define NVME_FEAT_SANITIZE 0x17
#define NVME_FEAT_HOST_ID 0x81
#define NVME_FEAT_RESV_MASK 0x82
#define NVME_FEAT_RESV_PERSIST 0x83
#define NVME_FEAT_WRITE_PROTECT 0x84
/* Get Features "supported capabilities" (SEL 3) dw0 bits */
#define NVME_FEAT_CAP_SAVE (1u << 0)
#define NVME_FEAT_CAP_NS (1u << 1)
#define NVME_FEAT_CAP_CHANGE (1u << 2)

/* ---- Get Log Page (5.14): cdw10 LID 7:0, LSP 11:8, RAE 15, NUMDL 31:16;
 * cdw11 NUMDU 15:0; cdw12/13 LPOL/LPOU (byte offset, dword aligned) ---- */
#define NVME_LOG_LID(cdw10) ((cdw10) & 0xff)
#define NVME_LOG_RAE (1u << 15)
#define NVME_LOG_NUMDL(cdw10) (((cdw10) >> 16) & 0xffff)
#define NVME_LOG_NUMDU(cdw11) ((cdw11) & 0xffff)
#define NVME_LOG_ERROR 0x01
#define NVME_LOG_SMART 0x02
#define NVME_LOG_FW_SLOT 0x03
#define NVME_LOG_CHANGED_NS 0x04
#define NVME_LOG_CMD_EFFECTS 0x05

/* Error information log entry (figure 194) */
struct nvme_error_log {
    uint64_t error_count;
    uint16_t sqid;
    uint16_t cid;
    uint16_t status;      /* status field, bits 15:1 as in the CQE, bit 0 phase */
    uint16_t param_loc;   /* byte 7:0, bit 10:8 */
    uint64_t lba;
    uint32_t nsid;
    uint8_t vs;
    uint8_t trtype;
    uint8_t rsvd30[2];
    uint64_t cs;
    uint16_t trtype_spec;
    uint8_t rsvd42[22];
};
static_assert(sizeof(struct nvme_error_log) == 64, "error log entry is 64 bytes");

/* SMART / Health information log (figure 196) */
struct nvme_smart_log {
    uint8_t critical_warning;
    uint8_t temperature[2];   /* Kelvin */
    uint8_t avail_spare;
    uint8_t spare_thresh;
    uint8_t percent_used;
    uint8_t endu_grp_crit;
    uint8_t rsvd7[25];
    uint8_t data_units_read[16];     /* 1000 * 512 bytes units */
    uint8_t data_units_written[16];
    uint8_t host_reads[16];
    uint8_t host_writes[16];
    uint8_t ctrl_busy_time[16];
    uint8_t power_cycles[16];
    uint8_t power_on_hours[16];
    uint8_t unsafe_shutdowns[16];
    uint8_t media_errors[16];
    uint8_t num_err_log_entries[16];
    uint32_t warning_temp_time;
    uint32_t critical_comp_time;
    uint16_t temp_sensor[8];
    uint32_t thm_temp1_trans_count;
    uint32_t thm_temp2_trans_count;
    uint32_t thm_temp1_total_time;
    uint32_t thm_temp2_total_time;
    uint8_t rsvd232[280];
};
static_assert(sizeof(struct nvme_smart_log) == 512, "SMART log is 512 bytes");

/* Firmware slot information log (figure 197) */
struct nvme_fw_slot_log {
    uint8_t afi;          /* active slot 2:0, next slot 6:4 */
    uint8_t rsvd1[7];
    char frs[7][8];       /* firmware revision of slots 1..7 */
    uint8_t rsvd64[448];
};
static_assert(sizeof(struct nvme_fw_slot_log) == 512, "firmware slot log is 512 bytes");

/* ---- Asynchronous events (5.2): completion dw0 ---- */
#define NVME_AER_TYPE_ERROR 0u
#define NVME_AER_TYPE_SMART 1u
#define NVME_AER_TYPE_NOTICE 2u
#define NVME_AER_TYPE_IO_CMD_SPECIFIC 6u
#define NVME_AER_TYPE_VENDOR 7u
/* Error status information (figure 145) */
#define NVME_AER_ERR_INVALID_DB 0x00      /* write to invalid doorbell register */
#define NVME_AER_ERR_INVALID_DB_VALUE 0x01
#define NVME_AER_ERR_DIAG_FAIL 0x02
#define NVME_AER_ERR_PERSISTENT_INTERNAL 0x03
#define NVME_AER_ERR_TRANSIENT_INTERNAL 0x04
#define NVME_AER_ERR_FW_IMAGE_LOAD 0x05
/* dw0: type 2:0, info 15:8, log page 23:16 */
#define NVME_AER_DW0(type, info, lid) \
    ((uint32_t)(type) | ((uint32_t)(info) << 8) | ((uint32_t)(lid) << 16))

/* ---- Doorbell Buffer Config (5.7): PRP1 shadow doorbells, PRP2 EventIdx,
 * one 4 KiB page each, same layout as the doorbell registers with stride 4 ---- */

/* ---- PRPs (4.3) ---- */
#define NVME_PRP_ENTRY_SIZE 8

#endif /* UVFIO_NVME_SPEC_H */
