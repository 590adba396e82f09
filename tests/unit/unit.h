/* SPDX-License-Identifier: MIT */
/*
 * A tiny single-header unit-test helper. One test binary per
 * tests/unit/<folder>/test_<module>.c file:
 *
 *	#include "unit.h"
 *
 *	TEST(parse_maps_line)
 *	{
 *		CHECK(parse(...) == 0);
 *		CHECK_EQ_INT(m.start, 0x1000);
 *		CHECK_EQ_STR(m.path, "/usr/bin/python3");
 *		REQUIRE(p != NULL);   // like CHECK, but ends this test on failure
 *	}
 *
 *	UNIT_MAIN()
 *
 * Failed checks print file:line and the values, and the test goes on.
 * A test passes when none of its checks failed. The binary prints
 * `N passed, N failed` (counts of tests) as its last line and exits 1 if
 * any test failed. `./test_x NAME` runs only the tests whose name contains
 * NAME. tests/unit/run.sh sums the lines of several binaries.
 */
#ifndef APS_UNIT_H
#define APS_UNIT_H

#include <stdio.h>
#include <string.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
	struct unit_test *next;
};

static struct unit_test *unit_head_, *unit_tail_;
static int unit_fails_;   /* failed checks in the running test */

static inline void unit_register_(struct unit_test *t)
{
	if (unit_tail_)
		unit_tail_->next = t;
	else
		unit_head_ = t;
	unit_tail_ = t;
}

static inline void unit_fail_(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
	unit_fails_++;
}

/* Define a test. Tests run in the order they are defined. */
#define TEST(name)                                                           \
	static void unit_test_##name(void);                                  \
	__attribute__((constructor)) static void unit_reg_##name(void)       \
	{                                                                    \
		static struct unit_test t = { #name, unit_test_##name, 0 };  \
		unit_register_(&t);                                          \
	}                                                                    \
	static void unit_test_##name(void)

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond))                                                 \
			unit_fail_(__FILE__, __LINE__, #cond);               \
	} while (0)

/* Like CHECK, but returns from the test on failure (e.g. before a deref). */
#define REQUIRE(cond)                                                        \
	do {                                                                 \
		if (!(cond)) {                                               \
			unit_fail_(__FILE__, __LINE__, "REQUIRE(" #cond ")");\
			return;                                              \
		}                                                            \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                   \
	do {                                                                 \
		long long unit_a_ = (long long)(a), unit_b_ = (long long)(b);\
		if (unit_a_ != unit_b_) {                                    \
			fprintf(stderr,                                      \
				"%s:%d: check failed: %s == %s: "            \
				"%lld (0x%llx) != %lld (0x%llx)\n",          \
				__FILE__, __LINE__, #a, #b, unit_a_,         \
				(unsigned long long)unit_a_, unit_b_,        \
				(unsigned long long)unit_b_);                \
			unit_fails_++;                                       \
		}                                                            \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                   \
	do {                                                                 \
		const char *unit_a_ = (a), *unit_b_ = (b);                   \
		if (!unit_a_ || !unit_b_ ? unit_a_ != unit_b_                \
					 : strcmp(unit_a_, unit_b_) != 0) {  \
			fprintf(stderr,                                      \
				"%s:%d: check failed: %s == %s: "            \
				"\"%s\" != \"%s\"\n",                        \
				__FILE__, __LINE__, #a, #b,                  \
				unit_a_ ? unit_a_ : "(null)",                \
				unit_b_ ? unit_b_ : "(null)");               \
			unit_fails_++;                                       \
		}                                                            \
	} while (0)

/* Run the registered tests (those matching argv[1], if given). */
static inline int unit_main(int argc, char **argv)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	int passed = 0, failed = 0;

	for (struct unit_test *t = unit_head_; t; t = t->next) {
		if (filter && !strstr(t->name, filter))
			continue;
		unit_fails_ = 0;
		t->fn();
		fflush(stderr);
		if (unit_fails_) {
			printf("FAIL %s\n", t->name);
			failed++;
		} else {
			printf("ok   %s\n", t->name);
			passed++;
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#define UNIT_MAIN()                                                          \
	int main(int argc, char **argv)                                      \
	{                                                                    \
		return unit_main(argc, argv);                                \
	}

#endif /* APS_UNIT_H */
