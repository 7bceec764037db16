/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio/server.h — write a vfio-user PCI device.
 *
 * A struct uvfio_server is one device context: a PCI identity, configuration
 * space, regions, interrupts and the DMA memory its current client gave it.
 * It serves one client at a time; when that client disconnects its DMA
 * mappings and interrupt descriptors are dropped, the device state is kept,
 * and the next client is accepted. Any number of contexts may live in one
 * process.
 *
 * Threads: a context is driven by one thread at a time — the one calling
 * uvfio_server_run() or uvfio_server_dispatch(); device callbacks run on that
 * thread, and the setup calls below must be made before serving starts or
 * from that thread. Exceptions, callable from any thread at any time:
 * uvfio_server_stop(), uvfio_server_irq_trigger(), uvfio_server_irq_pending(),
 * and the DMA calls (uvfio_server_dma_*: see "DMA from any thread" below),
 * except the asynchronous ones (serving thread only).
 *
 * Functions return 0 (or a documented non-negative value) or a negative
 * errno.
 */
#ifndef UVFIO_SERVER_H
#define UVFIO_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "uvfio/common.h"
#include "uvfio/protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

struct uvfio_server;

/**
 * enum uvfio_reset_type - why the device's reset callback runs.
 * @UVFIO_RESET_DEVICE: the client sent DEVICE_RESET. The library has reset
 *     configuration space (command, status errors, MSI/MSI-X enables) and
 *     the migration state (RUNNING); the device returns to its initial state.
 * @UVFIO_RESET_LOST_CONN: the client disconnected (or was dropped). Its DMA
 *     mappings and interrupt eventfds are already gone; configuration space
 *     is left as it was, so a device that keeps its state for the next
 *     client (as the samples do) simply returns 0. client_gone follows.
 * @UVFIO_RESET_PCI_FLR: the client set Initiate Function Level Reset in the
 *     PCI Express Device Control register (uvfio_pci_add_cap_exp()
 *     advertises the capability). Configuration space and migration state
 *     are reset as for UVFIO_RESET_DEVICE; the error of the callback is only
 *     logged (a configuration write has no way to report it).
 */
enum uvfio_reset_type {
	UVFIO_RESET_DEVICE = 0,
	UVFIO_RESET_LOST_CONN = 1,
	UVFIO_RESET_PCI_FLR = 2,
};

/**
 * struct uvfio_device_ops - what a device implements; every member may be
 * NULL. Callbacks get the opaque pointer of the config and return 0 or a
 * negative errno that becomes the error reply. They run on the thread that
 * serves the context (see Threads above).
 * The client may leave while a callback runs (its DMA by messages finds the
 * end of the stream): that DMA, and any later in the callback, fails with
 * -ECONNRESET or -ENOTCONN, and the disconnect (reset(UVFIO_RESET_LOST_CONN),
 * dma_unmap of every range, client_gone) happens once the callback has
 * returned, never under it; a range dma_map accepted meanwhile is unmapped
 * with the others. The serving thread should not do DMA by messages at all
 * (see uvfio_server_dma_read(): QEMU's rule); asynchronous DMA never waits.
 *
 * @reset: the device must reset, for the reason @type (see above).
 * @dma_map: the client added DMA memory [iova, iova+size); @vaddr is where
 *           it is mapped in this process, or NULL when the client gave no
 *           descriptor (use uvfio_server_dma_read/write). Called before
 *           other threads can reach the range.
 * @dma_unmap: the range is going away and no new DMA can reach it; drop
 *             every pointer into it (and release its pins, or have the
 *             threads holding them release them soon: the library waits
 *             for them before it unmaps the memory and answers the client).
 * @config_write: after a configuration space write of @len bytes at @offset
 *                was applied (to react to command or BAR changes).
 * @migration_flags: if set, the device supports migration; returns the
 *                   UVFIO_MIGRATION_* flags it supports.
 * @mig_transition: one arc of the migration state machine, from @from to
 *                  @to (complex transitions arrive as their arcs).
 * @mig_read: copy up to @len bytes of migration data into @buf; returns the
 *            number copied (less than @len at the end of the data).
 * @mig_write: consume @len bytes of migration data.
 * @client_gone: the client disconnected (DMA and interrupts already dropped;
 *               reset(UVFIO_RESET_LOST_CONN) came just before).
 * @irq_state: the client masked (@masked true) or unmasked interrupts
 *             [@start, @start+@count) of type @index: a DEVICE_SET_IRQS with
 *             ACTION_MASK/UNMASK and DATA_NONE or DATA_BOOL (one call per
 *             run of vectors set to 1; only INTx is MASKABLE, MSI and MSI-X
 *             are masked in their capability and table, as with VFIO's
 *             kernel driver), or the client signalling a mask or
 *             unmask eventfd it registered (a resample eventfd: one call per
 *             vector). The library has applied the state already: a masked
 *             vector's triggers are kept pending and fire on unmask. May
 *             call uvfio_server_irq_trigger().
 * @config_read: the client reads @len bytes of configuration space at
 *               @offset; @buf holds the emulated bytes. Overwrite those the
 *               device computes on read (a read may span several registers,
 *               or the whole space). A negative errno fails the read.
 */
struct uvfio_device_ops {
	int (*reset)(void *opaque, enum uvfio_reset_type type);
	int (*dma_map)(void *opaque, uint64_t iova, uint64_t size, uint32_t prot, void *vaddr);
	void (*dma_unmap)(void *opaque, uint64_t iova, uint64_t size);
	void (*config_write)(void *opaque, uint32_t offset, uint32_t len);
	uint64_t (*migration_flags)(void *opaque);
	int (*mig_transition)(void *opaque, uint32_t from, uint32_t to);
	ssize_t (*mig_read)(void *opaque, void *buf, size_t len);
	int (*mig_write)(void *opaque, const void *buf, size_t len);
	void (*client_gone)(void *opaque);
	void (*irq_state)(void *opaque, uint32_t index, uint32_t start, uint32_t count,
			  bool masked);
	int (*config_read)(void *opaque, uint32_t offset, void *buf, uint32_t len);
};

