// SPDX-License-Identifier: MIT
// A bag-of-words vectorizer compatible with scikit-learn's CountVectorizer on ASCII text
// (default token pattern (?u)\b\w\w+\b: maximal runs of 2 or more word characters; word
// characters are ASCII letters, digits and '_', and every byte >= 0x80 so UTF-8 words stay
// whole; ASCII-only lowercasing). Documents are added one at a time (nothing of a document is
// kept but its term counts), then finish() prunes terms by document frequency, sorts the
// vocabulary bytewise and builds the CSR matrix with sorted columns.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "kernels/csr.h"

/// Options. min_df/max_df are document counts when the *_frac flag is false, else fractions
/// of the number of documents (scikit-learn's int vs float rule).
typedef struct lf_textvec_opts {
  double min_df;    ///< default 1 (count)
  bool min_df_frac;
  double max_df;    ///< default 1.0 (fraction)
  bool max_df_frac;
  bool binary;      ///< counts become 1
  bool lowercase;   ///< default true
  lf_nd_dtype dtype; ///< of the matrix data (default i64, like scikit-learn)
} lf_textvec_opts;

/// An incremental vectorizer. Opaque.
typedef struct lf_textvec lf_textvec;

/// Fills `o` with CountVectorizer's defaults.
void lf_textvec_opts_default(lf_textvec_opts *o);
/// A new vectorizer (copies `o`). NULL if out of memory.
lf_textvec *lf_textvec_new(const lf_textvec_opts *o);
/// Frees `v` and all it holds; NULL is ignored.
void lf_textvec_free(lf_textvec *v);
/// Tokenizes one document and records its term counts.
/// @return LF_OK or LF_ERR_NOMEM
lf_status lf_textvec_add(lf_textvec *v, const char *doc, size_t len, lf_err *err);
/// Reads `path` line by line (each line one document, the newline excluded), at most
/// `max_docs` lines (< 0: all). @return LF_OK, LF_ERR_IO naming the file, LF_ERR_NOMEM
lf_status lf_textvec_add_file(lf_textvec *v, const char *path, int64_t max_docs, lf_err *err);
/// Number of documents added so far.
int64_t lf_textvec_ndocs(const lf_textvec *v);
/// Prunes, sorts and builds the documents x terms matrix into `out`. Afterwards
/// lf_textvec_term() gives the kept terms by column. Call once.
/// @return LF_OK, LF_ERR_USAGE (bad df bounds, or no term remains: the message says so), NOMEM
lf_status lf_textvec_finish(lf_textvec *v, lf_csr *out, lf_err *err);
/// After finish: the number of columns and the term of column `j` (borrowed from `v`).
int64_t lf_textvec_nterms(const lf_textvec *v);
const char *lf_textvec_term(const lf_textvec *v, int64_t j, size_t *len);
