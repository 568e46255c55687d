"""Reading command inputs: text examples from a file or stdin, with notes on stderr."""

from __future__ import annotations

from eddpm_cli._output import note


def read_records(source: str) -> list:
    """Text records of an input ('-' is stdin); blank lines are skipped with one note."""
    from models.data.text import read_text_lines

    result = read_text_lines(source)
    if result.skipped_blank:
        note(f"{result.source}: skipped {result.skipped_blank} blank line(s)")
    return result.records


def read_texts(source: str) -> list[str]:
    """The example strings of :func:`read_records`."""
    return [r.text for r in read_records(source)]
