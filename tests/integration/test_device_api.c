/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What a device author gets beyond regions and interrupts: mask/unmask
 * notifications (and a client's resample eventfd), reset reasons, a
 * region backed by the device's own file, a configuration read hook,
 * extended capabilities and finding capabilities, stopping and running
 * again, and the MSI-X Pending Bit Array kept in BAR memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "uvfio/client.h"
#include "rawclient.h"
#include "util.h"

#define NVEC 16
#define PBA 0x1000
#define VENDOR_REG 4 /* in the vendor capability: computed on read */

struct dev {
	struct uvfio_server *srv;
	pthread_t thread;
	int run_result;
	char path[108];
	uint8_t *bar1;
	int vendor_cap;
	struct {
		uint32_t index, start, count;
		bool masked;
	} st[8];
	unsigned nst;
	char events[16]; /* resets and departures, in order: D L F G */
	int reset_error, read_error;
	uint32_t reads;
};

static int reset(void *opaque, enum uvfio_reset_type type)
{
	struct dev *d = opaque;
	size_t n = strlen(d->events);
	if (n + 1 < sizeof(d->events))
		d->events[n] = "DLF"[type];
	return d->reset_error;
}

static void client_gone(void *opaque)
{
	struct dev *d = opaque;
	size_t n = strlen(d->events);
	if (n + 1 < sizeof(d->events))
		d->events[n] = 'G';
}

static void irq_state(void *opaque, uint32_t index, uint32_t start, uint32_t count, bool masked)
{
	struct dev *d = opaque;
	if (d->nst < 8)
		d->st[d->nst++] = (typeof(d->st[0])){ index, start, count, masked };
}

/* The vendor capability's register counts the reads that reached it. */
static int config_read(void *opaque, uint32_t offset, void *buf, uint32_t len)
{
	struct dev *d = opaque;
	if (d->read_error)
		return d->read_error;
	uint32_t reg = (uint32_t)d->vendor_cap + VENDOR_REG;
	if (offset < reg + 4 && reg < offset + len) {
		uint32_t v = ++d->reads;
		for (uint32_t i = 0; i < 4; i++)
			if (reg + i >= offset && reg + i < offset + len)
				((uint8_t *)buf)[reg + i - offset] = (uint8_t)(v >> (8 * i));
	}
	return 0;
}

static ssize_t bar0(void *opaque, uint32_t region, uint64_t off, void *buf, size_t count,
		    bool is_write)
{
	(void)opaque, (void)region, (void)off;
	if (!is_write)
		memset(buf, 0x42, count);
	return (ssize_t)count;
}

static const struct uvfio_device_ops ops = { .reset = reset,
					     .client_gone = client_gone,
					     .irq_state = irq_state,
					     .config_read = config_read };

static struct dev *dev_new(bool listen, bool no_direct_read)
{
	struct dev *d = calloc(1, sizeof(*d));
	struct uvfio_server_config cfg = { .log = { .level = -1 }, .ops = &ops, .opaque = d,
					   .no_twin_socket = true, .config_space_size = 4096,
					   .no_direct_read = no_direct_read };
	assert_int_equal(uvfio_server_create(&cfg, &d->srv), 0);
	struct uvfio_server *s = d->srv;
	struct uvfio_pci_id id = { .vendor = 0x1af4, .device = 0x1234 };
	uint32_t rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	struct uvfio_region_desc r0 = { .size = 4096, .flags = rw, .fn = bar0 };
	/* MSI-X table at 0, PBA at 0x1000: the PBA's page may be mapped */
	struct uvfio_region_desc r1 = { .size = 8192, .flags = rw, .mappable = true,
					.nr_areas = 1, .areas = { { PBA, 4096 } } };
	void *mem;
	uint8_t vdata[8] = { 0 };
	assert_int_equal(uvfio_server_pci_init(s, &id), 0);
	assert_int_equal(uvfio_server_setup_region(s, 0, &r0, NULL), 0);
	assert_int_equal(uvfio_server_setup_region(s, 1, &r1, &mem), 0);
	d->bar1 = mem;
	assert_true(uvfio_pci_add_cap_pm(s) > 0);
	assert_true(uvfio_pci_add_cap_msix(s, NVEC, 1, 0, PBA) > 0);
	assert_true(uvfio_pci_add_cap_exp(s) > 0);
	d->vendor_cap = uvfio_pci_add_cap_vendor(s, vdata, sizeof(vdata));
	assert_true(d->vendor_cap > 0);
	assert_int_equal(uvfio_server_setup_irq(s, VFIO_PCI_INTX_IRQ_INDEX, 1), 0);
	assert_int_equal(uvfio_server_setup_irq(s, VFIO_PCI_MSIX_IRQ_INDEX, NVEC), 0);
	if (listen)
		raw_listen(s, d->path);
	return d;
}

static void dev_free(struct dev *d)
{
	uvfio_server_destroy(d->srv);
	free(d);
}

static int set_irqs(struct dev *d, int fd, uint32_t flags, uint32_t index, uint32_t start,
		    uint32_t count, const void *data, size_t dlen, const int *fds, int nfds)
{
	uint8_t body[64];
	struct vfio_irq_set is = { .argsz = (uint32_t)(sizeof(is) + dlen), .flags = flags,
				   .index = index, .start = start, .count = count };
	memcpy(body, &is, sizeof(is));
	if (dlen)
		memcpy(body + sizeof(is), data, dlen);
	return raw_call(d->srv, fd, UVFIO_CMD_DEVICE_SET_IRQS, body, sizeof(is) + dlen, fds,
			nfds, NULL);
}

static bool readable(int fd)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	return poll(&pf, 1, 0) == 1;
}

