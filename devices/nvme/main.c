/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio-nvme - an NVMe 1.4 controller (PCI class 0x010802) on uvfio's
 * server library, for Linux's nvme driver, SeaBIOS and userspace drivers.
 *
 *   uvfio-nvme [--file IMAGE | --size BYTES] [--lba-size 512|4096]
 *              [--queues N] [common device options] SOCKET
 *
 * BAR0 (64-bit memory, 16 KiB, served by callbacks, never mmap-able):
 * the controller registers and doorbells (stride 4). BAR4: the MSI-X
 * table (offset 0) and PBA (0x800), a vector per queue pair. INTx too.
 * The serving thread only records register and doorbell writes; a worker
 * thread serves the queues (ctrl.c). Doorbells arrive as REGION_WRITEs or
 * through ioeventfds (the I/O queues' doorbells have one each, as many as
 * the library allows); an ioeventfd signal carries no value, so a client
 * that rings through them configures shadow doorbells (Doorbell Buffer
 * Config), as Linux does when the controller offers it.
 */
#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common.h"
#include "nvme.h"

#define NAME "uvfio-nvme"
#define SPIN_NS 20000ull /* poll at most this long after the last work before sleeping */

/* Helpers that carry scattered pieces through DMA messages side by side
 * with the worker: each blocking DMA call waits for its own replies, so
 * one thread alone makes one round trip per piece. */
#define XFER_HELPERS 7u

struct xfer_part {
	const struct uvfio_dma_seg *seg;
	unsigned nseg;
	uint8_t *buf;
	bool to_guest, busy;
	int result;
};

struct dev {
	struct uvfio_server *srv;
	struct nvme_ctrl *ctrl;
	int msix_cap;
	pthread_t worker;
	pthread_t helper[XFER_HELPERS];
	pthread_mutex_t xmu;
	pthread_cond_t xcv, xdone;
	struct xfer_part part[XFER_HELPERS];
	bool xquit;
};

static int xfer_run(struct dev *d, const struct xfer_part *p)
{
	uint8_t *b = p->buf;
	for (unsigned i = 0; i < p->nseg; i++) {
		int r = p->to_guest ? uvfio_server_dma_write(d->srv, p->seg[i].iova, b, p->seg[i].len)
				    : uvfio_server_dma_read(d->srv, p->seg[i].iova, b, p->seg[i].len);
		if (r < 0)
			return r;
		b += p->seg[i].len;
	}
	return 0;
}

static void *xfer_helper(void *arg)
{
	struct dev *d = arg;
	pthread_mutex_lock(&d->xmu);
	unsigned me = 0;
	while (me < XFER_HELPERS && !pthread_equal(d->helper[me], pthread_self()))
		me++;
	for (;;) {
		while (!d->xquit && (me == XFER_HELPERS || !d->part[me].busy || d->part[me].result != 1))
			pthread_cond_wait(&d->xcv, &d->xmu);
		if (d->xquit)
			break;
		struct xfer_part p = d->part[me];
		pthread_mutex_unlock(&d->xmu);
		int r = xfer_run(d, &p);
		pthread_mutex_lock(&d->xmu);
		d->part[me].result = r;
		d->part[me].busy = false;
		pthread_cond_broadcast(&d->xdone);
	}
	pthread_mutex_unlock(&d->xmu);
	return NULL;
}

/* The worker's scattered copies: through mapped memory one piece after
 * the other (memcpy), through DMA messages in up to eight parts at once. */
