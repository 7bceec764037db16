/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio/protocol.h — the vfio-user wire format.
 *
 * Every layout of the vfio-user specification (qemu/qemu,
 * docs/interop/vfio-user.rst) and of its common extensions
 * (REGION_WRITE_MULTI, DEVICE_FEATURE, MIG_DATA_READ/WRITE). Offsets in the
 * comments are from the end of the 16-byte header, as in the specification.
 * Structures the protocol shares with VFIO come from <linux/vfio.h>.
 * All data is in host byte order.
 *
 * This header only declares types and constants; it is safe to include from
 * any thread and needs no library call.
 */
#ifndef UVFIO_PROTOCOL_H
#define UVFIO_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>
#include <linux/vfio.h>

#include "uvfio/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version ------------------------------------------------------------ */

/** Protocol version this library speaks (and proposes). */
#define UVFIO_PROTO_MAJOR 0
#define UVFIO_PROTO_MINOR 1

/* ---- Commands ----------------------------------------------------------- */

enum uvfio_cmd {
	UVFIO_CMD_VERSION = 1,
	UVFIO_CMD_DMA_MAP = 2,
	UVFIO_CMD_DMA_UNMAP = 3,
	UVFIO_CMD_DEVICE_GET_INFO = 4,
	UVFIO_CMD_DEVICE_GET_REGION_INFO = 5,
	UVFIO_CMD_DEVICE_GET_REGION_IO_FDS = 6,
	UVFIO_CMD_DEVICE_GET_IRQ_INFO = 7,
	UVFIO_CMD_DEVICE_SET_IRQS = 8,
	UVFIO_CMD_REGION_READ = 9,
	UVFIO_CMD_REGION_WRITE = 10,
	UVFIO_CMD_DMA_READ = 11,
	UVFIO_CMD_DMA_WRITE = 12,
	UVFIO_CMD_DEVICE_RESET = 13,
	/* 14 was DIRTY_PAGES in an early draft; it is not part of the protocol. */
	UVFIO_CMD_REGION_WRITE_MULTI = 15,
	UVFIO_CMD_DEVICE_FEATURE = 16,
	UVFIO_CMD_MIG_DATA_READ = 17,
	UVFIO_CMD_MIG_DATA_WRITE = 18,
	UVFIO_CMD_MAX = 19, /* one past the highest command number */
};

/* ---- Header ------------------------------------------------------------- */

#define UVFIO_FLAGS_TYPE_MASK 0xfu
#define UVFIO_FLAGS_TYPE_COMMAND 0x0u
#define UVFIO_FLAGS_TYPE_REPLY 0x1u
#define UVFIO_FLAGS_NO_REPLY (1u << 4)
#define UVFIO_FLAGS_ERROR (1u << 5)
/** Bits a message may carry; any other bit is reserved and rejected. */
#define UVFIO_FLAGS_KNOWN (UVFIO_FLAGS_TYPE_MASK | UVFIO_FLAGS_NO_REPLY | UVFIO_FLAGS_ERROR)

struct uvfio_hdr {
	uint16_t msg_id;   /* 0: echoed in the reply */
	uint16_t cmd;      /* 2: enum uvfio_cmd */
	uint32_t msg_size; /* 4: whole message, header included */
	uint32_t flags;    /* 8: UVFIO_FLAGS_* */
	uint32_t error_no; /* 12: errno of an error reply */
} __attribute__((packed));

#define UVFIO_HDR_SIZE 16u

/* ---- VERSION (1) -------------------------------------------------------- */

struct uvfio_version {
	uint16_t major;
	uint16_t minor;
	char data[]; /* optional NUL-terminated JSON */
} __attribute__((packed));

/* Capability defaults the specification gives for absent keys. */
#define UVFIO_DEFAULT_MAX_MSG_FDS 1u
#define UVFIO_DEFAULT_MAX_DATA_XFER_SIZE (1024u * 1024u)
#define UVFIO_DEFAULT_MAX_DMA_MAPS 65535u
#define UVFIO_DEFAULT_PGSIZES 4096ull

/* ---- DMA_MAP (2) / DMA_UNMAP (3) ----------------------------------------- */

