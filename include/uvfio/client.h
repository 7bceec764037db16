/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio/client.h — the vfio-user client.
 *
 * A client is one connection to one device server. Every function returns 0
 * (or a documented non-negative value) on success and a negative errno on
 * failure.
 *
 * Threads: unless a function says otherwise, any number of threads may call
 * functions on the same client at once; their requests are pipelined and each
 * caller gets its own reply. At most one thread reads the connection at a
 * time, and it delivers whatever it reads: replies to other callers, the
 * completions of posted and asynchronous requests, and the server's
 * DMA_READ/DMA_WRITE requests, which are answered from registered memory on
 * whichever thread reads them (a caller waiting for its reply, the event
 * loop through uvfio_client_dispatch(), or the service thread), or, while
 * another thread is sending on the connection, in order by that thread
 * once its send is over (the reader does not wait for it).
 * uvfio_client_shutdown() may be called from any thread at any time;
 * uvfio_client_close() only once no other call on that client is in
 * progress.
 *
 * Errors common to every request:
 *   -ECONNRESET  the server disconnected or broke the framing: the connection
 *                is dead, every waiting call returned this at once, and every
 *                later call returns it too (the first cause is kept).
 *   -ESHUTDOWN   uvfio_client_shutdown() was called: as -ECONNRESET.
 *   -ETIMEDOUT   no reply within the message timeout; the connection stays
 *                usable and a late reply is discarded (the request's id stays
 *                reserved, and counts as in flight, until it comes).
 *   -EAGAIN      max_in_flight requests were in flight and none was answered
 *                within the message timeout: this request was not sent.
 *   -EHOSTDOWN   the server is taken for stalled: every request in flight
 *                timed out and no reply has come since. The request was not
 *                sent; it failed at once (a caller waiting for room under
 *                max_in_flight stops waiting then too), so that a hung
 *                device costs one timeout, not one per call. What the
 *                server sent meanwhile is read first (without waiting, when
 *                no other thread reads): the first reply that comes, a
 *                late one too, ends the stall. A server that dropped the
 *                requests it never answered keeps the client there: close
 *                it and connect again.
 *   other        the errno the server put in its error reply (-EINVAL ...),
 *                or -EPROTO for a reply that does not match its request.
 */
#ifndef UVFIO_CLIENT_H
#define UVFIO_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvfio/common.h"
#include "uvfio/protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

struct uvfio_client;

/* Who answers server-to-client requests (DMA_READ, DMA_WRITE) while no
 * application thread is inside the library. */
enum uvfio_client_mode {
	/* The application polls uvfio_client_poll_fd() and calls
	 * uvfio_client_dispatch() when it is readable. */
	UVFIO_CLIENT_EVENT_LOOP = 0,
	/* The library runs a service thread of its own. */
	UVFIO_CLIENT_SERVICE_THREAD = 1,
};

#define UVFIO_TWIN_AUTO 0
#define UVFIO_TWIN_ON 1
#define UVFIO_TWIN_OFF (-1)

