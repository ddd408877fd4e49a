// SPDX-License-Identifier: MIT
// This file contains the bucket-level requests: ListObjectsV2 followed page by page through
// its continuation tokens, and CreateBucket.
#include <string.h>

#include "core/alloc.h"
#include "s3/s3_internal.h"
#include "s3/s3_xml.h"

lf_status lf_s3_list_objects(lf_s3 *s3, const char *bucket, const char *prefix,
                             const char *delimiter, size_t limit, lf_s3_list *out, lf_err *err)
{
  memset(out, 0, sizeof(*out));
  char *token = NULL;
  lf_status st = LF_OK;
  do {
    s3_xfer *x = lf_s3_xfer_new("list", "GET", bucket, NULL);
    lf_s3_xfer_query(x, "list-type", "2");
    // Keys come back percent-encoded, so any byte in a key survives the XML.
    lf_s3_xfer_query(x, "encoding-type", "url");
    if (prefix != NULL && prefix[0] != '\0') {
      lf_s3_xfer_query(x, "prefix", prefix);
    }
    if (delimiter != NULL && delimiter[0] != '\0') {
      lf_s3_xfer_query(x, "delimiter", delimiter);
    }
    if (token != NULL) {
      lf_s3_xfer_query(x, "continuation-token", token);
    }
    st = lf_s3_run_one(s3, x);
    lf_free(token);
    token = NULL;
    if (st == LF_OK) {
      lf_err perr = {0};
      st = lf_s3_parse_list(x->body.data, x->body.len, true, out, &token, &perr);
      if (st != LF_OK) {
        LF_ERR(err, st, "cannot list 's3://%s/%s' (%s)", bucket, prefix != NULL ? prefix : "",
               perr.msg);
      }
    } else {
      LF_ERR(err, st, "%s", x->err.msg);
    }
    lf_s3_xfer_free(x);
  } while (st == LF_OK && token != NULL && (limit == 0 || out->n < limit));
  lf_free(token);
  if (st != LF_OK) {
    lf_s3_list_free(out);
    return st;
  }
  while (limit > 0 && out->n > limit) {
    lf_s3_entry *e = &out->items[--out->n];
    lf_free(e->key);
    lf_free(e->etag);
  }
  return LF_OK;
}

void lf_s3_list_free(lf_s3_list *l)
{
  if (l == NULL) {
    return;
  }
  for (size_t i = 0; i < l->n; i++) {
    lf_free(l->items[i].key);
    lf_free(l->items[i].etag);
  }
  lf_free(l->items);
  memset(l, 0, sizeof(*l));
}

lf_status lf_s3_create_bucket(lf_s3 *s3, const char *bucket, lf_err *err)
{
  s3_xfer *x = lf_s3_xfer_new("create bucket", "PUT", bucket, NULL);
  char *body = NULL;
  const char *region = lf_s3_region(s3);
  if (strcmp(region, "us-east-1") != 0) {
    // Outside us-east-1 the region goes in the body.
    body = lf_xasprintf("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/"
                        "2006-03-01/\"><LocationConstraint>%s</LocationConstraint>"
                        "</CreateBucketConfiguration>",
                        region);
    x->has_body = true;
    x->src_mem = body;
    x->src_len = strlen(body);
  }
  lf_status st = lf_s3_run_one(s3, x);
  if (st != LF_OK && strcmp(x->s3_code, "BucketAlreadyOwnedByYou") == 0) {
    st = LF_OK;
  } else if (st != LF_OK) {
    LF_ERR(err, st, "%s", x->err.msg);
  }
  lf_s3_xfer_free(x);
  lf_free(body);
  return st;
}
