/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * checks.h — shared by the checks of a server: checks_common.c (replies
 * judged, descriptors compared, requests built and made), checks_forms.c
 * (the malformed forms, each refused), checks_server.c (valid uses, the
 * probe, the table of every check) and checks_sequences.c (sequences, the
 * floods, DMA with --dma-kick).
 */
#ifndef UVFIO_CONFORM_CHECKS_H
#define UVFIO_CONFORM_CHECKS_H

#include "conform.h"

#define CAPS_JSON "{\"capabilities\":{\"max_msg_fds\":16}}"
#define CFG	  7 /* VFIO_PCI_CONFIG_REGION_INDEX */
#define DMA_IOVA  0x10000000ull

/* ---- a request built byte by byte ---- */

enum fdkind { FD_EVENT, FD_PIPE, FD_MEM_SHORT, FD_MEM };

struct form {
	uint16_t cmd;
	uint32_t flags;
	uint8_t body[512];
	size_t len;
	int nfds;
	enum fdkind fdkind;
	bool raw_hdr;		/* body is the whole message, header included */
	bool no_session;	/* before VERSION */
	const char *may_accept; /* the specification lets a server take it: why */
};

#define PUT(f, off, v) memcpy((f)->body + (off), &(__typeof__(v)){v}, sizeof(v))

/* The malformed forms, in the order of the table (checks_forms.c builds each
 * for the device the probe found). */
enum {
	V_SHORT,
	V_JSON_UNTERM,
	V_JSON_BROKEN,
	V_JSON_ARRAY,
	V_CAPS_NOT_OBJ,
	V_FDS_STRING,
	V_XFER_ZERO,
	V_PGSIZE_BAD,
	V_TWICE,
	V_WITH_FD,
	H_SIZE_SMALL,
	H_SIZE_HUGE,
	H_RESERVED_FLAGS,
	H_TYPE_RESERVED,
	H_UNKNOWN_CMD,
	H_CMD_ZERO,
	H_SERVER_CMD,
	H_ERROR_FLAG,
	S_BEFORE_VERSION,
	D_ARGSZ_SHORT,
	D_PAYLOAD_SHORT,
	D_PAYLOAD_LONG,
	D_FDS,
	R_INDEX_RANGE,
	R_INDEX_MAX,
	R_ARGSZ_SHORT,
	R_PAYLOAD_SHORT,
	R_FDS,
	I_INDEX_RANGE,
	I_ARGSZ_SHORT,
	I_PAYLOAD_SHORT,
	Q_INDEX_RANGE,
	Q_PAST_COUNT,
	Q_OVERFLOW,
	Q_FEWER_FDS,
	Q_MORE_FDS,
	Q_FDS_DATA_NONE,
	Q_TWO_DATA,
	Q_TWO_ACTIONS,
	Q_BOOL_MISSING,
	Q_UNKNOWN_FLAG,
	Q_TRUNCATED,
	Q_NOT_EVENTFD,
	Q_ARGSZ_SHORT,
	A_PAST_END,
	A_OVERFLOW,
	A_COUNT_HUGE,
	A_COUNT_ZERO,
	A_INDEX_RANGE,
	A_ABSENT,
	A_WITH_PAYLOAD,
	A_TRUNCATED,
	A_FDS,
	W_COUNT_MISMATCH,
	W_PAST_END,
	W_READ_ONLY,
	W_INDEX_RANGE,
	W_TRUNCATED,
	W_OVERFLOW,
	M_UNALIGNED_ADDR,
	M_UNALIGNED_SIZE,
	M_ZERO_SIZE,
	M_WRAPS,
	M_UNKNOWN_FLAG,
	M_TWO_FDS,
	M_ARGSZ_SHORT,
	M_SHORT_FILE,
	M_NOT_MEMORY,
	M_OFFSET_OVERFLOW,
	M_PAYLOAD_SHORT,
	U_NEVER_MAPPED,
	U_UNKNOWN_FLAG,
	U_ALL_WITH_RANGE,
	U_PAYLOAD_SHORT,
	U_FDS,
	X_WITH_PAYLOAD,
	O_INDEX_RANGE,
	O_COUNT,
	O_ARGSZ_SHORT,
	E_GET_AND_SET,
	E_ARGSZ_SHORT,
	E_UNKNOWN,
	E_PAYLOAD_SHORT,
	G_DATA_READ_IDLE,
};

