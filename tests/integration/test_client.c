/* SPDX-License-Identifier: BSD-3-Clause */
/* Every client command against the project's own server (tests/testdev.c). */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "internal.h"
#include "testdev.h"
#include "util.h"

static int setup(void **state)
{
	return testdev_fx_setup(state, NULL, NULL);
}

static int setup_small_xfer(void **state)
{
	struct testdev_opts o = { .max_data_xfer_size = 4096 };
	return testdev_fx_setup(state, &o, NULL);
}

static uint64_t rd64(struct uvfio_client *c, uint32_t region, uint64_t off)
{
	uint64_t v = 0;
	assert_int_equal(uvfio_client_region_read(c, region, off, &v, 8), 0);
	return v;
}

static void wr64(struct uvfio_client *c, uint32_t region, uint64_t off, uint64_t v)
{
	assert_int_equal(uvfio_client_region_write(c, region, off, &v, 8), 0);
}

static void test_negotiation(void **state)
{
	struct testdev_fx *f = *state;
	struct uvfio_caps caps;
	uint16_t major, minor;
	assert_int_equal(uvfio_client_server_caps(f->c, &caps, &major, &minor), 0);
	assert_int_equal(major, 0);
	assert_int_equal(minor, 1);
	assert_true(caps.write_multiple);
	/* event-loop mode does not propose twin sockets by default */
	assert_false(caps.twin_socket);
	assert_false(uvfio_client_twin_socket(f->c));
	assert_true(caps.migration);
	assert_int_equal(caps.max_msg_fds, 16);
	assert_true(uvfio_server_connected(f->dev->srv));
}

static void test_device_and_regions(void **state)
{
	struct testdev_fx *f = *state;
	struct uvfio_device_info di;
	assert_int_equal(uvfio_client_device_info(f->c, &di), 0);
	assert_int_equal(di.flags, VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET);
	assert_int_equal(di.num_regions, 10);
	assert_int_equal(di.num_irqs, 5);

	struct uvfio_region_info ri;
	assert_int_equal(uvfio_client_region_info(f->c, 0, &ri), 0);
	assert_int_equal(ri.size, 4096);
	assert_int_equal(ri.fd, -1);
	assert_int_equal(ri.nr_areas, 0);
	uvfio_region_info_release(&ri);

	/* BAR3: mappable with two sparse areas (needs the argsz retry) */
	assert_int_equal(uvfio_client_region_info(f->c, 3, &ri), 0);
	assert_true(ri.flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_true(ri.flags & VFIO_REGION_INFO_FLAG_CAPS);
	assert_true(ri.fd >= 0);
	assert_int_equal(ri.nr_areas, 2);
	assert_int_equal(ri.areas[1].offset, 8192);
	assert_int_equal(ri.areas[1].size, 4096);
	/* loads and stores through the mapping bypass the socket */
	void *p;
	assert_int_equal(uvfio_region_map_area(&ri, 1, PROT_READ | PROT_WRITE, &p), 0);
	memcpy(p, "mapped!", 8);
	char buf[8];
	assert_int_equal(uvfio_client_region_read(f->c, 3, 8192, buf, 8), 0);
	assert_string_equal(buf, "mapped!");
	assert_int_equal(uvfio_client_region_write(f->c, 3, 8196, "XYZ", 4), 0);
	assert_string_equal((char *)p, "mappXYZ");
	munmap(p, 4096);
	assert_int_equal(uvfio_region_map_area(&ri, 2, PROT_READ, &p), -EINVAL);
	uvfio_region_info_release(&ri);
	assert_int_equal(ri.fd, -1);

	/* device-specific region with its type capability */
	assert_int_equal(uvfio_client_region_info(f->c, 9, &ri), 0);
	assert_true(ri.has_type);
	assert_int_equal(ri.type, 0x1234);
	assert_int_equal(ri.subtype, 0x5678);
	uvfio_region_info_release(&ri);
	uint8_t b9[4];
	assert_int_equal(uvfio_client_region_read(f->c, 9, 100, b9, 4), 0);
	assert_int_equal(b9[3], 103);
	assert_int_equal(uvfio_client_region_write(f->c, 9, 0, b9, 4), -EINVAL); /* read-only */

	/* absent region, region out of range */
	assert_int_equal(uvfio_client_region_info(f->c, 5, &ri), 0);
	assert_int_equal(ri.size, 0);
	uvfio_region_info_release(&ri);
	assert_int_equal(uvfio_client_region_info(f->c, 10, &ri), -EINVAL);
}

static void test_read_write(void **state)
{
	struct testdev_fx *f = *state;
	wr64(f->c, 0, TD_SCRATCH, 0x1122334455667788ull);
	assert_int_equal(rd64(f->c, 0, TD_SCRATCH), 0x1122334455667788ull);
	/* plain memory BAR1 */
	uint8_t big[65536], back[65536];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31);
	assert_int_equal(uvfio_client_region_write(f->c, 1, 0, big, sizeof(big)), 0);
	assert_int_equal(uvfio_client_region_read(f->c, 1, 0, back, sizeof(back)), 0);
	assert_memory_equal(big, back, sizeof(big));
	/* errors the server replies with */
	uint32_t v;
	assert_int_equal(uvfio_client_region_read(f->c, 1, 65535, &v, 4), -EINVAL);
	assert_int_equal(uvfio_client_region_read(f->c, 99, 0, &v, 4), -EINVAL);
	assert_int_equal(uvfio_client_region_read(f->c, 1, UINT64_MAX - 1, &v, 1), -EINVAL);
	assert_int_equal(uvfio_client_region_read(f->c, 0, 4, &v, 4), -EINVAL); /* callback */
	/* the connection is fine after errors */
	assert_int_equal(rd64(f->c, 0, TD_SCRATCH), 0x1122334455667788ull);
}

