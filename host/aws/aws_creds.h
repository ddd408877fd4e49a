// SPDX-License-Identifier: MIT
// The credential provider chain, in the order of the AWS CLI and SDKs:
//   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
//   2. the profile: its keys in the shared credentials file (aws_access_key_id,
//      aws_secret_access_key, aws_session_token), its credential_process (a command that
//      prints {"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"};
//      split like a POSIX shell would, run without one), then its keys in the config file
//   3. the ECS/EKS container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on
//      http://169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI, with the authorization
//      token of AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)
//   4. EC2 instance metadata, IMDSv2 (a session token first), at
//      AWS_EC2_METADATA_SERVICE_ENDPOINT or http://169.254.169.254, unless
//      AWS_EC2_METADATA_DISABLED=true
// Temporary credentials are cached and refreshed five minutes before they expire. Messages
// name sources and files, never a secret or a token.
#pragma once

#include "aws/aws_config.h"
#include "aws/aws_sigv4.h"

/// A provider; safe to use from several threads. Opaque.
typedef struct lf_aws_creds_provider lf_aws_creds_provider;

/// Creates a provider for the profile of `cfg` (borrowed; must outlive the provider).
/// Nothing is looked up until the first lf_aws_creds_get.
lf_aws_creds_provider *lf_aws_creds_provider_new(const lf_aws_config *cfg);
/// Frees the provider and wipes its cached credentials. NULL-safe.
void lf_aws_creds_provider_free(lf_aws_creds_provider *p);

/// Current credentials: cached ones while valid for at least five more minutes, else the
/// chain is walked again.
/// @param[out] out a copy; wipe it with lf_aws_creds_wipe when done
/// @return LF_OK; LF_ERR_USAGE when no source has credentials (the message lists what was
///         tried) or a source is misconfigured (half a key pair, a bad endpoint URI);
///         LF_ERR_IO when an endpoint that is configured fails
lf_status lf_aws_creds_get(lf_aws_creds_provider *p, lf_aws_creds *out, lf_err *err);

/// Parses the JSON credentials document of the container endpoint and of instance metadata
/// ({"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}) or of a credential_process
/// ({"Version": 1, ..., "SessionToken", ...}) into `out`.
/// @param[in] source named in messages and stored in out->source
/// @return LF_OK, or LF_ERR_IO naming the missing or malformed field
lf_status lf_aws_creds_parse_json(const char *json, size_t len, const char *source,
                                  lf_aws_creds *out, lf_err *err);
/// Splits a command line as a POSIX shell would (blanks; '...', "..." and backslash quoting; no
/// expansion) into a NULL-terminated argv (free with lf_aws_argv_free).
/// @return NULL for an empty line or an unclosed quote
char **lf_aws_split_command(const char *line);
void lf_aws_argv_free(char **argv);
/// Parses an ISO 8601 UTC time ("2024-01-02T03:04:05Z", fractions allowed) into Unix seconds.
/// @return false if malformed
bool lf_aws_parse_iso8601(const char *s, int64_t *out);
