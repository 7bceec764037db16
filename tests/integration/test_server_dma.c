/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The server's DMA against a client it cannot trust: memory whose file is
 * too short or shrinks after DMA_MAP (the device gets an error, the process
 * lives), and the SIGBUS handler that makes this so (it acts only inside the
 * library's own copies and hands every other fault on).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "internal.h"
#include "testdev.h"
#include "util.h"

#define IOVA 0x40000000ull
#define MIB (1u << 20)

struct fx {
	struct testdev *dev;
	struct uvfio_client *c;
};

static int setup_opts(void **state, const struct testdev_opts *o)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->dev = testdev_start(o);
	struct uvfio_client_config cc = { .log = { .level = -1 } };
	assert_int_equal(uvfio_client_connect(f->dev->path, &cc, &f->c), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_opts(state, NULL);
}

static int setup_sealed(void **state)
{
	struct testdev_opts o = { .dma_require_seal = true };
	return setup_opts(state, &o);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	uvfio_client_close(f->c);
	testdev_stop(f->dev);
	free(f);
	return 0;
}

static void wr64(struct uvfio_client *c, uint64_t off, uint64_t v)
{
	assert_int_equal(uvfio_client_region_write(c, 0, off, &v, 8), 0);
}

/* Have the test device copy len bytes src -> dst; returns its result. */
static int64_t device_copy(struct uvfio_client *c, uint64_t src, uint64_t dst, uint64_t len)
{
	wr64(c, TD_DMA_SRC, src);
	wr64(c, TD_DMA_DST, dst);
	wr64(c, TD_DMA_LEN, len);
	wr64(c, TD_DMA_GO, 1);
	int64_t v = 0;
	assert_int_equal(uvfio_client_region_read(c, 0, TD_DMA_GO, &v, 8), 0);
	return v;
}

static int memfd_of(size_t size)
{
	int fd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

/* 1 MiB of DMA memory backed by a 4 KiB file is refused at DMA_MAP (it
 * used to be accepted, and the first copy killed the device with SIGBUS). */
static void test_map_past_end(void **state)
{
	struct fx *f = *state;
	int fd = memfd_of(4096);
	uint8_t *mem = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(mem != MAP_FAILED);
	struct uvfio_dma_region r = { .vaddr = mem, .iova = IOVA, .size = MIB,
				      .prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
				      .fd = fd };
	assert_int_equal(uvfio_client_dma_map(f->c, &r), -ENXIO);
	/* long enough, but the offset pushes the end past it */
	assert_int_equal(ftruncate(fd, MIB), 0);
	r.fd_offset = 4096;
	assert_int_equal(uvfio_client_dma_map(f->c, &r), -ENXIO);
	r.fd_offset = 0;
	assert_int_equal(uvfio_client_dma_map(f->c, &r), 0);
	assert_int_equal(device_copy(f->c, IOVA, IOVA + 4096, 4096), 0);
	assert_int_equal(uvfio_client_dma_unmap(f->c, IOVA, MIB), 0);
	munmap(mem, MIB);
	close(fd);
}

/* The file shrinks after DMA_MAP: reads and writes through the mapping fail
 * with EIO, the device (this process) lives on and serves. */
static void test_shrunk_after_map(void **state)
{
	struct fx *f = *state;
	int fd = memfd_of(MIB);
	uint8_t *mem = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	struct uvfio_dma_region r = { .vaddr = mem, .iova = IOVA, .size = MIB,
				      .prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
				      .fd = fd };
	assert_int_equal(uvfio_client_dma_map(f->c, &r), 0);
	memset(mem, 0x5a, 4096);
	assert_int_equal(ftruncate(fd, 4096), 0);
	/* source past the end: the read faults */
	assert_int_equal(device_copy(f->c, IOVA + MIB / 2, IOVA, 4096), -EIO);
	/* destination past the end: the write faults */
	assert_int_equal(device_copy(f->c, IOVA, IOVA + MIB / 2, 4096), -EIO);
	/* what is still there still works, again and again */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(device_copy(f->c, IOVA, IOVA + 2048, 1024), 0);
		assert_int_equal(device_copy(f->c, IOVA + 8192, IOVA, 16), -EIO);
	}
	assert_int_equal(mem[2048], 0x5a);
	assert_int_equal(uvfio_client_dma_unmap(f->c, IOVA, MIB), 0);
	munmap(mem, MIB);
	close(fd);
}

/* A device that touches client memory through its own pointers can ask for
 * descriptors sealed against shrinking. */
static void test_require_seal(void **state)
{
	struct fx *f = *state;
	int fd = memfd_of(MIB);
	uint8_t *mem = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	struct uvfio_dma_region r = { .vaddr = mem, .iova = IOVA, .size = MIB,
				      .prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
				      .fd = fd };
	assert_int_equal(uvfio_client_dma_map(f->c, &r), -EPERM);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	assert_int_equal(uvfio_client_dma_map(f->c, &r), 0);
	assert_int_equal(ftruncate(fd, 4096), -1); /* the seal holds */
	assert_int_equal(device_copy(f->c, IOVA, IOVA + MIB / 2, 4096), 0);
	assert_int_equal(uvfio_client_dma_unmap(f->c, IOVA, MIB), 0);
	munmap(mem, MIB);
	close(fd);
}

/* ---- The handler itself, in child processes ------------------------------------ */

/* A mapping whose second page has no file behind it. */
static uint8_t *short_mapping(void)
{
	int fd = memfd_of(8192);
	uint8_t *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	close(fd);
	return p;
}

static void own_handler(int sig)
{
	(void)sig;
	_exit(42);
}

/* Run fn in a child; returns its wait status. */
static int in_child(void (*fn)(uint8_t *p))
{
	uint8_t *p = short_mapping();
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGBUS, SIG_DFL); /* cmocka's catches it during a test */
		fn(p);
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	munmap(p, 8192);
	return st;
}

