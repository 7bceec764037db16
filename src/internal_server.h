/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * internal_server.h — the server's private state and functions (server*.c, pci_config.c).
 * Included by internal.h only: library files include internal.h.
 */
#ifndef UVFIO_INTERNAL_SERVER_H
#define UVFIO_INTERNAL_SERVER_H

/* ---- Server (server*.c, pci_config.c) ------------------------------------------- */
#include "uvfio/server.h"

#define VU_MAX_REGIONS 16u
/* Client requests queued while the serving thread awaits a DMA reply on the
 * main socket (server.h states the bound). */
#define VU_SRV_QUEUE_MAX 1024u
#define VU_SRV_QUEUE_BYTES (4u << 20)

struct vu_srv_region {
	bool present;
	struct uvfio_region_desc d;
	uint8_t *mem; /* plain memory (malloc or mmap of memfd) */
	int memfd;    /* for mappable regions, else -1 */
	uint64_t fd_offset; /* of the region in memfd (a device's own file) */
};

struct vu_srv_irq {
	uint32_t count;
	uint32_t info_flags; /* VFIO_IRQ_INFO_* */
	int *efd;            /* trigger eventfds, -1 when not wired */
	int *mask_efd;       /* the client signals them to mask a vector, */
	int *unmask_efd;     /* or to unmask it (a resample eventfd); watched */
	bool *masked;
	bool *pending;
};

struct vu_srv_dma_map {
	uint64_t iova, size;
	uint32_t prot;
	void *vaddr;    /* where iova is mapped here (what to munmap), or NULL */
	size_t map_len;
	unsigned pins;  /* copies and uvfio_server_dma_sg_get() using it */
	bool removed;   /* out of the table: DMA_UNMAP waits for the pins */
	bool revoked;   /* pins outlived the wait: anonymous memory now, freed
			 * by the last unpin (or at destroy) */
	pid_t pinner;   /* the thread that took the last pin, for the log */
	bool may_shrink; /* its file is not sealed against shrinking */
	struct vu_srv_dma_map *next_revoked;
};

/* A DMA_READ/DMA_WRITE request to the client (server_dma_msg.c). */
enum vu_dma_state { VU_DMA_FREE, VU_DMA_INFLIGHT, VU_DMA_DONE };
struct vu_dma_req {
	struct vu_dma_req *next; /* on the list of requests in flight */
	enum vu_dma_state state;
	uint16_t id, cmd;
	uint64_t iova, n;
	uint8_t *buf;         /* the data to send, or where a read's data goes */
	bool sinking;         /* a reader receives its data into buf */
	int result;           /* DONE without a reply: the error */
	struct vu_msg *reply; /* DONE: the reply */
	bool async;           /* of an asynchronous transfer: the driving thread
			       * finishes it (buf NULL: cancelled, the reply is
			       * dropped when it comes) */
};

struct vu_aop; /* an asynchronous transfer (server_dma_async.c) */

struct vu_dirty_range {
	uint64_t iova, length;
	uint64_t *bits; /* one bit per page_size page */
};

struct vu_reply {
	struct iovec iov[4];
	int n;
	int fds[UVFIO_MAX_FDS_LIMIT];
	unsigned nfds;
	void *heap[4]; /* freed after the reply is sent */
	unsigned nheap;
	size_t small_used;
	uint8_t small[128] __attribute__((aligned(8)));
};

struct uvfio_server {
	struct vu_log log;
	struct vu_spin spin; /* polling mode: the driving thread's (spin.c) */
	struct uvfio_server_config cfg;
	struct uvfio_device_ops ops;
	void *opaque;
	struct uvfio_caps mine;

	/* connection */
	int lsock;
	char *path;
	bool adopted;
	unsigned refused; /* connections refused in a row (server_access.c) */
	int sock;
	int twin; /* server end of the twin socket, or -1 */
	int epfd;
	int stopfd;
	int timeout_ms; /* sends to the client, replies to DMA requests */
	int send_block_ms; /* sock's SO_SNDTIMEO (0: none): replies wait in send() */
	int stopping; /* atomic: set by uvfio_server_stop() from any thread */
	/* The client socket, for uvfio_server_stop() to wake a blocked read
	 * with shutdown(); -1 before it is closed, and closing waits until no
	 * stop is between loading it and shutting it down (stop_users). */
	int run_sock;   /* atomic */
	int stop_users; /* atomic */
	struct vu_rx rx, twin_rx;
	bool negotiated;
	bool connected; /* atomic copy of negotiated, for other threads */
	struct uvfio_caps client;
	uint16_t next_id;
	struct vu_msg *queue, *queue_tail; /* requests read while awaiting a DMA reply */
	unsigned nqueue;                   /* ... bounded by VU_SRV_QUEUE_MAX/_BYTES */
	size_t queue_bytes;
	uint8_t *out; /* corked replies (out_buf) */
	size_t out_len;
	uint8_t out_buf[16384];
	int direct; /* atomic: run() may be blocked reading sock (stop() shuts it) */
	struct vu_watch *watch; /* eventfds the loop watches (server_ioeventfd.c) */

