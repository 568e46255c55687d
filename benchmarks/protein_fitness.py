"""Protein fitness benchmark (Gifford CDR3 antibodies, GFP), measured through the eddpm CLI.

For each data set this script trains two models with ``eddpm train`` on the same split:

- ``eddpm``: the preset as it is (reconstruction + latent diffusion + alignment + fitness head);
- ``ae``: the same network with ``objective.diffusion_weight = 0``. L_align is the t = 1 case
  of the latent term (METHOD.md section 2), so this one weight switches off both the diffusion
  and the alignment term: what is left is an autoencoder (with the fixed encoder noise) trained
  jointly with the same fitness head.

It then reports, on held-out sequences, the test Spearman correlation of the jointly trained head
(``eddpm predict``) and of a ridge regression on ``eddpm encode`` latents, next to a ridge on
one-hot sequences; reconstruction identity (``eddpm reconstruct``); validity, novelty and
diversity of 100 ``eddpm generate`` samples; and the fitness gain against the number of
mutations of ``eddpm edit --toward high`` at several strengths. Every number comes from the same
commands a user would type; they are written into ``report.json`` with their wall times.

    python benchmarks/protein_fitness.py --shared ../shared --out bench-out/protein \\
        --minutes 12 --max-steps gifford=7000,gfp=320 --threads 1 --jobs 2

Splits. Gifford: train on ``gifford_train.csv``; test on ``gifford_test.csv`` minus the
sequences that also occur in the training file. GFP: ``gfp_test.csv`` and ``tape_gfp_valid.csv``
together, duplicates removed (first occurrence kept), split 80/20 with ``--seed``. Sequences are
compared after the CLI's cleaning (``J`` padding stripped at both ends, inner ``J`` read as X).

Outputs under ``--out``: one folder per data set (split CSVs, the runs ``eddpm`` and ``ae``, all
command outputs, ``report.json``), then ``report.json`` and ``results_protein.md`` over every
data set found there, so two invocations with different ``--datasets`` can share ``--out``.

Needs the ``bench`` extra (scikit-learn, scipy, rapidfuzz); the edit plot uses matplotlib.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import random
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np
from _bench import require, thread_env

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
VARIANTS = ("eddpm", "ae")
# The plain autoencoder: L_align is the t = 1 case of the latent term, so lambda = 0 removes it too.
AE_OVERRIDE = {"objective": {"diffusion_weight": 0.0}}
DATASETS = ("gifford", "gfp")


# -- running eddpm -----------------------------------------------------------------------------
class Runner:
    """Runs eddpm commands with a fixed thread count and records each with its wall time."""

    def __init__(self, eddpm: str, threads: int) -> None:
        self.eddpm = eddpm
        self.threads = threads
        self.env = thread_env(threads)

    def __call__(
        self, args: list[str], log: list[dict], stdout_path: Path | None = None
    ) -> tuple[str, str]:
        """Run ``eddpm ARGS``; append {command, wall_s} to ``log``; return (stdout, stderr).

        The stdout is also written to ``stdout_path`` when given. A failure ends the script with
        the command and its stderr.
        """
        cmd = [self.eddpm, *args]
        shown = f"OMP_NUM_THREADS={self.threads} " + " ".join(shlex.quote(c) for c in cmd)
        if stdout_path is not None:
            shown += f" > {shlex.quote(str(stdout_path))}"
        start = time.monotonic()
        res = subprocess.run(cmd, capture_output=True, text=True, env=self.env, check=False)
        wall = time.monotonic() - start
        if res.returncode != 0:
            sys.exit(f"command failed ({res.returncode}): {shown}\n{res.stderr}")
        log.append({"command": shown, "wall_s": round(wall, 2)})
        if stdout_path is not None:
            stdout_path.write_text(res.stdout, encoding="utf-8")
        return res.stdout, res.stderr


# -- data ----------------------------------------------------------------------------------------
def clean(sequence: str) -> str:
    """The sequence as the CLI reads it: upper case, J padding stripped, inner J and U/O/B/Z as X."""
    s = sequence.strip().upper().strip("J")
    return s.translate(str.maketrans("JUOBZ", "XXXXX"))


def read_table(path: Path) -> list[tuple[str, float]]:
    """(raw sequence, fitness) rows of a ``sequence,fitness`` CSV."""
    with path.open(newline="", encoding="utf-8") as f:
        return [(row["sequence"], float(row["fitness"])) for row in csv.DictReader(f)]


def write_table(path: Path, rows: list[tuple[str, str, float]]) -> None:
    """Write ``id,sequence,fitness`` so every CLI output can be matched back by id."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "sequence", "fitness"])
        writer.writerows(rows)