static uint64_t drain(int fd)
{
	uint64_t v = 0;
	assert_int_equal(read(fd, &v, 8), 8);
	return v;
}

#define MASK_NONE (VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK)
#define UNMASK_NONE (VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK)
#define UNMASK_BOOL (VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_UNMASK)
#define UNMASK_EVENTFD (VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK)
#define TRIGGER_EVENTFD (VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER)

/* SET_IRQS MASK/UNMASK reach the device; a client's unmask (resample)
 * eventfd is watched: signalling it unmasks, and the server never writes
 * it. */
static void test_irq_state(void **state)
{
	(void)state;
	struct dev *d = dev_new(false, false);
	int fd = raw_connect(d->srv, "{\"max_msg_fds\":8}");
	uint32_t intx = VFIO_PCI_INTX_IRQ_INDEX;
	assert_int_equal(set_irqs(d, fd, MASK_NONE, intx, 0, 1, NULL, 0, NULL, 0), 0);
	assert_int_equal(d->nst, 1);
	assert_int_equal(d->st[0].index, intx);
	assert_int_equal(d->st[0].start, 0);
	assert_int_equal(d->st[0].count, 1);
	assert_true(d->st[0].masked);
	uint8_t no = 0, yes = 1;
	assert_int_equal(set_irqs(d, fd, UNMASK_BOOL, intx, 0, 1, &no, 1, NULL, 0), 0);
	assert_int_equal(d->nst, 1); /* a vector set to 0 is not named */
	assert_int_equal(set_irqs(d, fd, UNMASK_BOOL, intx, 0, 1, &yes, 1, NULL, 0), 0);
	assert_int_equal(d->nst, 2);
	assert_false(d->st[1].masked);
	/* MSI-X is not maskable through SET_IRQS: refused, not notified */
	assert_int_equal(set_irqs(d, fd, MASK_NONE, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, NULL, 0, NULL,
				  0),
			 EINVAL);
	assert_int_equal(d->nst, 2);

	/* Only eventfds: a socket signalled by the server would raise SIGPIPE
	 * in it once its peer is gone, and would read 0 for ever. */
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	close(sp[1]);
	assert_int_equal(set_irqs(d, fd, TRIGGER_EVENTFD, intx, 0, 1, NULL, 0, &sp[0], 1), EINVAL);
	assert_int_equal(set_irqs(d, fd, UNMASK_EVENTFD, intx, 0, 1, NULL, 0, &sp[0], 1), EINVAL);
	close(sp[0]);
	assert_int_equal(d->nst, 2); /* refused: the device was not told */

	int trig = tu_eventfd(), resample = tu_eventfd();
	assert_int_equal(set_irqs(d, fd, TRIGGER_EVENTFD, intx, 0, 1, NULL, 0, &trig, 1), 0);
	assert_false(fcntl(resample, F_GETFL) & O_NONBLOCK);
	assert_int_equal(set_irqs(d, fd, UNMASK_EVENTFD, intx, 0, 1, NULL, 0, &resample, 1), 0);
	/* watched non-blocking: a client that empties it after the server's
	 * epoll_wait() cannot make the server's read() wait */
	assert_true(fcntl(resample, F_GETFL) & O_NONBLOCK);
	assert_int_equal(set_irqs(d, fd, MASK_NONE, intx, 0, 1, NULL, 0, NULL, 0), 0);
	assert_int_equal(set_irqs(d, fd, UNMASK_NONE, intx, 0, 1, NULL, 0, NULL, 0), 0);
	assert_false(readable(resample)); /* the client's to signal, not ours */
	assert_int_equal(d->nst, 4);
	/* INTx masks itself when it fires; the next one waits */
	assert_int_equal(uvfio_server_irq_trigger(d->srv, intx, 0), 0);
	assert_int_equal(drain(trig), 1);
	assert_int_equal(uvfio_server_irq_trigger(d->srv, intx, 0), 0);
	assert_false(readable(trig));
	assert_int_equal(uvfio_server_irq_pending(d->srv, intx, 0), 1);
	/* the guest's EOI: KVM signals the resample eventfd */
	uint64_t one = 1;
	assert_int_equal(write(resample, &one, 8), 8);
	assert_true(readable(uvfio_server_poll_fd(d->srv)));
	assert_int_equal(uvfio_server_dispatch(d->srv), 1);
	assert_int_equal(d->nst, 5);
	assert_false(d->st[4].masked);
	assert_int_equal(d->st[4].count, 1);
	assert_int_equal(drain(trig), 1); /* the pending one, delivered */
	assert_int_equal(uvfio_server_irq_pending(d->srv, intx, 0), 0);
	assert_false(readable(resample));
	close(trig);
	close(resample);
	close(fd);
	dev_free(d);
}

