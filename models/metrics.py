"""Evaluation metrics shared by the CLI, the trainer and the benchmarks."""

from __future__ import annotations

from typing import Sequence


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU x 100 (sacrebleu, 13a tokenisation) of hypotheses against one reference each."""
    import sacrebleu

    if not hypotheses:
        return 0.0
    # force: pre-tokenised corpora (Yelp's " ." endings) are legitimate input, not a mistake to
    # warn about on every validation.
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)], force=True).score)


def sequence_identity(reference: str, output: str) -> float:
    """Fraction of aligned positions where two sequences agree, over the longer length (no
    gaps: position i against position i); 1.0 for two empty strings."""
    longest = max(len(reference), len(output))
    if not longest:
        return 1.0
    return sum(a == b for a, b in zip(reference, output)) / longest


def mutation_count(reference: str, output: str) -> int:
    """Mutations from ``reference`` to ``output``: the Hamming distance for equal lengths (point
    mutations only), otherwise the Levenshtein distance (insertions and deletions count 1)."""
    if len(reference) == len(output):
        return sum(a != b for a, b in zip(reference, output))
    a, b = (reference, output) if len(reference) >= len(output) else (output, reference)
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
