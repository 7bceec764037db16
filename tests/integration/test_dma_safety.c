/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device DMA that must not happen, must not wait forever, must not trust
 * the client's sizes and must not kill the process (issue #21, items 4-8):
 * - Bus Master Enable: every DMA path refuses while the client has the
 *   bit clear, and works again once it is set; the opt-out;
 * - DMA_UNMAP with a pin held forever replies after timeout_ms, and the
 *   holder's later writes never reach the client's memory;
 * - the twin socket's bound is the server's own max_data_xfer_size;
 * - a guarded copy on a thread that blocks SIGBUS returns -EIO;
 * - the library's SIGBUS handler put back on top of a chaining
 *   application handler does not bounce a fault between the two.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "peer.h"
#include "rawclient.h"
#include "testdev.h"
#include "util.h"

#define IOVA 0x40000000ull     /* memory shared with a descriptor */
#define IOVA_MSG 0x80000000ull /* memory reached by DMA_READ/DMA_WRITE */
#define MEM (64u << 10)
#define CFG VFIO_PCI_CONFIG_REGION_INDEX

static const struct uvfio_client_config quiet = { .log = { .level = -1 } };

static int setup(void **state)
{
	return testdev_fx_setup(state, NULL, &quiet);
}

static int memfd_of(size_t size)
{
	int fd = memfd_create("guest", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static uint8_t *map_shared(int fd, size_t size)
{
	uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	return p;
}

static void give(struct uvfio_client *c, uint8_t *mem, uint64_t iova, int fd)
{
	struct uvfio_dma_region r = { .vaddr = mem, .iova = iova, .size = MEM,
				      .prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
				      .fd = fd };
	assert_int_equal(uvfio_client_dma_map(c, &r), 0);
}


/* ---- Bus Master Enable -------------------------------------------------------- */

/* Every path of device DMA with the bit as given: expect (0 or -ENODEV). */
static void every_path(struct testdev_fx *f, uint8_t *mem, uint8_t *msgmem, int expect)
{
	struct uvfio_server *s = f->dev->srv;
	memset(mem + 8192, 0, 64);
	memset(msgmem + 8192, 0, 64);
	/* the device's copies: through mapped memory and through messages */
	assert_int_equal(td_device_copy(f->c, IOVA, IOVA + 8192, 64), expect);
	assert_int_equal(memcmp(mem + 8192, mem, 64) == 0, expect == 0);
	assert_int_equal(td_device_copy(f->c, IOVA_MSG, IOVA_MSG + 8192, 64), expect);
	assert_int_equal(memcmp(msgmem + 8192, msgmem, 64) == 0, expect == 0);
	/* from another thread (this one): copies, pointers, pins */
	uint8_t b[16];
	assert_int_equal(uvfio_server_dma_read(s, IOVA, b, sizeof(b)), expect);
	assert_int_equal(uvfio_server_dma_write(s, IOVA + 4096, b, sizeof(b)), expect);
	if (expect) /* refused before any message (else nobody would answer: the
		     * client reads its socket only while it waits for a reply) */
		assert_int_equal(uvfio_server_dma_read(s, IOVA_MSG, b, sizeof(b)), expect);
	struct uvfio_sg sg;
	int n = uvfio_server_dma_sg(s, IOVA, 16, UVFIO_DMA_FLAG_WRITE, &sg, 1);
	assert_int_equal(n, expect ? expect : 1);
	n = uvfio_server_dma_sg_get(s, IOVA, 16, UVFIO_DMA_FLAG_WRITE, &sg, 1);
	assert_int_equal(n, expect ? expect : 1);
	if (n == 1)
		uvfio_server_dma_sg_put(s, &sg, 1);
	assert_int_equal(uvfio_server_dma_permitted(s), expect);
}

/* Set, cleared, set, then cleared by a reset: the device's DMA on every
 * path follows the bit (it used to ignore it). */
static void test_bus_master(void **state)
{
	struct testdev_fx *f = *state; /* the fixture set the bit, as a driver */
	int fd = memfd_of(MEM);
	uint8_t *mem = map_shared(fd, MEM);
	static uint8_t msgmem[MEM] __attribute__((aligned(4096)));
	for (unsigned i = 0; i < 64; i++)
		mem[i] = msgmem[i] = (uint8_t)(i * 5 + 1);
	give(f->c, mem, IOVA, fd);
	give(f->c, msgmem, IOVA_MSG, -1);
	every_path(f, mem, msgmem, 0);
	assert_int_equal(uvfio_client_bus_master(f->c, false), 0);
	every_path(f, mem, msgmem, -ENODEV);
	assert_int_equal(uvfio_client_bus_master(f->c, true), 0);
	every_path(f, mem, msgmem, 0);
	/* the other bits of the Command register are kept */
	uint16_t cmd = 0;
	assert_int_equal(uvfio_client_region_read(f->c, CFG, 4, &cmd, 2), 0);
	assert_int_equal(cmd & 0x0547, 0x0004);
	cmd |= 0x0002; /* memory space */
	assert_int_equal(uvfio_client_region_write(f->c, CFG, 4, &cmd, 2), 0);
	assert_int_equal(uvfio_client_bus_master(f->c, false), 0);
	assert_int_equal(uvfio_client_region_read(f->c, CFG, 4, &cmd, 2), 0);
	assert_int_equal(cmd & 0x0547, 0x0002);
	assert_int_equal(uvfio_client_bus_master(f->c, true), 0);
	/* a reset clears the bit: no DMA until the driver sets it again */
	assert_int_equal(uvfio_client_reset(f->c), 0);
	every_path(f, mem, msgmem, -ENODEV);
	assert_int_equal(uvfio_client_dma_unmap(f->c, IOVA, MEM), 0);
	assert_int_equal(uvfio_client_dma_unmap(f->c, IOVA_MSG, MEM), 0);
	munmap(mem, MEM);
	close(fd);
}

/* A device that is not PCI opts out: DMA with the bit never set. */
static void test_bus_master_opt_out(void **state)
{
	(void)state;
	struct testdev_opts o = { .no_bus_master_check = true };
	struct testdev *d = testdev_start(&o);
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_connect(d->path, &quiet, &c), 0);
	int fd = memfd_of(MEM);
	uint8_t *mem = map_shared(fd, MEM);
	memcpy(mem, "not PCI", 8);
	give(c, mem, IOVA, fd);
	assert_int_equal(td_device_copy(c, IOVA, IOVA + 4096, 8), 0);
	assert_string_equal((char *)mem + 4096, "not PCI");
	assert_int_equal(uvfio_server_dma_permitted(d->srv), 0);
	uvfio_client_close(c);
	testdev_stop(d);
	munmap(mem, MEM);
	close(fd);
}

/* ---- DMA_UNMAP with a pin held forever ------------------------------------------ */

struct logcap {
	pthread_mutex_t mu;
	char text[8192];
	size_t len;
};

static void cap_log(void *opaque, int level, const char *line)
{
	struct logcap *l = opaque;
	(void)level;
	pthread_mutex_lock(&l->mu);
	int n = snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s\n", line);
	if (n > 0)
		l->len = VU_MIN(l->len + (size_t)n, sizeof(l->text) - 1);
	pthread_mutex_unlock(&l->mu);
}

struct holder {
	struct uvfio_server *s;
	int got;                   /* the result of sg_get */
	unsigned step;             /* atomic: 1 pinned and written, 3 wrote again */
	unsigned go;               /* atomic: 1 write again, 2 let go */
};

/* Wait for *v to reach want; false after a minute without it (a hang, not
 * a measure of speed). */
static bool wait_until(unsigned *v, unsigned want)
{
	for (int i = 0; __atomic_load_n(v, __ATOMIC_ACQUIRE) < want; i++) {
		if (i == 60000)
			return false;
		usleep(1000);
	}
	return true;
}

/* The test thread's wait: a hang fails the test. */
static void wait_for(unsigned *v, unsigned want)
{
	if (!wait_until(v, want))
		fail_msg("still waiting after a minute");
}

/* A device thread that pins a range and never lets go until told. */
static void *hold_pin(void *arg)
{
	struct holder *h = arg;
	struct uvfio_sg sg;
	h->got = uvfio_server_dma_sg_get(h->s, IOVA + 4096, 64, UVFIO_DMA_FLAG_WRITE, &sg, 1);
	if (h->got != 1) {
		__atomic_store_n(&h->step, 3, __ATOMIC_RELEASE);
		return NULL;
	}
	memcpy(sg.vaddr, "pinned", 7);
	__atomic_store_n(&h->step, 1, __ATOMIC_RELEASE);
	if (wait_until(&h->go, 1)) {
		memcpy(sg.vaddr, "leaked", 7); /* after the unmap's reply */
		__atomic_store_n(&h->step, 3, __ATOMIC_RELEASE);
		wait_until(&h->go, 2);
	}
	uvfio_server_dma_sg_put(h->s, &sg, 1);
	return NULL;
}

static void *serve(void *arg)
{
	uvfio_server_run(arg);
	return NULL;
}

/* The unmap replies once timeout_ms has passed (it used to wait for the pin
 * without a bound, so the client's own timeout ended it with -ETIMEDOUT
 * and the serving thread stayed stuck); what the holder writes after the
 * reply does not reach the client's memory; the log names the range and
 * the holder. */
static void test_unmap_revokes_pin(void **state)
{
	(void)state;
	struct logcap lc = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct uvfio_server *s;
	struct uvfio_server_config cfg = { .log = { .fn = cap_log, .opaque = &lc,
						    .level = UVFIO_LOG_WARNING },
					   .timeout_ms = 300 };
	assert_int_equal(uvfio_server_create(&cfg, &s), 0);
	char path[108];
	raw_listen(s, path);
	pthread_t driver, holder;
	assert_int_equal(pthread_create(&driver, NULL, serve, s), 0);
	struct uvfio_client *c;
	struct uvfio_client_config cc = { .log = { .level = -1 }, .timeout_ms = 20000 };
	assert_int_equal(uvfio_client_connect(path, &cc, &c), 0);
	assert_int_equal(uvfio_client_bus_master(c, true), 0);
	int fd = memfd_of(MEM);
	uint8_t *mem = map_shared(fd, MEM);
	give(c, mem, IOVA, fd);
	struct holder h = { .s = s };
	assert_int_equal(pthread_create(&holder, NULL, hold_pin, &h), 0);
	wait_for(&h.step, 1);
	assert_int_equal(h.got, 1);
	assert_string_equal((char *)mem + 4096, "pinned"); /* the pin reached it */
	assert_int_equal(uvfio_client_dma_unmap(c, IOVA, MEM), 0);
	/* the range is gone for new DMA, and for the holder */
	uint8_t b[8];
	assert_int_equal(uvfio_server_dma_read(s, IOVA, b, 8), -EFAULT);
	__atomic_store_n(&h.go, 1, __ATOMIC_RELEASE);
	wait_for(&h.step, 3);
	assert_string_equal((char *)mem + 4096, "pinned");
	pthread_mutex_lock(&lc.mu);
	bool named = strstr(lc.text, "0x40000000") && strstr(lc.text, "revoked") &&
		     strstr(lc.text, "thread");
	pthread_mutex_unlock(&lc.mu);
	if (!named)
		fail_msg("the log does not name the revoked range and its holder:\n%s", lc.text);
	__atomic_store_n(&h.go, 2, __ATOMIC_RELEASE); /* frees the revoked map */
	pthread_join(holder, NULL);
	/* the connection serves on; memory given again works */
	give(c, mem, IOVA, fd);
	assert_int_equal(uvfio_server_dma_write(s, IOVA + 8192, "again", 6), 0);
	assert_string_equal((char *)mem + 8192, "again");
	uvfio_client_close(c);
	uvfio_server_stop(s);
	pthread_join(driver, NULL);
	uvfio_server_destroy(s);
	munmap(mem, MEM);
	close(fd);
}

/* A pin still held when the context is destroyed: the revoked map is freed
 * there (no leak under AddressSanitizer), the client's memory untouched. */
static void test_revoked_at_destroy(void **state)
{
	(void)state;
	struct logcap lc = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct uvfio_server *s;
	struct uvfio_server_config cfg = { .log = { .fn = cap_log, .opaque = &lc,
						    .level = UVFIO_LOG_WARNING },
					   .timeout_ms = 100 };
	assert_int_equal(uvfio_server_create(&cfg, &s), 0);
	char path[108];
	raw_listen(s, path);
	pthread_t driver;
	assert_int_equal(pthread_create(&driver, NULL, serve, s), 0);
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_connect(path, &quiet, &c), 0);
	assert_int_equal(uvfio_client_bus_master(c, true), 0);
	int fd = memfd_of(MEM);
	uint8_t *mem = map_shared(fd, MEM);
	give(c, mem, IOVA, fd);
	struct uvfio_sg sg;
	assert_int_equal(uvfio_server_dma_sg_get(s, IOVA, 16, UVFIO_DMA_FLAG_WRITE, &sg, 1), 1);
	uvfio_client_close(c); /* the disconnect drops the map: revoked */
	for (int i = 0;; i++) { /* a minute without it: the disconnect hangs */
		pthread_mutex_lock(&lc.mu);
		bool revoked = strstr(lc.text, "revoked") != NULL;
		pthread_mutex_unlock(&lc.mu);
		if (revoked)
			break;
		if (i == 60000)
			fail_msg("the pinned range was not revoked after a minute");
		usleep(1000);
	}
	memcpy(sg.vaddr, "after", 6);
	assert_int_equal(mem[0], 0);
	uvfio_server_stop(s);
	pthread_join(driver, NULL);
	uvfio_server_destroy(s);
	munmap(mem, MEM);
	close(fd);
}