/* The server accepts 4 KiB per message: a 64 KiB read is split into 16. */
static void test_split_transfers(void **state)
{
	struct testdev_fx *f = *state;
	struct uvfio_caps caps;
	uvfio_client_server_caps(f->c, &caps, NULL, NULL);
	assert_int_equal(caps.max_data_xfer_size, 4096);
	uint8_t big[40000], back[40000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i ^ (i >> 8));
	uint64_t before = rd64(f->c, 0, TD_WRITES);
	(void)before;
	assert_int_equal(uvfio_client_region_write(f->c, 1, 1000, big, sizeof(big)), 0);
	assert_int_equal(uvfio_client_region_read(f->c, 1, 1000, back, sizeof(back)), 0);
	assert_memory_equal(big, back, sizeof(big));
	/* a raw request above the limit is refused by the server */
	struct uvfio_region_access a = { .offset = 0, .region = 1, .count = 8192 };
	uint8_t rep[64];
	struct uvfio_call call = { .cmd = UVFIO_CMD_REGION_READ, .req = &a, .req_len = sizeof(a),
				   .rep = rep, .rep_cap = sizeof(rep) };
	assert_int_equal(uvfio_client_call(f->c, &call), -EINVAL);
}

static void test_config_space(void **state)
{
	struct testdev_fx *f = *state;
	uint8_t cfg[256];
	assert_int_equal(uvfio_client_region_read(f->c, VFIO_PCI_CONFIG_REGION_INDEX, 0, cfg, 256),
			 0);
	uint16_t vendor, device;
	memcpy(&vendor, cfg, 2);
	memcpy(&device, cfg + 2, 2);
	assert_int_equal(vendor, 0x1af4);
	assert_int_equal(device, 0x10f0);
	assert_int_equal(cfg[0x0b], 0xff); /* class */
	assert_true(cfg[0x06] & 0x10);     /* capability list */
	assert_int_equal(cfg[0x3d], 1);     /* INTA# */
	/* BAR sizing: all ones reads back the size mask */
	uint32_t ones = 0xffffffff, bar;
	assert_int_equal(uvfio_client_region_write(f->c, 7, 0x10, &ones, 4), 0);
	assert_int_equal(uvfio_client_region_read(f->c, 7, 0x10, &bar, 4), 0);
	assert_int_equal(bar, 0xfffff000);
	/* BAR1 is 64-bit memory of 64 KiB */
	assert_int_equal(uvfio_client_region_write(f->c, 7, 0x14, &ones, 4), 0);
	assert_int_equal(uvfio_client_region_read(f->c, 7, 0x14, &bar, 4), 0);
	assert_int_equal(bar, 0xffff0004);
	assert_int_equal(uvfio_client_region_write(f->c, 7, 0x18, &ones, 4), 0);
	assert_int_equal(uvfio_client_region_read(f->c, 7, 0x18, &bar, 4), 0);
	assert_int_equal(bar, 0xffffffff);
	/* vendor id is read-only; command register takes only its bits */
	uint16_t w = 0xffff, back;
	assert_int_equal(uvfio_client_region_write(f->c, 7, 0, &w, 2), 0);
	assert_int_equal(uvfio_client_region_read(f->c, 7, 0, &back, 2), 0);
	assert_int_equal(back, 0x1af4);
	assert_int_equal(uvfio_client_region_write(f->c, 7, 4, &w, 2), 0);
	assert_int_equal(uvfio_client_region_read(f->c, 7, 4, &back, 2), 0);
	assert_int_equal(back, 0x0547);
	/* walk the capability list: PM, MSI, MSI-X, PCIe */
	assert_int_equal(uvfio_client_region_read(f->c, 7, 0, cfg, 256), 0);
	uint8_t ids[8], n = 0;
	for (uint8_t p = cfg[0x34]; p && n < 8; p = cfg[p + 1])
		ids[n++] = cfg[p];
	assert_int_equal(n, 4);
	assert_int_equal(ids[0], 0x01);
	assert_int_equal(ids[1], 0x05);
	assert_int_equal(ids[2], 0x11);
	assert_int_equal(ids[3], 0x10);
	/* beyond the end of config space */
	assert_int_equal(uvfio_client_region_read(f->c, 7, 254, &bar, 4), -EINVAL);
	/* reset clears the command register */
	assert_int_equal(uvfio_client_reset(f->c), 0);
	assert_int_equal(uvfio_client_region_read(f->c, 7, 4, &back, 2), 0);
	assert_int_equal(back, 0);
	assert_int_equal(__atomic_load_n(&f->dev->resets, __ATOMIC_RELAXED), 1);
}

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1;
}

