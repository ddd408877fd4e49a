// SPDX-License-Identifier: MIT
// This file contains the blocking one-shot HTTP request used by the credential providers.
#include "aws/aws_http.h"

#include <curl/curl.h>
#include <string.h>

#include "core/alloc.h"
#include "core/dynbuf.h"

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
  lf_dynbuf *b = ud;
  size_t n = size * nmemb;
  return lf_dynbuf_add(b, ptr, n) ? n : 0;
}

lf_status lf_aws_http_fetch(const char *method, const char *url, const char *const *headers,
                            long timeout_ms, size_t max, lf_aws_http_resp *out, lf_err *err)
{
  memset(out, 0, sizeof(*out));
  CURL *c = curl_easy_init();
  if (c == NULL) {
    return LF_ERR(err, LF_ERR_NOMEM, "cannot create an HTTP handle");
  }
  struct curl_slist *hl = NULL;
  for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
    hl = curl_slist_append(hl, headers[i]);
  }
  lf_dynbuf body;
  lf_dynbuf_init(&body, max);
  char errbuf[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (strcmp(method, "HEAD") == 0) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  }
  if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
    // An empty body, sent as such (IMDSv2's token request is a PUT without one).
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); // credential endpoints are link-local or loopback
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(c);
  lf_status st = LF_OK;
  if (rc == CURLE_WRITE_ERROR) {
    st = LF_ERR(err, LF_ERR_IO, "the response of '%s' is larger than %zu bytes", url, max);
  } else if (rc != CURLE_OK) {
    st = LF_ERR(err, LF_ERR_IO, "cannot reach '%s' (%s)", url,
                errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
  } else {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    out->body = lf_dynbuf_take(&body, &out->len);
  }
  lf_dynbuf_free(&body);
  curl_slist_free_all(hl);
  curl_easy_cleanup(c);
  return st;
}