	/* configuration space */
	uint8_t *cfg_space, *cfg_wmask, *cfg_w1c;
	uint32_t cfg_size;
	uint32_t cap_free; /* next free byte for a capability */
	uint32_t cap_last; /* offset of the last capability, 0 if none */
	uint32_t msi_cap, msix_cap, exp_cap;
	uint32_t ext_free, ext_last; /* extended capabilities, as cap_free/last */
	uint32_t msix_bar, msix_table, msix_pba;
	uint64_t bar_size[6];

	/* regions and interrupts */
	uint32_t nregions;
	struct vu_srv_region regions[VU_MAX_REGIONS];
	pthread_mutex_t irq_mu;
	struct vu_srv_irq irqs[VFIO_PCI_NUM_IRQS];

	/* DMA from any thread (server_dma.c, server_dma_msg.c): the map table,
	 * requests in flight and the connection as DMA sees it, under dma_mu */
	enum uvfio_dma_layout dma_layout; /* of this client: SPEC or QEMU */
	bool bus_master;     /* atomic: Bus Master Enable as the client set it */
	bool bme_refused;    /* atomic: a refusal was logged since it was cleared */
	pthread_mutex_t dma_mu;
	pthread_cond_t dma_cv; /* a reply, a pin or a socket user gone, a role free */
	struct vu_srv_dma_map **maps; /* sorted by iova */
	struct vu_srv_dma_map *revoked; /* unmapped, still pinned (server_dma.c) */
	unsigned nmaps, capmaps;
	bool dma_live;   /* a negotiated client: requests may be sent */
	bool dma_broken; /* vu_srv_dma_break() ended it (and said why) */
	bool dma_twin;   /* requests and replies travel on the twin socket */
	bool twin_reading;   /* a waiting thread reads the twin socket */
	unsigned sock_users; /* threads sending, or reading the twin socket */
	unsigned qemu_reads; /* DMA_READs in flight in QEMU's layout */
	struct vu_dma_req *dreqs; /* in flight, of every thread */
	bool warned_sync_dma;     /* the serving thread's blocking DMA was logged */
	bool async_slot_wait;     /* an asynchronous DMA_READ waits for a QEMU slot */
	int dma_efd;     /* wakes a thread polling a socket for DMA replies */
	pthread_mutex_t send_mu, twin_send_mu; /* one sender per socket */
	uintptr_t driver;    /* atomic: the driving thread (vu_srv_is_driver) */
	size_t main_partial; /* atomic: bytes of a message cut mid-way on the main socket */
	/* asynchronous DMA (server_dma_async.c), driving thread only */
	struct vu_aop *aops, *aops_tail; /* started, not yet called back, in order */
	struct vu_aop *aorphans;         /* cancelled, requests still unanswered */
	unsigned naops;                  /* both lists */
	int async_efd;      /* in the epoll set: a request finished elsewhere, a slot free */
	int async_kicked;   /* atomic: async_efd was written */
	int async_tfd;      /* in the epoll set: the earliest deadline (timerfd) */
	uint64_t async_armed; /* its deadline, 0: disarmed */
	bool twin_watched;  /* the twin socket is in the epoll set */
	bool async_more;    /* a transfer stopped at its slice of mapped memory */
	/* Device callbacks on the stack of the driving thread: a disconnect
	 * found meanwhile waits until they have returned (disc_pending). */
	unsigned cb_depth;
	bool disc_pending;
	int disc_why;
	/* dirty-page logging (server_dirty.c): the bitmaps under dirty_rw,
	 * their words changed atomically */
	pthread_rwlock_t dirty_rw;
	bool logging; /* atomic */
	uint64_t log_page;
	struct vu_dirty_range *dirty;
	unsigned ndirty;

	/* migration */
	uint32_t mig_state;
};