static uint16_t cfg16(struct dev *d, int fd, uint32_t off)
{
	uint16_t v = 0;
	assert_int_equal(raw_region_read(d->srv, fd, VFIO_PCI_CONFIG_REGION_INDEX, off, &v, 2), 0);
	return v;
}

static void cfg_write16(struct dev *d, int fd, uint32_t off, uint16_t v)
{
	assert_int_equal(raw_region_write(d->srv, fd, VFIO_PCI_CONFIG_REGION_INDEX, off, &v, 2),
			 0);
}

/* The device learns why it resets: DEVICE_RESET, a function-level reset
 * through PCI Express Device Control, the client leaving (before
 * client_gone, with configuration space kept). */
static void test_reset_types(void **state)
{
	(void)state;
	struct dev *d = dev_new(false, false);
	int fd = raw_connect(d->srv, NULL);
	int exp = uvfio_pci_find_cap(d->srv, 0x10, 0);
	assert_true(exp > 0);
	uint32_t devcap;
	assert_int_equal(raw_region_read(d->srv, fd, 7, (uint32_t)exp + 4, &devcap, 4), 0);
	assert_true(devcap & (1u << 28)); /* FLR capable */

	cfg_write16(d, fd, 0x04, 0x0006);
	assert_int_equal(raw_call(d->srv, fd, UVFIO_CMD_DEVICE_RESET, NULL, 0, NULL, 0, NULL), 0);
	assert_string_equal(d->events, "D");
	assert_int_equal(cfg16(d, fd, 0x04), 0);
	d->reset_error = -EBUSY; /* the device's error is the reply's */
	assert_int_equal(raw_call(d->srv, fd, UVFIO_CMD_DEVICE_RESET, NULL, 0, NULL, 0, NULL),
			 EBUSY);
	d->reset_error = 0;

	cfg_write16(d, fd, 0x04, 0x0006);
	cfg_write16(d, fd, (uint32_t)exp + 8, 0x8000 | 0x0010); /* initiate FLR */
	assert_string_equal(d->events, "DDF");
	assert_int_equal(cfg16(d, fd, (uint32_t)exp + 8) & 0x8000, 0); /* reads 0 */
	assert_int_equal(cfg16(d, fd, (uint32_t)exp + 8) & 0x0010, 0x0010);
	assert_int_equal(cfg16(d, fd, 0x04), 0);
	cfg_write16(d, fd, (uint32_t)exp + 8, 0x0010); /* no FLR without the bit */
	assert_string_equal(d->events, "DDF");

	cfg_write16(d, fd, 0x04, 0x0006);
	close(fd);
	assert_int_equal(uvfio_server_dispatch(d->srv), -ENOTCONN);
	assert_string_equal(d->events, "DDFLG");
	uint16_t cmd;
	memcpy(&cmd, uvfio_server_config_space(d->srv, NULL) + 4, 2);
	assert_int_equal(cmd, 0x0006); /* a lost connection keeps the state */
	dev_free(d);
}