static volatile uint8_t sink;

/* Guarded copies fail with EIO, repeatedly; a fault outside them still
 * takes the default action. */
static void child_default(uint8_t *p)
{
	uint8_t buf[64];
	if (vu_guard_install() < 0 || vu_guarded_copy(buf, p + 4096, 64, p + 4096) != -EIO ||
	    vu_guarded_copy(p + 4100, buf, 64, p + 4100) != -EIO ||
	    vu_guarded_copy(buf, p, 64, p) != 0)
		_exit(1);
	/* a fault outside the client memory named: not the guard's */
	(void)vu_guarded_copy(p + 4096, buf, 64, buf);
	_exit(2);
}

static void child_unguarded(uint8_t *p)
{
	uint8_t buf[64];
	if (vu_guard_install() < 0 || vu_guarded_copy(buf, p + 4096, 64, p + 4096) != -EIO)
		_exit(1);
	sink = p[5000];
	_exit(2);
}

static void child_chained(uint8_t *p)
{
	signal(SIGBUS, own_handler); /* the application's, installed first */
	uint8_t buf[64];
	if (vu_guard_install() < 0 || vu_guarded_copy(buf, p + 4096, 64, p + 4096) != -EIO)
		_exit(1);
	sink = p[5000];
	_exit(2);
}

static void child_sent(uint8_t *p)
{
	(void)p;
	if (vu_guard_install() < 0)
		_exit(1);
	raise(SIGBUS); /* not a fault: the default action all the same */
	_exit(2);
}

static void test_handler_scope(void **state)
{
	(void)state;
	int st = in_child(child_default);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS);
	st = in_child(child_unguarded);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS);
	st = in_child(child_chained);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 42);
	st = in_child(child_sent);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_map_past_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shrunk_after_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_require_seal, setup_sealed, teardown),
		cmocka_unit_test(test_handler_scope),
	};
	return cmocka_run_group_tests_name("server_dma", tests, NULL, NULL);
}