def split_dataset(name: str, data_dir: Path, seed: int) -> tuple[list, list, dict]:
    """Train and test rows (raw sequence, fitness) of a data set, plus notes on the split."""
    if name == "gifford":
        train = read_table(data_dir / "gifford_train.csv")
        test_all = read_table(data_dir / "gifford_test.csv")
        seen = {clean(s) for s, _ in train}
        test = [r for r in test_all if clean(r[0]) not in seen]
        info = {
            "train_source": "gifford_train.csv",
            "test_source": "gifford_test.csv",
            "test_removed_in_train": len(test_all) - len(test),
        }
        return train, test, info
    rows = read_table(data_dir / "gfp_test.csv") + read_table(data_dir / "tape_gfp_valid.csv")
    unique: dict[str, tuple[str, float]] = {}
    for s, y in rows:
        unique.setdefault(clean(s), (s, y))
    pool = list(unique.values())
    random.Random(seed).shuffle(pool)
    cut = round(0.8 * len(pool))
    info = {
        "sources": ["gfp_test.csv", "tape_gfp_valid.csv"],
        "rows": len(rows),
        "duplicates_removed": len(rows) - len(pool),
        "split": f"80/20, seed {seed}",
    }
    return pool[:cut], pool[cut:], info


def prepare(name: str, data_dir: Path, out: Path, seed: int, limit: int | None) -> dict:
    """Write ``train.csv`` and ``test.csv`` (``id,sequence,fitness``) under ``out``."""
    train, test, info = split_dataset(name, data_dir, seed)
    if limit:
        train, test = train[:limit], test[:limit]
        info["limit"] = limit
    out.mkdir(parents=True, exist_ok=True)
    write_table(out / "train.csv", [(f"train{i}", s, y) for i, (s, y) in enumerate(train)])
    write_table(out / "test.csv", [(f"test{i}", s, y) for i, (s, y) in enumerate(test)])
    longest = max(len(clean(seq)) for seq, _ in train)
    info.update(
        n_train=len(train),
        n_test=len(test),
        longest_train=longest,
        test_longer_than_train=sum(len(clean(seq)) > longest for seq, _ in test),
    )
    return info


def load_split(out: Path) -> dict[str, dict[str, tuple[str, float]]]:
    """{"train" or "test": {id: (clean sequence, fitness)}} from the CSVs :func:`prepare` wrote."""
    split = {}
    for part in ("train", "test"):
        with (out / f"{part}.csv").open(newline="", encoding="utf-8") as f:
            split[part] = {
                r["id"]: (clean(r["sequence"]), float(r["fitness"])) for r in csv.DictReader(f)
            }
    return split


def read_fasta(text: str) -> list[tuple[str, str, str]]:
    """(id, description, sequence) of each FASTA record in ``text``."""
    records, header, chunks = [], None, []
    for line in text.splitlines():
        if line.startswith(">"):
            if header is not None:
                records.append((*header, "".join(chunks)))
            name, _, desc = line[1:].partition(" ")
            header, chunks = (name, desc), []
        elif line.strip():
            chunks.append(line.strip())
    if header is not None:
        records.append((*header, "".join(chunks)))
    return records


def read_tsv(text: str) -> dict[str, float]:
    """{id: value} of a two-column ``eddpm predict`` TSV."""
    rows = list(csv.reader(io.StringIO(text), delimiter="\t"))
    return {r[0]: float(r[1]) for r in rows[1:]}