/**
 * enum uvfio_dma_layout - how DMA_READ/DMA_WRITE messages (device DMA to
 * client memory shared without a descriptor) carry their count and data.
 * The two layouts have the same size and cannot be told apart by their
 * bytes, so the server decides once per client; docs/INTEROP.md has the
 * evidence.
 * @UVFIO_DMA_LAYOUT_AUTO: QEMU's for a client that proposes version 0.0
 *   (QEMU's vfio-user-pci, which speaks no other), the specification's for
 *   any other client.
 * @UVFIO_DMA_LAYOUT_SPEC: the specification's: 8-byte address, 8-byte count,
 *   data from byte 32 of the message.
 * @UVFIO_DMA_LAYOUT_QEMU: QEMU's (the specification's before May 2021):
 *   8-byte address, 4-byte count, data from byte 28, message size
 *   32 + count. DMA_READ asks for at most 64 KiB at a time, two requests in
 *   flight, because QEMU drops the part of a reply its socket buffer cannot
 *   take at once.
 * A reply that contradicts the layout in a way the bytes can show fails the
 * device's DMA call with -EPROTO and a log line naming this setting.
 */
enum uvfio_dma_layout {
	UVFIO_DMA_LAYOUT_AUTO = 0,
	UVFIO_DMA_LAYOUT_SPEC = 1,
	UVFIO_DMA_LAYOUT_QEMU = 2,
};

/*
 * Who may connect. Whoever connects to a device's socket drives the device
 * (its registers, the memory it serves, a disk behind it), so two gates
 * stand in front of it:
 *  1. The socket file. uvfio_server_listen() creates it owner-only (mode
 *     0600) unless @socket_mode says otherwise, with the group
 *     @socket_gid when @set_socket_gid; the mode is set on the socket
 *     before bind() and the file appears at its path only with its final
 *     owner, group and mode (no window where it is more open). A socket
 *     handed over with uvfio_server_listen_fd() (systemd's socket
 *     activation) keeps what its creator chose (SocketMode=, SocketUser=,
 *     SocketGroup=).
 *  2. The peer's credentials, checked on every connection accepted from a
 *     listening socket (either kind) before a single byte of it is read:
 *     the kernel's record of the connecting process (SO_PEERCRED: pid,
 *     effective uid and gid at connect(); SO_PEERGROUPS: its supplementary
 *     groups). A peer is served when its uid is in @uids, or its gid or
 *     one of its supplementary groups is in @gids, or @allow returns true;
 *     with none of the three set, every peer that could open the socket is
 *     served (the file's permissions are the rule). A refused peer's
 *     connection is closed unread and logged (a warning with its pid, uid
 *     and gid; after 100 refusals in a row only every 1000th); the server
 *     goes on listening.
 * The file comes first because the kernel completes connections into the
 * listening backlog before any check can run: a process that may open the
 * file but is refused can still hold backlog places while another client
 * is served. A descriptor given to uvfio_server_adopt() is not checked:
 * whoever handed it over chose the peer.
 */

/**
 * struct uvfio_peer - the process at the other end of a connection, as the
 * kernel recorded it when the process called connect().
 * @pid, @uid, @gid: its process id (in this process's pid namespace),
 *                   effective user and group.
 * @groups, @ngroups: its supplementary groups (valid during the call only).
 */
struct uvfio_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
};

/**
 * struct uvfio_server_access - who may connect (see above).
 * @uids, @nuids: users allowed (copied by uvfio_server_create()).
 * @gids, @ngids: groups allowed, primary or supplementary (copied).
 * @allow: for a peer the lists do not allow (or every peer, without
 *         lists): return true to serve it. Runs on the thread serving the
 *         context, with the config's opaque pointer; it must not call
 *         back into the context.
 * @socket_mode: permission bits (at most 0777) of the socket file
 *               uvfio_server_listen() creates; 0: 0600. The process's umask
 *               does not apply.
 * @set_socket_gid, @socket_gid: give that file this group (the process
 *                               must be allowed to: its member, or root).
 * Lists of more than UVFIO_ACCESS_MAX_IDS entries, a NULL list with a
 * count, or a mode above 0777 fail uvfio_server_create() with -EINVAL.
 */
#define UVFIO_ACCESS_MAX_IDS 1024u
struct uvfio_server_access {
	const uid_t *uids;
	size_t nuids;
	const gid_t *gids;
	size_t ngids;
	bool (*allow)(void *opaque, const struct uvfio_peer *peer);
	uint32_t socket_mode;
	bool set_socket_gid;
	gid_t socket_gid;
};

/**
 * struct uvfio_server_config - options; all-zero is a good default.
 * @log: logging and tracing.
 * @ops, @opaque: the device's callbacks and their argument.
 * @max_msg_fds: descriptors accepted per message (0: 16). QEMU refuses a
 *               server that offers more than 16 (docs/INTEROP.md).
 * @max_data_xfer_size: largest read/write count accepted (0: 1 MiB).
 * @max_dma_maps: DMA windows at once (0: 1024).
 * @pgsizes: DMA page sizes supported (0: 4096).
 * @no_write_multiple: do not offer REGION_WRITE_MULTI.
 * @no_twin_socket: do not offer twin-socket mode (it is offered otherwise to
 *                  clients that propose it, so that DMA_READ/DMA_WRITE
 *                  requests travel on their own socket).
 * @config_space_size: 256 (PCI) or 4096 (PCI Express, with extended
 *                     capabilities from 0x100); 0 means 256.
 * @timeout_ms: how long a message to the client may wait for room in the
 *              socket, and a DMA_READ/DMA_WRITE request for its reply
 *              (0: 5000). A message that cannot be sent in time ends the
 *              connection (logged); a reply that does not come fails the DMA
 *              with -ETIMEDOUT. Also how long DMA_UNMAP (or a disconnect)
 *              waits for pins before it revokes them ("DMA from any
 *              thread").
 * @dma_require_seal: accept DMA_MAP descriptors only if sealed against
 *                    shrinking (F_SEAL_SHRINK, as QEMU's
 *                    memory-backend-memfd seals them); refused with -EPERM
 *                    otherwise. For devices that touch client memory
 *                    through their own pointers (see "DMA" below).
 * @no_direct_read: uvfio_server_run() waits in epoll before each read of a
 *                  connected client instead of blocking in the read: one
 *                  more system call per request, and uvfio_server_stop()
 *                  then leaves the client connected (see there).
 * @dma_layout: the layout of DMA_READ/DMA_WRITE messages (enum
 *              uvfio_dma_layout); 0 decides from the client's VERSION.
 * @poll_us: polling mode (0: off). While a client is connected,
 *           uvfio_server_run() spins on the socket (and on the eventfds it
 *           watches: doorbells, interrupt masks) for up to this many
 *           microseconds (at most 1000), yielding the CPU between checks,
 *           before it blocks; the budget adapts as the client's does
 *           (uvfio/client.h, poll_us): it shrinks to nothing while the
 *           client is idle, so an idle device costs no CPU, and it never
 *           spins when this thread and the client can only run on the same
 *           single CPU, or while experience shows they share one (as the
 *           client's). uvfio_server_dispatch() never spins: an event loop
 *           decides how it waits. When this is 0, the environment's
 *           UVFIO_POLL_US=N sets it.
 * @access: who may connect, and the socket file's permissions (see "Who
 *          may connect" below); all-zero: the socket file is owner-only
 *          (0600) and every peer that can open it is served.
 * @no_bus_master_check: the device is not a PCI function: its DMA does not
 *                       depend on the Bus Master Enable bit of the Command
 *                       register (see "Bus Master Enable" below).
 */