/**
 * struct uvfio_client_config - options of a new client; all-zero is a good
 * default.
 * @log: logging and tracing (see uvfio/common.h).
 * @mode: enum uvfio_client_mode.
 * @timeout_ms: message timeout; 0 means 5000, negative means none.
 * @max_data_xfer_size: the largest read reply or server write this client
 *                      accepts; 0 means 1 MiB; at most UVFIO_MAX_XFER_LIMIT.
 * @max_msg_fds: descriptors accepted in one message; 0 means 16.
 * @twin_socket: UVFIO_TWIN_AUTO (0) proposes twin-socket mode in service
 *               thread mode only; UVFIO_TWIN_ON always; UVFIO_TWIN_OFF never.
 *               Without it, server requests arrive on the main socket and a
 *               waiting caller reads its reply with one blocking read; with
 *               it, a caller that waits in event-loop mode must watch both
 *               sockets (one poll() more per request).
 * @no_write_multiple: do not propose REGION_WRITE_MULTI.
 * @coalesce_posted: gather posted writes of up to 8 bytes into
 *                   REGION_WRITE_MULTI messages when the server supports it
 *                   (from any thread, in the order posted). The open message
 *                   waits in the send buffer (see @post_delay_us) and leaves
 *                   once 64 writes are gathered (with @post_delay_us: when
 *                   the buffer leaves), before any other message the client
 *                   sends, at uvfio_client_flush(), and when a request takes
 *                   the last room under @max_in_flight: a device that must
 *                   see a posted write at once should not enable this alone.
 * @version_minor: the minor version to propose; 0 proposes
 *                 UVFIO_PROTO_MINOR (set propose_minor_zero for 0).
 * @propose_minor_zero: propose minor version 0, as QEMU does, and speak
 *                      QEMU's dialect: DMA_READ/DMA_WRITE requests of the
 *                      server are answered in QEMU's layout (4-byte count),
 *                      which a uvfio server expects of a 0.0 client and a
 *                      libvfio-user server does not (docs/INTEROP.md).
 * @max_in_flight: requests sent and not yet answered, at most, counting a
 *                 request that timed out until its late reply comes (its id
 *                 stays reserved); 0 means 1024; at most 32768 (larger
 *                 values are taken as 32768). A request beyond it waits for
 *                 room, then fails with -EAGAIN (see above). Message ids:
 *                 no id is in use twice at once (an id that timed out stays
 *                 reserved until its late reply), and an id comes back only
 *                 after 65,536 requests, whatever the limit.
 * @post_delay_us: posted writes wait in the client's send buffer (16 KiB)
 *                 and leave together, several in one system call (one
 *                 wake-up of the server): when the buffer is full, before
 *                 any other message the client sends on the main socket (a
 *                 request of any thread, an answer to a DMA request; not
 *                 an answer on the twin socket, which has a stream and an
 *                 order of its own and never waits for the main socket), at
 *                 uvfio_client_flush() and uvfio_client_close(), when a
 *                 request takes the last room under @max_in_flight, and at
 *                 the latest @post_delay_us after the first of them was
 *                 posted: the service thread sends them then, or in
 *                 event-loop mode poll_fd turns readable and
 *                 uvfio_client_dispatch() sends them (an application that
 *                 does neither sends them with its next call). Order is
 *                 kept: they leave in the order posted and before anything
 *                 sent after them, so a thread's posted writes reach the
 *                 server before its later requests. A write's timeout counts
 *                 from when it leaves. 0 (the default): each posted write is
 *                 sent at once. At most 1000000 (1 s; larger values are taken
 *                 as that).
 * @use_ioeventfds: ring the server's doorbells through its ioeventfds: at
 *                  connection the client asks DEVICE_GET_REGION_IO_FDS for
 *                  every region (DEVICE_GET_INFO, then one request per
 *                  region); from then on a posted write that matches one as
 *                  KVM would match it (same region and offset, the same
 *                  size unless it has none, the same value for DATAMATCH;
 *                  1, 2, 4 or 8 bytes) signals its eventfd instead of
 *                  sending a REGION_WRITE. See
 *                  uvfio_client_region_write_posted() for the order rules.
 * @poll_us: polling mode (0: off). A thread about to wait for a reply (or
 *           the service thread, for the next message) first spins on the
 *           socket for up to this many microseconds (at most 1000),
 *           yielding the CPU between checks, and blocks only if nothing
 *           came. A round trip with a polling server on another CPU then
 *           costs no wake-up: on these machines a tenth or less of a
 *           blocking one (BENCHMARKS.md, "polling"). The budget adapts: it
 *           doubles when a wait ends soon after a spin gave up, halves when
 *           the connection is idle, down to no spinning at all, so an idle
 *           connection costs no CPU; while requests keep coming, each wait
 *           costs its spin in CPU time. No spinning when this thread and the
 *           server (SO_PEERCRED) can only run on the same single CPU, where
 *           it could only delay the answer, nor (judged over 64 waits, again
 *           every 1024) while answers keep arriving only when this thread
 *           gives its CPU away: a peer the kernel cannot name (a socket pair)
 *           or the scheduler put on this CPU. Use it when latency matters
 *           more than a CPU's worth of cycles per busy connection, with the
 *           server on another CPU. Environment: when this is 0,
 *           UVFIO_POLL_US=N sets it (for trying an application with
 *           polling, and for the test suite).
 */
