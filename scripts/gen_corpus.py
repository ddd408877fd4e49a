#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes a deterministic corpus of English-looking documents, one per line.

Words are WordNet lemmas (Debian's wordnet-base, /usr/share/wordnet/index.*), drawn from a
Zipf distribution over a fixed shuffle of the lemma list, so a few words are very common (they
fall to max_df), many are rare (they fall to min_df) and the middle is the vocabulary; the
same seed gives the same bytes with any Python 3. Lemmas keep their underscores (word
characters for the tokenizer); document lengths vary. Usage:

    scripts/gen_corpus.py --docs 10000 --seed 1 > corpus.txt
"""
import argparse
import bisect
import os
import random
import sys

WORDNET = "/usr/share/wordnet"


def lemmas():
    words = set()
    for pos in ("noun", "verb", "adj", "adv"):
        path = os.path.join(WORDNET, "index." + pos)
        with open(path, encoding="latin-1") as f:
            for line in f:
                if line.startswith(" "):
                    continue
                w = line.split(" ", 1)[0]
                if w.isascii():
                    words.add(w)
    return sorted(words)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--vocab", type=int, default=30000, help="lemmas drawn from")
    ap.add_argument("--mean-len", type=int, default=80, help="mean words per document")
    ap.add_argument("--zipf", type=float, default=1.1, help="Zipf exponent")
    ap.add_argument("--topics", type=int, default=0,
                    help="topics: each document draws a third of its words from its topic's "
                    "200 words, so the corpus has clusters")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    words = lemmas()
    rng.shuffle(words)
    words = words[: a.vocab]
    cum = []
    total = 0.0
    for r in range(1, len(words) + 1):
        total += 1.0 / r ** a.zipf
        cum.append(total)
    topics = [rng.sample(words[2000:], 200) for _ in range(a.topics)]
    out = sys.stdout
    for _ in range(a.docs):
        n = max(3, int(rng.expovariate(1.0 / a.mean_len)))
        topic = topics[rng.randrange(a.topics)] if topics else None
        toks = []
        for _ in range(n):
            if topic is not None and rng.random() < 0.33:
                w = rng.choice(topic)
            else:
                i = bisect.bisect_left(cum, rng.random() * total)
                w = words[min(i, len(words) - 1)]
            # Some capitals and punctuation, which the tokenizer must undo.
            if rng.random() < 0.05:
                w = w.capitalize()
            toks.append(w)
            if rng.random() < 0.08:
                toks.append(rng.choice([",", ".", "!", "-", "(1)", "'s"]))
        out.write(" ".join(toks) + "\n")


if __name__ == "__main__":
    main()