struct uvfio_server_config {
	struct uvfio_log_config log;
	const struct uvfio_device_ops *ops;
	void *opaque;
	uint32_t max_msg_fds;
	uint32_t max_data_xfer_size;
	uint32_t max_dma_maps;
	uint64_t pgsizes;
	bool no_write_multiple;
	bool no_twin_socket;
	uint32_t config_space_size;
	bool no_direct_read;
	uint32_t timeout_ms;
	bool dma_require_seal;
	enum uvfio_dma_layout dma_layout;
	uint32_t poll_us;
	struct uvfio_server_access access;
	bool no_bus_master_check;
};

/** uvfio_server_create() - a new device context, not yet serving. */
UVFIO_EXPORT int uvfio_server_create(const struct uvfio_server_config *cfg,
				     struct uvfio_server **out);
/** uvfio_server_destroy() - disconnect, remove the socket file created by
 * uvfio_server_listen(), free everything. NULL is allowed. No other thread
 * may be using the context any more (DMA calls included). */
UVFIO_EXPORT void uvfio_server_destroy(struct uvfio_server *s);

/* ---- PCI identity and configuration space ----------------------------------- */

struct uvfio_pci_id {
	uint16_t vendor;
	uint16_t device;
	uint16_t subsys_vendor;
	uint16_t subsys_device;
	uint32_t class_code; /* 24 bits: base class, subclass, programming interface */
	uint8_t revision;
};

/** uvfio_server_pci_init() - a type-0 header with this identity. */
UVFIO_EXPORT int uvfio_server_pci_init(struct uvfio_server *s, const struct uvfio_pci_id *id);

/**
 * uvfio_server_config_space() - the emulated configuration space (256 or
 * 4096 bytes), for the device to read or to initialise read-only fields.
 * @len: receives its size.
 */
UVFIO_EXPORT uint8_t *uvfio_server_config_space(struct uvfio_server *s, size_t *len);

/**
 * uvfio_server_config_set_wmask() - which bits of [offset, offset+len) the
 * client may write (1 = writable). By default only the standard writable
 * fields of the header and of capabilities added by the helpers are.
 */
UVFIO_EXPORT int uvfio_server_config_set_wmask(struct uvfio_server *s, uint32_t offset,
					       const uint8_t *mask, uint32_t len);

/* Capability helpers: each returns the capability's offset in config space
 * (>= 0x40), or a negative errno (-ENOSPC when the space is full). */
UVFIO_EXPORT int uvfio_pci_add_cap_pm(struct uvfio_server *s);
/** MSI with @nvec vectors (1, 2, 4, ... 32), 64-bit addresses, maskable. */
UVFIO_EXPORT int uvfio_pci_add_cap_msi(struct uvfio_server *s, unsigned nvec);
/** MSI-X with @nvec vectors; table and PBA in BAR @bar at the offsets. */
UVFIO_EXPORT int uvfio_pci_add_cap_msix(struct uvfio_server *s, unsigned nvec, unsigned bar,
					uint32_t table_offset, uint32_t pba_offset);
/** A PCI Express endpoint capability (version 2). */
UVFIO_EXPORT int uvfio_pci_add_cap_exp(struct uvfio_server *s);
/** A vendor-specific capability carrying @len bytes of @data. */
UVFIO_EXPORT int uvfio_pci_add_cap_vendor(struct uvfio_server *s, const void *data, uint8_t len);

/**
 * uvfio_pci_add_ext_cap() - a PCI Express extended capability (needs
 * config_space_size 4096): the 4-byte header (@id, @version, next) followed
 * by @len bytes of @data, at the next 4-byte boundary from 0x100 on,
 * linked at the end of the extended list. Its bytes are read-only to the
 * client until uvfio_server_config_set_wmask() says otherwise.
 * Returns its offset (>= 0x100), -EINVAL for a 256-byte space, a @version
 * above 15 or NULL @data with @len, -ENOSPC when it does not fit.
 */
UVFIO_EXPORT int uvfio_pci_add_ext_cap(struct uvfio_server *s, uint16_t id, uint8_t version,
				       const void *data, uint32_t len);

/**
 * uvfio_pci_find_cap() / uvfio_pci_find_ext_cap() - the offset of the first
 * standard (8-bit @id) or extended (16-bit @id) capability after offset
 * @after (0: from the start of its list), walking the list as the client
 * would see it in configuration space. Returns the offset, or -ENOENT (also
 * for a list that loops or leaves the space, which the walk never follows).
 */
UVFIO_EXPORT int uvfio_pci_find_cap(struct uvfio_server *s, uint8_t id, uint32_t after);
UVFIO_EXPORT int uvfio_pci_find_ext_cap(struct uvfio_server *s, uint16_t id, uint32_t after);