/* ---- The twin socket's bound ---------------------------------------------------- */

struct twin_dma {
	struct uvfio_server *s;
	uint8_t buf[4096];
	int result;
	unsigned done; /* atomic */
};

static void *twin_read(void *arg)
{
	struct twin_dma *t = arg;
	t->result = uvfio_server_dma_read(t->s, IOVA_MSG, t->buf, sizeof(t->buf));
	__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* A server with memory without a descriptor, a client proposing caps with
 * a twin socket, Bus Master Enable set; a thread asks for 4 KiB. Returns
 * the main socket; the DMA_READ request is in *h, *req. */
static int twin_setup(struct twin_dma *t, const char *caps, int *tfd, struct uvfio_hdr *h,
		      uint8_t req[16])
{
	struct uvfio_server_config cfg = { .log = { .level = -1 }, .timeout_ms = 3000 };
	assert_int_equal(uvfio_server_create(&cfg, &t->s), 0);
	int fd = raw_connect_twin(t->s, caps, tfd);
	assert_true(*tfd >= 0);
	uint16_t cmd = 0x0004;
	assert_int_equal(raw_region_write(t->s, fd, CFG, 4, &cmd, 2), 0);
	struct uvfio_dma_map dm = { .argsz = 32, .flags = 3, .addr = IOVA_MSG, .size = MEM };
	assert_int_equal(raw_call(t->s, fd, UVFIO_CMD_DMA_MAP, &dm, sizeof(dm), NULL, 0, NULL), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, twin_read, t), 0);
	pthread_detach(th);
	uint8_t body[64];
	assert_true(peer_recv(*tfd, h, body, sizeof(body), NULL, NULL) > 0);
	assert_int_equal(h->cmd, UVFIO_CMD_DMA_READ);
	assert_int_equal(h->msg_size, 32);
	memcpy(req, body, 16);
	return fd;
}