static int h_xfer_sg(void *o, const struct uvfio_dma_seg *seg, unsigned nseg, void *buf,
		     bool to_guest)
{
	struct dev *d = o;
	struct uvfio_sg sg;
	unsigned parts = nseg < 4 ? 1 : nseg < 4 * (XFER_HELPERS + 1) ? nseg / 4 : XFER_HELPERS + 1;
	if (parts > 1 && uvfio_server_dma_sg(d->srv, seg[0].iova, seg[0].len,
					     to_guest ? UVFIO_DMA_FLAG_WRITE : UVFIO_DMA_FLAG_READ,
					     &sg, 1) == 1 && sg.vaddr)
		parts = 1; /* mapped: nothing to overlap */
	struct xfer_part mine = { .seg = seg, .nseg = nseg, .buf = buf, .to_guest = to_guest };
	if (parts == 1)
		return xfer_run(d, &mine);
	/* part h takes nseg / parts pieces, one more while the remainder lasts;
	 * the worker takes the last part */
	unsigned k = 0;
	uint8_t *b = buf;
	pthread_mutex_lock(&d->xmu);
	for (unsigned h = 0; h + 1 < parts; h++) {
		unsigned per = nseg / parts + (h < nseg % parts);
		struct xfer_part *p = &d->part[h];
		*p = (struct xfer_part){ .seg = seg + k, .nseg = per, .buf = b, .to_guest = to_guest,
					 .busy = true, .result = 1 };
		for (unsigned i = 0; i < per; i++)
			b += seg[k + i].len;
		k += per;
	}
	pthread_cond_broadcast(&d->xcv);
	pthread_mutex_unlock(&d->xmu);
	mine.seg = seg + k;
	mine.nseg = nseg - k;
	mine.buf = b;
	int r = xfer_run(d, &mine);
	pthread_mutex_lock(&d->xmu);
	for (unsigned h = 0; h + 1 < parts; h++) {
		while (d->part[h].busy)
			pthread_cond_wait(&d->xdone, &d->xmu);
		if (d->part[h].result < 0 && r == 0)
			r = d->part[h].result;
	}
	pthread_mutex_unlock(&d->xmu);
	return r;
}

static int h_dma_read(void *o, uint64_t iova, void *buf, size_t len)
{
	return uvfio_server_dma_read(((struct dev *)o)->srv, iova, buf, len);
}

static int h_dma_write(void *o, uint64_t iova, const void *buf, size_t len)
{
	return uvfio_server_dma_write(((struct dev *)o)->srv, iova, buf, len);
}

static int h_sg_get(void *o, uint64_t iova, uint64_t len, uint32_t prot, struct uvfio_sg *sg,
		    unsigned max)
{
	return uvfio_server_dma_sg_get(((struct dev *)o)->srv, iova, len, prot, sg, max);
}

static void h_sg_put(void *o, struct uvfio_sg *sg, unsigned n)
{
	uvfio_server_dma_sg_put(((struct dev *)o)->srv, sg, n);
}

/* MSI-X when the host enabled it, else INTx unless INTMS masks it. */
static void h_irq(void *o, uint16_t vector, bool pin_masked)
{
	struct dev *d = o;
	size_t len;
	uint8_t *cfg = uvfio_server_config_space(d->srv, &len);
	uint8_t ctl = __atomic_load_n(&cfg[d->msix_cap + 3], __ATOMIC_RELAXED);
	if (ctl & 0x80)
		uvfio_server_irq_trigger(d->srv, VFIO_PCI_MSIX_IRQ_INDEX, vector);
	else if (!pin_masked)
		uvfio_server_irq_trigger(d->srv, VFIO_PCI_INTX_IRQ_INDEX, 0);
}

static ssize_t bar0(void *opaque, uint32_t region, uint64_t off, void *buf, size_t count,
		    bool is_write)
{
	struct dev *d = opaque;
	(void)region;
	int r = is_write ? nvme_reg_write(d->ctrl, off, buf, count)
			 : nvme_reg_read(d->ctrl, off, buf, count);
	return r < 0 ? r : (ssize_t)count;
}

static int doorbell_event(void *opaque, const struct uvfio_ioevent *ev)
{
	struct dev *d = opaque;
	if (!ev->has_data) {
		nvme_doorbell_kick(d->ctrl, ev->offset);
		return 0;
	}
	uint32_t v = (uint32_t)ev->data;
	return nvme_reg_write(d->ctrl, ev->offset, &v, 4);
}

