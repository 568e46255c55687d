"""The protein alphabet and the rules that turn raw residues into model input.

Tokens (V = 22): ``<pad>`` (id 0), the 20 standard amino acids ``ACDEFGHIKLMNPQRSTVWY``
(ids 1-20) and ``X`` (id 21, any unknown or ambiguous residue).

Rules for a raw sequence, in order (docs/cli.md, "Protein inputs"):

1. Spaces and tabs inside sequence text are ignored (as Biopython does); columns in messages
   still count them.
2. Letters are upper-cased, so soft-masked (lowercase) residues read like the others (case C01).
3. One ``*`` at the very end of a sequence (a translated stop codon) is dropped silently; any
   other ``*`` is an error (case C02).
4. ``U`` (selenocysteine), ``O`` (pyrrolysine), ``B`` (Asx), ``Z`` (Glx) become ``X``: the
   decoder has no token for them, and mapping U to C would invent a residue that was not there.
5. ``J`` (Leu/Ile in IUPAC) is the padding symbol of the Gifford antibody and TAPE fluorescence
   CSVs (``JJJAAAIDHSSSYLDYJJJJ``). Runs of ``J`` at either end of a sequence are padding and are
   removed; a ``J`` between other residues becomes ``X`` (case C03).
6. Anything else is an error naming the source, record id, line, column and character:
   alignment gaps ``-`` and ``.``, digits, and other symbols (cases C03, C09). Nothing is dropped
   or mapped silently.
7. A sequence left empty (no residues, or only ``*`` / ``J`` padding) is an error naming the
   record and the line of its header (case C05).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from models.errors import InputDataError

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
UNKNOWN = "X"
PAD_ID = 0
TOKENS: tuple[str, ...] = ("<pad>", *AMINO_ACIDS, UNKNOWN)
TOKEN_IDS = {token: i for i, token in enumerate(TOKENS) if i != PAD_ID}
READ_AS_UNKNOWN = frozenset("UOBZ")
PADDING = "J"
STOP = "*"

_IGNORED = frozenset(" \t")
_VALID = frozenset(AMINO_ACIDS + UNKNOWN) | READ_AS_UNKNOWN | {PADDING}
_HINT = (
    "allowed are the 20 amino acids, X, U O B Z J (read as X or padding), in any case, and one "
    "'*' at the end"
)


@dataclass(frozen=True)
class Piece:
    """A run of raw sequence text and where its first character sits in the source.

    Args:
        text: raw characters (one FASTA sequence line, or one CSV cell).
        line: 1-based line number.
        column: 1-based column of ``text[0]`` on that line.
    """

    text: str
    line: int
    column: int = 1


@dataclass(frozen=True)
class CleanSequence:
    """A sequence after the rules: only the 20 amino acids and X.

    Args:
        residues: the cleaned sequence, never empty.
        unknown: how many U, O, B, Z or interior J became X.
        padding: how many J padding characters were removed from the ends.
    """

    residues: str
    unknown: int
    padding: int


def clean_sequence(
    pieces: Sequence[Piece], record_id: str, source: str, line: int
) -> CleanSequence:
    """Apply the module's rules to the raw text of one record.

    Args:
        pieces: the record's sequence text in order.
        record_id: the record's id, for messages.
        source: display name of the input, for messages.
        line: 1-based line of the record's header (FASTA) or row (CSV), for the empty-record error.

    Returns:
        The cleaned sequence and counts of what was mapped or removed.

    Raises:
        InputDataError: a character outside the alphabet, an interior ``*``, or no residues left.
    """
    chars = [
        (c, piece, piece.column + i)
        for piece in pieces
        for i, c in enumerate(piece.text)
        if c not in _IGNORED
    ]
    if chars and chars[-1][0] == STOP:
        chars.pop()
    letters = []
    for char, piece, column in chars:
        upper = char.upper()
        if upper not in _VALID:
            raise _bad_character(char, record_id, source, piece, column)
        letters.append(upper)
    body = "".join(letters)
    core = body.strip(PADDING)
    if not core:
        raise InputDataError(
            f"{source} line {line}: record {record_id} has no residues",
            hint="remove the record, or give it its sequence",
        )
    unknown = sum(c in READ_AS_UNKNOWN or c == PADDING for c in core)
    for rare in (*READ_AS_UNKNOWN, PADDING):
        core = core.replace(rare, UNKNOWN)
    return CleanSequence(core, unknown=unknown, padding=len(body) - len(core))


def _bad_character(
    char: str, record_id: str, source: str, piece: Piece, column: int
) -> InputDataError:
    line = piece.line
    if char == STOP:
        what, hint = "a stop symbol inside the sequence", "only one '*' at the very end is allowed"
    elif piece.text.strip() == "--":
        what = "a '--' separator line, as grep -A/-B/-C writes between matches"
        hint = "remove those lines, e.g. with: grep -v '^--$' FILE"
    elif char in "-.":
        what = "an alignment gap"
        hint = "eddpm reads unaligned sequences; remove gaps, e.g. with: sed '/^>/!s/[-.]//g' FILE"
    elif char.isdigit():
        what, hint = "a digit", "sequence lines hold residues only; " + _HINT
    else:
        what, hint = "not an amino-acid letter", _HINT
    return InputDataError(
        f"{source} line {line}, column {column}: record {record_id} has {char!r} ({what})",
        hint=hint,
    )


def to_ids(residues: str) -> list[int]:
    """Token ids of a cleaned sequence (see :func:`clean_sequence`); no padding added.

    Raises:
        InputDataError: a character that is not one of the 20 amino acids or X.
    """
    try:
        return [TOKEN_IDS[c] for c in residues]
    except KeyError as exc:
        raise InputDataError(
            f"residue {exc.args[0]!r} is not in the model's alphabet ({AMINO_ACIDS}{UNKNOWN})",
            hint="read sequences through eddpm's FASTA/CSV readers, which clean them",
        ) from None


def from_ids(ids: Iterable[int]) -> str:
    """The residues of token ids, up to the first ``<pad>``."""
    out = []
    for i in ids:
        if i == PAD_ID:
            break
        out.append(TOKENS[i])
    return "".join(out)