static void twin_end(struct twin_dma *t, int fd, int tfd)
{
	wait_for(&t->done, 1);
	close(fd);
	close(tfd);
	uvfio_server_destroy(t->s);
}

/* The client proposes ~4 GiB (0xffffe000: the old 32-bit bound did not
 * wrap for it), then answers a 4 KiB DMA_READ with a header claiming
 * ~4 GiB and streams data behind it: the server ends the connection at the
 * header, having taken in no more than the socket holds, instead of taking
 * the data in until the DMA's timeout (all 256 MiB the test offers, then
 * the same -ECONNRESET). */
static void test_twin_bound_is_ours(void **state)
{
	(void)state;
	struct twin_dma t = { 0 };
	struct uvfio_hdr h;
	uint8_t req[16];
	int tfd;
	int fd = twin_setup(&t, "{\"max_data_xfer_size\":4294959104,"
				"\"twin_socket\":{\"supported\":true}}",
			    &tfd, &h, req);
	static uint8_t chunk[64 << 10];
	struct uvfio_hdr r = { .msg_id = h.msg_id, .cmd = UVFIO_CMD_DMA_READ,
			       .msg_size = 0xfffff000u, .flags = UVFIO_FLAGS_TYPE_REPLY };
	memcpy(chunk, &r, 16);
	memcpy(chunk + 16, req, 16);
	size_t sent = 0;
	while (!__atomic_load_n(&t.done, __ATOMIC_ACQUIRE) && sent < (256u << 20)) {
		struct pollfd pf = { .fd = tfd, .events = POLLOUT };
		if (poll(&pf, 1, 100) <= 0)
			continue;
		ssize_t n = send(tfd, chunk, sizeof(chunk), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN)
			break; /* the server hung up */
		if (n > 0)
			sent += (size_t)n;
		memset(chunk, 0xab, 32); /* only the first carries the header */
	}
	wait_for(&t.done, 1);
	assert_int_equal(t.result, -ECONNRESET);
	if (sent > (16u << 20))
		fail_msg("the server took %zu bytes of a reply it should have refused", sent);
	twin_end(&t, fd, tfd);
}

