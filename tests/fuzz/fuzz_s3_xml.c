// SPDX-License-Identifier: MIT
// libFuzzer target for the S3 response reader (host/s3/s3_xml.c): any bytes must parse or
// fail with LF_ERR_CORRUPT and an "invalid XML at byte N" message, never crash, overread or
// allocate without bound; a parsed tree must be self-consistent (every child lookup lands on
// an element of that name, texts are NUL-terminated at their length); and the document
// parsers (error, listing, upload id) must accept or reject without crashing, leaving no
// entry half-built. Seeds: tests/fuzz/seeds/s3_xml/.
//   ./fuzz_s3_xml -max_total_time=60 corpus/ tests/fuzz/seeds/s3_xml/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "s3/s3_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_tree(const lf_s3_xml *x)
{
  size_t n = lf_s3_xml_count(x);
  if (n == 0) {
    abort();
  }
  for (size_t i = 0; i < n; i++) {
    const char *name = lf_s3_xml_name(x, (int)i);
    size_t len = 0;
    const char *text = lf_s3_xml_text(x, (int)i, &len);
    if (name == NULL || name[0] == '\0' || text == NULL || text[len] != '\0') {
      abort();
    }
    // The first child of that name, if found, has that name and comes after its parent.
    int c = lf_s3_xml_child(x, (int)i, name, -1);
    if (c >= 0 && ((size_t)c <= i || strcmp(lf_s3_xml_name(x, c), name) != 0)) {
      abort();
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  lf_err err = {0};
  lf_s3_xml *x = lf_s3_xml_parse(text, size, &err);
  if (x != NULL) {
    check_tree(x);
    lf_s3_xml_free(x);
  } else if (err.code != LF_ERR_CORRUPT || strncmp(err.msg, "invalid XML at byte ", 20) != 0) {
    abort();
  }
  lf_s3_error_doc doc;
  (void)lf_s3_parse_error(text, size, &doc);
  if (memchr(doc.code, '\0', sizeof(doc.code)) == NULL) {
    abort();
  }
  for (int encoded = 0; encoded < 2; encoded++) {
    lf_s3_list l = {0};
    char *token = NULL;
    lf_err lerr = {0};
    lf_status st = lf_s3_parse_list(text, size, encoded, &l, &token, &lerr);
    if (st != LF_OK && (st != LF_ERR_CORRUPT || token != NULL)) {
      abort();
    }
    for (size_t i = 0; i < l.n; i++) {
      if (l.items[i].key == NULL || (!l.items[i].is_prefix && l.items[i].etag == NULL)) {
        abort();
      }
      if (i > 0 && strcmp(l.items[i - 1].key, l.items[i].key) > 0) {
        abort(); // one page comes out in key order
      }
    }
    lf_free(token);
    lf_s3_list_free(&l);
  }
  char *id = NULL;
  lf_err uerr = {0};
  if (lf_s3_parse_upload_id(text, size, &id, &uerr) == LF_OK && (id == NULL || id[0] == '\0')) {
    abort();
  }
  lf_free(id);
  return 0;
}
