/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Live heap bytes of the library and the test, exactly: a test program
 * linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free
 * counts every allocation (mallinfo cannot: glibc's thread cache keeps
 * freed chunks looking used).
 */
#include <malloc.h>
#include <stddef.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

static long live;

long heap_live(void)
{
	return __atomic_load_n(&live, __ATOMIC_RELAXED);
}

static void *count(void *p)
{
	if (p)
		__atomic_add_fetch(&live, (long)malloc_usable_size(p), __ATOMIC_RELAXED);
	return p;
}

void *__wrap_malloc(size_t n)
{
	return count(__real_malloc(n));
}

void *__wrap_calloc(size_t n, size_t m)
{
	return count(__real_calloc(n, m));
}

void *__wrap_realloc(void *p, size_t n)
{
	long old = p ? (long)malloc_usable_size(p) : 0;
	void *q = __real_realloc(p, n);
	if (q || !n)
		__atomic_sub_fetch(&live, old, __ATOMIC_RELAXED);
	return count(q);
}

void __wrap_free(void *p)
{
	if (p)
		__atomic_sub_fetch(&live, (long)malloc_usable_size(p), __ATOMIC_RELAXED);
	__real_free(p);
}