/* ---- Regions ---------------------------------------------------------------- */

/**
 * uvfio_region_fn - access to a region served by callbacks.
 * Reads fill @buf, writes take it. Returns @count, or a negative errno.
 * Accesses arrive already checked against the region's size and flags.
 */
typedef ssize_t (*uvfio_region_fn)(void *opaque, uint32_t region, uint64_t offset, void *buf,
				   size_t count, bool is_write);

#define UVFIO_BAR_MEM 0u
#define UVFIO_BAR_IO (1u << 0)
#define UVFIO_BAR_MEM64 (1u << 2)
#define UVFIO_BAR_PREFETCH (1u << 3)

/**
 * struct uvfio_region_desc - a region to serve.
 * @size: bytes; a BAR's size must be a power of two (>= 16, >= 4 for I/O).
 * @flags: VFIO_REGION_INFO_FLAG_READ/_WRITE.
 * @bar_flags: for BARs 0-5: UVFIO_BAR_* (a 64-bit BAR uses the next BAR too).
 * @fn: callback access, or NULL for plain memory allocated by the library.
 * @mappable: plain memory backed by a memfd that the client may mmap(); the
 *            areas below are advertised with the sparse-mmap capability.
 * @nr_areas, @areas: the mappable areas (page-aligned); 0 means the whole
 *                    region.
 * @type, @subtype: for device-specific regions (index >= 9): the region type
 *                  capability.
 */
struct uvfio_region_desc {
	uint64_t size;
	uint32_t flags;
	uint32_t bar_flags;
	uvfio_region_fn fn;
	bool mappable;
	uint32_t nr_areas;
	struct {
		uint64_t offset, size;
	} areas[8];
	uint32_t type, subtype;
};

/**
 * uvfio_server_setup_region() - serve region @index (VFIO_PCI_BAR0_REGION_INDEX
 * ... VFIO_PCI_VGA_REGION_INDEX, or >= 9 for device-specific ones). The
 * configuration space (index 7) is emulated by the library. For memory
 * regions, @mem (if not NULL) receives a pointer to the memory.
 */
UVFIO_EXPORT int uvfio_server_setup_region(struct uvfio_server *s, uint32_t index,
					   const struct uvfio_region_desc *d, void **mem);

/**
 * uvfio_server_setup_region_fd() - a mappable region backed by the device's
 * own file instead of a memfd of the library: @d->size bytes of @fd from
 * @offset (a memfd, a shared-memory or hugetlbfs file the device already
 * uses). @d->mappable must be set. The library keeps a duplicate of @fd
 * (the device keeps and closes its own), maps it for REGION_READ/WRITE (@mem
 * receives that mapping, read-only for a region without the WRITE flag), hands the duplicate to clients with @offset as
 * the region's mmap offset, and unmaps and closes it in
 * uvfio_server_destroy(). The file must stay at least @offset + size long
 * while the context lives: shrinking it makes accesses fault (SIGBUS), so
 * seal it (F_SEAL_SHRINK) if anything else can resize it.
 * Errors: as uvfio_server_setup_region(), and -EBADF for a bad @fd,
 * -EINVAL for an @offset that is not page-aligned, a file that is not a
 * regular file (memfd, tmpfs, hugetlbfs) or shorter than @offset + size;
 * the errno of mmap() (-EACCES for a read-only descriptor of a writable
 * region).
 */
UVFIO_EXPORT int uvfio_server_setup_region_fd(struct uvfio_server *s, uint32_t index,
					      const struct uvfio_region_desc *d, int fd,
					      uint64_t offset, void **mem);

/* ---- Interrupts --------------------------------------------------------------- */

/**
 * uvfio_server_setup_irq() - the device has @count interrupts of type
 * @index (VFIO_PCI_INTX_IRQ_INDEX ... VFIO_PCI_REQ_IRQ_INDEX). INTx gets an
 * interrupt pin in configuration space. INTx, ERR and REQ have a count of
 * 1. ERR reports an error the device cannot recover from (QEMU stops the
 * guest); REQ asks the client to release the device (QEMU unplugs it).
 * QEMU wires ERR and REQ when the device has them and warns when it has no
 * ERR; libvfio-user's devices have both.
 */
UVFIO_EXPORT int uvfio_server_setup_irq(struct uvfio_server *s, uint32_t index, uint32_t count);

/**
 * uvfio_server_irq_trigger() - raise interrupt @sub of type @index (ERR and
 * REQ too): signal the client's eventfd, or remember it as pending while
 * masked. Returns 0,
 * -ENOENT when the client wired no eventfd, -EINVAL for a bad index.
 * Thread-safe.
 */
UVFIO_EXPORT int uvfio_server_irq_trigger(struct uvfio_server *s, uint32_t index, uint32_t sub);

/**
 * uvfio_server_irq_pending() - whether interrupt @sub of type @index is
 * pending (triggered while masked, not yet delivered). For MSI-X the
 * library also keeps the Pending Bit Array of the MSI-X capability up to
 * date in the BAR's memory (REGION_READ and the client's mmap() show it;
 * a client's write there, undefined by PCI, is kept until the library next
 * changes that bit); a device whose MSI-X BAR is served by a callback
 * answers PBA reads itself, from this function. Returns 1, 0, or -EINVAL for a bad index.
 * Thread-safe.
 */
UVFIO_EXPORT int uvfio_server_irq_pending(struct uvfio_server *s, uint32_t index, uint32_t sub);

/* ---- ioeventfds ------------------------------------------------------------------ */

/**
 * struct uvfio_ioevent - what an ioeventfd handler is told.
 * @id: what uvfio_server_add_ioeventfd() returned.
 * @region, @offset: where the write was (as registered).
 * @data: the value written, as a little-endian number of the write's size,
 *        when @has_data: always for a write that came as a message, and for
 *        a signal of a DATAMATCH ioeventfd (then it is the datamatch).
 * @has_data: false for a signal of an ioeventfd without DATAMATCH (the
 *            eventfd does not carry the value).
 * @count: how many writes this call stands for: the eventfd counts signals,
 *         and those that came between two reads arrive as one call (a
 *         doorbell handler looks at the device's state, not at the count).
 */
