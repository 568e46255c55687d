"""Every subcommand with protein input (FASTA, CSV, TSV), and cases C01-C03, C05-C07, C09, C11
and C28 of ../shared/cases/README.md."""

from __future__ import annotations

import gzip
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

C28 = "C28_proteins.fasta"


def _array(result) -> np.ndarray:
    assert result.stdout_bytes.startswith(b"\x93NUMPY")
    return np.load(io.BytesIO(result.stdout_bytes), allow_pickle=False)


def _fasta(result) -> list[tuple[str, str]]:
    """(header, sequence) pairs of a FASTA stdout with one sequence line per record."""
    lines = result.stdout_bytes.decode("utf-8").splitlines()
    assert all(h.startswith(">") for h in lines[::2]), lines
    return [(h[1:], s) for h, s in zip(lines[::2], lines[1::2])]


def _encode(cli, model: Path, source, *extra, input=None):
    return cli("encode", source, "--model", model, *extra, input=input)


# --- train -----------------------------------------------------------------------------------------
def test_train_writes_a_protein_run_with_a_standardised_head(tiny_protein_model: Path) -> None:
    config = json.loads((tiny_protein_model / "config.json").read_text(encoding="utf-8"))
    run = json.loads((tiny_protein_model / "run.json").read_text(encoding="utf-8"))

    assert config["modality"] == "protein"
    assert config["codec"]["max_length"] == 50
    [head] = config["heads"]
    assert (head["name"], head["kind"]) == ("fitness", "regression")
    assert 0 < head["mean"] < 1 and 0 < head["std"] < 1
    assert run["reading"]["label_columns"] == ["fitness"]
    assert run["finished"][-1]["step"] == 20


def test_train_fasta_with_labels_csv_and_resume(cli, cases_dir: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("name,fitness\ncase_lower_1,1.0\ncase_upper_3,2.0\n", encoding="utf-8")
    out = tmp_path / "run"

    result = cli.ok(cli("train", "--data", cases_dir / "C01_lowercase.fasta", "--labels-csv", labels,
                        "--id-column", "name", "--label-column", "fitness", "--preset", "tiny",
                        "--max-steps", 2, "--out", out))
    resumed = cli.ok(cli("train", "--resume", out, "--max-steps", 3))

    assert result.stdout == f"{out}\n"
    assert "1 record(s) have no row in" in result.stderr
    assert resumed.stdout == f"{out}\n"
    assert json.loads((out / "run.json").read_text())["finished"][-1]["step"] == 3


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--labels"], ["--labels is for text"]),
        (["--label-column", "nope"], ["has no column 'nope'", "sequence, fitness"]),
        (["--sequence-column", "seq"], ["has no column 'seq'"]),
        (["--preset", "base"], ["unknown preset 'base' for protein"]),
    ],
)
def test_train_option_errors(cli, tmp_path: Path, args: list[str], fragments: list[str]) -> None:
    data = tmp_path / "d.csv"
    data.write_text("sequence,fitness\nMKV,1\n", encoding="utf-8")

    result = cli("train", "--data", data, "--preset", "tiny", "--max-steps", 1, "--out",
                 tmp_path / "run", *args)

    cli.usage_error(result, *fragments)


def test_train_text_refuses_protein_options(cli, texts_file: Path, tmp_path: Path) -> None:
    result = cli("train", "--data", texts_file, "--label-column", "fitness", "--out", tmp_path / "r")

    cli.usage_error(result, "--label-column applies to protein inputs")


def test_train_refuses_mixed_modalities(cli, texts_file: Path, cases_dir: Path, tmp_path: Path) -> None:
    result = cli("train", "--data", texts_file, "--data", cases_dir / C28, "--out", tmp_path / "r")

    cli.usage_error(result, "mix protein and text")


# --- cases ------------------------------------------------------------------------------------------
def test_c01_lowercase_rows_are_identical(cli, tiny_protein_model: Path, cases_dir: Path, tmp_path: Path) -> None:
    source = cases_dir / "C01_lowercase.fasta"

    result = cli.ok(_encode(cli, tiny_protein_model, source))
    trained = cli("train", "--data", source, "--preset", "tiny", "--max-steps", 1, "--out", tmp_path / "r")

    rows = _array(result)
    assert rows.shape == (3, 8) and rows.dtype == np.float32
    np.testing.assert_array_equal(rows[0], rows[1])
    np.testing.assert_array_equal(rows[0], rows[2])
    assert "warning" not in result.stderr and "unknown" not in result.stderr
    cli.ok(trained)


