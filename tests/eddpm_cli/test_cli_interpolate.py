"""eddpm interpolate: one line per path point; endpoints are sentences or one-line files."""

from __future__ import annotations

from pathlib import Path

START = "the soup was warm and the bread was fresh ."
END = "service was slow but the staff were kind ."


def test_steps_gives_that_many_lines(cli, tiny_text_model: Path) -> None:
    result = cli.ok(cli("interpolate", START, END, "--steps", 4, "-k", 5, "--model", tiny_text_model))

    assert len(cli.lines(result)) == 4


def test_one_line_files_equal_sentences(cli, tiny_text_model: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(f"\n  {START}\r\n", encoding="utf-8")
    b.write_text(f"{END}", encoding="utf-8")

    from_files = cli.ok(cli("interpolate", a, b, "--steps", 4, "-k", 5, "--model", tiny_text_model))
    from_args = cli.ok(cli("interpolate", START, END, "--steps", 4, "-k", 5, "--model", tiny_text_model))

    assert from_files.stdout_bytes == from_args.stdout_bytes


def test_two_line_file_exits_2(cli, tiny_text_model: Path, tmp_path: Path) -> None:
    two = tmp_path / "two.txt"
    two.write_text(f"{START}\n{END}\n", encoding="utf-8")

    result = cli("interpolate", two, END, "--steps", 4, "-k", 5, "--model", tiny_text_model)

    cli.usage_error(result, str(two), "exactly one")