struct uvfio_client_config {
	struct uvfio_log_config log;
	int mode;
	int timeout_ms;
	uint32_t max_data_xfer_size;
	uint32_t max_msg_fds;
	int twin_socket;
	bool no_write_multiple;
	bool coalesce_posted;
	uint16_t version_minor;
	bool propose_minor_zero;
	uint32_t max_in_flight;
	uint32_t post_delay_us;
	bool use_ioeventfds;
	uint32_t poll_us;
};

/**
 * uvfio_client_connect() - connect to a server's socket and negotiate.
 * @path: the server's UNIX socket path.
 * @cfg: options, or NULL for the defaults.
 * @out: receives the client.
 *
 * Sends VERSION, checks the reply against the specification's rules and sets
 * up twin-socket mode when the server enables it. Returns 0, -ENOENT or
 * -ECONNREFUSED for a missing server, -EPROTO for an unacceptable VERSION
 * reply, -ETIMEDOUT, -ENOMEM.
 */
UVFIO_EXPORT int uvfio_client_connect(const char *path, const struct uvfio_client_config *cfg,
				      struct uvfio_client **out);

/**
 * uvfio_client_adopt() - like uvfio_client_connect() on an already connected
 * stream socket. The client owns @fd from this call on, also on failure.
 */
UVFIO_EXPORT int uvfio_client_adopt(int fd, const struct uvfio_client_config *cfg,
				    struct uvfio_client **out);

/**
 * uvfio_client_shutdown() - stop the client: the connection is shut down,
 * every call in progress on any thread returns at once with -ESHUTDOWN
 * (a blocked read, send, flush, a wait for room; asynchronous requests in
 * flight get their callback with -ESHUTDOWN, on this thread), and so does
 * every later request; poll_fd becomes readable and
 * uvfio_client_dispatch() returns -ESHUTDOWN. Posted writes not yet
 * acknowledged are not waited for. Thread-safe: callable from any thread at
 * any time before uvfio_client_close(), any number of times, also from a
 * callback. Once every thread has left its call, uvfio_client_close() is
 * safe. Returns 0, or -EINVAL for NULL.
 */
UVFIO_EXPORT int uvfio_client_shutdown(struct uvfio_client *c);

/**
 * uvfio_client_close() - disconnect (after a flush of posted writes, unless
 * the client is shut down or dead), stop the service thread, free
 * everything. Registered DMA memory is not touched (it is the caller's).
 * NULL is allowed. Not thread-safe: no other call may be in progress (stop
 * them with uvfio_client_shutdown() first).
 */
UVFIO_EXPORT void uvfio_client_close(struct uvfio_client *c);

/**
 * uvfio_client_server_caps() - the capabilities the server replied with.
 * @major, @minor: if not NULL, the negotiated version.
 */
UVFIO_EXPORT int uvfio_client_server_caps(struct uvfio_client *c, struct uvfio_caps *caps,
					  uint16_t *major, uint16_t *minor);

/** uvfio_client_twin_socket() - true when twin-socket mode was negotiated. */
UVFIO_EXPORT bool uvfio_client_twin_socket(struct uvfio_client *c);

/** uvfio_client_set_timeout() - change the message timeout (ms) for the
 * requests made from now on; as in the config, 0 means the default (5000)
 * and a negative value none. Thread-safe. */
UVFIO_EXPORT int uvfio_client_set_timeout(struct uvfio_client *c, int timeout_ms);

/** uvfio_client_set_trace() - switch the one-line-per-header trace. */
UVFIO_EXPORT void uvfio_client_set_trace(struct uvfio_client *c, bool on);