def test_c02_terminal_stop_is_stripped_silently(cli, tiny_protein_model: Path, cases_dir: Path) -> None:
    result = cli.ok(_encode(cli, tiny_protein_model, cases_dir / "C02_stop_terminal.fasta"))

    rows = _array(result)
    np.testing.assert_array_equal(rows[0], rows[1])
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("case", "fragments"),
    [
        ("C02_stop_internal.fasta", ["internal_stop_2", "line 4", "column 31", "'*'"]),
        ("C03_gaps_digits.fasta", ["aligned_with_gaps_2", "line 4", "column 11", "'-'"]),
        ("C05_empty_record.fasta", ["no_residues_2", "line 3"]),
        ("C09_grep_separator.fasta", ["grep_1", "line 3", "'-'"]),
        ("C09_preamble.fasta", ["line 1: expected a FASTA header starting with '>'"]),
        ("C09_no_header.fasta", ["line 1: expected a FASTA header starting with '>'"]),
        ("C05_empty.fasta", ["no examples found in", "C05_empty.fasta"]),
    ],
)
@pytest.mark.parametrize("command", ["encode", "reconstruct"])
def test_bad_inputs_exit_2_naming_record_line_and_column(
    cli, tiny_protein_model: Path, cases_dir: Path, case: str, fragments: list[str], command: str
) -> None:
    result = cli(command, cases_dir / case, "--model", tiny_protein_model)

    line = cli.usage_error(result, case, *fragments)
    assert "Traceback" not in result.stderr and "Bio" not in line


def test_c05_empty_file_in_train(cli, cases_dir: Path, tmp_path: Path) -> None:
    result = cli("train", "--data", cases_dir / "C05_empty.fasta", "--out", tmp_path / "r")

    cli.usage_error(result, "no examples found in", "C05_empty.fasta")
    assert not (tmp_path / "r").exists()


def test_c03_rare_letters_give_six_rows(cli, tiny_protein_model: Path, cases_dir: Path) -> None:
    result = cli.ok(_encode(cli, tiny_protein_model, cases_dir / "C03_rare_letters.fasta"))

    assert _array(result).shape == (6, 8)
    assert "read 5 U/O/B/Z/J residue(s) as X" in result.stderr


@pytest.mark.parametrize(
    ("case", "reference"),
    [
        ("C05_blank_lines.fasta", "C05_blank_lines_reference.fasta"),
        ("C06_crlf.fasta", "C06_lf_reference.fasta"),
        ("C06_cr_only.fasta", "C06_lf_reference.fasta"),
        ("C09_gzipped.fasta.gz", C28),
    ],
)
def test_same_rows_as_reference(cli, tiny_protein_model: Path, cases_dir: Path, tmp_path: Path,
                                case: str, reference: str) -> None:
    got = cli.ok(_encode(cli, tiny_protein_model, cases_dir / case))
    want = cli.ok(_encode(cli, tiny_protein_model, cases_dir / reference))
    piped = cli.ok(_encode(cli, tiny_protein_model, "-", input=(cases_dir / case).read_bytes()))

    assert got.stdout_bytes == want.stdout_bytes == piped.stdout_bytes
    if case.startswith("C06"):
        for path, name in ((cases_dir / case, "got.npz"), (cases_dir / reference, "want.npz")):
            cli.ok(_encode(cli, tiny_protein_model, path, "-o", tmp_path / name))
        ids = [np.load(tmp_path / n)["ids"].tolist() for n in ("got.npz", "want.npz")]
        assert ids[0] == ids[1] == ["le_1", "le_2"]


