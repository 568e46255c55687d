"""Evaluation metrics shared by the CLI, the trainer and the benchmarks."""

from __future__ import annotations

from typing import Sequence


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU x 100 (sacrebleu, 13a tokenisation) of hypotheses against one reference each."""
    import sacrebleu

    if not hypotheses:
        return 0.0
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score)
