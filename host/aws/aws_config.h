// SPDX-License-Identifier: MIT
// Shared AWS configuration the way the AWS CLI and SDKs read it: the profile (AWS_PROFILE),
// the shared credentials and config files (~/.aws/credentials, ~/.aws/config, or
// AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE), the region (AWS_REGION, AWS_DEFAULT_REGION,
// the profile's `region`) and a service's endpoint (AWS_ENDPOINT_URL_<SERVICE>,
// AWS_ENDPOINT_URL, the profile's `endpoint_url`, unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS).
//
// The INI reader accepts the files' format: `[default]`, `[profile NAME]` (config) or `[NAME]`
// (credentials), `key = value`, comments starting with '#' or ';', and indented sub-keys
// under an empty value (`s3 =` then `  addressing_style = path`), stored as "s3.addressing_style".
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

/// A parsed INI file. Opaque; free with lf_aws_ini_free.
typedef struct lf_aws_ini lf_aws_ini;

/// Parses INI text. With `config_format`, section "profile NAME" is profile NAME (and
/// "default" is default); otherwise a section is named as written.
/// @param[in] label names the file in messages
/// @return never NULL for valid input; NULL with LF_ERR_USAGE on a malformed line
///         ("'~/.aws/config' line 3: expected 'key = value'") — values never appear in it
lf_aws_ini *lf_aws_ini_parse(const char *text, size_t len, bool config_format,
                             const char *label, lf_err *err);
/// The value of `key` in profile `profile`, or NULL. Borrowed from `ini`.
const char *lf_aws_ini_get(const lf_aws_ini *ini, const char *profile, const char *key);
/// True if `ini` has a section for `profile`.
bool lf_aws_ini_has(const lf_aws_ini *ini, const char *profile);
void lf_aws_ini_free(lf_aws_ini *ini);

/// The resolved configuration of one client.
typedef struct lf_aws_config {
  char *profile;          ///< the profile in use ("default" unless AWS_PROFILE)
  bool profile_explicit;  ///< named by AWS_PROFILE / AWS_DEFAULT_PROFILE
  char *credentials_path; ///< the shared credentials file's path (may not exist)
  char *config_path;      ///< the config file's path (may not exist)
  lf_aws_ini *credentials; ///< parsed credentials file, NULL if it does not exist
  lf_aws_ini *config;      ///< parsed config file, NULL if it does not exist
  char *region;           ///< never NULL ("us-east-1" when nothing says otherwise)
  char *region_source;    ///< "AWS_REGION", "profile 'x'", "default", ...
  char *endpoint_url;     ///< NULL for the service's AWS endpoint; no trailing '/'
  char *addressing_style; ///< the profile's "<service>.addressing_style", or NULL
} lf_aws_config;

/// Resolves the configuration for `service` (e.g. "s3") from the environment and files.
/// @return LF_OK; LF_ERR_USAGE if AWS_PROFILE names a profile that neither file has, or a
///         file is malformed; LF_ERR_IO if a file exists but cannot be read
lf_status lf_aws_config_load(const char *service, lf_aws_config *out, lf_err *err);
/// Frees what lf_aws_config_load filled in. NULL-safe.
void lf_aws_config_destroy(lf_aws_config *cfg);
/// The value of `key` of the profile in use: the credentials file first (for credentials
/// keys), then the config file. Borrowed; NULL if unset.
const char *lf_aws_config_get(const lf_aws_config *cfg, const char *key);
