/*
 * suite.h - the shared backend command suite: every basic and internal command, run through
 * the public cache API against one backend URL. Each backend's test binary runs it:
 *
 *   cw_fake_clock clk; cw_fake_clock_init(&clk);
 *   cw_suite_configure("mem://?size=10000", &clk);         // NULL clock: real time
 *   return cw_test_main_with_suite(my_tests, argc, argv);  // suite tests + the backend's own
 *
 * With a fake clock expiry is tested by moving it; with real time (Redis keeps its own
 * clock) by short TTLs and the shortest sleeps that prove them.
 */
#ifndef CW_SUITE_H
#define CW_SUITE_H

#include "cw_test.h"

/* Set the URL (copied) and clock (borrowed, may be NULL) the suite runs against. */
void cw_suite_configure(const char *url, cw_fake_clock *clock);
/* extra setup params (NULL-terminated name, value list; borrowed) for every suite cache. */
void cw_suite_params(const char *const *params);
/* A fresh cache on the configured URL, cleared. NULL (with a message) on failure. */
cw_cache *cw_suite_cache(void);
/* The suite's tests, terminated by {0}. */
extern const cw_test cw_suite_tests[];
/* Run the suite's tests then @own (both filtered by argv names). */
int cw_test_main_with_suite(const cw_test *own, int argc, char **argv);

#endif
