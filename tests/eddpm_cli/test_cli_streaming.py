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


# --- images ---------------------------------------------------------------------------------------
@pytest.fixture
def image_chunks(monkeypatch) -> None:
    """Chunks of three images and an overview of at most four, and the whole-input image reader
    forbidden, so that a passing command really decoded its images chunk by chunk."""
    from eddpm_cli import _output
    from models.data import images as image_reader

    monkeypatch.setattr(inference, "CHUNK_SIZE", 3)
    monkeypatch.setattr(_output, "GRID_LIMIT", 4)

    def no_whole_read(*args, **kwargs):
        raise AssertionError("the images were read whole")

    monkeypatch.setattr(image_reader, "read_images", no_whole_read)


def _image_folder(root: Path, n: int) -> Path:
    """``n`` small PNGs in ``root/``, names in order, with two exact repeats."""
    rng = np.random.default_rng(1)
    from PIL import Image

    root.mkdir()
    pixels = [rng.integers(0, 256, (12, 12, 3), dtype=np.uint8) for _ in range(n)]
    pixels[4], pixels[n - 1] = pixels[0], pixels[1]
    for i, p in enumerate(pixels):
        Image.fromarray(p).save(root / f"im{i:02d}.png")
    return root


def test_image_encode_and_predict_stream_in_input_order(cli, tiny_image_model: Path,
                                                         tmp_path: Path, monkeypatch) -> None:
    """Chunks of three against one chunk of all eight: the same rows in the same order, up to
    the rounding of other batch sizes; repeats bit-identical across chunks."""
    folder = _image_folder(tmp_path / "imgs", 8)
    whole_encode = np.load(io.BytesIO(cli.ok(cli("encode", folder, "-m", tiny_image_model))
                                      .stdout_bytes))
    whole_predict = cli.lines(cli.ok(cli("predict", folder, "-m", tiny_image_model)))
    from models.data import images as image_reader

    monkeypatch.setattr(inference, "CHUNK_SIZE", 3)
    monkeypatch.setattr(image_reader, "read_images", None)  # any whole read would fail

    rows = np.load(io.BytesIO(cli.ok(cli("encode", folder, "-m", tiny_image_model)).stdout_bytes))
    predicted = cli.lines(cli.ok(cli("predict", folder, "-m", tiny_image_model)))

    assert rows.shape == whole_encode.shape == (8, rows.shape[1])
    np.testing.assert_allclose(rows, whole_encode, rtol=0, atol=1e-5)
    assert np.array_equal(rows[0], rows[4]) and np.array_equal(rows[1], rows[7])
    assert [ln.split("\t")[0] for ln in predicted] == [ln.split("\t")[0] for ln in whole_predict]
    assert predicted[1].split("\t")[0].endswith("im00.png") and len(predicted) == 9


def test_image_reconstruct_writes_chunk_by_chunk(cli, tiny_image_model: Path, tmp_path: Path,
                                                 image_chunks: None) -> None:
    folder = _image_folder(tmp_path / "imgs", 8)
    out = tmp_path / "recon"

    result = cli.ok(cli("reconstruct", folder, "-m", tiny_image_model, "--pixel-steps", 2,
                        "--out", out))

    names = [Path(line).name for line in cli.lines(result)]
    assert names == [f"recon_{i:06d}_im{i - 1:02d}.png" for i in range(1, 9)]
    assert sorted(p.name for p in out.iterdir()) == sorted(names + ["recon_grid.png"])
    from PIL import Image

    with Image.open(out / "recon_grid.png") as grid:  # four inputs above four outputs
        assert grid.size == (4 * 18 + 2, 2 * 18 + 2)


def test_a_bad_image_after_many_good_ones_writes_nothing(cli, tiny_image_model: Path,
                                                         tmp_path: Path, image_chunks: None) -> None:
    folder = _image_folder(tmp_path / "imgs", 8)
    (folder / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    (folder / "zz_empty.png").write_bytes(b"")
    out = tmp_path / "recon"

    cli.usage_error(cli("encode", folder, "-m", tiny_image_model, "-o", tmp_path / "e.npy"),
                    "zz_broken.png", "1 more unreadable")
    cli.usage_error(cli("reconstruct", folder, "-m", tiny_image_model, "--out", out),
                    "zz_broken.png")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs"]


# -- inputs and outputs that are not plain files ---------------------------------------------------
@pytest.mark.parametrize("change", ["edited", "truncated", "grown"])
def test_an_input_changed_between_the_passes_is_refused(reviews: Path, change: str) -> None:
    """The second reading is checked against the first: a row count or rows that no longer match
    the input fail (exit 2 in the CLI, and the -o file is never renamed into place)."""
    from eddpm_cli._inputs import stream_input
    from models.errors import InputDataError

    stream = stream_input(str(reviews))
    lines = reviews.read_text(encoding="utf-8").splitlines()
    changed = {"edited": ["something else entirely ."] + lines[1:], "truncated": lines[:3],
               "grown": lines + ["one more line ."]}[change]
    reviews.write_text("\n".join(changed) + "\n", encoding="utf-8")

    with pytest.raises(InputDataError, match="changed while eddpm read it") as raised:
        for _ in stream.chunks(3):
            pass
    assert str(reviews) in raised.value.message


def test_a_named_pipe_is_read_once(cli, tiny_text_model: Path, reviews: Path,
                                   tmp_path: Path) -> None:
    """A FIFO (or the /dev/fd/N of a shell's <(...)) cannot be read twice: it is copied first."""
    import os
    import threading

    fifo = tmp_path / "reviews.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(reviews.read_bytes()), daemon=True)
    writer.start()

    piped = cli.ok(cli("encode", fifo, "-m", tiny_text_model))
    writer.join(timeout=10)

    assert piped.stdout_bytes == cli.ok(cli("encode", reviews, "-m", tiny_text_model)).stdout_bytes


def test_output_onto_a_pipe_or_a_link_keeps_it(cli, tiny_text_model: Path, reviews: Path,
                                               tmp_path: Path) -> None:
    """-o onto a named pipe writes into it (a device such as /dev/null likewise); onto a
    symbolic link, the link stays and its target gets the output; -o - is stdout."""
    import os
    import stat
    import threading

    expected = cli.ok(cli("encode", reviews, "-m", tiny_text_model)).stdout_bytes
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    cli.ok(cli("encode", reviews, "-m", tiny_text_model, "-o", fifo))
    reader.join(timeout=10)
    assert received == [expected]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)

    target, link = tmp_path / "real.npy", tmp_path / "link.npy"
    target.write_bytes(b"old")
    link.symlink_to(target)
    cli.ok(cli("encode", reviews, "-m", tiny_text_model, "-o", link))
    assert link.is_symlink() and target.read_bytes() == expected

    dash = cli.ok(cli("encode", reviews, "-m", tiny_text_model, "-o", "-"))
    assert dash.stdout_bytes == expected and not Path("-").exists()

    loop_a, loop_b = tmp_path / "loop_a.npy", tmp_path / "loop_b.npy"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    looped = cli("encode", reviews, "-m", tiny_text_model, "-o", loop_a)
    cli.usage_error(looped, "loop of symbolic links")
    assert loop_a.is_symlink() and loop_b.is_symlink()


def test_uppercase_npz_suffix_writes_an_npz(cli, tiny_text_model: Path, reviews: Path,
                                            tmp_path: Path) -> None:
    out = tmp_path / "EMB.NPZ"
    cli.ok(cli("encode", reviews, "-m", tiny_text_model, "-o", out))
    with np.load(out) as data:
        assert set(data.files) == {"latents", "ids"}