/* ---- checks_common.c ---- */

/* Note a hang after what, and say the check failed. */
enum cf_result cs_hang(struct cf_run *r, const char *what);
/* A reply to a request of command cmd: the right command, a reply, an error
 * reply without payload. false with a note if not. */
bool cs_reply_shape(struct cf_run *r, uint16_t cmd, const struct cf_msg *m);
/* The server holds no more descriptors than before (a synchronising
 * DEVICE_GET_INFO first, a late close given 200 ms); a note if it does. */
bool cs_fds_kept(struct cf_run *r, int before);
/* A descriptor of the kind asked for (-1 if none could be made). */
int cs_make_fd(enum fdkind k);
/* A readable region with a size, configuration space first; -1 if none. */
int cs_readable_region(const struct cf_dev *d);
/* An interrupt type with vectors, MSI-X, MSI, INTx first; -1 if none. */
int cs_irq_index(const struct cf_dev *d);
/* Requests into f: a region access (data bytes of payload after it), a
 * SET_IRQS, a DMA_MAP. */
void cs_region_access(struct form *f, uint16_t cmd, uint64_t off, uint32_t reg, uint32_t count,
		      size_t data);
void cs_irq_set(struct form *f, uint32_t flags, uint32_t index, uint32_t start, uint32_t count);
void cs_dma_map(struct form *f, uint32_t flags, uint64_t off, uint64_t addr, uint64_t size);
/* "EINVAL" for an errno. */
const char *cs_errname(uint32_t e);
/* The reply to id (or a call made) is a success with the right shape; a
 * note (a hang, a close, a refusal, a wrong reply) and false otherwise. */
bool cs_ok_call_wait(struct cf_run *r, uint16_t id, uint16_t cmd, struct cf_msg *m,
		     const char *what);
bool cs_ok_call(struct cf_run *r, uint16_t cmd, const void *body, size_t len, const int *fds,
		int nfds, struct cf_msg *m, const char *what);
/* A region access that must succeed and echo the request. */
bool cs_region_read(struct cf_run *r, uint32_t reg, uint64_t off, void *buf, uint32_t count);
bool cs_region_write(struct cf_run *r, uint32_t reg, uint64_t off, const void *buf, uint32_t count);
/* A DMA_MAP (fd -1: none) and a DMA_UNMAP (its reply holding the entry)
 * that must succeed. */
bool cs_map(struct cf_run *r, uint64_t addr, uint64_t size, int fd, const char *what);
bool cs_unmap(struct cf_run *r, uint64_t addr, uint64_t size);

/* ---- the checks the table names from the other files ---- */

enum cf_result ck_refuse(struct cf_run *r, const struct cf_check *ck);
enum cf_result ck_no_reply(struct cf_run *r, const struct cf_check *ck);
enum cf_result ck_pipeline(struct cf_run *r, const struct cf_check *ck);
enum cf_result ck_bytewise(struct cf_run *r, const struct cf_check *ck);
enum cf_result ck_pieces(struct cf_run *r, const struct cf_check *ck);
enum cf_result ck_ids_reused(struct cf_run *r, const struct cf_check *ck);
enum cf_result ck_stray_reply(struct cf_run *r, const struct cf_check *ck);
enum cf_result ck_close_inside(struct cf_run *r, const struct cf_check *ck);
enum cf_result ck_reconnect(struct cf_run *r, const struct cf_check *ck);
enum cf_result ck_flood(struct cf_run *r, const struct cf_check *ck);
enum cf_result ck_dma_mapped(struct cf_run *r, const struct cf_check *ck);
enum cf_result ck_map_churn(struct cf_run *r, const struct cf_check *ck);
enum cf_result ck_dma_msg(struct cf_run *r, const struct cf_check *ck);

#endif
