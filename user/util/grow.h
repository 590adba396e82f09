/* SPDX-License-Identifier: MIT */
/* The one growable array: room for more elements, doubling. */
#ifndef APS_GROW_H
#define APS_GROW_H

#include <stddef.h>

/*
 * Room for need elements of size bytes in *arr, whose capacity is *cap:
 * the capacity doubles from first (or from *cap) until need fits, never
 * past max. 0, or -ENOMEM with *arr and *cap unchanged.
 */
int grow_array(void **arr, size_t *cap, size_t need, size_t size, size_t first, size_t max);

/* grow_array() on an array and its capacity of any unsigned type. */
#define GROW(arr, capv, need, first) __extension__ ({				\
	void *grow_p_ = (arr);							\
	size_t grow_c_ = (capv);						\
	int grow_e_ = grow_array(&grow_p_, &grow_c_, (need), sizeof(*(arr)), (first), \
				 (size_t)(__typeof__(capv))-1);			\
	if (!grow_e_) {								\
		(arr) = grow_p_;						\
		(capv) = (__typeof__(capv))grow_c_;				\
	}									\
	grow_e_; })

#endif
