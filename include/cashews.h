/* SPDX-License-Identifier: MIT */
/*
 * cashews.h - libcashews, the cashews cache framework for C.
 *
 * One include gives the whole public API:
 *   cashews/common.h   status codes, cw_value, allocators, clocks, TTL parsing, globs
 *   cashews/backend.h  the backend interface and URL helpers (for backend authors)
 *   cashews/cache.h    the cache instance and its commands
 *   cashews/func.h     cached functions: strategies, key templates, tags, detect
 *   cashews/disk.h     disk:// extras (eviction callback)
 *   cashews/inspect.h  what stored bytes are made of (signature, compression, envelope)
 *   cashews/http.h     HTTP helpers: ETag, Cache-Control, Clear-Site-Data, cached streams
 * Link with -lcashews (pkg-config cashews, or find_package(cashews) in CMake).
 */
#ifndef CASHEWS_H
#define CASHEWS_H

#include "cashews/common.h"
#include "cashews/backend.h"
#include "cashews/cache.h"
#include "cashews/func.h"
#include "cashews/disk.h"
#include "cashews/inspect.h"
#include "cashews/http.h"

#endif /* CASHEWS_H */