static int reset(void *opaque, enum uvfio_reset_type type)
{
	struct dev *d = opaque;
	/* a new client never finds queues in the memory of the one that left */
	nvme_ctrl_reset_async(d->ctrl);
	dev_log_line(UVFIO_LOG_INFO, "%s", type == UVFIO_RESET_PCI_FLR ? "function level reset"
					   : type == UVFIO_RESET_DEVICE ? "device reset"
									: "client gone: reset");
	return 0;
}

static void irq_state(void *opaque, uint32_t index, uint32_t start, uint32_t count, bool masked)
{
	struct dev *d = opaque;
	(void)start;
	(void)count;
	if (index == VFIO_PCI_INTX_IRQ_INDEX && !masked)
		nvme_ctrl_intx_unmasked(d->ctrl);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * The worker: passes over the controller while there is work; then, for
 * an adaptive budget, polls (doorbells and shadow doorbells, a yield per
 * look) before it sleeps. The budget doubles (up to SPIN_NS) when a sleep
 * ends sooner than SPIN_NS (polling longer would have caught that work)
 * and halves when a sleep lasts longer (polling was wasted: a guest whose
 * next command comes 100 us later gains nothing and loses the CPU time),
 * down to not polling at all: an idle device costs no CPU.
 */
static void *worker(void *arg)
{
	struct dev *d = arg;
	uint64_t idle_since = 0, budget = SPIN_NS;
	while (!nvme_ctrl_stopping(d->ctrl)) {
		if (nvme_ctrl_step(d->ctrl)) {
			idle_since = 0;
			continue;
		}
		uint64_t t = now_ns();
		if (!idle_since)
			idle_since = t;
		if (nvme_ctrl_may_spin(d->ctrl) && t - idle_since < budget) {
			/* a poll that yields the CPU at every look: a driver
			 * polling its completion queue, or a vCPU, on this same
			 * CPU runs at once (a pause loop kept them waiting);
			 * alone on its CPU the yield returns at once */
			sched_yield();
			continue;
		}
		nvme_ctrl_wait(d->ctrl);
		uint64_t slept = now_ns() - t;
		budget = slept < SPIN_NS ? (budget * 2 + 1000 < SPIN_NS ? budget * 2 + 1000 : SPIN_NS)
					 : budget / 2;
		idle_since = 0;
	}
	nvme_ctrl_drain(d->ctrl);
	return NULL;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	case 't': case 'T': v <<= 40; end++; break;
	default: break;
	}
	if (*end || !v)
		return -1;
	*out = v;
	return 0;
}

static const char *what =
	"An NVMe 1.4 controller with one namespace: an image (regular file or block\n"
	"device, its size) or memory (--size alone).\n"
	"  --file=IMAGE        the namespace's storage; with --size an empty or new\n"
	"                      file is made that size\n"
	"  --size=BYTES        the namespace's size (K, M, G, T suffixes); alone: memory\n"
	"  --lba-size=512|4096 logical block size (default 512)\n"
	"  --queues=N          I/O queue pairs, 1 to 63 (default 8)\n"
	"  --serial=TEXT       serial number (1 to 20 printable ASCII characters; default\n"
	"                      derived from the image), also seeding the namespace's\n"
	"                      NGUID/UUID: two controllers of one image need two";