#define UVFIO_DMA_FLAG_READ (1u << 0)
#define UVFIO_DMA_FLAG_WRITE (1u << 1)

struct uvfio_dma_map {
	uint32_t argsz;  /* 0: sizeof this structure */
	uint32_t flags;  /* 4: UVFIO_DMA_FLAG_* */
	uint64_t offset; /* 8: file offset of the region in the passed fd */
	uint64_t addr;   /* 16: base DMA address (IOVA) */
	uint64_t size;   /* 24 */
} __attribute__((packed));

/* DMA_UNMAP flags (VFIO's values): the specification defines none; QEMU
 * sends ALL (address and size 0) to drop every mapping; GET_DIRTY_BITMAP
 * is VFIO's first dirty-page interface, which libvfio-user still serves. */
#define UVFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP (1u << 0)
#define UVFIO_DMA_UNMAP_FLAG_ALL (1u << 1)

struct uvfio_dma_unmap {
	uint32_t argsz; /* 0: maximum reply payload */
	uint32_t flags; /* 4: 0 or UVFIO_DMA_UNMAP_FLAG_ALL */
	uint64_t addr;  /* 8 */
	uint64_t size;  /* 16 */
} __attribute__((packed));

/* ---- DEVICE_GET_INFO (4) ------------------------------------------------ */

struct uvfio_device_info {
	uint32_t argsz;       /* 0 */
	uint32_t flags;       /* 4: VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI */
	uint32_t num_regions; /* 8 */
	uint32_t num_irqs;    /* 12 */
} __attribute__((packed));

/* ---- DEVICE_GET_REGION_INFO (5) ------------------------------------------
 * struct vfio_region_info from <linux/vfio.h>, followed by a capability chain
 * of struct vfio_info_cap_header entries (VFIO_REGION_INFO_CAP_SPARSE_MMAP
 * with struct vfio_region_info_cap_sparse_mmap, VFIO_REGION_INFO_CAP_TYPE
 * with struct vfio_region_info_cap_type). cap_offset and next are relative
 * to the start of struct vfio_region_info. */

/* ---- DEVICE_GET_REGION_IO_FDS (6) ---------------------------------------- */

#define UVFIO_IO_FD_TYPE_IOEVENTFD 0u
#define UVFIO_IO_FD_TYPE_IOREGIONFD 1u
#define UVFIO_IO_FD_TYPE_IOEVENTFD_SHADOW 2u /* libvfio-user extension */
/* Sub-region flags of an ioeventfd: KVM_IOEVENTFD_FLAG_* of <linux/kvm.h>. */
#define UVFIO_IO_FD_FLAG_DATAMATCH (1u << 0)
#define UVFIO_IO_FD_FLAG_PIO (1u << 1)

struct uvfio_region_io_fds_request {
	uint32_t argsz; /* 0 */
	uint32_t flags; /* 4: must be 0 */
	uint32_t index; /* 8 */
	uint32_t count; /* 12: must be 0 */
} __attribute__((packed));

struct uvfio_sub_region_ioeventfd {
	uint64_t offset;    /* 0 */
	uint64_t size;      /* 8 */
	uint32_t fd_index;  /* 16 */
	uint32_t type;      /* 20: UVFIO_IO_FD_TYPE_IOEVENTFD */
	uint32_t flags;     /* 24: KVM_IOEVENTFD_FLAG_* */
	uint32_t padding;   /* 28 */
	uint64_t datamatch; /* 32 */
} __attribute__((packed));

struct uvfio_sub_region_ioregionfd {
	uint64_t offset;    /* 0 */
	uint64_t size;      /* 8 */
	uint32_t fd_index;  /* 16 */
	uint32_t type;      /* 20: UVFIO_IO_FD_TYPE_IOREGIONFD */
	uint32_t flags;     /* 24: KVM_IOREGION_* */
	uint32_t padding;   /* 28 */
	uint64_t user_data; /* 32 */
} __attribute__((packed));

struct uvfio_region_io_fds_reply {
	uint32_t argsz; /* 0: 16 + count * entry size */
	uint32_t flags; /* 4 */
	uint32_t index; /* 8 */
	uint32_t count; /* 12 */
	/* 16: count sub-region entries of (argsz - 16) / count bytes each */
} __attribute__((packed));

