"""Turn read records into training datasets (examples plus head targets)."""

from __future__ import annotations

import hashlib
from typing import Callable, Sequence

import torch

from models.data.formats import RawInput
from models.data.text import parse_text_lines
from models.training import Dataset


def text_dataset(
    inputs: Sequence[RawInput], labels: bool = False, on_note: Callable[[str], None] | None = None
) -> tuple[Dataset, tuple[str, ...], str]:
    """Parse every text input; return the dataset, the sorted class labels (empty without labels)
    and a SHA-256 fingerprint of the examples in order."""
    texts: list[str] = []
    raw_labels: list[str] = []
    digest = hashlib.sha256()
    for raw in inputs:
        result = parse_text_lines(raw.data, raw.name, labels=labels)
        if result.skipped_blank and on_note:
            on_note(f"{result.source}: skipped {result.skipped_blank} blank line(s)")
        for rec in result.records:
            texts.append(rec.text)
            digest.update(f"{rec.label or ''}\t{rec.text}\n".encode())
            if labels:
                raw_labels.append(rec.label or "")
    classes = tuple(sorted(set(raw_labels)))
    targets = {}
    if labels:
        index = {c: i for i, c in enumerate(classes)}
        targets["label"] = torch.tensor([index[c] for c in raw_labels], dtype=torch.long)
    return Dataset(texts, targets), classes, digest.hexdigest()
