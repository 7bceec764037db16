/* SPDX-License-Identifier: BSD-3-Clause */
/* names.c — printable names of commands and errors. */
#include <string.h>

#include "internal.h"

static const char *const cmd_names[UVFIO_CMD_MAX] = {
	[UVFIO_CMD_VERSION] = "VERSION",
	[UVFIO_CMD_DMA_MAP] = "DMA_MAP",
	[UVFIO_CMD_DMA_UNMAP] = "DMA_UNMAP",
	[UVFIO_CMD_DEVICE_GET_INFO] = "DEVICE_GET_INFO",
	[UVFIO_CMD_DEVICE_GET_REGION_INFO] = "DEVICE_GET_REGION_INFO",
	[UVFIO_CMD_DEVICE_GET_REGION_IO_FDS] = "DEVICE_GET_REGION_IO_FDS",
	[UVFIO_CMD_DEVICE_GET_IRQ_INFO] = "DEVICE_GET_IRQ_INFO",
	[UVFIO_CMD_DEVICE_SET_IRQS] = "DEVICE_SET_IRQS",
	[UVFIO_CMD_REGION_READ] = "REGION_READ",
	[UVFIO_CMD_REGION_WRITE] = "REGION_WRITE",
	[UVFIO_CMD_DMA_READ] = "DMA_READ",
	[UVFIO_CMD_DMA_WRITE] = "DMA_WRITE",
	[UVFIO_CMD_DEVICE_RESET] = "DEVICE_RESET",
	[UVFIO_CMD_REGION_WRITE_MULTI] = "REGION_WRITE_MULTI",
	[UVFIO_CMD_DEVICE_FEATURE] = "DEVICE_FEATURE",
	[UVFIO_CMD_MIG_DATA_READ] = "MIG_DATA_READ",
	[UVFIO_CMD_MIG_DATA_WRITE] = "MIG_DATA_WRITE",
};

const char *uvfio_cmd_name(unsigned cmd)
{
	if (cmd < UVFIO_CMD_MAX && cmd_names[cmd])
		return cmd_names[cmd];
	return "UNKNOWN";
}

const char *uvfio_strerror(int err)
{
	if (err > 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case -ECONNRESET:
		return "connection to the peer was lost";
	case -EPROTO:
		return "peer broke the vfio-user protocol";
	case -ETIMEDOUT:
		return "peer did not answer in time";
	case -EMSGSIZE:
		return "message larger than the negotiated maximum";
	case -ESHUTDOWN:
		return "connection is closed";
	default:
		{
		const char *s = strerrordesc_np(-err); /* unlike strerror(), thread-safe */
		return s ? s : "unknown error";
	}
	}
}
