"""encode, predict and reconstruct stream a text or protein file: it is checked in a first pass,
then read again chunk by chunk; the output equals reading the whole input (from stdin)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from models import inference
from models.data import text as text_reader

TEXTS = ["the soup was warm .", "service was slow .", "the soup was warm .", "the room was quiet .",
         "", "service was slow .", "a long line " * 30, "the soup was warm ."]


@pytest.fixture
def small_chunks(monkeypatch) -> None:
    """Chunks of three examples, so that a short file spans several, and whole-file reads
    forbidden, so that a passing command really streamed its file."""
    monkeypatch.setattr(inference, "CHUNK_SIZE", 3)

    def no_whole_file(path: str) -> bytes:
        raise AssertionError(f"{path} was read whole")

    monkeypatch.setattr(text_reader, "_read_file", no_whole_file)


@pytest.fixture
def reviews(tmp_path: Path) -> Path:
    path = tmp_path / "reviews.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    return path


def test_encode_streams_a_file_like_stdin(cli, tiny_text_model: Path, reviews: Path,
                                          small_chunks: None) -> None:
    streamed = cli.ok(cli("encode", reviews, "-m", tiny_text_model))
    whole = cli.ok(cli("encode", "-", "-m", tiny_text_model, input=reviews.read_bytes()))

    assert streamed.stdout_bytes == whole.stdout_bytes
    rows = np.load(io.BytesIO(streamed.stdout_bytes))
    assert rows.shape[0] == len([t for t in TEXTS if t])
    # repeats in other chunks get the very same row
    assert np.array_equal(rows[0], rows[2]) and np.array_equal(rows[0], rows[6])
    assert "skipped 1 blank line" in streamed.stderr


def test_encode_npz_keeps_ids_of_every_chunk(cli, tiny_text_model: Path, reviews: Path,
                                             tmp_path: Path, small_chunks: None) -> None:
    out = tmp_path / "emb.npz"

    cli.ok(cli("encode", reviews, "-m", tiny_text_model, "-o", out))

    with np.load(out) as data:
        assert data["ids"].tolist() == ["line1", "line2", "line3", "line4", "line6", "line7",
                                        "line8"]
        assert data["latents"].shape[0] == 7


def test_predict_and_reconstruct_stream_like_stdin(cli, tiny_text_model: Path, reviews: Path,
                                                   small_chunks: None) -> None:
    for command in (["predict"], ["reconstruct", "--temperature", "0.7", "--batch-size", "1"]):
        streamed = cli.ok(cli(*command, reviews, "-m", tiny_text_model))
        whole = cli.ok(cli(*command, "-", "-m", tiny_text_model, input=reviews.read_bytes()))

        assert streamed.stdout_bytes == whole.stdout_bytes


def test_a_bad_line_after_many_good_ones_writes_nothing(cli, tiny_text_model: Path,
                                                        tmp_path: Path, small_chunks: None) -> None:
    data = tmp_path / "late.txt"
    data.write_bytes(b"fine line\n" * 20 + b"bad \xff byte\n")
    out = tmp_path / "emb.npy"

    cli.usage_error(cli("encode", data, "-m", tiny_text_model), "line 21", "0xff")
    cli.usage_error(cli("encode", data, "-m", tiny_text_model, "-o", out), "line 21")
    cli.usage_error(cli("predict", data, "-m", tiny_text_model), "line 21")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["late.txt"]


def test_proteins_stream_with_one_crop_warning(cli, tiny_protein_model: Path, tmp_path: Path,
                                               small_chunks: None) -> None:
    records = [("short", "MKTAYIAKQR"), ("long1", "MKV" * 30), ("mid", "MKTAYIAKQRQISFVK"),
               ("long2", "ACDEFGHIKL" * 8), ("last", "mktayiakq*")]
    fasta = tmp_path / "p.fasta"
    fasta.write_text("".join(f">{i}\n{s}\n" for i, s in records), encoding="utf-8")

    streamed = cli.ok(cli("predict", fasta, "-m", tiny_protein_model))
    whole = cli.ok(cli("predict", "-", "-m", tiny_protein_model, input=fasta.read_bytes()))

    assert streamed.stdout_bytes == whole.stdout_bytes
    assert [ln.split("\t")[0] for ln in cli.lines(streamed)[1:]] == [i for i, _ in records]
    warnings = [ln for ln in streamed.stderr.splitlines() if "cropped" in ln]
    assert len(warnings) == 1 and "2 of 5 sequence(s)" in warnings[0]


def test_stdin_is_spooled_not_held(cli, tiny_text_model: Path, reviews: Path, small_chunks: None,
                                   monkeypatch) -> None:
    def no_whole_stdin(stdin):
        raise AssertionError("stdin was read whole")

    from_file = cli.ok(cli("encode", reviews, "-m", tiny_text_model))
    monkeypatch.setattr(text_reader, "_read_stdin", no_whole_stdin)

    from_stdin = cli.ok(cli("encode", "-", "-m", tiny_text_model, input=reviews.read_bytes()))

    assert from_stdin.stdout_bytes == from_file.stdout_bytes
    assert "<stdin>: skipped 1 blank line" in from_stdin.stderr
    bad = cli("encode", "-", "-m", tiny_text_model, input=b"fine\n" * 5 + b"bad \xff\n")
    cli.usage_error(bad, "<stdin> line 6", "0xff")
    cli.usage_error(cli("predict", "-", "-m", tiny_text_model, input=b""), "no examples on stdin")
