/* SPDX-License-Identifier: BSD-3-Clause */
#include "conform.h"
const struct cf_check cf_client_checks[] = { { "x", "x", "x", NULL, 0 } };
const size_t cf_n_client_checks = 0;
int cf_client_accept(struct cf_run *r, struct cf_conn *c) { (void)r; (void)c; return -1; }