/**
 * uvfio_client_poll_fd() - a descriptor for an event loop (event-loop mode):
 * it is readable while the server has sent something not yet delivered,
 * when the deadline of a posted write or asynchronous request has passed,
 * and once the client is shut down or dead; then call
 * uvfio_client_dispatch(). Level-triggered; owned by the client. Thread-safe.
 */
UVFIO_EXPORT int uvfio_client_poll_fd(struct uvfio_client *c);

/**
 * uvfio_client_dispatch() - without blocking, deliver what the server has
 * sent (answer DMA_READ/DMA_WRITE requests, complete posted and
 * asynchronous requests, whose callbacks run on this thread) and time out
 * posted and asynchronous requests whose deadline has passed. Returns:
 *   > 0          the number of messages delivered and requests timed out;
 *   0            nothing to do;
 *   -EBUSY       another thread is reading at this moment (a caller waiting
 *                for its reply): it delivers what is there, and poll_fd may
 *                stay readable until it has read it (a thread reads
 *                whenever it holds the role: one waiting to send leaves it
 *                first). Not an error; an event loop should not call again
 *                at once in a tight loop;
 *   -ECONNRESET, -ESHUTDOWN  the connection is dead or shut down.
 * Thread-safe; meant for the thread that runs the event loop.
 */
UVFIO_EXPORT int uvfio_client_dispatch(struct uvfio_client *c);

/* ---- Device and regions --------------------------------------------------- */

/** uvfio_client_device_info() - DEVICE_GET_INFO. */
UVFIO_EXPORT int uvfio_client_device_info(struct uvfio_client *c, struct uvfio_device_info *info);

struct uvfio_mmap_area {
	uint64_t offset; /* within the region */
	uint64_t size;
};

/**
 * struct uvfio_region_info - a decoded DEVICE_GET_REGION_INFO reply.
 * @fd: the descriptor to mmap() for a mappable region, or -1. Owned here.
 * @nr_areas, @areas: the sparse mmap areas (a mappable region without the
 *                    capability has one area covering it whole).
 * @has_type, @type, @subtype: the region type capability.
 * @caps, @caps_len: the raw capability chain, offsets rebased to @caps.
 */
struct uvfio_region_info {
	uint32_t index;
	uint32_t flags; /* VFIO_REGION_INFO_FLAG_* */
	uint64_t size;
	uint64_t offset;
	int fd;
	uint32_t nr_areas;
	struct uvfio_mmap_area *areas;
	bool has_type;
	uint32_t type;
	uint32_t subtype;
	uint8_t *caps;
	uint32_t caps_len;
};

/**
 * uvfio_client_region_info() - DEVICE_GET_REGION_INFO, with the larger-argsz
 * retry (bounded) and full validation of sizes and of the capability chain.
 * Release @ri with uvfio_region_info_release(). Returns -EPROTO when the
 * server's reply is inconsistent (a capability outside the reply, a loop in
 * the chain, an area outside the region, a mappable region with no
 * descriptor).
 */
UVFIO_EXPORT int uvfio_client_region_info(struct uvfio_client *c, uint32_t index,
					  struct uvfio_region_info *ri);
/** uvfio_region_info_release() - free the areas, close the descriptor. */
UVFIO_EXPORT void uvfio_region_info_release(struct uvfio_region_info *ri);

/**
 * uvfio_region_map_area() - mmap() one sparse area of a mappable region so
 * that loads and stores bypass the socket.
 * @prot: PROT_READ and/or PROT_WRITE.
 * @addr: receives the mapping; undo it with munmap(*addr, area size).
 * Returns -ENXIO when the server's descriptor is a file too short to hold
 * the area (touching the mapping past its end would raise SIGBUS here).
 * Thread-safe.
 */
UVFIO_EXPORT int uvfio_region_map_area(const struct uvfio_region_info *ri, unsigned area, int prot,
				       void **addr);

struct uvfio_io_fd_sub {
	uint64_t offset;
	uint64_t size;
	uint32_t fd_index;
	uint32_t type; /* UVFIO_IO_FD_TYPE_* */
	uint32_t flags;
	uint64_t datamatch; /* or user_data */
};