static void *serve(void *arg)
{
	struct dev *d = arg;
	d->run_result = uvfio_server_run(d->srv);
	return NULL;
}

/* A mappable region backed by the device's own memfd at an offset: the
 * client maps the same pages, and messages read and write them. */
static void test_region_fd(void **state)
{
	(void)state;
	int fds_before = tu_count_fds();
	struct dev *d = dev_new(true, false);
	struct uvfio_server *s = d->srv;
	int mfd = memfd_create("test-region", MFD_CLOEXEC);
	assert_true(mfd >= 0);
	assert_int_equal(ftruncate(mfd, 3 * 4096), 0);
	uint8_t *own = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	assert_true(own != MAP_FAILED);
	for (int i = 0; i < 3 * 4096; i++)
		own[i] = (uint8_t)(i * 7);
	uint32_t rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	struct uvfio_region_desc d2 = { .size = 8192, .flags = rw, .mappable = true };
	struct uvfio_region_desc plain = { .size = 8192, .flags = rw };
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(uvfio_server_setup_region_fd(s, 2, &d2, -1, 0, NULL), -EBADF);
	assert_int_equal(uvfio_server_setup_region_fd(s, 2, &d2, 999, 0, NULL), -EBADF);
	assert_int_equal(uvfio_server_setup_region_fd(s, 2, &d2, mfd, 100, NULL), -EINVAL);
	assert_int_equal(uvfio_server_setup_region_fd(s, 2, &d2, mfd, 8192, NULL), -EINVAL);
	assert_int_equal(uvfio_server_setup_region_fd(s, 2, &d2, pipefd[0], 0, NULL), -EINVAL);
	assert_int_equal(uvfio_server_setup_region_fd(s, 2, &plain, mfd, 0, NULL), -EINVAL);
	close(pipefd[0]);
	close(pipefd[1]);
	void *mem;
	assert_int_equal(uvfio_server_setup_region_fd(s, 2, &d2, mfd, 4096, &mem), 0);
	close(mfd); /* the library keeps its own */
	assert_memory_equal(mem, own + 4096, 8192);

	pthread_create(&d->thread, NULL, serve, d);
	struct uvfio_client_config ccfg = { .log = { .level = UVFIO_LOG_ERR } };
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_connect(d->path, &ccfg, &c), 0);
	struct uvfio_region_info ri;
	assert_int_equal(uvfio_client_region_info(c, 2, &ri), 0);
	assert_true(ri.flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_int_equal(ri.offset, 4096);
	assert_int_equal(ri.nr_areas, 1);
	void *p;
	assert_int_equal(uvfio_region_map_area(&ri, 0, PROT_READ | PROT_WRITE, &p), 0);
	uint8_t *cp = p;
	assert_memory_equal(cp, own + 4096, 8192);
	cp[10] = 0x77; /* the client's store is the device's */
	assert_int_equal(own[4096 + 10], 0x77);
	uint8_t buf[16];
	assert_int_equal(uvfio_client_region_read(c, 2, 8, buf, 16), 0);
	assert_memory_equal(buf, own + 4096 + 8, 16);
	assert_int_equal(uvfio_client_region_write(c, 2, 8188, "\x01\x02\x03\x04", 4), 0);
	assert_memory_equal(own + 4096 + 8188, "\x01\x02\x03\x04", 4);
	assert_memory_equal(cp + 8188, "\x01\x02\x03\x04", 4);
	munmap(p, 8192);
	uvfio_region_info_release(&ri);
	uvfio_client_close(c);
	uvfio_server_stop(s);
	pthread_join(d->thread, NULL);
	dev_free(d);
	munmap(own, 3 * 4096);
	assert_int_equal(tu_count_fds(), fds_before);
}

