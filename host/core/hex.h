// SPDX-License-Identifier: MIT
// Hex encoding, the one home for it.
#pragma once

#include <stdbool.h>
#include <stddef.h>

/// Writes 2*len lowercase hex digits plus NUL into `out` (size >= 2*len+1).
void lf_hex_encode(const unsigned char *in, size_t len, char *out);
/// True if `s` is exactly `n` lowercase hex digits.
bool lf_hex_valid(const char *s, size_t n);