struct uvfio_io_fds {
	uint32_t index;
	uint32_t count;
	struct uvfio_io_fd_sub *subs;
	unsigned nfds;
	int fds[UVFIO_MAX_FDS_LIMIT];
};

/**
 * uvfio_client_region_io_fds() - DEVICE_GET_REGION_IO_FDS, with the
 * larger-argsz retry (bounded, as uvfio_client_region_info()). Every
 * fd_index is checked against the descriptors received. Release with
 * uvfio_io_fds_release(). Returns -EPROTO for an inconsistent reply.
 */
UVFIO_EXPORT int uvfio_client_region_io_fds(struct uvfio_client *c, uint32_t index,
					    struct uvfio_io_fds *out);
UVFIO_EXPORT void uvfio_io_fds_release(struct uvfio_io_fds *io);

/** uvfio_client_irq_info() - DEVICE_GET_IRQ_INFO. */
UVFIO_EXPORT int uvfio_client_irq_info(struct uvfio_client *c, uint32_t index,
				       struct vfio_irq_info *info);

/**
 * uvfio_client_set_irqs() - DEVICE_SET_IRQS.
 * @flags: one VFIO_IRQ_SET_DATA_* and one VFIO_IRQ_SET_ACTION_*.
 * @data: for DATA_BOOL, @count bytes; for DATA_EVENTFD, @count descriptors
 *        as an int array (-1 de-assigns one) or NULL to de-assign them all;
 *        NULL for DATA_NONE. The client keeps no reference to descriptors.
 */
UVFIO_EXPORT int uvfio_client_set_irqs(struct uvfio_client *c, uint32_t index, uint32_t flags,
				       uint32_t start, uint32_t count, const void *data);

/**
 * uvfio_client_region_read() - REGION_READ of @len bytes. More than the
 * largest transfer both sides take (the server's max_data_xfer_size, and
 * this client's) goes in pieces of that size, up to 8 of them in flight at
 * once on the connection (fewer under max_in_flight); a piece's data is
 * received straight into @buf when the calling thread is the one reading
 * the connection. Every piece sent is waited for before the call returns,
 * and the library neither writes nor reads @buf after it returns, whatever
 * the outcome (also from a callback, when the connection dies meanwhile). Returns 0 when every
 * piece succeeded, else the error of the first piece (in order of offset)
 * that failed; @buf's contents are then unspecified.
 */
UVFIO_EXPORT int uvfio_client_region_read(struct uvfio_client *c, uint32_t region,
					  uint64_t offset, void *buf, size_t len);
/** uvfio_client_region_write() - REGION_WRITE, in pieces likewise; waits
 * for every reply. On an error, pieces before and after the failing one may
 * have been written. */
UVFIO_EXPORT int uvfio_client_region_write(struct uvfio_client *c, uint32_t region,
					   uint64_t offset, const void *buf, size_t len);
/**
 * uvfio_client_region_write_posted() - REGION_WRITE that does not wait for
 * its reply. Replies are checked when they arrive; the first error is
 * returned by the next uvfio_client_flush(), -ETIMEDOUT for a write not
 * acknowledged within the message timeout (counted from when it left the
 * client), or the error that kept it from leaving the send buffer.
 * Returns 0 once sent, or in the send buffer (config post_delay_us,
 * coalesce_posted: it leaves before anything sent after it); at the
 * max_in_flight limit it first waits for room (reading the connection
 * itself if no other thread does), then -EAGAIN.
 *
 * A doorbell (config use_ioeventfds) is rung by signalling its eventfd:
 * after what this client posted before it has been sent (at once, or with
 * post_delay_us when the send buffer leaves: rings of one doorbell waiting
 * together are signalled as one, the server's handler is told how many).
 * The server handles every message sent before the signal before the
 * doorbell's handler runs; a message sent after it may be handled before it
 * (as with KVM's ioeventfds). A rung doorbell is complete once signalled:
 * flush does not wait for its handler and cannot report its errors (the
 * server logs them). Synchronous writes always go as messages.
 */
