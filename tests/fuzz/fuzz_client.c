/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer: a connected client fed arbitrary bytes as the server's side of
 * the stream. A valid VERSION reply comes first (unless the first input byte
 * is odd), then the input, which the client meets while it waits for a few
 * requests of its own (short timeouts) and dispatches. The client must end
 * every call with a result, never crash, leak memory or descriptors.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 60000)
		return 0;
	int fds_before = count_fds(); /* libFuzzer's own files come and go */
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	int big = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	uint8_t mode = data[0];
	data++;
	size--;
	if (!(mode & 1)) {
		write_version(sv[0], 0, UVFIO_FLAGS_TYPE_REPLY,
			      "{\"capabilities\":{\"max_msg_fds\":8,\"write_multiple\":true}}");
	}
	int efd = -1;
	if (size) {
		struct iovec iov = { (void *)data, size };
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		if (mode & 2) {
			efd = eventfd(0, EFD_CLOEXEC);
			mh.msg_control = cbuf;
			mh.msg_controllen = sizeof(cbuf);
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &efd, sizeof(int));
		}
		if (sendmsg(sv[0], &mh, MSG_DONTWAIT) < 0)
			abort();
	}
	shutdown(sv[0], SHUT_WR);
	struct uvfio_client *c;
	struct uvfio_client_config cfg = { .log = { .level = -1 }, .timeout_ms = 5,
					   .coalesce_posted = (mode & 4) != 0 };
	if (uvfio_client_adopt(sv[1], &cfg, &c) == 0) {
		uint8_t buf[64];
		struct uvfio_device_info di;
		struct uvfio_region_info ri;
		struct vfio_irq_info ii;
		uvfio_client_device_info(c, &di);
		if (uvfio_client_region_info(c, 1, &ri) == 0)
			uvfio_region_info_release(&ri);
		uvfio_client_irq_info(c, 0, &ii);
		uvfio_client_region_read(c, 0, 0, buf, 8);
		uvfio_client_region_write_posted(c, 0, 0, buf, 4);
		uvfio_client_flush(c);
		struct uvfio_io_fds io;
		if (uvfio_client_region_io_fds(c, 0, &io) == 0)
			uvfio_io_fds_release(&io);
		uint32_t st;
		uvfio_client_mig_state_get(c, &st);
		uvfio_client_mig_data_read(c, buf, sizeof(buf));
		while (uvfio_client_dispatch(c) > 0)
			;
		uvfio_client_close(c);
	}
	close(sv[0]);
	if (efd >= 0)
		close(efd);
	if (count_fds() != fds_before)
		abort();
	return 0;
}