/* server.c */
int vu_srv_send_reply(struct uvfio_server *s, const struct uvfio_hdr *req, int err,
		      const struct iovec *iov, int n, const int *fds, unsigned nfds);
/* Is this the thread driving the context (it reads the main socket)? */
bool vu_srv_is_driver(struct uvfio_server *s);
/* Driving thread: send the corked replies; <0 ended the connection. */
int vu_srv_flush(struct uvfio_server *s);
/* Driving thread, waiting for DMA replies on the main socket: take one
 * message (a reply goes to its request, a request to the bounded queue) or
 * wait for one until deadline. 0 to go on, -ETIMEDOUT, -ESHUTDOWN, or
 * -ECONNRESET when the connection ended. */
int vu_srv_pump_main(struct uvfio_server *s, uint64_t deadline);
/* After a DMA timeout: a message cut mid-way on the main socket ends the
 * connection. */
void vu_srv_main_cut_check(struct uvfio_server *s, bool driver);
/* server_access.c: who may connect (server.h, "Who may connect") */
/* Check and copy config access's lists into the context (s->cfg.access then
 * points to the copies); -EINVAL for a bad config. */
int vu_srv_access_init(struct uvfio_server *s);
void vu_srv_access_free(struct uvfio_server *s);
/* A new socket listening at path with the config's mode and group; returns
 * the descriptor or a negative errno. */
int vu_srv_listen_socket(struct uvfio_server *s, const char *path);
/* Check fd, a socket handed over, and make it ready: 0 or a negative errno. */
int vu_srv_adopt_listener(int fd);
/* May the peer just accepted on fd be served? A refusal is logged. */
bool vu_srv_peer_allowed(struct uvfio_server *s, int fd);
/* server_cmds.c */
void vu_srv_handle(struct uvfio_server *s, struct vu_msg *m);
int vu_srv_region_access(struct uvfio_server *s, uint32_t region, uint64_t offset, void *buf,
			 uint32_t count, bool write);
/* Reset the device for a reason: configuration space and migration state
 * (except for a lost connection), then the device's callback. */
int vu_srv_reset(struct uvfio_server *s, enum uvfio_reset_type type);
/* pci_config.c */
int vu_cfg_init(struct uvfio_server *s, uint32_t size);
void vu_cfg_free(struct uvfio_server *s);
int vu_cfg_access(struct uvfio_server *s, uint64_t offset, void *buf, uint32_t count,
		  bool write);
void vu_cfg_reset(struct uvfio_server *s);
void vu_cfg_set_bar(struct uvfio_server *s, unsigned bar, uint64_t size, uint32_t flags);
void vu_cfg_set_irq_pin(struct uvfio_server *s);
void vu_cfg_set_rom(struct uvfio_server *s, uint64_t size);
/* After a configuration write: did it initiate a function-level reset? The
 * request bit is cleared (it always reads 0). */
bool vu_cfg_take_flr(struct uvfio_server *s);
/* server_irq.c */
int vu_srv_set_irqs(struct uvfio_server *s, struct vu_msg *m);
void vu_srv_irqs_drop(struct uvfio_server *s);
void vu_srv_irqs_free(struct uvfio_server *s);
void vu_srv_irqs_recheck(struct uvfio_server *s);
/* The client signalled the mask (or unmask) eventfd of a vector. */
void vu_srv_irq_eventfd(struct uvfio_server *s, uint32_t index, uint32_t i, bool mask);
/* server_ioeventfd.c: eventfds the client signals and the loop watches */
struct vu_watch;
#define VU_NOT_MINE 1
/* A write that came as a message: VU_NOT_MINE, or the result of the
 * ioeventfd handler it matched. */
int vu_srv_ioevent_write(struct uvfio_server *s, uint32_t region, uint64_t offset,
			 const void *buf, uint32_t count);
/* DEVICE_GET_REGION_IO_FDS: the reply for region index, argsz asked. */
int vu_srv_io_fds(struct uvfio_server *s, uint32_t index, uint32_t argsz, struct vu_reply *rep);
/* Watch (fd >= 0) or stop watching (-1) the (un)mask eventfd of a vector;
 * old is the descriptor watched so far (-1: none), closed by the caller. */
int vu_watch_irq_fd(struct uvfio_server *s, uint32_t index, uint32_t i, bool mask, int old,
		    int fd);
/* Does the loop watch any eventfd (run() must then wait in epoll)? */
bool vu_watch_live(const struct uvfio_server *s);
/* Read the signalled eventfds among n events of the server's epoll set
 * (ev NULL: asks it without waiting); their handlers run in vu_watch_run().
 * Returns false when the events say the client socket has nothing new. */