/* The device computes a register on read; its error fails the read. */
static void test_config_read_hook(void **state)
{
	(void)state;
	struct dev *d = dev_new(false, false);
	int fd = raw_connect(d->srv, NULL);
	uint32_t reg = (uint32_t)d->vendor_cap + VENDOR_REG, v = 0;
	assert_int_equal(raw_region_read(d->srv, fd, 7, reg, &v, 4), 0);
	assert_int_equal(v, 1);
	assert_int_equal(raw_region_read(d->srv, fd, 7, reg + 2, &v, 2), 0);
	assert_int_equal(v, 0); /* the high half of 2 */
	uint8_t all[256];
	assert_int_equal(raw_region_read(d->srv, fd, 7, 0, all, 256), 0);
	memcpy(&v, all + reg, 4);
	assert_int_equal(v, 3);
	assert_int_equal(all[0], 0xf4); /* the rest is the emulated space */
	assert_int_equal(all[1], 0x1a);
	uint16_t vendor = 0;
	assert_int_equal(raw_region_read(d->srv, fd, 7, 0, &vendor, 2), 0);
	assert_int_equal(d->reads, 3); /* the hook left bytes it does not own */
	d->read_error = -EIO;
	assert_int_equal(raw_region_read(d->srv, fd, 7, 0, &vendor, 2), EIO);
	close(fd);
	dev_free(d);
}

static uint32_t cfg32(struct uvfio_server *s, uint32_t off)
{
	uint32_t v;
	memcpy(&v, uvfio_server_config_space(s, NULL) + off, 4);
	return v;
}

/* Extended capabilities from 0x100, linked; both finders, including on a
 * list the device broke into a loop. */