UVFIO_EXPORT int uvfio_client_region_write_posted(struct uvfio_client *c, uint32_t region,
						  uint64_t offset, const void *buf, size_t len);
/**
 * uvfio_client_flush() - send the posted writes waiting in the send buffer
 * and wait until every posted write issued before this call has been
 * acknowledged or has timed out (writes other threads post meanwhile are
 * not waited for; a write whose call had begun before this one is sent at
 * once, so it is never waited for in vain). Returns the first error a
 * posted write got since the previous flush (-ETIMEDOUT for one never
 * acknowledged), or 0; -ETIMEDOUT also when this call's own message timeout
 * passes first.
 */
UVFIO_EXPORT int uvfio_client_flush(struct uvfio_client *c);

/**
 * uvfio_client_bus_master() - set (@on) or clear the Bus Master Enable bit
 * of the device's PCI Command register (configuration space offset 0x04,
 * bit 2), as a driver does before it starts DMA and to stop all DMA: a
 * read-modify-write of the 16-bit register with REGION_READ/REGION_WRITE,
 * the other bits kept. A uvfio server refuses every device DMA with
 * -ENODEV while the bit is clear (uvfio/server.h, "Bus Master Enable"),
 * and a device reset clears it. Returns 0 or the error of either access.
 * Thread-safe as those calls are; two threads changing the Command
 * register at once may undo each other's change.
 */
UVFIO_EXPORT int uvfio_client_bus_master(struct uvfio_client *c, bool on);

/** uvfio_client_reset() - DEVICE_RESET. */
UVFIO_EXPORT int uvfio_client_reset(struct uvfio_client *c);

/* ---- Memory the server may touch ------------------------------------------ */

/**
 * struct uvfio_dma_region - client memory given to the device.
 * @vaddr: where the memory is in this process (used to answer DMA_READ and
 *         DMA_WRITE requests).
 * @iova: the device address of its first byte.
 * @size: length in bytes.
 * @prot: UVFIO_DMA_FLAG_READ and/or UVFIO_DMA_FLAG_WRITE: what the device
 *        may do.
 * @fd: a descriptor the server may mmap() (memfd, shared file), or -1 to
 *      make the server use DMA_READ/DMA_WRITE messages. Not kept.
 * @fd_offset: offset of @vaddr within @fd.
 */
struct uvfio_dma_region {
	void *vaddr;
	uint64_t iova;
	uint64_t size;
	uint32_t prot;
	int fd;
	uint64_t fd_offset;
};

/**
 * uvfio_client_dma_map() - register memory and send DMA_MAP. Returns
 * -EEXIST if it overlaps a registered range, -EINVAL for a zero size or a
 * wrapping range.
 */
UVFIO_EXPORT int uvfio_client_dma_map(struct uvfio_client *c, const struct uvfio_dma_region *r);
/**
 * uvfio_client_dma_unmap() - send DMA_UNMAP for exactly a registered range
 * and forget it. Returns -ENOENT if no such range is registered.
 */
UVFIO_EXPORT int uvfio_client_dma_unmap(struct uvfio_client *c, uint64_t iova, uint64_t size);

/* ---- Features and migration ------------------------------------------------ */

/**
 * uvfio_client_feature() - DEVICE_FEATURE.
 * @flags: the feature index and VFIO_DEVICE_FEATURE_GET/SET/PROBE.
 * @in, @inlen: feature data sent.
 * @out, @outlen: buffer for the reply's feature data (may be NULL/0).
 * Returns the number of feature data bytes the reply carried (copied up to
 * @outlen), or a negative errno.
 */
UVFIO_EXPORT int uvfio_client_feature(struct uvfio_client *c, uint32_t flags, const void *in,
				      size_t inlen, void *out, size_t outlen);

/** uvfio_client_mig_state_get() / _set() - the migration state. */
UVFIO_EXPORT int uvfio_client_mig_state_get(struct uvfio_client *c, uint32_t *state);
UVFIO_EXPORT int uvfio_client_mig_state_set(struct uvfio_client *c, uint32_t state);

