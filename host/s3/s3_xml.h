// SPDX-License-Identifier: MIT
// A small, strict, bounded XML reader for S3's responses (ListObjectsV2, errors, multipart),
// and the parsers of those documents. It reads elements, attributes (skipped), character
// data with the five predefined entities and numeric references, CDATA, comments and
// processing instructions; it refuses DOCTYPE (so no entity expansion), mismatched tags,
// nesting deeper than LF_S3_XML_MAX_DEPTH and more than LF_S3_XML_MAX_NODES elements.
// Element names are stored without a namespace prefix. Fuzzed by tests/fuzz/fuzz_s3_xml.c.
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "s3/s3.h"

#define LF_S3_XML_MAX_DEPTH 64
#define LF_S3_XML_MAX_NODES 1000000

/// A parsed document. Opaque; element 0 is the root.
typedef struct lf_s3_xml lf_s3_xml;

/// Parses a document.
/// @return the tree (free with lf_s3_xml_free), or NULL with LF_ERR_CORRUPT
///         ("invalid XML at byte 12: mismatched end tag </b> for <a>")
lf_s3_xml *lf_s3_xml_parse(const char *text, size_t len, lf_err *err);
void lf_s3_xml_free(lf_s3_xml *x);
/// Number of elements.
size_t lf_s3_xml_count(const lf_s3_xml *x);
/// The name of element `node` (without prefix). Borrowed.
const char *lf_s3_xml_name(const lf_s3_xml *x, int node);
/// The element's own character data (entities decoded, NUL-terminated). Borrowed.
const char *lf_s3_xml_text(const lf_s3_xml *x, int node, size_t *len);
/// The next child of `parent` named `name` after child `after` (-1: the first one).
/// @return its index, or -1
int lf_s3_xml_child(const lf_s3_xml *x, int parent, const char *name, int after);
/// The text of the first child `name` of `parent`, or NULL. Borrowed.
const char *lf_s3_xml_child_text(const lf_s3_xml *x, int parent, const char *name);

/// An S3 <Error> document's fields (truncated to fit; empty when absent).
typedef struct lf_s3_error_doc {
  char code[64];
  char message[256];
  char region[64];   ///< <Region>, sent with redirects
  char endpoint[128]; ///< <Endpoint>, sent with PermanentRedirect
} lf_s3_error_doc;

/// Reads an <Error> document. @return false if `body` is not one
bool lf_s3_parse_error(const char *body, size_t len, lf_s3_error_doc *out);

/// Appends the entries of one ListObjectsV2 page to `out`. With `url_encoded` (the request
/// asked for encoding-type=url), keys and prefixes are percent-decoded.
/// @param[out] next_token the NextContinuationToken when the page is truncated, else NULL;
///             caller frees with lf_free
/// @return LF_OK or LF_ERR_CORRUPT (not XML, not a ListBucketResult, bad size or encoding,
///         truncated without a token)
lf_status lf_s3_parse_list(const char *body, size_t len, bool url_encoded, lf_s3_list *out,
                           char **next_token, lf_err *err);

/// The UploadId of an InitiateMultipartUploadResult. @param[out] id caller frees with lf_free
lf_status lf_s3_parse_upload_id(const char *body, size_t len, char **id, lf_err *err);