struct uvfio_ioevent {
	int id;
	uint32_t region;
	uint64_t offset;
	uint64_t data;
	uint64_t count;
	bool has_data;
};

/* Returns 0, or a negative errno: the error reply of a REGION_WRITE that
 * came as a message; only logged for a signal. */
typedef int (*uvfio_ioevent_fn)(void *opaque, const struct uvfio_ioevent *ev);

#define UVFIO_IOEVENTFD_DATAMATCH (1u << 0)
#define UVFIO_SERVER_MAX_IOEVENTFDS 64u

/**
 * uvfio_server_add_ioeventfd() - a doorbell a client may ring through an
 * eventfd instead of a REGION_WRITE message (what KVM's ioeventfds do for
 * a guest's writes): writes of @size bytes (1, 2, 4 or 8; 0: any size) at
 * @offset of region @region, with @flags UVFIO_IOEVENTFD_DATAMATCH only
 * those whose value is @datamatch (not with @size 0). @fn runs on the
 * serving thread with the config's opaque pointer.
 *
 * A client gets the eventfds with DEVICE_GET_REGION_IO_FDS: each
 * registration has its own eventfd (so the handler knows which fired),
 * created afresh for each client (a client that left cannot ring the next
 * one's device), the PIO flag set for an I/O BAR. A reply carries at most
 * as many as the client's max_msg_fds; the others are left out of the
 * reply and reach the device through messages.
 *
 * A REGION_WRITE (or an entry of REGION_WRITE_MULTI) that matches a
 * registration as KVM would match it (same offset, same size unless @size
 * is 0, same value for DATAMATCH) goes to @fn with its data, not to the
 * region's callback or memory: the device sees a doorbell the same way
 * however it is rung. Other writes at the offset (another size or value)
 * take the usual path.
 *
 * Order: the loop reads the signalled eventfds, then handles every message
 * the socket holds, then runs the handlers. So a message the client sent
 * before it signalled an eventfd is handled before that signal's handler;
 * a message sent after a signal may be handled before it (ioeventfd writes
 * are posted, as they are with KVM).
 *
 * While a client has eventfds, uvfio_server_run() waits in epoll (socket
 * and eventfds) instead of blocking in a read of the socket.
 *
 * Not supported, by decision: removing a registration (a client may have
 * given the eventfd to KVM, and writes to it would be lost silently);
 * ioregionfds (never merged into Linux); libvfio-user's shadow ioeventfds
 * (UVFIO_IO_FD_TYPE_IOEVENTFD_SHADOW need a KVM patch that is not in
 * Linux, and the value they keep is only useful to a device reading it
 * from shared memory; no client of ours or QEMU's asks for them).
 *
 * Returns the id (>= 0), -EINVAL for an absent, read-only or configuration
 * space region, a bad @size or @flags, a @datamatch wider than @size, a
 * range past the region's end or inside one of its mmap-able areas (writes
 * there never reach the server), NULL @fn; -EEXIST when a registration
 * already matches the same writes; -ENOSPC past UVFIO_SERVER_MAX_IOEVENTFDS;
 * -ENOMEM. Call it before serving or from the serving thread.
 */
UVFIO_EXPORT int uvfio_server_add_ioeventfd(struct uvfio_server *s, uint32_t region,
					    uint64_t offset, uint32_t size, uint32_t flags,
					    uint64_t datamatch, uvfio_ioevent_fn fn);

/* ---- DMA ----------------------------------------------------------------------
 *
 * Client memory given with a descriptor is mapped into this process. The
 * client owns the file behind it and may lie about it or shrink it; a touch
 * past the file's end raises SIGBUS, which would kill the device. So:
 * - DMA_MAP checks the file: a regular file (memfd, tmpfs, hugetlbfs) must
 *   hold offset + size, or the map is refused with -ENXIO;
 * - the library's own copies (uvfio_server_dma_read/write) survive a file
 *   shrunk later: the fault becomes -EIO for that DMA. They are guarded by a
 *   SIGBUS handler the library puts in place when a client first maps
 *   memory with a descriptor (and puts back on top at a later map if the
 *   application replaced it). It acts only on a fault inside one of its own
 *   copies, at an address of the client memory being copied; every other
 *   SIGBUS goes to the handler installed before it, or gets the default
 *   action. An application that installs a SIGBUS handler of its own later
 *   should chain to the previous one (sigaction's old action); when the
 *   library puts its handler back on top, it remembers the one it covers,
 *   so a fault that comes back to it goes on down the chain, never round
 *   in a loop. The copying thread may block SIGBUS: a copy from memory
 *   whose file is not sealed against shrinking unblocks it for its
 *   duration and restores the thread's mask (two system calls, about
 *   0.17 us; memory sealed with F_SEAL_SHRINK cannot shrink, and its copy
 *   skips them).
 * - Pointers a device gets (the dma_map callback, uvfio_server_dma_sg()) are
 *   not guarded: a device that reads or writes through them itself trusts
 *   the client not to shrink the file, or sets dma_require_seal (memfds
 *   sealed with F_SEAL_SHRINK cannot shrink).
 * Sealing alone was not chosen as the rule: QEMU's file-backed memory
 * (memory-backend-file, hugetlbfs) cannot be sealed.
 */