/**
 * uvfio_client_dma_logging_start() - start dirty-page logging of @n ranges
 * (0: everything) with the given page size hint.
 */
UVFIO_EXPORT int uvfio_client_dma_logging_start(struct uvfio_client *c, uint64_t page_size,
						const struct uvfio_dma_logging_range *ranges,
						uint32_t n);
UVFIO_EXPORT int uvfio_client_dma_logging_stop(struct uvfio_client *c);
/**
 * uvfio_client_dma_logging_report() - the dirty bitmap of [iova, iova+length)
 * at @page_size granularity into @bitmap, which holds
 * ceil(length / page_size / 64) words.
 */
UVFIO_EXPORT int uvfio_client_dma_logging_report(struct uvfio_client *c, uint64_t iova,
						 uint64_t length, uint64_t page_size,
						 uint64_t *bitmap);

/**
 * uvfio_client_mig_data_read() - MIG_DATA_READ of up to @len bytes. Returns
 * the number of bytes read; fewer than @len means the stream has ended.
 */
UVFIO_EXPORT int uvfio_client_mig_data_read(struct uvfio_client *c, void *buf, size_t len);
/** uvfio_client_mig_data_write() - MIG_DATA_WRITE. */
UVFIO_EXPORT int uvfio_client_mig_data_write(struct uvfio_client *c, const void *buf,
					     size_t len);

/* ---- Any command ------------------------------------------------------------ */

/**
 * struct uvfio_call - one request and its reply, for commands the helpers
 * above do not cover or for tools that show raw messages.
 * @cmd: the command.
 * @req, @req_len: payload sent after the header.
 * @fds, @nfds: descriptors sent with it.
 * @rep, @rep_cap: buffer for the reply payload. A larger reply fails the
 *                 call with -EMSGSIZE.
 * @rep_len: receives the reply payload length.
 * @rfds, @rfds_cap: receives up to @rfds_cap descriptors that came with the
 *                   reply; more than that fails the call with -EPROTO.
 * @nrfds: receives how many came. The caller owns them.
 */
struct uvfio_call {
	uint16_t cmd;
	const void *req;
	size_t req_len;
	const int *fds;
	unsigned nfds;
	void *rep;
	size_t rep_cap;
	size_t rep_len;
	int *rfds;
	unsigned rfds_cap;
	unsigned nrfds;
};

/** uvfio_client_call() - send a request and wait for its reply. */
UVFIO_EXPORT int uvfio_client_call(struct uvfio_client *c, struct uvfio_call *call);

/**
 * uvfio_async_fn - completion of an asynchronous request.
 * @result: 0, a negative errno from the reply, -ETIMEDOUT (no reply within
 *          the message timeout, counted from the call), or the connection's
 *          -ECONNRESET / -ESHUTDOWN.
 * @rep, @rep_len: the reply payload; valid only during the call.
 * Runs exactly once, on whichever thread delivers the outcome: the one that
 * reads the reply (a caller waiting on the same client, possibly the
 * caller of uvfio_client_call_async() itself before it returns,
 * uvfio_client_dispatch(), the service thread), the one that notices the
 * deadline, or the one that shuts down or closes the client. It may send
 * further requests (posted or asynchronous: the client's lock is not
 * held); a synchronous call works too (a large read in pieces included), but
 * delays every other message while it waits.
 */
typedef void (*uvfio_async_fn)(void *opaque, int result, const void *rep, size_t rep_len);

/**
 * uvfio_client_call_async() - send a request; @fn runs when its reply
 * arrives, when its deadline passes, or when the connection dies or the
 * client shuts down or closes. Returns 0 once the request is sent (then @fn
 * runs exactly once), or a negative errno (then @fn never runs): at the
 * max_in_flight limit it first waits for room, then -EAGAIN.
 */
UVFIO_EXPORT int uvfio_client_call_async(struct uvfio_client *c, uint16_t cmd, const void *req,
					 size_t req_len, uvfio_async_fn fn, void *opaque);

#ifdef __cplusplus
}
#endif

#endif /* UVFIO_CLIENT_H */
