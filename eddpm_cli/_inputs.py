"""Reading command inputs of any modality from a file or stdin, with notes on stderr.

The input's format (text, FASTA, CSV, TSV) is told by ``--format``, the file name, or its first
non-blank character (:mod:`models.data.formats`); the format decides the modality, and the
modality decides which model a command may use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eddpm_cli._errors import fail
from eddpm_cli._output import note


@dataclass
class Inputs:
    """Examples read from one source.

    Args:
        modality: ``text`` or ``protein``.
        source: display name (the path as given, or ``<stdin>``).
        examples: what the codec takes: stripped lines, or cleaned sequences.
        ids: one per example: ``line<K>`` for text and for tables without an id column, record
            ids for FASTA. Ids are shown and stored, never used to build file names.
    """

    modality: str
    source: str
    examples: list[Any]
    ids: list[str]

    def pick(self, record_id: str, option: str) -> Any:
        """The example with this id (for ``--a ID``/``--b ID``); exits 2 if absent or ambiguous."""
        found = [i for i, x in enumerate(self.ids) if x == record_id]
        if len(found) != 1:
            what = "no record" if not found else f"{len(found)} records"
            raise fail(f"{option} {record_id}: {self.source} has {what} with that id",
                       hint=f"ids in {self.source} start: {', '.join(self.ids[:5])}")
        return self.examples[found[0]]


def protein_options(sequence_column: str = "sequence", id_column: str | None = None,
                    label_columns: list[str] | None = None, labels_csv: str | None = None):
    """The table options of the command line as :class:`models.protein.data.ProteinOptions`."""
    from models.protein.data import ProteinOptions

    return ProteinOptions(sequence_column, id_column, tuple(label_columns or ()), labels_csv)


def read_inputs(source: str, fmt: str | None = None, options: Any = None) -> Inputs:
    """Read one input ('-' is stdin) of any supported format.

    Text: blank lines are skipped with one note. Protein: residues read as X and removed J
    padding are reported in one note each. Errors exit 2 naming the source, record and line.
    """
    from models.data.formats import open_input

    raw = open_input(source, fmt)
    if raw.modality == "text":
        from models.data.text import parse_text_lines

        result = parse_text_lines(raw.data, raw.name)
        if result.skipped_blank:
            note(f"{result.source}: skipped {result.skipped_blank} blank line(s)")
        return Inputs("text", raw.name, [r.text for r in result.records],
                      [f"line{r.line}" for r in result.records])
    from models.protein.data import read_proteins

    proteins = read_proteins(raw, options or protein_options())
    for line in proteins.notes():
        note(line)
    return Inputs("protein", raw.name, [r.sequence for r in proteins.records],
                  [r.id for r in proteins.records])