#define VU_WATCH_BATCH 64u /* events taken in one pass */
struct epoll_event;
bool vu_watch_collect(struct uvfio_server *s, const struct epoll_event *ev, int n);
/* Run the handlers of what vu_watch_collect() read; returns how many. */
int vu_watch_run(struct uvfio_server *s);
/* The client left: close its ioeventfds, forget signals not yet handled. */
void vu_watch_drop(struct uvfio_server *s);
void vu_watch_free(struct uvfio_server *s);
/* server_dma.c */
/* May the device master the bus now? 0, or -ENODEV while the Bus Master
 * Enable bit of the Command register is clear (unless the config's
 * no_bus_master_check); the first refusal after each clearing is logged.
 * Every path of device DMA asks it first (copies, sg, pins, messages,
 * asynchronous DMA). Any thread. */
int vu_srv_dma_permitted(struct uvfio_server *s);
/* pci_config.c, driving thread, after the client wrote configuration space,
 * a reset, and after each message (the device may write the space itself,
 * e.g. loading migration data): take the Bus Master Enable bit into the
 * flag other threads read. */
void vu_cfg_bus_master_sync(struct uvfio_server *s);
int vu_srv_dma_map(struct uvfio_server *s, struct vu_msg *m);
int vu_srv_dma_unmap(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep);
void vu_srv_dma_drop_all(struct uvfio_server *s);
/* A copy of the mapped ranges (malloc'ed), for logging them all. */
int vu_srv_dma_ranges(struct uvfio_server *s, struct uvfio_dma_logging_range **out,
		      unsigned *n);
void vu_srv_dma_free(struct uvfio_server *s);
/* server_dma_msg.c */
/* At VERSION: the DMA_READ/DMA_WRITE layout of this client. */
void vu_srv_dma_layout_pick(struct uvfio_server *s, uint16_t proposed_minor);
/* Negotiated: other threads may send requests. */
void vu_srv_dma_conn_start(struct uvfio_server *s);
/* Driving thread, ending a connection: no other thread sends or reads any
 * more, their requests fail. Returns whether vu_srv_dma_break() ended it. */
bool vu_srv_dma_conn_end(struct uvfio_server *s);
/* Any thread: the stream cannot go on; log why, shut the sockets (the
 * driving thread then cleans up), fail the requests in flight. */
