// SPDX-License-Identifier: MIT
// A small blocking HTTP client on libcurl for the credential endpoints (ECS container
// credentials, EC2 instance metadata): one request, a short timeout, a bounded response.
// Bulk transfers do not use this; s3/ drives libcurl's multi interface itself.
#pragma once

#include <stddef.h>

#include "core/err.h"

/// A response. Free `body` with lf_free.
typedef struct lf_aws_http_resp {
  long status;   ///< HTTP status, 0 if no response
  char *body;    ///< NUL-terminated; NULL when there was no response
  size_t len;
} lf_aws_http_resp;

/// Sends one request and reads the response.
/// @param[in] headers NULL-terminated "Name: value" strings; may be NULL. Their values are
///                    never put into messages (they may carry tokens)
/// @param[in] timeout_ms for the whole request
/// @param[in] max most response bytes accepted
/// @return LF_OK whenever a response arrived (any status); LF_ERR_IO with curl's reason
///         ("cannot reach 'http://...' (Connection refused)") or for a response over `max`
lf_status lf_aws_http_fetch(const char *method, const char *url, const char *const *headers,
                            long timeout_ms, size_t max, lf_aws_http_resp *out, lf_err *err);