/* This device's own options, taken out of argv before the common ones. */
static void own_options(int *argc, char **argv, const char **file, uint64_t *size,
			unsigned *lba, unsigned *queues, const char **serial)
{
	int out = 1;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i], *v = NULL;
		static const char *names[] = { "--file", "--size", "--lba-size", "--queues", "--serial" };
		int k = -1;
		for (int n = 0; n < 5; n++) {
			size_t l = strlen(names[n]);
			if (!strncmp(a, names[n], l) && (a[l] == '=' || a[l] == 0)) {
				k = n;
				v = a[l] == '=' ? a + l + 1 : (i + 1 < *argc ? argv[++i] : NULL);
			}
		}
		if (k < 0) {
			argv[out++] = argv[i];
			continue;
		}
		if (!v) {
			fprintf(stderr, "%s: %s needs a value\n", NAME, a);
			exit(2);
		}
		char *end;
		unsigned long n;
		switch (k) {
		case 0: *file = v; break;
		case 1:
			if (parse_size(v, size) < 0) {
				fprintf(stderr, "%s: --size takes bytes (K, M, G, T suffixes)\n", NAME);
				exit(2);
			}
			break;
		case 2:
			n = strtoul(v, &end, 10);
			if (*end || (n != 512 && n != 4096)) {
				fprintf(stderr, "%s: --lba-size takes 512 or 4096\n", NAME);
				exit(2);
			}
			*lba = (unsigned)n;
			break;
		case 3:
			n = strtoul(v, &end, 10);
			if (*end || n < 1 || n > NVME_MAX_IOQ) {
				fprintf(stderr, "%s: --queues takes 1 to %u\n", NAME, NVME_MAX_IOQ);
				exit(2);
			}
			*queues = (unsigned)n;
			break;
		case 4: {
			size_t l = strlen(v);
			bool ok = l >= 1 && l <= 20;
			for (size_t j = 0; j < l; j++)
				ok = ok && v[j] >= 0x20 && v[j] < 0x7f;
			if (!ok) {
				fprintf(stderr, "%s: --serial takes 1 to 20 printable ASCII characters\n", NAME);
				exit(2);
			}
			*serial = v;
			break;
		}
		}
	}
	argv[out] = NULL;
	*argc = out;
}

/* A namespace identity that stays the same for the same image. */
static void make_uid(const char *file, const char *serial, uint8_t uid[16])
{
	uint64_t h[2] = { 0xcbf29ce484222325ull, 0x84222325cbf29ce4ull };
	char buf[128];
	struct stat st;
	if (serial)
		snprintf(buf, sizeof(buf), "serial:%s", serial);
	else if (file && stat(file, &st) == 0)
		snprintf(buf, sizeof(buf), "%llu:%llu", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino);
	else
		snprintf(buf, sizeof(buf), "mem:%d:%llu", (int)getpid(), (unsigned long long)now_ns());
	for (const char *p = buf; *p; p++)
		for (int k = 0; k < 2; k++)
			h[k] = (h[k] ^ (uint8_t)*p) * 0x100000001b3ull;
	memcpy(uid, h, 16);
}