static void test_irqs(void **state)
{
	struct testdev_fx *f = *state;
	struct vfio_irq_info ii;
	assert_int_equal(uvfio_client_irq_info(f->c, VFIO_PCI_MSIX_IRQ_INDEX, &ii), 0);
	assert_int_equal(ii.count, 8);
	assert_true(ii.flags & VFIO_IRQ_INFO_EVENTFD);
	assert_int_equal(uvfio_client_irq_info(f->c, VFIO_PCI_INTX_IRQ_INDEX, &ii), 0);
	assert_true(ii.flags & VFIO_IRQ_INFO_MASKABLE);
	assert_int_equal(uvfio_client_irq_info(f->c, 5, &ii), -EINVAL);

	int efd[8];
	for (int i = 0; i < 8; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(uvfio_client_set_irqs(f->c, VFIO_PCI_MSIX_IRQ_INDEX,
					       VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
					       0, 8, efd),
			 0);
	wr64(f->c, 0, TD_IRQ, 5);
	assert_true(readable(efd[5], 1000));
	assert_false(readable(efd[4], 0));
	uint64_t cnt;
	assert_int_equal(read(efd[5], &cnt, 8), 8);
	/* -1 de-assigns one vector and keeps its neighbour */
	int pair[2] = { efd[6], -1 };
	assert_int_equal(uvfio_client_set_irqs(f->c, VFIO_PCI_MSIX_IRQ_INDEX,
					       VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
					       6, 2, pair),
			 0);
	wr64(f->c, 0, TD_IRQ, 7);
	wr64(f->c, 0, TD_IRQ, 6);
	assert_true(readable(efd[6], 1000));
	assert_false(readable(efd[7], 0));
	assert_int_equal(read(efd[6], &cnt, 8), 8);
	/* the client triggers one itself (DATA_BOOL) */
	uint8_t bools[2] = { 0, 1 };
	assert_int_equal(uvfio_client_set_irqs(f->c, VFIO_PCI_MSIX_IRQ_INDEX,
					       VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER,
					       2, 2, bools),
			 0);
	assert_true(readable(efd[3], 1000));
	assert_false(readable(efd[2], 0));
	/* bad requests */
	assert_int_equal(uvfio_client_set_irqs(f->c, VFIO_PCI_MSIX_IRQ_INDEX,
					       VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
					       7, 2, NULL),
			 -EINVAL);
	assert_int_equal(uvfio_client_set_irqs(f->c, 9,
					       VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
					       0, 1, NULL),
			 -EINVAL);
	/* MSI-X is not maskable through SET_IRQS */
	assert_int_equal(uvfio_client_set_irqs(f->c, VFIO_PCI_MSIX_IRQ_INDEX,
					       VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK, 0,
					       1, NULL),
			 -EINVAL);

	/* INTx: masked while pending, delivered on unmask; automasked */
	int ifd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(uvfio_client_set_irqs(f->c, VFIO_PCI_INTX_IRQ_INDEX,
					       VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
					       0, 1, &ifd),
			 0);
	assert_int_equal(uvfio_client_set_irqs(f->c, VFIO_PCI_INTX_IRQ_INDEX,
					       VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK, 0,
					       1, NULL),
			 0);
	wr64(f->c, 0, TD_DMA_GO, 1); /* raises INTx (dma of length 0) */
	assert_false(readable(ifd, 50));
	assert_int_equal(uvfio_client_set_irqs(f->c, VFIO_PCI_INTX_IRQ_INDEX,
					       VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
					       0, 1, NULL),
			 0);
	assert_true(readable(ifd, 1000));
	assert_int_equal(read(ifd, &cnt, 8), 8);
	/* automasked: the next one waits for an unmask */
	wr64(f->c, 0, TD_DMA_GO, 1);
	assert_false(readable(ifd, 50));
	/* disable all (count 0, DATA_NONE), as QEMU does */
	assert_int_equal(uvfio_client_set_irqs(f->c, VFIO_PCI_MSIX_IRQ_INDEX,
					       VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
					       0, 0, NULL),
			 0);
	wr64(f->c, 0, TD_IRQ, 1);
	assert_false(readable(efd[1], 50));
	for (int i = 0; i < 8; i++)
		close(efd[i]);
	close(ifd);
}

static void test_posted_and_flush(void **state)
{
	struct testdev_fx *f = *state;
	uint64_t before = rd64(f->c, 0, TD_WRITES);
	for (uint64_t i = 0; i < 1000; i++)
		assert_int_equal(uvfio_client_region_write_posted(f->c, 0, TD_SCRATCH, &i, 8), 0);
	assert_int_equal(uvfio_client_flush(f->c), 0);
	assert_int_equal(rd64(f->c, 0, TD_WRITES), before + 1000);
	assert_int_equal(rd64(f->c, 0, TD_SCRATCH), 999);
	/* a failing posted write is reported by the next flush */
	uint32_t v = 1;
	assert_int_equal(uvfio_client_region_write_posted(f->c, 1, 70000, &v, 4), 0);
	assert_int_equal(uvfio_client_flush(f->c), -EINVAL);
	assert_int_equal(uvfio_client_flush(f->c), 0);
}

static int setup_coalesce(void **state)
{
	struct uvfio_client_config cc = { .coalesce_posted = true,
					  .log = { .level = UVFIO_LOG_ERR } };
	return testdev_fx_setup(state, NULL, &cc);
}

static void test_coalesced_posted(void **state)
{
	struct testdev_fx *f = *state;
	uint64_t before = rd64(f->c, 0, TD_WRITES);
	for (uint64_t i = 0; i < 1000; i++)
		assert_int_equal(uvfio_client_region_write_posted(f->c, 0, TD_SCRATCH, &i, 8), 0);
	/* a synchronous request sends the gathered writes first */
	assert_int_equal(rd64(f->c, 0, TD_SCRATCH), 999);
	assert_int_equal(rd64(f->c, 0, TD_WRITES), before + 1000);
	for (uint16_t i = 0; i < 10; i++)
		assert_int_equal(uvfio_client_region_write_posted(f->c, 1, 2u * i, &i, 2), 0);
	assert_int_equal(uvfio_client_flush(f->c), 0);
	uint16_t back[10];
	assert_int_equal(uvfio_client_region_read(f->c, 1, 0, back, sizeof(back)), 0);
	for (uint16_t i = 0; i < 10; i++)
		assert_int_equal(back[i], i);
	/* an error inside a coalesced batch reaches flush */
	uint32_t v = 0;
	assert_int_equal(uvfio_client_region_write_posted(f->c, 1, 65534, &v, 4), 0);
	assert_int_equal(uvfio_client_flush(f->c), -EINVAL);
}

static void test_features_and_migration(void **state)
{
	struct testdev_fx *f = *state;
	struct uvfio_feature_migration mf;
	int r = uvfio_client_feature(f->c, VFIO_DEVICE_FEATURE_GET | UVFIO_FEATURE_MIGRATION, NULL,
				     0, &mf, sizeof(mf));
	assert_int_equal(r, 8);
	assert_int_equal(mf.flags, UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_PRE_COPY);
	assert_int_equal(uvfio_client_feature(f->c,
					      VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET |
						      UVFIO_FEATURE_MIG_DEVICE_STATE,
					      NULL, 0, NULL, 0),
			 0);
	assert_int_equal(uvfio_client_feature(f->c, VFIO_DEVICE_FEATURE_GET | 99, NULL, 0, NULL,
					      0),
			 -ENOTSUP);
	uint32_t st;
	assert_int_equal(uvfio_client_mig_state_get(f->c, &st), 0);
	assert_int_equal(st, UVFIO_MIG_STATE_RUNNING);
	/* reading migration data outside a saving state is refused */
	uint8_t buf[4096];
	assert_int_equal(uvfio_client_mig_data_read(f->c, buf, sizeof(buf)), -EINVAL);
	/* RUNNING -> STOP_COPY goes through STOP */
	assert_int_equal(uvfio_client_mig_state_set(f->c, UVFIO_MIG_STATE_STOP_COPY), 0);
	assert_int_equal(uvfio_client_mig_state_get(f->c, &st), 0);
	assert_int_equal(st, UVFIO_MIG_STATE_STOP_COPY);
	/* STOP_COPY -> PRE_COPY is not allowed */
	assert_int_equal(uvfio_client_mig_state_set(f->c, UVFIO_MIG_STATE_PRE_COPY), -EINVAL);
	size_t total = 0;
	uint8_t *all = malloc(20000);
	for (;;) {
		int n = uvfio_client_mig_data_read(f->c, all + total, 4096);
		assert_true(n >= 0);
		total += (size_t)n;
		if (n < 4096)
			break;
	}
	assert_int_equal(total, 10000);
	assert_int_equal(all[777], (uint8_t)(777 * 13));
	/* resume on the "destination" */
	assert_int_equal(uvfio_client_mig_state_set(f->c, UVFIO_MIG_STATE_RESUMING), 0);
	assert_int_equal(uvfio_client_mig_data_write(f->c, all, 6000), 0);
	assert_int_equal(uvfio_client_mig_data_write(f->c, all + 6000, 4000), 0);
	assert_int_equal(uvfio_client_mig_state_set(f->c, UVFIO_MIG_STATE_RUNNING), 0);
	assert_int_equal(f->dev->resumed_len, 10000);
	assert_memory_equal(f->dev->resumed, all, 10000);
	assert_int_equal(uvfio_client_mig_data_write(f->c, all, 10), -EINVAL);
	free(all);
	(void)buf;
}

static void test_dma_logging(void **state)
{
	struct testdev_fx *f = *state;
	size_t len = 1 << 20;
	uint8_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct uvfio_dma_region r = { .vaddr = mem, .iova = 0x100000, .size = len,
				      .prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
				      .fd = -1 };
	assert_int_equal(uvfio_client_dma_map(f->c, &r), 0);
	struct uvfio_dma_logging_range rg = { 0x100000, len };
	uint64_t bm[4] = { 0 };
	assert_int_equal(uvfio_client_dma_logging_report(f->c, 0x100000, len, 4096, bm), -EINVAL);
	assert_int_equal(uvfio_client_dma_logging_start(f->c, 4096, &rg, 1), 0);
	assert_int_equal(uvfio_client_dma_logging_start(f->c, 4096, &rg, 1), -EBUSY);
	/* the device copies 100 bytes to iova 0x100000 + 5*4096 + 4050: pages 5 and 6 */
	wr64(f->c, 0, TD_DMA_SRC, 0x100000);
	wr64(f->c, 0, TD_DMA_DST, 0x100000 + 5 * 4096 + 4050);
	wr64(f->c, 0, TD_DMA_LEN, 100);
	wr64(f->c, 0, TD_DMA_GO, 1);
	assert_int_equal(rd64(f->c, 0, TD_DMA_GO), 0);
	assert_int_equal(uvfio_client_dma_logging_report(f->c, 0x100000, len, 4096, bm), 0);
	assert_int_equal(bm[0], (1ull << 5) | (1ull << 6));
	/* reported pages are cleared */
	memset(bm, 0, sizeof(bm));
	assert_int_equal(uvfio_client_dma_logging_report(f->c, 0x100000, len, 4096, bm), 0);
	assert_int_equal(bm[0], 0);
	assert_int_equal(uvfio_client_dma_logging_stop(f->c), 0);
	assert_int_equal(uvfio_client_dma_logging_stop(f->c), -EINVAL);
	assert_int_equal(uvfio_client_dma_unmap(f->c, 0x100000, len), 0);
	munmap(mem, len);
}

struct async_res {
	int n, result;
	uint64_t value;
};

static void async_cb(void *opaque, int result, const void *rep, size_t len)
{
	struct async_res *r = opaque;
	r->n++;
	r->result = result;
	if (result == 0 && len == 24)
		memcpy(&r->value, (const uint8_t *)rep + 16, 8);
}

static void test_async(void **state)
{
	struct testdev_fx *f = *state;
	struct async_res res = { 0 };
	struct uvfio_region_access a = { .offset = TD_SCRATCH, .region = 0, .count = 8 };
	wr64(f->c, 0, TD_SCRATCH, 42);
	assert_int_equal(uvfio_client_call_async(f->c, UVFIO_CMD_REGION_READ, &a, sizeof(a), async_cb,
						 &res),
			 0);
	/* a later synchronous call reads (and completes) the async reply too */
	assert_int_equal(rd64(f->c, 0, TD_SCRATCH), 42);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.result, 0);
	assert_int_equal(res.value, 42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_negotiation, setup, testdev_fx_teardown),
		cmocka_unit_test_setup_teardown(test_device_and_regions, setup, testdev_fx_teardown),
		cmocka_unit_test_setup_teardown(test_read_write, setup, testdev_fx_teardown),
		cmocka_unit_test_setup_teardown(test_split_transfers, setup_small_xfer, testdev_fx_teardown),
		cmocka_unit_test_setup_teardown(test_config_space, setup, testdev_fx_teardown),
		cmocka_unit_test_setup_teardown(test_irqs, setup, testdev_fx_teardown),
		cmocka_unit_test_setup_teardown(test_posted_and_flush, setup, testdev_fx_teardown),
		cmocka_unit_test_setup_teardown(test_coalesced_posted, setup_coalesce, testdev_fx_teardown),
		cmocka_unit_test_setup_teardown(test_features_and_migration, setup, testdev_fx_teardown),
		cmocka_unit_test_setup_teardown(test_dma_logging, setup, testdev_fx_teardown),
		cmocka_unit_test_setup_teardown(test_async, setup, testdev_fx_teardown),
	};
	return cmocka_run_group_tests_name("client", tests, NULL, NULL);
}