/*
 * DMA from any thread: uvfio_server_dma_read/write(), the sg calls and
 * uvfio_server_dma_mark_dirty() may be called from any thread, several at
 * once, while the driving thread serves the socket.
 * - Through mapped memory: the copy pins the mapping it uses; DMA_UNMAP
 *   (on the driving thread) takes the range out of reach of new DMA at
 *   once, calls dma_unmap, then waits until every pin is released before it
 *   unmaps the memory and replies. The client's memory is never pulled from
 *   under a copy. (libvfio-user quiesces the whole device instead; here only
 *   the users of that range are waited for.) The wait is bounded by
 *   timeout_ms (QEMU waits for the reply with its vCPU or main loop
 *   blocked): pins still held then are revoked. Private anonymous memory
 *   replaces the client's at the same addresses, so the holder's later
 *   reads find zeros and its writes go nowhere (nothing faults, nothing
 *   reaches the client after the reply); a warning names the range, the
 *   pins and the thread that took the last one. The pieces stay valid
 *   pointers until uvfio_server_dma_sg_put(). The same holds for the
 *   mappings dropped when a client leaves.
 * - Through messages: each thread's DMA_READ/DMA_WRITE requests are in
 *   flight at once with everyone's, and replies are matched by id. Without a
 *   twin socket the replies arrive on the main socket, which only the
 *   driving thread reads: it hands each reply to the thread that asked, so
 *   DMA by messages from other threads needs that thread to keep serving
 *   (uvfio_server_run(), or dispatch() whenever the poll fd is readable).
 *   With a twin socket the waiting threads read it themselves.
 * - Holding pins (uvfio_server_dma_sg_get()) while waiting for anything the
 *   driving thread does (a DMA reply without a twin socket, a callback)
 *   would stall a DMA_UNMAP behind it: release pins first. Likewise a
 *   callback must not wait for another thread's DMA by messages without a
 *   twin socket (its reply would wait for the callback to return).
 * - A thread that finds the stream broken (a send that fails, a reply cut
 *   off) ends the connection with a log line; every request in flight
 *   fails at once with -ECONNRESET, and DMA without a client with
 *   -ENOTCONN (through messages) or -EFAULT (its memory is gone).
 * - Bounds: each DMA call keeps at most 4 requests in flight (in QEMU's
 *   layout at most 2 DMA_READs for the whole connection); a reply's data
 *   is received straight into the caller's buffer where it can be.
 */

/*
 * Bus Master Enable. A PCI function cannot master the bus while the Bus
 * Master Enable bit (0x4) of its Command register (configuration space
 * offset 0x04) is clear; a driver sets it before it starts DMA and clears
 * it to stop all DMA (unbind, kexec, reset; a reset clears it). The library
 * enforces it on every path of device DMA: uvfio_server_dma_read/write(),
 * uvfio_server_dma_sg(), uvfio_server_dma_sg_get() (and so through mapped
 * memory and through DMA_READ/DMA_WRITE messages alike) fail with -ENODEV
 * while the bit is clear, the first refusal after each clearing is logged.
 * -ENODEV is what QEMU answers a DMA message with while the bit is clear
 * (its bus-master address space is disabled), so the device sees the same
 * error whichever side refuses. What the library cannot stop is a device's
 * own use of pointers it already holds (the dma_map callback's, pieces
 * from uvfio_server_dma_sg/_get()): a device that keeps them asks
 * uvfio_server_dma_permitted() before it uses them. Clients set the bit as
 * a driver does (uvfio_client_bus_master() in uvfio/client.h). A device
 * that is not PCI sets no_bus_master_check in its config.
 */

/**
 * uvfio_server_dma_permitted() - may the device master the bus now? 0, or
 * -ENODEV while the client has the Bus Master Enable bit clear (and the
 * config does not set no_bus_master_check), -EINVAL for NULL. The check
 * every DMA call of the library makes first. Thread-safe.
 */
UVFIO_EXPORT int uvfio_server_dma_permitted(struct uvfio_server *s);

struct uvfio_sg {
	uint64_t iova;
	uint64_t len;
	void *vaddr;   /* NULL when the range came without a descriptor */
	uint32_t prot; /* as asked */
	void *pin;     /* set by uvfio_server_dma_sg_get(), for _put() */
};

/**
 * uvfio_server_dma_sg() - turn [iova, iova+len) into pieces, one per DMA
 * mapping it crosses, checking that every byte is mapped with @prot
 * (UVFIO_DMA_FLAG_READ/WRITE). Returns the number of pieces, -EFAULT for an
 * unmapped byte, -EPERM for a permission, -ENOSPC if @max is too small,
 * -ENODEV while the client has Bus Master Enable clear.
 * Pointers stay valid until the dma_unmap callback for their range: a
 * thread other than the driving one must agree with its dma_unmap callback
 * on when it stops using them, or use uvfio_server_dma_sg_get(). Nothing is
 * logged dirty (see uvfio_server_dma_mark_dirty()). Thread-safe.
 */
UVFIO_EXPORT int uvfio_server_dma_sg(struct uvfio_server *s, uint64_t iova, uint64_t len,
				     uint32_t prot, struct uvfio_sg *sg, unsigned max);

/**
 * uvfio_server_dma_sg_get() - uvfio_server_dma_sg(), and pin the mapped
 * pieces: their memory stays mapped until uvfio_server_dma_sg_put(), even
 * if the client unmaps the range meanwhile (the DMA_UNMAP waits, at most
 * timeout_ms: then the pieces are revoked, see "DMA from any thread").
 * -ENODEV while Bus Master Enable is clear. On error nothing is pinned.
 * Thread-safe.
 */
UVFIO_EXPORT int uvfio_server_dma_sg_get(struct uvfio_server *s, uint64_t iova, uint64_t len,
					 uint32_t prot, struct uvfio_sg *sg, unsigned max);
/**
 * uvfio_server_dma_sg_put() - release the pins of @n pieces from
 * uvfio_server_dma_sg_get(); pieces got with UVFIO_DMA_FLAG_WRITE are logged
 * dirty now (put them once written). Thread-safe.
 */
UVFIO_EXPORT void uvfio_server_dma_sg_put(struct uvfio_server *s, struct uvfio_sg *sg, unsigned n);

/**
 * uvfio_server_dma_mark_dirty() - log [iova, iova+len) as written by the
 * device, for dirty-page logging (migration). A device must call it after
 * every write it makes itself: through a pointer from the dma_map callback
 * or from uvfio_server_dma_sg() (uvfio_server_dma_sg_put() does it for
 * pieces got for writing). Call it when the write is complete (a
 * report taken before that must not show the page, or the client may copy
 * the page before the data is there and not again). uvfio_server_dma_write()
 * logs its own writes as they complete; uvfio_server_dma_sg() logs nothing.
 * A no-op when the client is not logging. Returns 0, -EINVAL for an empty
 * or wrapping range. Thread-safe.
 */
UVFIO_EXPORT int uvfio_server_dma_mark_dirty(struct uvfio_server *s, uint64_t iova, uint64_t len);

