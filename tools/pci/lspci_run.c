/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lspci_run.c — the system's lspci decodes a vfio-user device.
 *
 * lspci reads a configuration-space dump with -F, but a dump carries no
 * region sizes, and lspci prints BARs from a dump differently from a real
 * device: it drops a BAR whose register is all zero (an unassigned 32-bit
 * memory BAR), prints "<unassigned>" where the kernel's view gives
 * "<ignored>", and shows I/O-space bits of unimplemented BARs as regions.
 * So the device is presented instead the way a guest's kernel presents it:
 * a private sysfs tree (lspci -A linux-sysfs -O sysfs.path=DIR) holding the
 * configuration space, the ids, the interrupt line and one "resource" line
 * per BAR and ROM with the sizes from REGION_INFO. lspci then prints every
 * line, sizes included, with its own code for real devices.
 *
 * lspci's stderr passes through a pipe: with -v it looks up the kernel
 * modules of the host's kernel (libkmod) for every device, and where the host
 * has none (a container) it says so on every run, "lspci: Unable to load
 * libkmod resources: error -2". The private tree names no module, so that
 * line is about nothing the user asked; it is dropped, every other line is
 * passed on.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tool.h"

extern char **environ;

#define SLOT "0000:00:00.0"
static const char *const files[] = { "config",	     "vendor",		 "device",
				     "class",	     "revision",	 "subsystem_vendor",
				     "subsystem_device", "irq",		 "resource" };

static int put(const char *dir, const char *name, const void *data, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, data, len);
	int r = n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
	close(fd);
	return r;
}

static int putf(const char *dir, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int putf(const char *dir, const char *name, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return put(dir, name, buf, (size_t)n);
}

/* The files the kernel has for a PCI device, as far as lspci reads them. */
static int write_tree(const char *dev, const uint8_t *cfg, size_t len, const uint64_t *sizes)
{
	struct tool_pci_ids d;
	tool_pci_ids_from_config(cfg, len, &d);
	int r = put(dev, "config", cfg, len);
	if (!r)
		r = putf(dev, "vendor", "0x%04x\n", d.vendor);
	if (!r)
		r = putf(dev, "device", "0x%04x\n", d.device);
	if (!r)
		r = putf(dev, "class", "0x%02x%02x%02x\n", d.base_class, d.sub_class, d.prog_if);
	if (!r)
		r = putf(dev, "revision", "0x%02x\n", d.revision);
	if (!r && d.subsys_vendor >= 0)
		r = putf(dev, "subsystem_vendor", "0x%04x\n", d.subsys_vendor);
	if (!r && d.subsys_vendor >= 0)
		r = putf(dev, "subsystem_device", "0x%04x\n", d.subsys_device);
	/* a guest's kernel reports the IRQ it routed; the device has only its line */
	if (!r)
		r = putf(dev, "irq", "%u\n", len > 0x3c ? cfg[0x3c] : 0);
	char res[7 * 64] = "", *p = res;
	for (unsigned i = 0; i < TOOL_NR_BAR_SIZES; i++) {
		struct tool_resource rs;
		tool_bar_resource(cfg, len, i, sizes[i], &rs);
		uint64_t end = rs.size ? rs.start + rs.size - 1 : 0;
		p += sprintf(p, "0x%016llx 0x%016llx 0x%016llx\n", (unsigned long long)rs.start,
			     (unsigned long long)end, (unsigned long long)rs.flags);
	}
	if (!r)
		r = put(dev, "resource", res, (size_t)(p - res));
	return r;
}

/* lspci's complaint that the host's kernel modules cannot be read (above) */
static const char kmod_noise[] = "lspci: Unable to load libkmod resources:";

/* Copy lspci's stderr (fd) to ours line by line, without kmod_noise. */
static void pass_stderr(int fd)
{
	FILE *in = fdopen(fd, "r");
	if (!in) {
		close(fd);
		return;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, in)) > 0)
		if (strncmp(line, kmod_noise, sizeof(kmod_noise) - 1))
			fwrite(line, 1, (size_t)n, stderr);
	free(line);
	fclose(in);
}

static void remove_tree(const char *root, const char *dev)
{
	char path[512];
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dev, files[i]);
		unlink(path);
	}
	rmdir(dev);
	snprintf(path, sizeof(path), "%s/devices", root);
	rmdir(path);
	rmdir(root);
}

int tool_lspci_run(const uint8_t *cfg, size_t len, const uint64_t *sizes,
		   const char *const *args, int out_fd, char *err, size_t errlen)
{
	const char *tmp = getenv("TMPDIR");
	char root[256], dev[384], devices[300], opt[300];
	snprintf(root, sizeof(root), "%s/uvfio-lspci-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		snprintf(err, errlen, "cannot make a directory for lspci in %s: %s",
			 tmp && *tmp ? tmp : "/tmp", strerror(errno));
		return -1;
	}
	snprintf(devices, sizeof(devices), "%s/devices", root);
	snprintf(dev, sizeof(dev), "%s/" SLOT, devices);
	int r = mkdir(devices, 0700) < 0 || mkdir(dev, 0700) < 0 ? -errno : 0;
	if (!r)
		r = write_tree(dev, cfg, len, sizes);
	if (r < 0) {
		snprintf(err, errlen, "cannot write the device's files for lspci in %s: %s", root,
			 strerror(-r));
		remove_tree(root, dev);
		return -1;
	}
	snprintf(opt, sizeof(opt), "sysfs.path=%s", root);
	const char *argv[32] = { "lspci", "-A", "linux-sysfs", "-O", opt };
	size_t n = 5;
	const char *ids = getenv("UVFIO_PCI_IDS");
	if (ids) { /* the names `uvfio info` uses; an empty value means none */
		argv[n++] = "-i";
		argv[n++] = *ids ? ids : "/dev/null";
	}
	for (size_t i = 0; args && args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	int errp[2];
	if (pipe2(errp, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "cannot make a pipe for lspci: %s", strerror(errno));
		remove_tree(root, dev);
		return -1;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (out_fd != STDOUT_FILENO)
		posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, errp[1], STDERR_FILENO);
	pid_t pid;
	r = posix_spawnp(&pid, "lspci", &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(errp[1]);
	if (!r)
		pass_stderr(errp[0]);
	else
		close(errp[0]);
	int status = -1;
	if (r == ENOENT) {
		snprintf(err, errlen,
			 "lspci is not installed: it comes with Debian's pciutils package "
			 "(apt-get install pciutils)");
	} else if (r) {
		snprintf(err, errlen, "cannot run lspci: %s", strerror(r));
	} else {
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
	remove_tree(root, dev);
	return status;
}
