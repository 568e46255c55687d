"""Token-budget batching and chunked inference (models/inference.py): same rows, input order,
bounded batches."""

from __future__ import annotations

import numpy as np
import pytest

from models import inference

from .conftest import build_tiny_protein_model

PROTEINS = ["MKV", "ACDEFGHIKLMNPQRSTVWY", "MKVLAAGIW", "MKV", "W" * 40, "ACDE", "MKVLAAGIW"]


@pytest.fixture(scope="module")
def model():
    net, _ = build_tiny_protein_model(seed=0, sequences=PROTEINS)
    return net.eval()


@pytest.mark.parametrize("budget", [1, 30, 60, 10_000])
def test_token_budget_batches_cover_every_example_once_within_budget(model, budget):
    batches = list(inference.length_batches(model, PROTEINS, batch_size=2, tokens_per_batch=budget))

    assert sorted(i for b in batches for i in b) == list(range(len(PROTEINS)))
    weight = model.codec.example_weight
    for batch in batches:
        cost = len(batch) * max(weight(PROTEINS[i]) for i in batch)
        assert cost <= budget or len(batch) == 1  # an example over the budget runs alone
    flat = [weight(PROTEINS[i]) for b in batches for i in b]
    assert flat == sorted(flat)  # shortest first


def test_without_budget_batches_hold_batch_size_examples(model):
    sizes = [len(b) for b in inference.length_batches(model, PROTEINS, batch_size=3)]

    assert sizes == [3, 3, 1]


@pytest.mark.parametrize("chunk_size, budget", [(2, None), (3, 40), (4096, 25)])
def test_chunks_and_budgets_give_the_same_rows_in_input_order(model, chunk_size, budget):
    reference = inference.encode(model, PROTEINS, batch_size=64)

    chunks = list(inference.encode_chunks(model, PROTEINS, 2, budget, chunk_size))

    assert [len(c) for c in chunks] == [
        min(chunk_size, len(PROTEINS) - s) for s in range(0, len(PROTEINS), chunk_size)
    ]
    rows = np.concatenate(chunks)
    assert rows.dtype == np.float32
    np.testing.assert_allclose(rows, reference, rtol=1e-5, atol=1e-6)
    # Repeated examples stay bit-identical even when they fall in different chunks.
    assert np.array_equal(rows[0], rows[3]) and np.array_equal(rows[2], rows[6])


def test_reconstruct_chunks_match_one_pass(model):
    whole = inference.reconstruct(model, PROTEINS, batch_size=2)

    chunked = list(inference.reconstruct_chunks(model, PROTEINS, batch_size=2, chunk_size=2))

    assert [x for c in chunked for x in c] == whole
    assert [len(c) for c in chunked] == [2, 2, 2, 1]