static void test_capabilities(void **state)
{
	(void)state;
	struct dev *d = dev_new(false, false);
	struct uvfio_server *s = d->srv;
	assert_int_equal(uvfio_pci_find_ext_cap(s, 0x0003, 0), -ENOENT);
	assert_int_equal(cfg32(s, 0x100), 0); /* no extended capability */
	uint8_t dsn[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, vsec[12] = { 0 }, aer[0x44] = { 0 };
	assert_int_equal(uvfio_pci_add_ext_cap(s, 0x0003, 1, dsn, sizeof(dsn)), 0x100);
	assert_int_equal(uvfio_pci_add_ext_cap(s, 0x000b, 1, vsec, sizeof(vsec)), 0x10c);
	assert_int_equal(uvfio_pci_add_ext_cap(s, 0x0001, 2, aer, sizeof(aer)), 0x11c);
	assert_int_equal(cfg32(s, 0x100), 0x0003 | 1u << 16 | 0x10cu << 20);
	assert_int_equal(cfg32(s, 0x10c), 0x000b | 1u << 16 | 0x11cu << 20);
	assert_int_equal(cfg32(s, 0x11c), 0x0001 | 2u << 16);
	assert_int_equal(uvfio_pci_add_ext_cap(s, 0x0001, 16, NULL, 0), -EINVAL);
	assert_int_equal(uvfio_pci_add_ext_cap(s, 0x0001, 1, NULL, 4), -EINVAL);
	assert_int_equal(uvfio_pci_add_ext_cap(s, 0x0001, 1, aer, 4000), -ENOSPC);
	assert_int_equal(uvfio_pci_find_ext_cap(s, 0x000b, 0), 0x10c);
	assert_int_equal(uvfio_pci_find_ext_cap(s, 0x0001, 0), 0x11c);
	assert_int_equal(uvfio_pci_find_ext_cap(s, 0x0003, 0x100), -ENOENT);
	assert_int_equal(uvfio_pci_find_ext_cap(s, 0x0001, 0x10c), 0x11c);

	/* the client sees them, read-only unless the device says otherwise */
	int fd = raw_connect(s, NULL);
	uint32_t v = 0, ones = 0xffffffff;
	assert_int_equal(raw_region_read(s, fd, 7, 0x104, &v, 4), 0);
	assert_int_equal(v, 0x04030201);
	assert_int_equal(raw_region_write(s, fd, 7, 0x104, &ones, 4), 0);
	assert_int_equal(cfg32(s, 0x104), 0x04030201);
	assert_int_equal(uvfio_server_config_set_wmask(s, 0x124, (const uint8_t *)&ones, 4), 0);
	assert_int_equal(raw_region_write(s, fd, 7, 0x124, &ones, 4), 0);
	assert_int_equal(cfg32(s, 0x124), 0xffffffff);
	close(fd);

	/* standard capabilities: PM, MSI-X, Express, vendor, then one more */
	int pm = uvfio_pci_find_cap(s, 0x01, 0);
	assert_int_equal(pm, 0x40);
	assert_true(uvfio_pci_find_cap(s, 0x11, 0) > pm);
	assert_int_equal(uvfio_pci_find_cap(s, 0x09, 0), d->vendor_cap);
	int v2 = uvfio_pci_add_cap_vendor(s, NULL, 0);
	assert_true(v2 > d->vendor_cap);
	assert_int_equal(uvfio_pci_find_cap(s, 0x09, (uint32_t)d->vendor_cap), v2);
	assert_int_equal(uvfio_pci_find_cap(s, 0x09, (uint32_t)v2), -ENOENT);
	assert_int_equal(uvfio_pci_find_cap(s, 0x05, 0), -ENOENT);
	/* lists turned into loops end the walk */
	uint8_t *c = uvfio_server_config_space(s, NULL);
	c[v2 + 1] = 0x40;
	assert_int_equal(uvfio_pci_find_cap(s, 0x05, 0), -ENOENT);
	uint32_t h = cfg32(s, 0x11c) | 0x100u << 20;
	memcpy(c + 0x11c, &h, 4);
	assert_int_equal(uvfio_pci_find_ext_cap(s, 0x0099, 0), -ENOENT);
	dev_free(d);

	struct uvfio_server *small;
	struct uvfio_server_config cfg = { .log = { .level = -1 } };
	assert_int_equal(uvfio_server_create(&cfg, &small), 0);
	assert_int_equal(uvfio_pci_add_ext_cap(small, 0x0003, 1, dsn, 8), -EINVAL);
	assert_int_equal(uvfio_pci_find_ext_cap(small, 0x0003, 0), -ENOENT);
	uvfio_server_destroy(small);
}

static struct uvfio_client *connect_client(struct dev *d)
{
	struct uvfio_client_config cfg = { .log = { .level = -1 } };
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_connect(d->path, &cfg, &c), 0);
	return c;
}

static bool alive(struct uvfio_client *c)
{
	uint16_t vendor = 0;
	return uvfio_client_region_read(c, 7, 0, &vendor, 2) == 0 && vendor == 0x1af4;
}