/* The client proposes 0xFFFFFFFF: a correct 4 KiB reply is taken (the
 * bound used to wrap to 4111 bytes, and the reply ended the connection). */
static void test_twin_bound_no_wrap(void **state)
{
	(void)state;
	struct twin_dma t = { 0 };
	struct uvfio_hdr h;
	uint8_t req[16];
	int tfd;
	int fd = twin_setup(&t, "{\"max_data_xfer_size\":4294967295,"
				"\"twin_socket\":{\"supported\":true}}",
			    &tfd, &h, req);
	static uint8_t rep[32 + 4096];
	struct uvfio_hdr r = { .msg_id = h.msg_id, .cmd = UVFIO_CMD_DMA_READ,
			       .msg_size = sizeof(rep), .flags = UVFIO_FLAGS_TYPE_REPLY };
	memcpy(rep, &r, 16);
	memcpy(rep + 16, req, 16);
	for (unsigned i = 0; i < 4096; i++)
		rep[32 + i] = (uint8_t)(i * 3 + 7);
	assert_true(peer_write(tfd, rep, sizeof(rep), NULL, 0));
	wait_for(&t.done, 1);
	assert_int_equal(t.result, 0);
	assert_memory_equal(t.buf, rep + 32, 4096);
	twin_end(&t, fd, tfd);
	/* the bound itself, in 64 bits, saturated */
	assert_int_equal(vu_max_msg_size(UINT32_MAX), UINT32_MAX);
	assert_int_equal(vu_max_msg_size(1u << 20), (1u << 20) + 16 + 4096);
}

