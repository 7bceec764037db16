/* SPDX-License-Identifier: BSD-3-Clause */
/* `uvfio lspci` held to a guest's own lspci (lspci_guest.c). */
#ifndef UVFIO_TEST_LSPCI_GUEST_H
#define UVFIO_TEST_LSPCI_GUEST_H

/* Compare the tool's output for a device (host) with what lspci printed for
 * it inside a guest, line by line, after the named rules take out what the
 * guest assigned. Returns NULL when they match, else a message (malloc'ed)
 * naming the first line that differs and why. */
char *lg_compare(const char *host, const char *guest);

#endif
