/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer: a connected server fed arbitrary bytes. Unless the first input
 * byte is odd, a valid VERSION goes first, so that most inputs reach the
 * command handlers. Bit 1 of the first byte attaches two eventfds to the
 * bytes. Every input must leave the server alive, without leaks (ASan's
 * leak check), and with as many open descriptors as before.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "internal.h"

static ssize_t bar0(void *opaque, uint32_t region, uint64_t off, void *buf, size_t count,
		    bool is_write)
{
	(void)opaque, (void)region, (void)off, (void)is_write;
	if (!is_write)
		memset(buf, 0xab, count);
	return (ssize_t)count;
}

static int bell(void *opaque, const struct uvfio_ioevent *ev)
{
	(void)opaque;
	return ev->has_data && ev->data == 1 ? -EIO : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 60000)
		return 0;
	int fds_before = count_fds(); /* libFuzzer's own files come and go */
	struct uvfio_server *s;
	struct uvfio_server_config cfg = { .log = { .level = -1 }, .max_dma_maps = 8,
					   .max_data_xfer_size = 8192 };
	if (uvfio_server_create(&cfg, &s) < 0)
		abort();
	struct uvfio_region_desc r0 = { .size = 4096,
					.flags = VFIO_REGION_INFO_FLAG_READ |
						 VFIO_REGION_INFO_FLAG_WRITE,
					.fn = bar0 };
	struct uvfio_region_desc r1 = { .size = 8192,
					.flags = VFIO_REGION_INFO_FLAG_READ |
						 VFIO_REGION_INFO_FLAG_WRITE,
					.bar_flags = UVFIO_BAR_MEM64 };
	struct uvfio_region_desc r3 = { .size = 8192,
					.flags = VFIO_REGION_INFO_FLAG_READ,
					.mappable = true };
	uvfio_server_setup_region(s, 0, &r0, NULL);
	uvfio_server_setup_region(s, 1, &r1, NULL);
	uvfio_server_setup_region(s, 3, &r3, NULL);
	/* doorbells: IO_FDS replies with descriptors, writes that match */
	uvfio_server_add_ioeventfd(s, 0, 0x10, 4, 0, 0, bell);
	uvfio_server_add_ioeventfd(s, 0, 0x18, 8, UVFIO_IOEVENTFD_DATAMATCH, 1, bell);
	uvfio_pci_add_cap_msi(s, 4);
	uvfio_pci_add_cap_msix(s, 4, 1, 0, 0x800);
	uvfio_server_setup_irq(s, VFIO_PCI_INTX_IRQ_INDEX, 1);
	uvfio_server_setup_irq(s, VFIO_PCI_MSIX_IRQ_INDEX, 4);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	/* room for the whole input and the replies without blocking */
	int big = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	uvfio_server_adopt(s, sv[1]);
	uint8_t mode = data[0];
	data++;
	size--;
	if (!(mode & 1)) {
		write_version(sv[0], 1, UVFIO_FLAGS_TYPE_COMMAND,
			      "{\"capabilities\":{\"max_msg_fds\":8}}");
	}
	int efd[2] = { -1, -1 };
	struct iovec iov = { (void *)data, size };
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if ((mode & 2) && size) {
		efd[0] = eventfd(0, EFD_CLOEXEC);
		efd[1] = eventfd(0, EFD_CLOEXEC);
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(2 * sizeof(int));
		memcpy(CMSG_DATA(c), efd, sizeof(efd));
	}
	if (size && sendmsg(sv[0], &mh, MSG_DONTWAIT) < 0)
		abort();
	shutdown(sv[0], SHUT_WR); /* the input ends: the server must notice */
	for (int i = 0; i < 10000; i++) {
		int r = uvfio_server_dispatch(s);
		if (r < 0)
			break;
		char sink[65536]; /* drain replies so the server never blocks */
		while (recv(sv[0], sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
	}
	uvfio_server_destroy(s);
	close(sv[0]);
	if (efd[0] >= 0) {
		close(efd[0]);
		close(efd[1]);
	}
	if (count_fds() != fds_before)
		abort(); /* a descriptor leaked */
	return 0;
}