int main(int argc, char **argv)
{
	const char *file = NULL;
	uint64_t size = 0;
	unsigned lba = 512, queues = 8;
	const char *serial = NULL;
	own_options(&argc, argv, &file, &size, &lba, &queues, &serial);
	/* 0xf1f0 is registered to no company (devices/README.md) */
	const struct uvfio_pci_id dflt = { .vendor = 0xf1f0, .device = 0x4e56,
					   .subsys_vendor = 0xf1f0, .subsys_device = 1,
					   .class_code = NVME_PCI_CLASS, .revision = 1 };
	struct dev_args a;
	dev_parse_args(argc, argv, NAME, what, &dflt, &a);
	if (!file && !size) {
		fprintf(stderr, "%s: give --file IMAGE or --size BYTES\n", NAME);
		return 2;
	}
	struct nvme_backend be = { .fd = -1 };
	int r;
	if (file) {
		be.size = size;
		r = nvme_backend_open_file(&be, file, lba);
	} else {
		r = size % lba ? -EINVAL : nvme_backend_open_mem(&be, size);
	}
	if (r < 0) {
		fprintf(stderr, "%s: %s: %s\n", NAME, file ? file : "--size", strerror(-r));
		return 1;
	}

	static struct dev d;
	static const struct uvfio_device_ops ops = { .reset = reset, .irq_state = irq_state };
	struct uvfio_server_config cfg = { .log = dev_log(NAME, a.log_level), .ops = &ops,
					   .opaque = &d, .dma_layout = a.dma_layout,
					   .poll_us = a.poll_us, .access = a.access };
	int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct nvme_ctrl_config cc = {
		.host = { .opaque = &d, .dma_read = h_dma_read, .dma_write = h_dma_write,
			  .sg_get = h_sg_get, .sg_put = h_sg_put, .irq = h_irq,
			  .dma_xfer_sg = h_xfer_sg,
			  .nvec = (uint16_t)(queues + 1) },
		.vid = a.id.vendor, .ssvid = a.id.subsys_vendor,
		.backend = be, .lba_shift = lba == 4096 ? 12 : 9, .nr_ioq = queues, .wake_fd = wake,
	};
	make_uid(file, serial, cc.uid);
	cc.serial = serial;
	if (wake < 0 || uvfio_server_create(&cfg, &d.srv) < 0 || nvme_ctrl_create(&cc, &d.ctrl) < 0)
		return 1;
	struct uvfio_region_desc b0 = { .size = NVME_BAR0_SIZE,
					.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE,
					.bar_flags = UVFIO_BAR_MEM64, .fn = bar0 };
	struct uvfio_region_desc b4 = { .size = 4096,
					.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE };
	if (uvfio_server_pci_init(d.srv, &a.id) < 0 || uvfio_server_setup_region(d.srv, 0, &b0, NULL) < 0 ||
	    uvfio_server_setup_region(d.srv, NVME_MSIX_BAR, &b4, NULL) < 0 ||
	    uvfio_pci_add_cap_pm(d.srv) < 0 ||
	    (d.msix_cap = uvfio_pci_add_cap_msix(d.srv, queues + 1, NVME_MSIX_BAR, 0, 0x800)) < 0 ||
	    uvfio_pci_add_cap_exp(d.srv) < 0 ||
	    uvfio_server_setup_irq(d.srv, VFIO_PCI_INTX_IRQ_INDEX, 1) < 0 ||
	    uvfio_server_setup_irq(d.srv, VFIO_PCI_MSIX_IRQ_INDEX, queues + 1) < 0 ||
	    dev_setup_err_req(d.srv) < 0) {
		uvfio_server_destroy(d.srv);
		return 1;
	}
	/* ioeventfds: the SQ tail doorbells of the I/O queues first, then CQ heads */
	unsigned nfd = 0;
	for (unsigned k = 0; k < 2; k++)
		for (unsigned q = 1; q <= queues && nfd < UVFIO_SERVER_MAX_IOEVENTFDS; q++, nfd++)
			if (uvfio_server_add_ioeventfd(d.srv, 0, k ? NVME_CQ_DB(q, 0) : NVME_SQ_DB(q, 0), 4,
						       0, 0, doorbell_event) < 0) {
				uvfio_server_destroy(d.srv);
				return 1;
			}
	pthread_mutex_init(&d.xmu, NULL);
	pthread_cond_init(&d.xcv, NULL);
	pthread_cond_init(&d.xdone, NULL);
	pthread_mutex_lock(&d.xmu); /* the helpers find their index once created */
	for (unsigned h = 0; h < XFER_HELPERS; h++)
		if (pthread_create(&d.helper[h], NULL, xfer_helper, &d) != 0) {
			uvfio_server_destroy(d.srv);
			return 1;
		}
	pthread_mutex_unlock(&d.xmu);
	if (pthread_create(&d.worker, NULL, worker, &d) != 0) {
		uvfio_server_destroy(d.srv);
		return 1;
	}
	dev_log_line(UVFIO_LOG_INFO, "namespace 1: %llu blocks of %u bytes (%s), %u I/O queues",
		     (unsigned long long)(be.size / lba), lba, file ? file : "memory", queues);
	int status = dev_serve(d.srv, &a, NAME);
	nvme_ctrl_stop(d.ctrl);
	pthread_join(d.worker, NULL);
	pthread_mutex_lock(&d.xmu);
	d.xquit = true;
	pthread_cond_broadcast(&d.xcv);
	pthread_mutex_unlock(&d.xmu);
	for (unsigned h = 0; h < XFER_HELPERS; h++)
		pthread_join(d.helper[h], NULL);
	uvfio_server_destroy(d.srv);
	nvme_ctrl_destroy(d.ctrl);
	nvme_backend_close(&be);
	close(wake);
	return status;
}
