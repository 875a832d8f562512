/*
 * http_int.h - what the two files of the HTTP helper share (never installed):
 *   http_parse.c  the header parsers and the ETag hash
 *   http.c        the helper and its exchanges
 */
#ifndef CW_HTTP_INT_H
#define CW_HTTP_INT_H

#include <openssl/evp.h>

#include "core/internal.h"

/* A running ETag hash: SHA-256 over the bytes given, rendered as CW_HTTP_ETAG_SIZE text. */
typedef struct cw__http_hash {
    EVP_MD_CTX *ctx; /* NULL until started */
} cw__http_hash;

/* Start a hash with @md (NULL: EVP_sha256()). Return CW_OK or CW_ENOMEM. */
cw_status cw__http_hash_start(cw__http_hash *hh, const EVP_MD *md);
cw_status cw__http_hash_add(cw__http_hash *hh, const void *data, size_t len);
/* Write the ETag of everything added and release the context. */
cw_status cw__http_hash_end(cw__http_hash *hh, char etag[CW_HTTP_ETAG_SIZE]);
/* Release without a result (NULL context: nothing). */
void cw__http_hash_drop(cw__http_hash *hh);

#endif