# -- baselines and metrics ---------------------------------------------------------------------
class OneHot:
    """One-hot features of cleaned sequences, left-aligned; when lengths vary (fewer than 90% at
    the most common length, as for CDR3 loops) also right-aligned, so both ends line up. Columns
    that never vary in the training set are dropped."""

    def __init__(self, train: list[str]) -> None:
        self.alphabet = {a: i for i, a in enumerate(AMINO_ACIDS + "X")}
        self.length = max(len(s) for s in train)
        lengths = np.bincount([len(s) for s in train])
        self.both_ends = bool(lengths.max() < 0.9 * len(train))
        counts = np.asarray(self._sparse(train).sum(axis=0)).ravel()
        self.keep = (counts > 0) & (counts < len(train))

    def _sparse(self, seqs: list[str]):
        from scipy import sparse

        A, L = len(self.alphabet), self.length
        rows, cols = [], []
        for n, s in enumerate(seqs):
            s = s[:L]
            for i, a in enumerate(s):
                k = self.alphabet.get(a, A - 1)
                rows.append(n)
                cols.append(i * A + k)
                if self.both_ends:
                    rows.append(n)
                    cols.append((2 * L - len(s) + i) * A + k)  # second block: right-aligned
        width = (2 if self.both_ends else 1) * L * A
        data = np.ones(len(rows), dtype=np.float64)
        return sparse.csr_matrix((data, (rows, cols)), shape=(len(seqs), width))

    def __call__(self, seqs: list[str]) -> np.ndarray:
        """(N, kept columns) float64."""
        return self._sparse(seqs)[:, self.keep].toarray()


