# SPDX-License-Identifier: BSD-3-Clause
"""Numbers of the vfio-user protocol and <linux/vfio.h> that a caller passes
or reads back: region and interrupt indexes, flags."""

# Region indexes of a PCI device
REGION_BAR0, REGION_BAR1, REGION_BAR2, REGION_BAR3, REGION_BAR4, REGION_BAR5 = range(6)
REGION_ROM = 6
REGION_CONFIG = 7
REGION_VGA = 8

# Interrupt types of a PCI device
IRQ_INTX, IRQ_MSI, IRQ_MSIX, IRQ_ERR, IRQ_REQ = range(5)

# DeviceInfo.flags
DEVICE_FLAGS_RESET = 1 << 0
DEVICE_FLAGS_PCI = 1 << 1

# RegionInfo.flags
REGION_FLAG_READ = 1 << 0
REGION_FLAG_WRITE = 1 << 1
REGION_FLAG_MMAP = 1 << 2
REGION_FLAG_CAPS = 1 << 3

# IrqInfo.flags
IRQ_INFO_EVENTFD = 1 << 0
IRQ_INFO_MASKABLE = 1 << 1
IRQ_INFO_AUTOMASKED = 1 << 2
IRQ_INFO_NORESIZE = 1 << 3

# Client.set_irqs() flags: one DATA_* and one ACTION_*
IRQ_SET_DATA_NONE = 1 << 0
IRQ_SET_DATA_BOOL = 1 << 1
IRQ_SET_DATA_EVENTFD = 1 << 2
IRQ_SET_ACTION_MASK = 1 << 3
IRQ_SET_ACTION_UNMASK = 1 << 4
IRQ_SET_ACTION_TRIGGER = 1 << 5

# What a device may do with client memory (Client.dma_map)
DMA_READ = 1 << 0
DMA_WRITE = 1 << 1

# Client.feature() flags, with a feature index in the low 16 bits
FEATURE_GET = 1 << 16
FEATURE_SET = 1 << 17
FEATURE_PROBE = 1 << 18

# Migration states (Client.mig_state)
MIG_STATE_ERROR = 0
MIG_STATE_STOP = 1
MIG_STATE_RUNNING = 2
MIG_STATE_STOP_COPY = 3
MIG_STATE_RESUMING = 4
MIG_STATE_RUNNING_P2P = 5