static void stop_and_join(struct dev *d)
{
	uvfio_server_stop(d->srv);
	pthread_join(d->thread, NULL);
	assert_int_equal(d->run_result, 0);
}

/* A stop is consumed by the run() or dispatch() it ends: both serve again
 * afterwards. A run() reading its client directly loses that client; one
 * waiting in epoll keeps it. */
static void test_stop_and_run_again(void **state)
{
	(void)state;
	struct dev *d = dev_new(true, false);
	uvfio_server_stop(d->srv); /* before run(): the next run returns at once */
	assert_int_equal(uvfio_server_run(d->srv), 0);
	for (int round = 0; round < 3; round++) {
		pthread_create(&d->thread, NULL, serve, d);
		struct uvfio_client *c = connect_client(d);
		assert_true(alive(c));
		stop_and_join(d);
		assert_false(alive(c)); /* its blocking read was ended by shutdown() */
		uvfio_client_close(c);
	}
	unlink(d->path);
	dev_free(d);

	d = dev_new(true, true); /* no_direct_read: the client stays */
	pthread_create(&d->thread, NULL, serve, d);
	struct uvfio_client *c = connect_client(d);
	for (int round = 0; round < 3; round++) {
		assert_true(alive(c));
		stop_and_join(d);
		assert_true(uvfio_server_connected(d->srv));
		pthread_create(&d->thread, NULL, serve, d);
	}
	assert_true(alive(c));
	stop_and_join(d);
	uvfio_client_close(c);
	unlink(d->path);
	dev_free(d);

	d = dev_new(false, false); /* an application's event loop */
	int fd = raw_connect(d->srv, NULL);
	struct pollfd pf = { .fd = uvfio_server_poll_fd(d->srv), .events = POLLIN };
	uvfio_server_stop(d->srv);
	assert_int_equal(poll(&pf, 1, 0), 1);
	assert_int_equal(uvfio_server_dispatch(d->srv), -ESHUTDOWN);
	assert_int_equal(poll(&pf, 1, 0), 0);
	assert_int_equal(uvfio_server_dispatch(d->srv), 0);
	uint16_t vendor = 0;
	assert_int_equal(raw_region_read(d->srv, fd, 7, 0, &vendor, 2), 0);
	assert_int_equal(vendor, 0x1af4);
	close(fd);
	dev_free(d);
}

/* The PBA in BAR memory follows the pending bits: through REGION_READ and
 * through the client's mmap() of its page. */