/* ---- DEVICE_GET_IRQ_INFO (7): struct vfio_irq_info -----------------------
 * ---- DEVICE_SET_IRQS (8): struct vfio_irq_set (+ bool bytes) ------------- */

/* ---- REGION_READ (9) / REGION_WRITE (10) --------------------------------- */

struct uvfio_region_access {
	uint64_t offset; /* 0 */
	uint32_t region; /* 8 */
	uint32_t count;  /* 12 */
	uint8_t data[];  /* 16: read reply / write request */
} __attribute__((packed));

/* ---- DMA_READ (11) / DMA_WRITE (12): server to client ------------------- */

struct uvfio_dma_access {
	uint64_t addr;  /* 0 */
	uint64_t count; /* 8 */
	uint8_t data[]; /* 16: read reply / write request */
} __attribute__((packed));

/*
 * The same messages as QEMU's client (vfio-user-pci) speaks them, which is
 * the specification's layout before May 2021: a 4-byte count, data from
 * byte 12 of the payload (28 of the message), and a message size of
 * 32 + count because QEMU's C structure is padded to 8 bytes: 4 bytes of
 * padding follow the data. Which layout a client speaks cannot be told from
 * the bytes; see struct uvfio_server_config.dma_layout and docs/INTEROP.md.
 */
struct uvfio_dma_access32 {
	uint64_t addr;  /* 0 */
	uint32_t count; /* 8 */
	uint8_t data[]; /* 12: read reply / write request, then the padding */
} __attribute__((packed));
#define UVFIO_DMA_ACCESS32_PAD 4u /* bytes after the data */

/* The DMA_WRITE reply as the specification draws it: a 4-byte count. */
struct uvfio_dma_write_reply {
	uint64_t addr;  /* 0 */
	uint32_t count; /* 8 */
} __attribute__((packed));

/* ---- REGION_WRITE_MULTI (15) --------------------------------------------- */

#define UVFIO_WRITE_MULTI_DATA_MAX 8u
/* Most entries uvfio's client puts in one message. The specification sets
 * no maximum (QEMU sends up to 200); uvfio's server takes any number that
 * fits the message size it accepts. */
#define UVFIO_WRITE_MULTI_MAX 64u

struct uvfio_write_multi_entry {
	uint64_t offset; /* 0 */
	uint32_t region; /* 8 */
	uint32_t count;  /* 12: 1..8 */
	uint8_t data[UVFIO_WRITE_MULTI_DATA_MAX]; /* 16 */
} __attribute__((packed));

struct uvfio_write_multi {
	uint64_t wr_cnt; /* 0 */
	struct uvfio_write_multi_entry wrs[]; /* 8 */
} __attribute__((packed));

struct uvfio_write_multi_reply {
	uint64_t wr_cnt; /* 0: writes completed */
} __attribute__((packed));

/* ---- DEVICE_FEATURE (16) ---------------------------------------------------
 * struct vfio_device_feature from <linux/vfio.h>: argsz, flags (feature index
 * in the low 16 bits, GET/SET/PROBE above), then feature data. */

struct uvfio_device_feature {
	uint32_t argsz; /* 0 */
	uint32_t flags; /* 4: VFIO_DEVICE_FEATURE_* */
	uint8_t data[]; /* 8 */
} __attribute__((packed));

/* Feature indexes vfio-user supports. */
#define UVFIO_FEATURE_MIGRATION 1u
#define UVFIO_FEATURE_MIG_DEVICE_STATE 2u
#define UVFIO_FEATURE_DMA_LOGGING_START 6u
#define UVFIO_FEATURE_DMA_LOGGING_STOP 7u
#define UVFIO_FEATURE_DMA_LOGGING_REPORT 8u

/* VFIO_DEVICE_FEATURE_MIGRATION data (flags). PRE_COPY postdates some
 * kernel headers, so all three are defined here under our prefix. */
#define UVFIO_MIGRATION_STOP_COPY (1ull << 0)
#define UVFIO_MIGRATION_P2P (1ull << 1)
#define UVFIO_MIGRATION_PRE_COPY (1ull << 2)

struct uvfio_feature_migration {
	uint64_t flags; /* 0 */
} __attribute__((packed));