def ridge(x_train: np.ndarray, y_train: np.ndarray, scale: bool):
    """RidgeCV (efficient leave-one-out over a log grid of alphas), optionally standardising."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = RidgeCV(alphas=np.logspace(-3, 4, 15))
    pipe = make_pipeline(StandardScaler(), model) if scale else make_pipeline(model)
    return pipe.fit(x_train.astype(np.float64), y_train)


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def identity(reference: str, output: str) -> float:
    """Matching positions over the longer length (the CLI's identity)."""
    longest = max(len(reference), len(output))
    return sum(a == b for a, b in zip(reference, output)) / longest if longest else 1.0


def distance_stats(samples: list[str], train: list[str], workers: int) -> dict:
    """Levenshtein distance of each sample to its nearest training sequence and between samples."""
    from rapidfuzz.distance import Levenshtein
    from rapidfuzz.process import cdist

    nearest = cdist(
        samples, train, scorer=Levenshtein.distance, workers=workers, dtype=np.int32
    ).min(axis=1)
    pairwise = cdist(samples, samples, scorer=Levenshtein.distance, workers=workers, dtype=np.int32)
    upper = pairwise[np.triu_indices(len(samples), k=1)]
    return {
        "novelty_mean": float(nearest.mean()),
        "novelty_median": float(np.median(nearest)),
        "novel_fraction": float((nearest > 0).mean()),
        "diversity_mean": float(upper.mean()) if upper.size else 0.0,
        "unique_fraction": len(set(samples)) / len(samples),
    }


def validity(samples: list[str]) -> dict:
    """Valid: non-empty and only the 20 amino acids; X (unknown) is counted apart."""
    allowed = set(AMINO_ACIDS)
    return {
        "valid_fraction": sum(bool(s) and set(s) <= allowed for s in samples) / len(samples),
        "with_x_fraction": sum("X" in s for s in samples) / len(samples),
        "length_mean": float(np.mean([len(s) for s in samples])),
    }


# -- training ------------------------------------------------------------------------------------
def train_run(run: Runner, out: Path, variant: str, args: argparse.Namespace) -> dict:
    """Train one variant into ``out/VARIANT``; return its commands, wall time and steps."""
    log: list[dict] = []
    run_dir = out / variant
    cmd = [
        "train",
        "--data",
        str(out / "train.csv"),
        "--id-column",
        "id",
        "--label-column",
        "fitness",
        "--preset",
        args.preset,
        "--seed",
        str(args.seed),
        "--max-minutes",
        str(args.minutes),
        "--out",
        str(run_dir),
        "--force",
    ]
    steps = args.max_steps.get(out.name, args.max_steps.get("*"))
    if steps:
        cmd += ["--max-steps", str(steps)]
    if args.train_config:
        cmd += ["--config", str(args.train_config)]
    if variant == "ae":
        config = out / "ae_config.json"
        config.write_text(json.dumps(AE_OVERRIDE, indent=2) + "\n", encoding="utf-8")
        if args.train_config:
            config = merged_config(Path(args.train_config), config)
            cmd[cmd.index("--config") + 1] = str(config)
        else:
            cmd += ["--config", str(config)]
    load_before = os.getloadavg()
    _, stderr = run(cmd, log)
    (out / f"{variant}.train.log").write_text(stderr, encoding="utf-8")
    info = {
        "commands": log,
        "wall_s": log[-1]["wall_s"],
        "threads": args.threads,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        **training_record(run_dir),
    }
    (run_dir / "bench_train.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return info


def merged_config(user: Path, ae: Path) -> Path:
    """The user's JSON override with the autoencoder's objective weight on top."""
    data = json.loads(user.read_text(encoding="utf-8"))
    data.setdefault("objective", {}).update(AE_OVERRIDE["objective"])
    ae.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return ae


def training_record(run_dir: Path) -> dict:
    """Steps reached, training seconds and the last validation record, from the run's files."""
    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    rows = [
        json.loads(r) for r in (run_dir / "metrics.jsonl").read_text().splitlines() if r.strip()
    ]
    train_rows = [r for r in rows if r.get("split") == "train"]
    val_rows = [r for r in rows if r.get("split") == "val"]
    steps = info["finished"][-1]["step"] if info.get("finished") else None
    loop_s = train_rows[-1]["elapsed_s"] if train_rows else None
    return {
        "steps": steps,
        "train_loop_s": loop_s,
        "s_per_step": round(loop_s / train_rows[-1]["step"], 4) if train_rows else None,
        "examples": info.get("examples"),
        "train_config": info.get("train"),
        "last_val": val_rows[-1] if val_rows else None,
    }


# -- evaluation ----------------------------------------------------------------------------------
def evaluate(run: Runner, name: str, out: Path, args: argparse.Namespace) -> dict:
    """Every measurement of one data set whose runs exist under ``out``."""
    log: list[dict] = []
    split = load_split(out)
    train_ids, test_ids = list(split["train"]), list(split["test"])
    y_train = np.array([split["train"][i][1] for i in train_ids])
    y_test = np.array([split["test"][i][1] for i in test_ids])
    train_seqs = [split["train"][i][0] for i in train_ids]
    test_seqs = [split["test"][i][0] for i in test_ids]
    report: dict = {"fitness_spearman": {}, "reconstruction": {}, "ridge_alpha": {}}

    onehot = OneHot(train_seqs)
    baseline = ridge(onehot(train_seqs), y_train, scale=False)
    report["fitness_spearman"]["onehot_ridge"] = spearman(
        baseline.predict(onehot(test_seqs)), y_test
    )
    report["ridge_alpha"]["onehot"] = float(baseline[-1].alpha_)
    report["onehot_features"] = int(onehot.keep.sum())

    for variant in VARIANTS:
        model = ["--model", str(out / variant)]
        by_id = ["--id-column", "id"]
        stdout, _ = run(
            ["predict", str(out / "test.csv"), *by_id, *model], log, out / f"{variant}.predict.tsv"
        )
        predicted = read_tsv(stdout)
        head = np.array([predicted[i] for i in test_ids])
        report["fitness_spearman"][f"{variant}_head"] = spearman(head, y_test)

        z = {}
        for part in ("train", "test"):
            path = out / f"{variant}.{part}.npz"
            run(["encode", str(out / f"{part}.csv"), *by_id, "-o", str(path), *model], log)
            with np.load(path) as arrays:
                order = {k: n for n, k in enumerate(arrays["ids"].tolist())}
                ids = train_ids if part == "train" else test_ids
                z[part] = arrays["latents"][[order[i] for i in ids]]
        fit = ridge(z["train"], y_train, scale=True)
        report["fitness_spearman"][f"{variant}_latent_ridge"] = spearman(
            fit.predict(z["test"]), y_test
        )
        report["ridge_alpha"][f"{variant}_latent"] = float(fit[-1].alpha_)

        stdout, stderr = run(
            ["reconstruct", str(out / "test.csv"), *by_id, "--metrics", *model],
            log,
            out / f"{variant}.reconstruct.fasta",
        )
        recon = {rid: seq for rid, _, seq in read_fasta(stdout)}
        scores = [identity(split["test"][i][0], recon[i]) for i in test_ids]
        report["reconstruction"][variant] = {
            "identity_mean": float(np.mean(scores)),
            "exact_fraction": float(np.mean([split["test"][i][0] == recon[i] for i in test_ids])),
            "cli_metrics": [line for line in stderr.splitlines() if "reconstruction" in line],
        }

    report["generation"] = generation(run, out, train_seqs, test_seqs, args, log)
    report["edit"] = edits(run, out, split, test_ids, onehot, baseline, args, log)
    report["commands"] = log
    return report


def generation(
    run: Runner,
    out: Path,
    train_seqs: list[str],
    test_seqs: list[str],
    args: argparse.Namespace,
    log: list[dict],
) -> dict:
    """Validity, novelty and diversity of ``--num-generate`` samples, and of as many test sequences
    as a reference for what natural variants look like."""
    stdout, _ = run(
        [
            "generate",
            "--modality",
            "protein",
            "-n",
            str(args.num_generate),
            "--seed",
            str(args.seed),
            "--model",
            str(out / "eddpm"),
        ],
        log,
        out / "eddpm.generate.fasta",
    )
    samples = [seq for _, _, seq in read_fasta(stdout)]
    workers = max(1, args.threads)
    reference = random.Random(args.seed).sample(test_seqs, min(args.num_generate, len(test_seqs)))
    return {
        "n": len(samples),
        **validity(samples),
        **distance_stats(samples, train_seqs, workers),
        "test_reference": {**validity(reference), **distance_stats(reference, train_seqs, workers)},
        "examples": samples[:5],
    }


def edits(
    run: Runner,
    out: Path,
    split: dict,
    test_ids: list[str],
    onehot: OneHot,
    baseline,
    args: argparse.Namespace,
    log: list[dict],
) -> dict:
    """``eddpm edit --toward high`` on ``--num-edit`` test sequences at each ``--edit-strengths``.

    Gains are measured three ways: the followed head (edit's header), the same head re-run by
    ``eddpm predict`` on the edited sequences, and two predictors the guidance never saw: the
    one-hot ridge and the autoencoder run's head.
    """
    chosen = random.Random(args.seed + 1).sample(test_ids, min(args.num_edit, len(test_ids)))
    rows = [(i, split["test"][i][0], split["test"][i][1]) for i in chosen]
    write_table(out / "edit.csv", rows)
    inputs = [s for _, s, _ in rows]
    onehot_before = baseline.predict(onehot(inputs))
    before = {}
    for variant in VARIANTS:
        cmd = ["predict", str(out / "edit.csv"), "--id-column", "id", "--model", str(out / variant)]
        before[variant] = read_tsv(run(cmd, log)[0])
    result = {"n": len(rows), "start": "default (0.2)", "strengths": {}}
    for strength in args.edit_strengths:
        tag = f"{strength:g}"
        stdout, _ = run(
            [
                "edit",
                str(out / "edit.csv"),
                "--id-column",
                "id",
                "--toward",
                "high",
                "--strength",
                tag,
                "--seed",
                str(args.seed),
                "--model",
                str(out / "eddpm"),
            ],
            log,
            out / f"eddpm.edit_s{tag}.fasta",
        )
        records = read_fasta(stdout)
        fields = [dict(kv.split("=", 1) for kv in desc.split()) for _, desc, _ in records]
        edited = [seq for _, _, seq in records]
        mutations = np.array([int(f["mutations"]) for f in fields])
        head_gain = np.array([float(f["fitness"]) - float(f["fitness_input"]) for f in fields])
        gain = {}  # per variant: predict(edited) - predict(input), both at 6 digits
        for variant in VARIANTS:
            cmd = ["predict", str(out / f"eddpm.edit_s{tag}.fasta"), "--model", str(out / variant)]
            after = read_tsv(run(cmd, log)[0])
            gain[variant] = np.array([after[r] - before[variant][r] for r, _, _ in records])
        onehot_gain = baseline.predict(onehot(edited)) - onehot_before
        result["strengths"][tag] = {
            "mutations_mean": float(mutations.mean()),
            "mutations_median": float(np.median(mutations)),
            "unchanged_fraction": float((mutations == 0).mean()),
            "head_gain_mean": float(head_gain.mean()),
            "head_gain_repredicted_mean": float(gain["eddpm"].mean()),
            "onehot_ridge_gain_mean": float(onehot_gain.mean()),
            "ae_head_gain_mean": float(gain["ae"].mean()),
            "improved_fraction_onehot": float((onehot_gain > 0).mean()),
            "by_mutations": by_mutations(mutations, head_gain, onehot_gain),
            "points": [
                [int(m), float(h), float(o)] for m, h, o in zip(mutations, head_gain, onehot_gain)
            ],
        }
    plot_edits(result, out / "edit_gain.png")
    return result


def by_mutations(
    mutations: np.ndarray, head_gain: np.ndarray, onehot_gain: np.ndarray
) -> list[dict]:
    """Mean gains in bins of the number of mutations."""
    bins = [(0, 0), (1, 1), (2, 2), (3, 4), (5, 8), (9, 16), (17, 10**6)]
    rows = []
    for lo, hi in bins:
        m = (mutations >= lo) & (mutations <= hi)
        if m.any():
            label = str(lo) if lo == hi else (f">={lo}" if hi >= 10**6 else f"{lo}-{hi}")
            rows.append(
                {
                    "mutations": label,
                    "n": int(m.sum()),
                    "head_gain_mean": float(head_gain[m].mean()),
                    "onehot_ridge_gain_mean": float(onehot_gain[m].mean()),
                }
            )
    return rows


def plot_edits(result: dict, path: Path) -> None:
    """Head and one-hot ridge gain against mutations, one colour per strength."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharex=True)
    for tag, entry in result["strengths"].items():
        points = np.array(entry["points"]).reshape(-1, 3)
        for ax, col in zip(axes, (1, 2)):
            ax.scatter(points[:, 0], points[:, col], s=12, alpha=0.7, label=f"strength {tag}")
    for ax, title in zip(axes, ("gain by the guiding head", "gain by one-hot ridge")):
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xlabel("mutations")
        ax.set_title(title)
    axes[0].set_ylabel("predicted fitness gain")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- report --------------------------------------------------------------------------------------
def environment() -> dict:
    """Machine, versions and the repository state."""
    versions = {}
    for pkg in ("eddpm", "torch", "numpy", "scipy", "scikit-learn", "rapidfuzz"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    repo = Path(__file__).resolve().parent.parent
    git = subprocess.run(
        ["git", "-C", str(repo), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "machine": {
            "platform": platform.platform(),
            "cpu": cpu,
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg": os.getloadavg(),
        },
        "versions": versions,
        "git": git or None,
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


NAMES = {"gifford": "Gifford CDR3", "gfp": "GFP"}


def markdown(reports: dict[str, dict]) -> str:
    """The results section for docs/results.md: training, fitness, reconstruction and
    generation, editing."""
    first = next(iter(reports.values()))
    env, s = first["environment"], first["settings"]
    lines = [
        "## Proteins: fitness prediction, reconstruction, generation, editing",
        "",
        (
            f"Produced by `benchmarks/protein_fitness.py` (preset `{s['preset']}`, seed {s['seed']}, "
            f"{s['threads']} thread(s) per run) on {env['machine']['cpu_count']} CPU cores "
            f"({env['machine']['cpu']}), eddpm {env['versions']['eddpm']} ({env['git']}), torch "
            f"{env['versions']['torch']}. `ae` is the same network trained with diffusion weight 0, "
            "which also removes the alignment term."
        ),
        "",
    ]
    rows = []
    for ds, r in reports.items():
        for v in VARIANTS:
            t = r["train"][v]
            rows.append(
                [
                    NAMES[ds],
                    r["data"]["n_train"],
                    r["data"]["n_test"],
                    v,
                    t["steps"],
                    f"{t['wall_s'] / 60:.1f}",
                    _num(t["s_per_step"]),
                ]
            )
    lines += table(["data", "train", "test", "run", "steps", "minutes", "s/step"], rows)

    lines += ["", "Test Spearman correlation with measured fitness:", ""]
    keys = ("eddpm_head", "eddpm_latent_ridge", "ae_head", "ae_latent_ridge", "onehot_ridge")
    rows = [
        [NAMES[ds], *(_num(r["fitness_spearman"][k]) for k in keys)] for ds, r in reports.items()
    ]
    lines += table(
        [
            "data",
            "EDDPM head",
            "EDDPM latent + ridge",
            "AE head",
            "AE latent + ridge",
            "one-hot ridge",
        ],
        rows,
    )

    lines += [
        "",
        (
            f"Reconstruction of test sequences (mean identity / exact match) and "
            f"{first['generation']['n']} generated sequences (valid: non-empty, 20 amino acids "
            "only; novelty: Levenshtein distance to the nearest training sequence; diversity: "
            "mean pairwise distance; `test`: the same for as many test sequences):"
        ),
        "",
    ]
    rows = []
    for ds, r in reports.items():
        rec, g, ref = r["reconstruction"], r["generation"], r["generation"]["test_reference"]
        rows.append(
            [
                NAMES[ds],
                *(
                    f"{_num(rec[v]['identity_mean'])} / {_num(rec[v]['exact_fraction'])}"
                    for v in VARIANTS
                ),
                _num(g["valid_fraction"]),
                f"{g['novelty_mean']:.1f}",
                f"{g['diversity_mean']:.1f}",
                f"{ref['novelty_mean']:.1f}",
                f"{ref['diversity_mean']:.1f}",
            ]
        )
    lines += table(
        [
            "data",
            "EDDPM recon",
            "AE recon",
            "valid",
            "novelty",
            "diversity",
            "test novelty",
            "test diversity",
        ],
        rows,
    )

    lines += [
        "",
        (
            f"`eddpm edit --toward high` on {first['edit']['n']} test sequences: mean "
            "mutations, and the mean predicted gain by the guiding head (edit's header), by the "
            "same head through `eddpm predict`, and by two predictors the guidance did not use "
            "(one-hot ridge, the AE run's head). Strength 0 is the unguided round trip."
        ),
        "",
    ]
    rows = [
        [
            NAMES[ds],
            tag,
            f"{e['mutations_mean']:.1f}",
            _num(e["unchanged_fraction"], 2),
            *(
                _num(e[k])
                for k in (
                    "head_gain_mean",
                    "head_gain_repredicted_mean",
                    "onehot_ridge_gain_mean",
                    "ae_head_gain_mean",
                )
            ),
        ]
        for ds, r in reports.items()
        for tag, e in r["edit"]["strengths"].items()
    ]
    lines += table(
        [
            "data",
            "strength",
            "mutations",
            "unchanged",
            "head gain",
            "re-predicted",
            "one-hot ridge gain",
            "AE head gain",
        ],
        rows,
    )
    lines += [
        "",
        "Gain against mutations, per sequence: `edit_gain.png` in each data set's folder.",
        "",
    ]
    return "\n".join(lines)


def table(header: list[str], rows: list[list]) -> list[str]:
    """Markdown table lines."""
    cells = [header, ["---"] * len(header), *rows]
    return ["| " + " | ".join(str(c) for c in row) + " |" for row in cells]


def _num(x, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


# -- main ----------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default="../shared", help="folder holding data/protein_fitness")
    ap.add_argument("--out", default="bench-out/protein")
    ap.add_argument("--datasets", default="gifford,gfp", help="comma-separated: gifford, gfp")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eddpm", default="eddpm", help="the eddpm executable")
    ap.add_argument("--minutes", type=float, default=25.0, help="eddpm train --max-minutes per run")
    ap.add_argument(
        "--max-steps",
        type=steps_option,
        default={},
        help="eddpm train --max-steps: N for every data set, or gifford=N,gfp=M (default: preset)",
    )
    ap.add_argument(
        "--train-config", default=None, help="JSON --config for both runs (AE adds its weight)"
    )
    ap.add_argument("--threads", type=int, default=1, help="torch threads per eddpm command")
    ap.add_argument(
        "--jobs", type=int, default=2, help="training runs, then data set evaluations, side by side"
    )
    ap.add_argument("--skip-train", action="store_true", help="reuse the runs already in --out")
    ap.add_argument(
        "--limit", type=int, default=None, help="keep the first N train and test rows (smoke tests)"
    )
    ap.add_argument("--num-generate", type=int, default=100)
    ap.add_argument("--num-edit", type=int, default=50)
    ap.add_argument(
        "--edit-strengths",
        type=lambda s: [float(v) for v in s.split(",")],
        default=[0, 0.5, 1, 2, 4],
        help="edit --strength values; 0 is the unguided DDIM round trip, a control",
    )
    args = ap.parse_args()
    args.datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = sorted(set(args.datasets) - set(DATASETS))
    if unknown:
        ap.error(f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
    if args.train_config and not args.train_config.endswith(".json"):
        ap.error("--train-config must be a JSON file (the AE run merges its weight into it)")
    return args


def steps_option(text: str) -> dict[str, int]:
    """``N`` (every data set) or ``name=N,name=M``."""
    if "=" not in text:
        return {"*": int(text)}
    pairs = (item.split("=", 1) for item in text.split(",") if item.strip())
    return {name.strip(): int(value) for name, value in pairs}


def main() -> None:
    args = parse_args()
    require("sklearn", "scipy", "rapidfuzz", "matplotlib")
    data_dir = Path(args.shared) / "data" / "protein_fitness"
    out = Path(args.out)
    run = Runner(args.eddpm, args.threads)
    settings = {k: v for k, v in vars(args).items()}
    env = environment()

    data_info = {}
    for name in args.datasets:
        if args.skip_train:
            data_info[name] = json.loads((out / name / "split.json").read_text(encoding="utf-8"))
        else:
            data_info[name] = prepare(name, data_dir, out / name, args.seed, args.limit)
            write_json(out / name / "split.json", data_info[name])

    jobs = [(name, v) for name in args.datasets for v in VARIANTS]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        if args.skip_train:
            trained = [json.loads((out / n / v / "bench_train.json").read_text()) for n, v in jobs]
        else:
            trained = list(pool.map(lambda job: train_run(run, out / job[0], job[1], args), jobs))
        evaluated = list(
            pool.map(lambda name: evaluate(run, name, out / name, args), args.datasets)
        )

    for (name, variant), info in zip(jobs, trained):
        data_info[name].setdefault("_train", {})[variant] = info
    for name, result in zip(args.datasets, evaluated):
        report = {
            "dataset": name,
            "data": {k: v for k, v in data_info[name].items() if k != "_train"},
            "train": data_info[name]["_train"],
            **result,
            "settings": settings,
            "seeds": {
                "split": args.seed,
                "train": args.seed,
                "generate": args.seed,
                "edit": args.seed,
                "edit_subset": args.seed + 1,
            },
            "environment": env,
        }
        write_json(out / name / "report.json", report)

    reports = {
        p.parent.name: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(out.glob("*/report.json"))
        if p.parent.name in DATASETS
    }
    write_json(out / "report.json", {"datasets": reports, "environment": env})
    (out / "results_protein.md").write_text(markdown(reports), encoding="utf-8")
    summary = {
        ds: {
            **r["fitness_spearman"],
            "recon_identity_eddpm": r["reconstruction"]["eddpm"]["identity_mean"],
            "generate_valid": r["generation"]["valid_fraction"],
        }
        for ds, r in reports.items()
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
