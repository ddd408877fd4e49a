// SPDX-License-Identifier: MIT
// The S3 backend of the datastore, and the opener that picks a backend by the root's form.
#pragma once

#include "core/err.h"
#include "store/store.h"

/// Opens the datastore at "s3://bucket[/prefix]": the same layout as a local root, under
/// the prefix (credentials, region and endpoint as the S3 client resolves them, s3.h).
/// Nothing is requested until the first operation.
/// @return the store (free with lf_store_free), or NULL with LF_ERR_USAGE (a bad URL or S3
///         configuration) in `err`
lf_store *lf_s3_store_open(const char *url, lf_err *err);
/// Opens the datastore at `root`: an s3:// URL with lf_s3_store_open, else a local
/// directory with lf_store_open_local.
lf_store *lf_datastore_open(const char *root, lf_err *err);