def test_c07_ids_are_kept_verbatim_and_never_become_paths(
    cli, tiny_protein_model: Path, cases_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    expected = ["sp|X0SYN1|SYNA_TEST", "id", "../../escape_attempt/also_a_slash", "ünïcödé_id"]

    cli.ok(_encode(cli, tiny_protein_model, cases_dir / "C07_headers.fasta", "-o", "out.npz"))
    recon = cli.ok(cli("reconstruct", cases_dir / "C07_headers.fasta", "--model", tiny_protein_model))
    predicted = cli.ok(cli("predict", cases_dir / "C07_headers.fasta", "--model", tiny_protein_model))

    with np.load(work / "out.npz") as data:
        assert data["ids"].tolist() == expected
        assert data["latents"].shape == (4, 8)
    assert [h for h, _ in _fasta(recon)] == expected
    assert [row.split("\t")[0] for row in predicted.stdout.splitlines()[1:]] == expected
    assert sorted(p.name for p in work.iterdir()) == ["out.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_c11_bom_fasta(cli, tiny_protein_model: Path, cases_dir: Path) -> None:
    result = cli.ok(cli("reconstruct", cases_dir / "C11_bom.fasta", "--model", tiny_protein_model))

    assert [h for h, _ in _fasta(result)] == ["bom_first_1", "second_2"]


def test_c28_stdin_is_sniffed_and_format_overrides(cli, tiny_protein_model: Path, cases_dir: Path,
                                                   tmp_path: Path) -> None:
    data = (cases_dir / C28).read_bytes()
    odd_name = tmp_path / "proteins.dat"
    odd_name.write_bytes(data)

    by_path = cli.ok(_encode(cli, tiny_protein_model, cases_dir / C28))
    by_stdin = cli.ok(_encode(cli, tiny_protein_model, "-", input=data))
    by_sniff = cli.ok(_encode(cli, tiny_protein_model, odd_name))
    as_text = cli(*("encode", odd_name, "--format", "text", "--model", tiny_protein_model))

    assert by_path.stdout_bytes == by_stdin.stdout_bytes == by_sniff.stdout_bytes
    cli.usage_error(as_text, "is a protein model, but the input is text data")


# --- the other subcommands -----------------------------------------------------------------------
def test_generate_fasta_with_stable_ids(cli, tiny_protein_model: Path) -> None:
    args = ("generate", "-n", 3, "-k", 5, "--seed", 3, "--model", tiny_protein_model)

    first = cli.ok(cli(*args))
    second = cli.ok(cli(*args))

    records = _fasta(first)
    assert [h for h, _ in records] == ["gen_000001", "gen_000002", "gen_000003"]
    assert all(s and set(s) <= set("ACDEFGHIKLMNPQRSTVWYX") and len(s) <= 50 for _, s in records)
    assert first.stdout_bytes == second.stdout_bytes


def test_reconstruct_csv_keeps_ids_and_reports_metrics_on_stderr(
    cli, tiny_protein_model: Path, tmp_path: Path
) -> None:
    table = tmp_path / "t.tsv"
    table.write_text("name\tsequence\nfirst\tmkvlaagiw\nsecond\tWWYYAC\n", encoding="utf-8")

    plain = cli.ok(cli("reconstruct", table, "--id-column", "name", "--model", tiny_protein_model))
    scored = cli.ok(cli("reconstruct", table, "--id-column", "name", "--metrics", "--model",
                        tiny_protein_model))

    assert [h for h, _ in _fasta(plain)] == ["first", "second"]
    assert scored.stdout_bytes == plain.stdout_bytes
    assert "identity=" in scored.stderr and "cross_entropy=" in scored.stderr
    assert "perplexity=" in scored.stderr and "n=2" in scored.stderr


def test_encode_decode_round_trip_keeps_ids(cli, tiny_protein_model: Path, cases_dir: Path,
                                            tmp_path: Path) -> None:
    npz, npy = tmp_path / "z.npz", tmp_path / "z.npy"
    cli.ok(_encode(cli, tiny_protein_model, cases_dir / C28, "-o", npz))
    cli.ok(_encode(cli, tiny_protein_model, cases_dir / C28, "-o", npy))

    from_npz = cli.ok(cli("decode", npz, "--model", tiny_protein_model))
    from_npy = cli.ok(cli("decode", npy, "--model", tiny_protein_model))
    recon = cli.ok(cli("reconstruct", cases_dir / C28, "--model", tiny_protein_model))

    assert from_npz.stdout_bytes == recon.stdout_bytes
    assert [h for h, _ in _fasta(from_npy)] == ["latent_000001", "latent_000002"]
    assert [s for _, s in _fasta(from_npy)] == [s for _, s in _fasta(recon)]


def test_interpolate_two_files_or_one_file_with_ids(cli, tiny_protein_model: Path, cases_dir: Path,
                                                    tmp_path: Path) -> None:
    records = (cases_dir / C28).read_text(encoding="utf-8").splitlines()
    a, b = tmp_path / "a.fasta", tmp_path / "b.fa"
    a.write_text("\n".join(records[:2]) + "\n", encoding="utf-8")
    b.write_text("\n".join(records[2:4]) + "\n", encoding="utf-8")
    common = ("-n", 4, "-k", 5, "--model", tiny_protein_model)

    by_ids = cli.ok(cli("interpolate", cases_dir / C28, "--a", "stdin_1", "--b", "stdin_2", *common))
    by_files = cli.ok(cli("interpolate", a, b, *common))

    assert by_ids.stdout_bytes == by_files.stdout_bytes
    headers = [h for h, _ in _fasta(by_ids)]
    assert headers[0] == "path_000001 weight=0 a=stdin_1 b=stdin_2"
    assert headers[-1] == "path_000004 weight=1 a=stdin_1 b=stdin_2"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--a", "stdin_1", "--b", "missing"], "--b missing"),
        (["--a", "stdin_1"], "--a and --b go together"),
        ([], "holds 2 examples"),
    ],
)
def test_interpolate_errors(cli, tiny_protein_model: Path, cases_dir: Path, args, fragment) -> None:
    extra = [] if args else [cases_dir / C28]
    result = cli("interpolate", cases_dir / C28, *extra, *args, "--model", tiny_protein_model)

    cli.usage_error(result, fragment)


