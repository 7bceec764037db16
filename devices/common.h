/* SPDX-License-Identifier: BSD-3-Clause */
/* What the sample devices share: command line, logging, signals. */
#ifndef UVFIO_DEVICES_COMMON_H
#define UVFIO_DEVICES_COMMON_H

#include "uvfio/server.h"

/* Users and groups one device may list in --allow-uid / --allow-gid. */
#define DEV_MAX_IDS 64

struct dev_args {
	const char *socket_path; /* --socket-path=PATH or the first argument */
	int fd;                  /* --fd=N, or -1 */
	int listen_fd;           /* a listening socket handed over (LISTEN_FDS), or -1 */
	int log_level;           /* -v raises it; --log-level=N sets it */
	enum uvfio_dma_layout dma_layout; /* --dma-layout=auto|spec|qemu */
	uint32_t poll_us;                 /* --poll-us=US, 0: off */
	/* --vendor, --device, --subsystem-vendor, --subsystem-id, --class,
	 * --revision over the device's own defaults */
	struct uvfio_pci_id id;
	/* --allow-uid, --allow-gid, --socket-mode, --socket-group; the lists
	 * point into uids and gids */
	struct uvfio_server_access access;
	uid_t uids[DEV_MAX_IDS];
	gid_t gids[DEV_MAX_IDS];
};

/* Parse the backend conventions of the specification (--socket-path,
 * --fd, or a listening socket handed over by socket activation), logging,
 * --dma-layout, --poll-us, the PCI identity (starting from the device's
 * @id) and who may connect; exits with a usage message on error. */
void dev_parse_args(int argc, char **argv, const char *name, const char *what,
		    const struct uvfio_pci_id *id, struct dev_args *a);
/* The device's log configuration: lines to stderr prefixed with its name. */
struct uvfio_log_config dev_log(const char *name, int level);
/* Listen (on the path or the socket handed over; or adopt), serve until
 * SIGINT/SIGTERM (or until an adopted client leaves). The caller then destroys the server, which removes the
 * socket file. Returns the exit status. */
int dev_serve(struct uvfio_server *s, const struct dev_args *a, const char *name);
/* The error (ERR) and request (REQ) interrupts, one each, as libvfio-user's
 * devices have them: QEMU wires both (and warns "Could not enable error
 * recovery for the device" without ERR). A device raises them with
 * uvfio_server_irq_trigger(). */
int dev_setup_err_req(struct uvfio_server *s);
/* Log a line at a level, through the same hook. */
void dev_log_line(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