/* ---- The SIGBUS handler, in child processes ----------------------------------- */

/* A mapping whose second page has no file behind it. */
static uint8_t *short_mapping(void)
{
	int fd = memfd_of(8192);
	uint8_t *p = map_shared(fd, 8192);
	assert_int_equal(ftruncate(fd, 4096), 0);
	close(fd);
	return p;
}

/* Run fn in a child; returns its wait status. */
static int in_child(int (*fn)(uint8_t *p))
{
	uint8_t *p = short_mapping();
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGBUS, SIG_DFL); /* cmocka's catches it during a test */
		_exit(fn(p));
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	munmap(p, 8192);
	return st;
}

static void *blocked_copier(void *arg)
{
	uint8_t *p = arg, buf[64];
	sigset_t bus, now;
	sigemptyset(&bus);
	sigaddset(&bus, SIGBUS);
	pthread_sigmask(SIG_BLOCK, &bus, NULL);
	intptr_t bad = 0;
	for (int i = 0; i < 3; i++) { /* the fault, then a good copy: mask kept */
		if (vu_guarded_copy(buf, p + 4096, 64, p + 4096) != -EIO ||
		    vu_guarded_copy(p + 4100, buf, 64, p + 4100) != -EIO)
			bad |= 1;
		if (vu_guarded_copy(buf, p, 64, p) != 0)
			bad |= 2;
		pthread_sigmask(SIG_BLOCK, NULL, &now);
		if (!sigismember(&now, SIGBUS))
			bad |= 4;
	}
	return (void *)bad;
}

/* Memory sealed against shrinking skips the mask (no system call); a fault
 * there all the same (a test can make one) still gives -EIO, and the mask
 * afterwards is the thread's: SIGUSR1 still blocked, SIGBUS not. */