/**
 * uvfio_server_dma_read() / _write() - copy between client memory and @buf:
 * directly where the client shared a descriptor, otherwise with DMA_READ /
 * DMA_WRITE messages split by the client's max_data_xfer_size. Returns 0,
 * -EFAULT/-EPERM/-ENODEV as uvfio_server_dma_sg() (Bus Master Enable is
 * asked again for each piece: a copy stops at the piece after the client
 * clears it), -EIO when the file behind mapped
 * memory shrank under the copy, or the error of a DMA message (-ETIMEDOUT
 * when its reply did not come within timeout_ms, -ENOTCONN/-ECONNRESET
 * without a client). Thread-safe (see "DMA from any thread").
 *
 * On the serving thread (a callback), DMA by messages blocks the device:
 * client requests that arrive meanwhile are queued and handled only after
 * the DMA, at most 1024 of them and 4 MiB of messages (plus the one being
 * read); beyond that the server stops reading the socket, so the client's
 * socket buffer holds the rest; a reply sent behind more requests than that
 * cannot be reached, and the DMA fails with -ETIMEDOUT. That suits a client
 * that answers DMA while it waits for replies of its own (ours does). It
 * deadlocks QEMU's client, which most users run: QEMU's vCPU thread waits
 * for the reply to a region access holding the global lock
 * (hw/vfio-user/proxy.c, vfio_user_send_wait() waits on a condition
 * variable with the BQL held), and QEMU answers DMA_READ/DMA_WRITE only from
 * a bottom half in its main loop (vfio_user_request()), which needs that
 * lock. A driver that reads a register during the copy then stalls both
 * processes until a timeout (QEMU's x-msg-timeout and timeout_ms, 5 s
 * each), and the DMA fails. So the rule for devices: the serving thread
 * never waits for DMA by messages. Use the asynchronous calls below (one
 * thread), or DMA from another thread. The library logs one warning per
 * connection the first time the serving thread does it.
 */
UVFIO_EXPORT int uvfio_server_dma_read(struct uvfio_server *s, uint64_t iova, void *buf,
				       size_t len);
UVFIO_EXPORT int uvfio_server_dma_write(struct uvfio_server *s, uint64_t iova, const void *buf,
					size_t len);

/* ---- Asynchronous DMA --------------------------------------------------------------
 *
 * For devices that serve from one thread: a transfer starts from a callback
 * (or between uvfio_server_dispatch() calls), the call returns at once, and
 * the serving loop answers the client's requests while the DMA_READ /
 * DMA_WRITE messages are in flight; the device is called back on the
 * serving thread when the transfer is over.
 * - Thread: call it on the thread that serves the context (inside a
 *   callback, or the thread that calls uvfio_server_run()/_dispatch());
 *   from any other thread it returns -EPERM (use the blocking calls there).
 * - The callback is always called from the serving loop, never inside the
 *   starting call, also when the memory is mapped (a small mapped copy is
 *   done before the call returns and only the callback waits for the loop;
 *   a large one goes on in slices, below): one code path for both. A
 *   dispatch() user finds the poll fd readable.
 * - Order: callbacks come one at a time in the order the transfers were
 *   started. A transfer cancelled by DMA_UNMAP is called back at once (see
 *   below), ahead of earlier ones still running.
 * - Result: 0, or -ENODEV (Bus Master Enable clear, checked before every
 *   piece: see "Bus Master Enable"), -EFAULT/-EPERM (not mapped, not
 *   allowed), -EIO (the file
 *   behind mapped memory shrank), an error the client returned, -EPROTO (a
 *   malformed reply), -ETIMEDOUT (no reply within timeout_ms of the last
 *   progress), or the cancellation errors:
 *   -ECONNRESET: the client disconnected (or the connection broke); called
 *     while the connection ends, before the reset (UVFIO_RESET_LOST_CONN),
 *     dma_unmap and client_gone callbacks;
 *   -ECANCELED: a device reset (DEVICE_RESET, function-level reset), called
 *     before the reset callback; or a DMA_UNMAP of a range the transfer's
 *     segments touch, called before the dma_unmap callback.
 *   A transfer that finished before the cancel keeps its own result. After
 *   an error no more pieces are sent; data already moved stays moved.
 * - @buf is read (write) or written (read) until the callback; keep it.
 *   A cancelled transfer's late replies are dropped, never written to it.
 * - Bounds: at most UVFIO_SERVER_DMA_ASYNC_MAX transfers per context (a
 *   cancelled one counts until its messages are answered or time out),
 *   UVFIO_SERVER_DMA_ASYNC_SEGS segments each, 4 requests in flight each
 *   (in QEMU's layout at most 2 DMA_READs for the whole connection).
 * - Mapped pieces are copied by the serving thread (guarded as the blocking
 *   copies), at most 256 KiB per transfer in the starting call and in each
 *   pass of the loop, so the client is answered between slices of a large
 *   copy (a transfer of a few KiB is done before the starting call
 *   returns; its callback still comes from the loop).
 * Returns 0 (@done will be called exactly once), or, without calling it:
 * -EINVAL (NULL, empty or wrapping segment), -E2BIG (too many segments),
 * -EPERM (not the serving thread), -ENOTCONN (no client), -EAGAIN (the
 * bound), -ENOMEM.
 */
#define UVFIO_SERVER_DMA_ASYNC_MAX 64
#define UVFIO_SERVER_DMA_ASYNC_SEGS 256

/* @result: 0 or a negative errno (see above). */
typedef void (*uvfio_dma_done_fn)(void *arg, int result);

struct uvfio_dma_seg {
	uint64_t iova;
	uint64_t len;
};

/** uvfio_server_dma_read_async() - client memory [iova, iova+len) into @buf. */
UVFIO_EXPORT int uvfio_server_dma_read_async(struct uvfio_server *s, uint64_t iova, void *buf,
					     size_t len, uvfio_dma_done_fn done, void *arg);
/** uvfio_server_dma_write_async() - @buf into client memory [iova, iova+len);
 * logged dirty as pieces complete. */