/* States of the migration state machine (enum vfio_device_mig_state). */
enum uvfio_mig_state {
	UVFIO_MIG_STATE_ERROR = 0,
	UVFIO_MIG_STATE_STOP = 1,
	UVFIO_MIG_STATE_RUNNING = 2,
	UVFIO_MIG_STATE_STOP_COPY = 3,
	UVFIO_MIG_STATE_RESUMING = 4,
	UVFIO_MIG_STATE_RUNNING_P2P = 5,
	UVFIO_MIG_STATE_PRE_COPY = 6,
	UVFIO_MIG_STATE_PRE_COPY_P2P = 7,
};

struct uvfio_feature_mig_state {
	uint32_t device_state; /* 0: enum uvfio_mig_state */
	uint32_t data_fd;      /* 4: unused in vfio-user */
} __attribute__((packed));

struct uvfio_dma_logging_range {
	uint64_t iova;   /* 0 */
	uint64_t length; /* 8 */
} __attribute__((packed));

struct uvfio_dma_logging_control {
	uint64_t page_size;  /* 0 */
	uint32_t num_ranges; /* 8: 0 logs every write */
	uint32_t reserved;   /* 12 */
	struct uvfio_dma_logging_range ranges[]; /* 16 */
} __attribute__((packed));

struct uvfio_dma_logging_report {
	uint64_t iova;      /* 0 */
	uint64_t length;    /* 8 */
	uint64_t page_size; /* 16: a power of two */
	uint64_t bitmap[];  /* 24: in the reply only */
} __attribute__((packed));

/* ---- MIG_DATA_READ (17) / MIG_DATA_WRITE (18) ---------------------------- */

struct uvfio_mig_data {
	uint32_t argsz; /* 0 */
	uint32_t size;  /* 4 */
	uint8_t data[]; /* 8: read reply / write request */
} __attribute__((packed));

/* ---- Layout checks ------------------------------------------------------ */

