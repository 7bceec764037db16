/* SPDX-License-Identifier: BSD-3-Clause */
/* backend.c - the namespace's storage: an image (regular file or block
 * device) or anonymous memory. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nvme.h"

void dev_log_line(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int nvme_backend_open_file(struct nvme_backend *b, const char *path, unsigned lba_size)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | (b->size ? O_CREAT : 0), 0644);
	if (fd < 0)
		return -errno;
	struct stat st;
	uint64_t size;
	if (fstat(fd, &st) < 0)
		goto err;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) < 0)
			goto err;
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
		if (b->size && size == 0) {
			/* --file with --size: a new (empty) image of that size */
			if (ftruncate(fd, (off_t)b->size) < 0)
				goto err;
			size = b->size;
		}
	} else {
		close(fd);
		return -EINVAL;
	}
	if (b->size && size != b->size) {
		dev_log_line(UVFIO_LOG_ERR, "%s holds %llu bytes, not the %llu of --size", path,
			     (unsigned long long)size, (unsigned long long)b->size);
		close(fd);
		return -EINVAL;
	}
	size -= size % lba_size;
	if (!size) {
		close(fd);
		return -ENOSPC;
	}
	b->size = size;
	b->fd = fd;
	b->mem = NULL;
	b->uring = true;
	return 0;
err:;
	int e = -errno;
	close(fd);
	return e;
}

int nvme_backend_open_mem(struct nvme_backend *b, uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	b->mem = p;
	b->size = size;
	b->fd = -1;
	b->uring = false;
	return 0;
}

void nvme_backend_close(struct nvme_backend *b)
{
	if (b->mem)
		munmap(b->mem, b->size);
	if (b->fd >= 0)
		close(b->fd);
	b->mem = NULL;
	b->fd = -1;
}