UVFIO_EXPORT int uvfio_server_dma_write_async(struct uvfio_server *s, uint64_t iova,
					      const void *buf, size_t len,
					      uvfio_dma_done_fn done, void *arg);
/** uvfio_server_dma_sg_async() - scatter-gather: the @nseg segments in
 * order, to (@write) or from one contiguous @buf of their total length. */
UVFIO_EXPORT int uvfio_server_dma_sg_async(struct uvfio_server *s,
					   const struct uvfio_dma_seg *seg, unsigned nseg,
					   void *buf, bool write, uvfio_dma_done_fn done,
					   void *arg);

/* ---- Serving ------------------------------------------------------------------- */

/**
 * uvfio_server_listen() - listen on a new UNIX socket at @path.
 *
 * The path appears only once the socket listens (it is bound under a
 * temporary name beside @path, then linked), so a client that sees the file
 * can connect at once, and it appears with the mode and group of the
 * config's @access (owner-only, 0600, by default; see "Who may connect").
 * Returns 0, -EADDRINUSE when @path exists (a stale
 * socket must be removed first), -ENAMETOOLONG, -EINVAL (NULL, or already
 * listening or serving), -EPERM when the group cannot be given, or the
 * errno of socket(), bind(), chmod() or listen().
 * Call it before serving, from the thread that owns the context.
 */
UVFIO_EXPORT int uvfio_server_listen(struct uvfio_server *s, const char *path);
/** uvfio_server_adopt() - serve one already connected client on @fd (the
 * server owns it from now on, also on failure). Its peer is not checked
 * (see "Who may connect"). */
UVFIO_EXPORT int uvfio_server_adopt(struct uvfio_server *s, int fd);

/**
 * uvfio_server_listen_fd() - accept clients from @fd, a UNIX stream socket
 * that already listens (one handed over by systemd's socket activation, see
 * uvfio_server_activation_fds(), or by any other supervisor). The server
 * owns @fd from now on, also on failure (it closes it in
 * uvfio_server_destroy() and removes no file: the socket's path, mode and
 * owner are its creator's). Peers are checked as for uvfio_server_listen().
 * The descriptor is made non-blocking and close-on-exec.
 * Returns 0, -EBADF (not open), -ENOTSOCK (not a socket), -EAFNOSUPPORT
 * (not AF_UNIX), -EPROTOTYPE (not SOCK_STREAM), -EINVAL (not listening, a
 * negative @fd, NULL, or the context already listens or serves). Call it before serving, from the
 * thread that owns the context.
 */
UVFIO_EXPORT int uvfio_server_listen_fd(struct uvfio_server *s, int fd);

/* The first descriptor socket activation hands over (systemd's SD_LISTEN_FDS_START). */
#define UVFIO_LISTEN_FDS_START 3
/**
 * uvfio_server_activation_fds() - how many listening sockets a service
 * manager handed this process by socket activation, as systemd's
 * sd_listen_fds() counts them: $LISTEN_PID must be this process's id and
 * $LISTEN_FDS the count; they are descriptors UVFIO_LISTEN_FDS_START
 * (3), 4, ... and are made close-on-exec here. No libsystemd is needed.
 * @unset_env: remove LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES from the
 *             environment (whatever the result), so that child processes
 *             do not take them for theirs.
 * Returns the count (0: none, or meant for another process), -EINVAL for a
 * malformed variable, -EBADF when a counted descriptor is not open.
 * Not thread-safe (it reads and changes the environment): call it early
 * in main(), before other threads start.
 */
UVFIO_EXPORT int uvfio_server_activation_fds(bool unset_env);

/**
 * uvfio_server_poll_fd() - a descriptor that is readable whenever
 * uvfio_server_dispatch() has work (a client connecting, messages arriving,
 * an ioeventfd or an interrupt (un)mask eventfd signalled, a stop request,
 * asynchronous DMA to move on: a reply another thread read, a deadline, the
 * next slice of a mapped copy, a callback due).
 * Owned by the server.
 */
UVFIO_EXPORT int uvfio_server_poll_fd(struct uvfio_server *s);

/**
 * uvfio_server_dispatch() - accept a waiting client, handle every complete
 * message and run the handlers of signalled eventfds, without blocking.
 * Returns the number of messages and signals handled, -ESHUTDOWN once for
 * each uvfio_server_stop() (the stop is then consumed: the next call serves
 * again), or -ENOTCONN once the client of an adopted descriptor is gone
 * (also when this call handled its last messages).
 */
UVFIO_EXPORT int uvfio_server_dispatch(struct uvfio_server *s);

/**
 * uvfio_server_run() - dispatch until uvfio_server_stop(). Returns 0 after
 * a stop, which it consumes: calling run() again serves again (the same
 * listening socket and the device state; a connected client if the stop
 * left it connected, see there). Returns -ENOTCONN when an adopted client
 * disconnected, or is gone at the call.
 */
UVFIO_EXPORT int uvfio_server_run(struct uvfio_server *s);

/**
 * uvfio_server_stop() - make run() return 0, or the next dispatch() return
 * -ESHUTDOWN; a stop that comes while neither runs makes the next one
 * return at once. A run() blocked reading a connected client's socket (its
 * default while the client has no eventfds: one blocking read per request,
 * without a timer) can only be woken by shutting that socket for reading:
 * that client's connection then ends (it sees it close, and its DMA
 * mappings and eventfds are dropped). A client is left connected, to be
 * served by the next run() or dispatch(), when the stop comes while run()
 * waits in epoll (the client has eventfds, or config no_direct_read) or
 * while the application dispatches.
 * Thread-safe and async-signal-safe.
 */
UVFIO_EXPORT void uvfio_server_stop(struct uvfio_server *s);

/** uvfio_server_connected() - a client is connected and negotiated; once it
 * turns false after a client, that client's DMA mappings and eventfds are
 * released. Thread-safe. */
UVFIO_EXPORT bool uvfio_server_connected(struct uvfio_server *s);

/** uvfio_server_client_caps() - what the current client proposed. */
UVFIO_EXPORT int uvfio_server_client_caps(struct uvfio_server *s, struct uvfio_caps *caps);

#ifdef __cplusplus
}
#endif

#endif /* UVFIO_SERVER_H */