#define UVFIO_CHECK_LAYOUT(type, size_) \
	_Static_assert(sizeof(type) == (size_), #type " must be " #size_ " bytes")
#define UVFIO_CHECK_FIELD(type, field, off) \
	_Static_assert(offsetof(type, field) == (off), #type "." #field " must be at " #off)

UVFIO_CHECK_LAYOUT(struct uvfio_hdr, 16);
UVFIO_CHECK_FIELD(struct uvfio_hdr, msg_id, 0);
UVFIO_CHECK_FIELD(struct uvfio_hdr, cmd, 2);
UVFIO_CHECK_FIELD(struct uvfio_hdr, msg_size, 4);
UVFIO_CHECK_FIELD(struct uvfio_hdr, flags, 8);
UVFIO_CHECK_FIELD(struct uvfio_hdr, error_no, 12);

UVFIO_CHECK_LAYOUT(struct uvfio_version, 4);
UVFIO_CHECK_FIELD(struct uvfio_version, major, 0);
UVFIO_CHECK_FIELD(struct uvfio_version, minor, 2);
UVFIO_CHECK_FIELD(struct uvfio_version, data, 4);

UVFIO_CHECK_LAYOUT(struct uvfio_dma_map, 32);
UVFIO_CHECK_FIELD(struct uvfio_dma_map, argsz, 0);
UVFIO_CHECK_FIELD(struct uvfio_dma_map, flags, 4);
UVFIO_CHECK_FIELD(struct uvfio_dma_map, offset, 8);
UVFIO_CHECK_FIELD(struct uvfio_dma_map, addr, 16);
UVFIO_CHECK_FIELD(struct uvfio_dma_map, size, 24);

UVFIO_CHECK_LAYOUT(struct uvfio_dma_unmap, 24);
UVFIO_CHECK_FIELD(struct uvfio_dma_unmap, argsz, 0);
UVFIO_CHECK_FIELD(struct uvfio_dma_unmap, flags, 4);
UVFIO_CHECK_FIELD(struct uvfio_dma_unmap, addr, 8);
UVFIO_CHECK_FIELD(struct uvfio_dma_unmap, size, 16);

UVFIO_CHECK_LAYOUT(struct uvfio_device_info, 16);
UVFIO_CHECK_FIELD(struct uvfio_device_info, flags, 4);
UVFIO_CHECK_FIELD(struct uvfio_device_info, num_regions, 8);
UVFIO_CHECK_FIELD(struct uvfio_device_info, num_irqs, 12);

UVFIO_CHECK_LAYOUT(struct vfio_region_info, 32);
UVFIO_CHECK_FIELD(struct vfio_region_info, argsz, 0);
UVFIO_CHECK_FIELD(struct vfio_region_info, flags, 4);
UVFIO_CHECK_FIELD(struct vfio_region_info, index, 8);
UVFIO_CHECK_FIELD(struct vfio_region_info, cap_offset, 12);
UVFIO_CHECK_FIELD(struct vfio_region_info, size, 16);
UVFIO_CHECK_FIELD(struct vfio_region_info, offset, 24);

UVFIO_CHECK_LAYOUT(struct vfio_info_cap_header, 8);
UVFIO_CHECK_FIELD(struct vfio_info_cap_header, id, 0);
UVFIO_CHECK_FIELD(struct vfio_info_cap_header, version, 2);
UVFIO_CHECK_FIELD(struct vfio_info_cap_header, next, 4);

UVFIO_CHECK_LAYOUT(struct vfio_region_sparse_mmap_area, 16);
UVFIO_CHECK_FIELD(struct vfio_region_sparse_mmap_area, offset, 0);
UVFIO_CHECK_FIELD(struct vfio_region_sparse_mmap_area, size, 8);
UVFIO_CHECK_LAYOUT(struct vfio_region_info_cap_sparse_mmap, 16);
UVFIO_CHECK_FIELD(struct vfio_region_info_cap_sparse_mmap, nr_areas, 8);
UVFIO_CHECK_FIELD(struct vfio_region_info_cap_sparse_mmap, areas, 16);
UVFIO_CHECK_LAYOUT(struct vfio_region_info_cap_type, 16);
UVFIO_CHECK_FIELD(struct vfio_region_info_cap_type, type, 8);
UVFIO_CHECK_FIELD(struct vfio_region_info_cap_type, subtype, 12);

UVFIO_CHECK_LAYOUT(struct uvfio_region_io_fds_request, 16);
UVFIO_CHECK_FIELD(struct uvfio_region_io_fds_request, index, 8);
UVFIO_CHECK_FIELD(struct uvfio_region_io_fds_request, count, 12);
UVFIO_CHECK_LAYOUT(struct uvfio_region_io_fds_reply, 16);
UVFIO_CHECK_LAYOUT(struct uvfio_sub_region_ioeventfd, 40);
UVFIO_CHECK_FIELD(struct uvfio_sub_region_ioeventfd, size, 8);
UVFIO_CHECK_FIELD(struct uvfio_sub_region_ioeventfd, fd_index, 16);
UVFIO_CHECK_FIELD(struct uvfio_sub_region_ioeventfd, type, 20);
UVFIO_CHECK_FIELD(struct uvfio_sub_region_ioeventfd, flags, 24);
UVFIO_CHECK_FIELD(struct uvfio_sub_region_ioeventfd, padding, 28);
UVFIO_CHECK_FIELD(struct uvfio_sub_region_ioeventfd, datamatch, 32);
UVFIO_CHECK_LAYOUT(struct uvfio_sub_region_ioregionfd, 40);
UVFIO_CHECK_FIELD(struct uvfio_sub_region_ioregionfd, user_data, 32);

UVFIO_CHECK_LAYOUT(struct vfio_irq_info, 16);
UVFIO_CHECK_FIELD(struct vfio_irq_info, flags, 4);
UVFIO_CHECK_FIELD(struct vfio_irq_info, index, 8);
UVFIO_CHECK_FIELD(struct vfio_irq_info, count, 12);

UVFIO_CHECK_LAYOUT(struct vfio_irq_set, 20);
UVFIO_CHECK_FIELD(struct vfio_irq_set, flags, 4);
UVFIO_CHECK_FIELD(struct vfio_irq_set, index, 8);
UVFIO_CHECK_FIELD(struct vfio_irq_set, start, 12);
UVFIO_CHECK_FIELD(struct vfio_irq_set, count, 16);
UVFIO_CHECK_FIELD(struct vfio_irq_set, data, 20);

UVFIO_CHECK_LAYOUT(struct uvfio_region_access, 16);
UVFIO_CHECK_FIELD(struct uvfio_region_access, offset, 0);
UVFIO_CHECK_FIELD(struct uvfio_region_access, region, 8);
UVFIO_CHECK_FIELD(struct uvfio_region_access, count, 12);
UVFIO_CHECK_FIELD(struct uvfio_region_access, data, 16);

UVFIO_CHECK_LAYOUT(struct uvfio_dma_access, 16);
UVFIO_CHECK_FIELD(struct uvfio_dma_access, addr, 0);
UVFIO_CHECK_FIELD(struct uvfio_dma_access, count, 8);
UVFIO_CHECK_FIELD(struct uvfio_dma_access, data, 16);
UVFIO_CHECK_LAYOUT(struct uvfio_dma_access32, 12);
UVFIO_CHECK_FIELD(struct uvfio_dma_access32, count, 8);
UVFIO_CHECK_FIELD(struct uvfio_dma_access32, data, 12);
UVFIO_CHECK_LAYOUT(struct uvfio_dma_write_reply, 12);
UVFIO_CHECK_FIELD(struct uvfio_dma_write_reply, count, 8);

UVFIO_CHECK_LAYOUT(struct uvfio_write_multi_entry, 24);
UVFIO_CHECK_FIELD(struct uvfio_write_multi_entry, region, 8);
UVFIO_CHECK_FIELD(struct uvfio_write_multi_entry, count, 12);
UVFIO_CHECK_FIELD(struct uvfio_write_multi_entry, data, 16);
UVFIO_CHECK_LAYOUT(struct uvfio_write_multi, 8);
UVFIO_CHECK_FIELD(struct uvfio_write_multi, wrs, 8);
UVFIO_CHECK_LAYOUT(struct uvfio_write_multi_reply, 8);

UVFIO_CHECK_LAYOUT(struct uvfio_device_feature, 8);
UVFIO_CHECK_FIELD(struct uvfio_device_feature, flags, 4);
UVFIO_CHECK_FIELD(struct uvfio_device_feature, data, 8);
UVFIO_CHECK_LAYOUT(struct vfio_device_feature, 8);
UVFIO_CHECK_LAYOUT(struct uvfio_feature_migration, 8);
UVFIO_CHECK_LAYOUT(struct uvfio_feature_mig_state, 8);
UVFIO_CHECK_FIELD(struct uvfio_feature_mig_state, data_fd, 4);
UVFIO_CHECK_LAYOUT(struct uvfio_dma_logging_range, 16);
UVFIO_CHECK_FIELD(struct uvfio_dma_logging_range, length, 8);
UVFIO_CHECK_LAYOUT(struct uvfio_dma_logging_control, 16);
UVFIO_CHECK_FIELD(struct uvfio_dma_logging_control, num_ranges, 8);
UVFIO_CHECK_FIELD(struct uvfio_dma_logging_control, reserved, 12);
UVFIO_CHECK_FIELD(struct uvfio_dma_logging_control, ranges, 16);
UVFIO_CHECK_LAYOUT(struct uvfio_dma_logging_report, 24);
UVFIO_CHECK_FIELD(struct uvfio_dma_logging_report, page_size, 16);
UVFIO_CHECK_FIELD(struct uvfio_dma_logging_report, bitmap, 24);

UVFIO_CHECK_LAYOUT(struct uvfio_mig_data, 8);
UVFIO_CHECK_FIELD(struct uvfio_mig_data, size, 4);
UVFIO_CHECK_FIELD(struct uvfio_mig_data, data, 8);

/* ---- Names -------------------------------------------------------------- */

/**
 * uvfio_cmd_name() - the specification's name of a command.
 * @cmd: a command number.
 *
 * Returns "DMA_MAP", "REGION_READ" and so on, or "UNKNOWN" for a number that
 * is not a command. The string is static. Thread-safe.
 */
UVFIO_EXPORT const char *uvfio_cmd_name(unsigned cmd);

#ifdef __cplusplus
}
#endif

#endif /* UVFIO_PROTOCOL_H */