static void test_msix_pba(void **state)
{
	(void)state;
	struct dev *d = dev_new(false, false);
	struct uvfio_server *s = d->srv;
	int fd = raw_connect(s, "{\"max_msg_fds\":8}");
	uint32_t msix = VFIO_PCI_MSIX_IRQ_INDEX;
	int efd = tu_eventfd();
	assert_int_equal(set_irqs(d, fd, TRIGGER_EVENTFD, msix, 9, 1, NULL, 0, &efd, 1), 0);
	int cap = uvfio_pci_find_cap(s, 0x11, 0);
	cfg_write16(d, fd, (uint32_t)cap + 2, 0x8000); /* MSI-X enable */

	struct vfio_region_info in = { .argsz = 512, .index = 1 };
	struct raw_reply rep;
	assert_int_equal(raw_call(s, fd, UVFIO_CMD_DEVICE_GET_REGION_INFO, &in, sizeof(in), NULL,
				  0, &rep),
			 0);
	assert_int_equal(rep.nfds, 1);
	struct vfio_region_info ri;
	memcpy(&ri, rep.body, sizeof(ri));
	uint8_t *map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, rep.fds[0], (off_t)(ri.offset + PBA));
	assert_true(map != MAP_FAILED);
	raw_reply_close(&rep);

	uint32_t one = 1, zero = 0;
	uint64_t pba = 0;
	assert_int_equal(raw_region_write(s, fd, 1, 9 * 16 + 12, &one, 4), 0); /* mask 9 */
	assert_int_equal(uvfio_server_irq_trigger(s, msix, 9), 0);
	assert_false(readable(efd));
	assert_int_equal(uvfio_server_irq_pending(s, msix, 9), 1);
	assert_int_equal(raw_region_read(s, fd, 1, PBA, &pba, 8), 0);
	assert_int_equal(pba, 1u << 9);
	assert_int_equal(map[1], 0x02);
	assert_int_equal(raw_region_write(s, fd, 1, 9 * 16 + 12, &zero, 4), 0); /* unmask */
	assert_int_equal(drain(efd), 1);
	assert_int_equal(uvfio_server_irq_pending(s, msix, 9), 0);
	assert_int_equal(raw_region_read(s, fd, 1, PBA, &pba, 8), 0);
	assert_int_equal(pba, 0);
	assert_int_equal(map[1], 0);

	cfg_write16(d, fd, (uint32_t)cap + 2, 0xc000); /* function mask */
	assert_int_equal(uvfio_server_irq_trigger(s, msix, 3), 0);
	assert_int_equal(uvfio_server_irq_trigger(s, msix, 15), 0);
	assert_int_equal(raw_region_read(s, fd, 1, PBA, &pba, 8), 0);
	assert_int_equal(pba, 1u << 3 | 1u << 15);
	assert_int_equal(uvfio_server_irq_pending(s, msix, 16), -EINVAL);
	close(fd); /* the client leaves: nothing is pending any more */
	assert_int_equal(uvfio_server_dispatch(s), -ENOTCONN);
	assert_int_equal(map[0] | map[1], 0);
	assert_int_equal(d->bar1[PBA] | d->bar1[PBA + 1], 0);
	munmap(map, 4096);
	close(efd);
	dev_free(d);
}

/* Whoever sees the socket's path can connect at once: the path appears only
 * once the socket listens. An existing path is refused, not replaced. */
struct watcher {
	const char *path;
	int result; /* 0, or the errno of the first connect once the path exists */
};

static void *watch_and_connect(void *arg)
{
	struct watcher *w = arg;
	while (access(w->path, F_OK) < 0)
		;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", w->path);
	w->result = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? errno : 0;
	close(fd);
	return NULL;
}

static void test_listen_path(void **state)
{
	(void)state;
	char path[108];
	snprintf(path, sizeof(path), "/tmp/uvfio-listen-%d.sock", getpid());
	unlink(path);
	for (int i = 0; i < 300; i++) {
		struct uvfio_server *s;
		struct uvfio_server_config cfg = { .log = { .level = -1 } };
		assert_int_equal(uvfio_server_create(&cfg, &s), 0);
		struct watcher w = { .path = path, .result = -1 };
		pthread_t t;
		assert_int_equal(pthread_create(&t, NULL, watch_and_connect, &w), 0);
		assert_int_equal(uvfio_server_listen(s, path), 0);
		pthread_join(t, NULL);
		assert_int_equal(w.result, 0);
		if (i == 0) {
			struct uvfio_server *other;
			assert_int_equal(uvfio_server_create(&cfg, &other), 0);
			assert_int_equal(uvfio_server_listen(other, path), -EADDRINUSE);
			uvfio_server_destroy(other);
			assert_int_equal(access(path, F_OK), 0); /* still the first one's */
		}
		uvfio_server_destroy(s); /* removes the path */
		assert_int_equal(access(path, F_OK), -1);
	}
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, getpid());
	assert_int_equal(access(tmp, F_OK), -1); /* no temporary name left behind */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_irq_state),
		cmocka_unit_test(test_reset_types),
		cmocka_unit_test(test_region_fd),
		cmocka_unit_test(test_config_read_hook),
		cmocka_unit_test(test_capabilities),
		cmocka_unit_test(test_stop_and_run_again),
		cmocka_unit_test(test_msix_pba),
		cmocka_unit_test(test_listen_path),
	};
	return cmocka_run_group_tests_name("device_api", tests, NULL, NULL);
}