void vu_srv_dma_break(struct uvfio_server *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A reply from the client: to its request, or discarded. */
void vu_srv_dma_reply_in(struct uvfio_server *s, struct vu_msg *m);
/* One piece of DMA through messages, from any thread. */
int vu_srv_dma_message(struct uvfio_server *s, uint64_t iova, uint8_t *buf, uint64_t len,
		       bool write);
/* Pieces of DMA by messages, for the blocking and asynchronous paths:
 * the largest piece, how many in flight (*window), and whether DMA_READs
 * take one of QEMU's slots for the whole connection (*qemu_read). */
uint64_t vu_srv_dma_limits(struct uvfio_server *s, bool write, unsigned *window, bool *qemu_read);
/* Take or give back one of QEMU's DMA_READ slots (dma_mu held). */
bool vu_srv_dma_read_slot_get(struct uvfio_server *s);
void vu_srv_dma_read_slot_put(struct uvfio_server *s);
/* Send request q (cmd, iova, n, buf set; on the list of requests in flight
 * once sent). 0, or -ECONNRESET (the connection is then broken). */
int vu_srv_dma_req_start(struct uvfio_server *s, struct vu_dma_req *q);
/* The result of an answered request; the request is FREE again. */
int vu_srv_dma_req_finish(struct uvfio_server *s, struct vu_dma_req *q, bool quiet);
/* Give up a request (dma_mu held): off the list once no reader receives
 * into its buffer; FREE. */
void vu_srv_dma_req_drop(struct uvfio_server *s, struct vu_dma_req *q);
/* Keep a request in flight without its buffer (dma_mu held): its reply
 * is dropped when it comes, its id stays taken until then. */
void vu_srv_dma_req_orphan(struct uvfio_server *s, struct vu_dma_req *q);
/* Driving thread: read what the twin socket holds if no other thread has
 * the reader role, handing every reply to its request. */
void vu_srv_dma_twin_poll(struct uvfio_server *s);
/* server_dma.c */
/* The first piece of [iova, iova+len): copied at once where mapped, at
 * most cap bytes of it (the length copied returned), or 0 and in *msg_len
 * the length to move by messages; or a negative errno (-ENODEV, -EFAULT,
 * -EPERM, -EIO). */
int64_t vu_srv_dma_step(struct uvfio_server *s, uint64_t iova, uint8_t *buf, uint64_t len,
			uint64_t cap, bool write, uint64_t *msg_len);
/* server_dma_async.c */
int vu_srv_async_init(struct uvfio_server *s);
void vu_srv_async_free(struct uvfio_server *s);
/* Any thread: make the driving thread look at its transfers. */
void vu_srv_async_kick(struct uvfio_server *s);
/* Driving thread, each pass of the loop: finish, continue and time out
 * transfers, call back those done (in order). Returns callbacks made. */
int vu_srv_async_pump(struct uvfio_server *s);
/* Transfers in flight (run() then waits in epoll: their timer, the twin)? */
bool vu_srv_async_busy(const struct uvfio_server *s);
/* A callback is due: the loop goes round again. */
bool vu_srv_async_ready(const struct uvfio_server *s);
/* Cancel every transfer not yet finished with err (disconnect:
 * -ECONNRESET, reset: -ECANCELED), calling back every transfer, in order. */
void vu_srv_async_cancel_all(struct uvfio_server *s, int err);
/* DMA_UNMAP of [iova, iova+size): transfers not finished that touch it are
 * called back with -ECANCELED. */
void vu_srv_async_cancel_range(struct uvfio_server *s, uint64_t iova, uint64_t size);
/* The connection ends: take the twin socket out of the epoll set, drop
 * transfers' requests (after vu_srv_dma_conn_end() failed them). */
void vu_srv_async_conn_end(struct uvfio_server *s);
/* Device callbacks run between enter and leave: a disconnect found
 * meanwhile is carried out by the leave that ends the outermost one
 * (server.c). */
void vu_srv_cb_enter(struct uvfio_server *s);
void vu_srv_cb_leave(struct uvfio_server *s);
/* server_dirty.c */
/* Log [iova, iova+len) as written, if logging; any thread. */
void vu_dirty_mark(struct uvfio_server *s, uint64_t iova, uint64_t len);
/* room: the feature data the client's argsz leaves for the reply. */
int vu_srv_dma_logging(struct uvfio_server *s, uint32_t feature, uint32_t flags,
		       const uint8_t *data, size_t len, size_t room, struct vu_reply *rep);
void vu_dirty_free(struct uvfio_server *s);
/* dma_guard.c */
/* Install the SIGBUS handler (once per process); 0 or a negative errno. */
int vu_guard_install(void);
/* memcpy whose len bytes at client (dst or src) may fault: -EIO if they
 * did (the file behind them shrank), else 0. */
int vu_guarded_copy(void *dst, const void *src, size_t len, const void *client);
/* The same; without may_shrink (memory sealed against shrinking cannot
 * fault that way) the thread's signal mask is left alone: no system call. */
int vu_guarded_copy_ex(void *dst, const void *src, size_t len, const void *client,
		       bool may_shrink);
/* server_mig.c */
int vu_srv_feature(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep);
int vu_mig_path(struct uvfio_server *s, uint32_t from, uint32_t to, uint32_t *path);
int vu_srv_mig_data_read(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep);
int vu_srv_mig_data_write(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep);

/* Append a zeroed piece of len bytes to a reply; NULL when out of memory. */
static inline void *vu_reply_buf(struct vu_reply *rep, size_t len)
{
	if (rep->n >= 4)
		return NULL;
	size_t al = (len + 7) & ~(size_t)7;
	void *p;
	if (al <= sizeof(rep->small) - rep->small_used) {
		p = rep->small + rep->small_used;
		rep->small_used += al;
		memset(p, 0, len);
	} else {
		if (!(p = calloc(1, len ? len : 1)))
			return NULL;
		rep->heap[rep->nheap++] = p;
	}
	rep->iov[rep->n].iov_base = p;
	rep->iov[rep->n].iov_len = len;
	rep->n++;
	return p;
}

/* Append a copy of len bytes to a reply: 0 or -ENOMEM. */
static inline int vu_reply_add(struct vu_reply *rep, const void *data, size_t len)
{
	void *p = vu_reply_buf(rep, len);
	if (!p)
		return -ENOMEM;
	memcpy(p, data, len);
	return 0;
}

#endif /* UVFIO_INTERNAL_SERVER_H */
