"""eddpm reconstruct: one line per input line, in input order; metrics only on stderr."""

from __future__ import annotations

from pathlib import Path


def test_one_line_per_input(cli, tiny_text_model: Path, texts_file: Path,
                             sample_texts: list[str]) -> None:
    result = cli.ok(cli("reconstruct", texts_file, "--model", tiny_text_model))

    assert len(cli.lines(result)) == len(sample_texts)


def test_outputs_keep_input_order(cli, tiny_text_model: Path, tmp_path: Path, monkeypatch) -> None:
    # A barely trained model decodes every input to the same string, so order is checked with a
    # stand-in core that echoes its inputs: the CLI must pass them in file order and keep it.
    from models import inference

    def echo(net, chunks, *args, **kwargs):
        for chunk in chunks:
            yield [t.upper() for t in chunk]

    monkeypatch.setattr(inference, "reconstruct_stream", echo)
    monkeypatch.setattr(inference, "chunk_length", lambda *args: 2)  # the file in two chunks
    data = tmp_path / "ordered.txt"
    data.write_text("third line\n\nfirst line\nsecond line\n", encoding="utf-8")

    result = cli.ok(cli("reconstruct", data, "--model", tiny_text_model))

    assert cli.lines(result) == ["THIRD LINE", "FIRST LINE", "SECOND LINE"]


def test_metrics_go_to_stderr_only(cli, tiny_text_model: Path, texts_file: Path) -> None:
    plain = cli.ok(cli("reconstruct", texts_file, "--model", tiny_text_model))
    scored = cli.ok(cli("reconstruct", texts_file, "--metrics", "--model", tiny_text_model))

    assert scored.stdout_bytes == plain.stdout_bytes
    assert "bleu" not in scored.stdout
    assert "bleu=" in scored.stderr
    assert "bleu" not in plain.stderr


def test_missing_input_exits_2(cli, tiny_text_model: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.txt"

    result = cli("reconstruct", missing, "--model", tiny_text_model)

    cli.usage_error(result, str(missing))
