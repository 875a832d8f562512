/*
 * version.c - the version compiled into the library. The macros come from the generated
 * cashews/version.h, so the answer is the one CMake's project(VERSION) gave this build; a
 * program compares it with the macros of the headers it was compiled against.
 */
#include "core/internal.h"

const char *cw_version(void) { return CW_VERSION; }

int cw_version_number(void) { return CW_VERSION_NUMBER; }