@pytest.mark.parametrize("goal", [["--toward", "high"], ["--toward", "low"], ["--target", "0.5"]])
def test_edit_headers_carry_fitness_and_mutations(cli, tiny_protein_model: Path, cases_dir: Path,
                                                  goal: list[str]) -> None:
    result = cli.ok(cli("edit", cases_dir / C28, *goal, "-k", 10, "--model", tiny_protein_model))

    records = _fasta(result)
    assert [h.split()[0] for h, _ in records] == ["stdin_1", "stdin_2"]
    for header, sequence in records:
        fields = dict(part.split("=") for part in header.split()[1:])
        assert set(fields) == {"fitness", "fitness_input", "mutations"}
        float(fields["fitness"]), float(fields["fitness_input"])
        assert int(fields["mutations"]) >= 0 and sequence


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--toward", "positive"], "high or low"),
        ([], "exactly one of --toward high|low and --target"),
        (["--toward", "high", "--method", "mean"], "--method mean needs class labels"),
        (["--toward", "high", "--head", "stability"], "no head named 'stability'"),
    ],
)
def test_edit_errors(cli, tiny_protein_model: Path, cases_dir: Path, args, fragment) -> None:
    result = cli("edit", cases_dir / C28, *args, "--model", tiny_protein_model)

    cli.usage_error(result, fragment)


def test_text_model_refuses_protein_input(cli, tiny_text_model: Path, cases_dir: Path) -> None:
    result = cli("encode", cases_dir / C28, "--model", tiny_text_model)

    cli.usage_error(result, "is a text model, but the input is protein data")


def test_latest_run_of_the_input_modality(cli, tiny_protein_model: Path, tiny_text_model: Path,
                                          cases_dir: Path, tmp_path: Path, monkeypatch) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copytree(tiny_text_model, runs / "text-run")
    shutil.copytree(tiny_protein_model, runs / "protein-run")
    monkeypatch.setenv("EDDPM_RUNS", str(runs))

    protein = cli.ok(cli("encode", cases_dir / C28))
    generated = cli.ok(cli("generate", "--modality", "protein", "-n", 1, "-k", 2))
    text = cli.ok(cli("generate", "-n", 1, "-k", 2))

    assert "latest protein run" in protein.stderr and "protein-run" in protein.stderr
    assert generated.stdout.startswith(">gen_000001\n")
    assert "latest text run" in text.stderr


def test_long_sequences_are_cropped_with_one_warning(cli, tiny_protein_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "long.fasta"
    data.write_text(">a\n" + "M" * 60 + "\n>b\n" + "K" * 70 + "\n>c\nMKV\n", encoding="utf-8")

    result = cli.ok(_encode(cli, tiny_protein_model, data))

    warnings = [ln for ln in result.stderr.splitlines() if "warning" in ln]
    assert warnings == ["eddpm: warning: 2 of 3 sequence(s) are longer than the model's 50 residues "
                        "and were cropped to their first 50"]


def test_gzip_stdin_fasta(cli, tiny_protein_model: Path, cases_dir: Path) -> None:
    packed = gzip.compress((cases_dir / C28).read_bytes())

    piped = cli.ok(_encode(cli, tiny_protein_model, "-", input=packed))
    plain = cli.ok(_encode(cli, tiny_protein_model, cases_dir / C28))

    assert piped.stdout_bytes == plain.stdout_bytes


def test_usage_error_after_reading_stands_alone(cli, tiny_protein_model: Path, tmp_path: Path) -> None:
    """The reader's notes (here: J padding, a U read as X) are not printed before an error about
    the command's options: the error line is the only message."""
    fasta = tmp_path / "padded.fasta"
    fasta.write_text(">a\nJJMKTAYIAKQRUQISFVKSHFSRQJJ\n", encoding="utf-8")

    result = cli("edit", fasta, "-m", tiny_protein_model, "--method", "mean")

    cli.usage_error(result, "--method mean")
    assert [ln for ln in result.stderr.splitlines() if ln.startswith("eddpm:")] == [
        ln for ln in result.stderr.splitlines() if ln.startswith("eddpm: error:")
    ]
    ok = cli.ok(cli("edit", fasta, "-m", tiny_protein_model, "--toward", "high"))
    assert "J padding" in ok.stderr and "as X" in ok.stderr  # shown once the options pass
