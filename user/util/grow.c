// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include "util/grow.h"

int grow_array(void **arr, size_t *cap, size_t need, size_t size, size_t first, size_t max)
{
	size_t ncap = *cap ? *cap : first;
	void *p;

	if (need <= *cap)
		return 0;
	if (!ncap)
		ncap = 1;
	while (ncap < need) {
		if (ncap > max / 2)
			return -ENOMEM;
		ncap *= 2;
	}
	if (ncap > max || (size && ncap > SIZE_MAX / size))
		return -ENOMEM;
	p = realloc(*arr, ncap * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}