static int child_sealed_path(uint8_t *p)
{
	uint8_t buf[64];
	sigset_t usr, now;
	sigemptyset(&usr);
	sigaddset(&usr, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr, NULL);
	if (vu_guard_install() < 0)
		return 10;
	for (int i = 0; i < 3; i++)
		if (vu_guarded_copy_ex(buf, p + 4096, 64, p + 4096, false) != -EIO ||
		    vu_guarded_copy_ex(buf, p, 64, p, false) != 0)
			return 1;
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	return !sigismember(&now, SIGUSR1) ? 2 : sigismember(&now, SIGBUS) ? 3 : 0;
}

static int child_blocked(uint8_t *p)
{
	if (vu_guard_install() < 0)
		return 10;
	pthread_t t;
	void *bad;
	if (pthread_create(&t, NULL, blocked_copier, p) || pthread_join(t, &bad))
		return 11;
	return (int)(intptr_t)bad;
}

/* A thread that blocks SIGBUS copies from a shrunk file: -EIO, the process
 * lives, the thread's mask is as it was (the fault used to kill it). */
static void test_guard_with_sigbus_blocked(void **state)
{
	(void)state;
	int st = in_child(child_blocked);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	st = in_child(child_sealed_path);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static struct sigaction app_old;
static int app_pipe = -1;

/* An application's handler that chains, as server.h asks; it counts its
 * calls in a pipe (full: stops counting, never blocks). */
static void app_handler(int sig, siginfo_t *si, void *ctx)
{
	char one = 1;
	if (write(app_pipe, &one, 1) < 0) {
		/* full: counted enough */
	}
	if (app_old.sa_flags & SA_SIGINFO)
		app_old.sa_sigaction(sig, si, ctx);
	else if (app_old.sa_handler == SIG_DFL) {
		signal(SIGBUS, SIG_DFL);
	} else if (app_old.sa_handler != SIG_IGN)
		app_old.sa_handler(sig);
}

static volatile uint8_t sink;

static int child_reinstalled(uint8_t *p)
{
	uint8_t buf[64];
	if (vu_guard_install() < 0)
		return 10;
	struct sigaction sa = { .sa_sigaction = app_handler, .sa_flags = SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &app_old); /* over the library's, chaining to it */
	/* a guarded copy works with the application's handler on top */
	if (vu_guarded_copy(buf, p + 4096, 64, p + 4096) != -EIO)
		return 12;
	/* the next DMA_MAP puts the library's back on top */
	if (vu_guard_install() < 0 || vu_guarded_copy(buf, p + 4096, 64, p + 4096) != -EIO)
		return 13;
	sink = p[5000]; /* nobody's fault: the application's handler once, then death */
	return 14;
}

/* Library, application (chaining), library again: a fault nobody claims
 * reaches the application's handler once and then gets the default action
 * (it used to bounce between the two handlers until the stack overflowed:
 * SIGSEGV). */
static void test_reinstall_does_not_loop(void **state)
{
	(void)state;
	int pp[2];
	assert_int_equal(pipe2(pp, O_NONBLOCK | O_CLOEXEC), 0);
	app_pipe = pp[1];
	int st = in_child(child_reinstalled);
	close(pp[1]);
	char counts[4096];
	ssize_t n = read(pp[0], counts, sizeof(counts));
	close(pp[0]);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGBUS)
		fail_msg("the child ended with status %#x, not killed by SIGBUS", st);
	/* once for the copy under it, once for the fault nobody claims */
	assert_int_equal(n, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* first: the children are forked from a single-threaded process */
		cmocka_unit_test(test_guard_with_sigbus_blocked),
		cmocka_unit_test(test_reinstall_does_not_loop),
		cmocka_unit_test_setup_teardown(test_bus_master, setup,
						testdev_fx_teardown),
		cmocka_unit_test(test_bus_master_opt_out),
		cmocka_unit_test(test_unmap_revokes_pin),
		cmocka_unit_test(test_revoked_at_destroy),
		cmocka_unit_test(test_twin_bound_is_ours),
		cmocka_unit_test(test_twin_bound_no_wrap),
	};
	return cmocka_run_group_tests_name("dma_safety", tests, NULL, NULL);
}
