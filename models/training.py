"""Training loop for any EDDPM, through Accelerate (one CPU, one or many GPUs, many nodes).

AdamW with linear warm-up and cosine decay, gradient clipping, optional EMA of the weights,
held-out validation of every loss term plus the codec's reconstruction metric, periodic atomic
checkpoints, exact resume (model, optimizer, schedule, EMA, RNG, step and data position) and a
loss-curve PNG. Only the main process logs and writes.

Under ``torchrun`` or ``accelerate launch`` every process runs the same loop (data parallel,
DDP): ``batch_size`` is per process, each step's global batch of ``batch_size * processes``
examples is split across the processes, the noise of the objective is drawn for the global batch
(:mod:`models.draws`), so that N processes follow the one-process run with N times the batch, and
the logged training and validation terms are averaged over all processes. An Accelerate config
may shard the model with FSDP2 instead of replicating it; checkpoints then gather the shards
(:mod:`models.sharding`) and keep the one-process layout.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from models import checkpoint as ckpt
from models import draws, sharding
from models.interrupts import interrupts_deferred, stop_at_step_boundary
from models.config import HeadConfig, TrainConfig
from models.errors import NonFiniteLossError, UsageError

logger = logging.getLogger(__name__)
TRAINER_DIR = "trainer"
# The loss terms a model can log, in one order that every process shares for reductions.
BASE_TERMS = ("align", "diff", "loss", "rec", "simple")


def launched_processes() -> int:
    """How many processes a launcher (torchrun, accelerate launch, mpirun) started, read from
    its environment; 1 when none did."""
    for name in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 1:
            return int(value)
    return 1


def _cpu_launch() -> bool:
    """A multi-process launch on a machine without a GPU (or other accelerator).

    Accelerate joins such processes (gloo) only when told to run on CPU; otherwise each one
    would train alone and write the same files."""
    if launched_processes() < 2:
        return False
    api = getattr(torch, "accelerator", None)
    if api is not None and hasattr(api, "is_available"):
        return not api.is_available()
    return not torch.cuda.is_available()


def distributed_state():
    """Accelerate's state of this process: one process, or one of a launch (set up on first use)."""
    from accelerate import PartialState

    return PartialState(cpu=_cpu_launch())


@dataclass
class Dataset:
    """Examples plus per-head targets (class indices, -1 unknown; or float values, NaN unknown)."""

    examples: list[Any]
    targets: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.examples)

    def subset(self, index: Sequence[int]) -> "Dataset":
        idx = torch.as_tensor(list(index), dtype=torch.long)
        return Dataset([self.examples[i] for i in idx.tolist()], {k: v[idx] for k, v in self.targets.items()})


def split_dataset(data: Dataset, fraction: float, max_examples: int, seed: int) -> tuple[Dataset, Dataset]:
    """Seeded train/validation split; the validation part never enters training."""
    n = len(data)
    n_val = min(max_examples, int(round(n * fraction))) if n >= 20 else 0
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return data.subset(sorted(perm[n_val:])), data.subset(sorted(perm[:n_val]))


def regression_heads(
    data: Dataset, names: Sequence[str], hidden: int = 64
) -> tuple[HeadConfig, ...]:
    """One regression head per target of ``data``, standardised with the mean and (population)
    standard deviation of its labelled values; a constant target keeps std 1.

    Raises:
        UsageError: a name that cannot name a head, or a target without any labelled value.
    """
    heads = []
    for name in names:
        if not name or "." in name:
            raise UsageError(
                f"label column {name!r} cannot name a prediction head (empty, or has a dot)",
                hint="rename the column in the table header",
            )
        values = data.targets[name]
        known = values[torch.isfinite(values)].double()
        if known.numel() == 0:
            raise UsageError(f"label column {name!r} has no values in the training data")
        std = float(known.std(unbiased=False)) if known.numel() > 1 else 0.0
        heads.append(HeadConfig(name=name, kind="regression", hidden=hidden, mean=float(known.mean()),
                                std=std if std > 1e-12 else 1.0))
    return tuple(heads)


def check_shareable(n_train: int, n_proc: int) -> None:
    """Refuse fewer training examples than processes (each process needs one for a step).

    Raises:
        UsageError: naming both counts.
    """
    if n_proc > 1 and n_train < n_proc:
        raise UsageError(
            f"{n_train} training examples cannot be shared by {n_proc} processes",
            hint="use more data or fewer processes",
        )


def check_mixed_precision(mode: str) -> None:
    """Refuse a precision the device cannot run, before any data is read.

    Raises:
        UsageError: unknown mode, or fp16 without a CUDA GPU.
    """
    if mode not in ("no", "bf16", "fp16"):
        raise UsageError(f"unknown mixed precision {mode!r}", hint="use no, bf16 or fp16")
    if mode == "fp16" and not torch.cuda.is_available():
        raise UsageError(
            "--mixed-precision fp16 needs a CUDA GPU, and none is available",
            hint="use --mixed-precision no (default) or bf16",
        )


class EMA:
    """Exponential moving average of the floating-point parameters (Polyak averaging).

    Buffers are not averaged: they are set, not learned (the class means written after
    training, the image latent statistics), so the live model's values always hold. A shadow
    loaded from an older checkpoint that also averaged buffers keeps only its parameters.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in self._parameters(model).items()}

    @staticmethod
    def _parameters(model: torch.nn.Module) -> dict[str, torch.Tensor]:
        return {k: v for k, v in model.named_parameters() if v.is_floating_point()}

    def load(self, model: torch.nn.Module, shadow: dict[str, torch.Tensor]) -> None:
        names = self._parameters(model)
        self.shadow = {k: v.to(names[k].device) for k, v in shadow.items() if k in names}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for k, v in self._parameters(model).items():
            self.shadow[k].lerp_(v.detach(), 1.0 - self.decay)

    def copy_to(self, model: torch.nn.Module) -> None:
        model.load_state_dict({**model.state_dict(), **self.shadow})


class Trainer:
    """Train ``model`` on ``train`` and validate on ``val``, writing into ``run_dir``.

    Args:
        model: an :class:`models.autoencoder.EDDPM`.
        config: run-level options.
        run_dir: checkpoint directory (config and assets are written by the caller).
        train, val: datasets; ``val`` may be empty.
        progress: show a tqdm bar on stderr.
        on_log: callback receiving each metrics record (after it is written).
    """

    def __init__(
        self,
        model,
        config: TrainConfig,
        run_dir: Path,
        train: Dataset,
        val: Dataset,
        progress: bool = True,
        on_log: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        from accelerate import Accelerator
        from transformers import get_cosine_schedule_with_warmup

        check_mixed_precision(config.mixed_precision)
        self.accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=_cpu_launch())
        sharding.check_distributed_type(self.accelerator)
        self.sharded = sharding.is_sharded(self.accelerator)
        if sharding.fsdp_requested() and not self.sharded and self.accelerator.is_main_process:
            logger.warning("the Accelerate config asks for FSDP, which Accelerate applies only "
                           "on GPUs (or other accelerators): this run is not sharded, each "
                           "process holds the whole model (data-parallel)")
        check_shareable(len(train), self.accelerator.num_processes)
        self.config = config
        self.run_dir = Path(run_dir)
        self.train_data, self.val_data = train, val
        self.progress = progress
        self.on_log = on_log
        self.raw_model = model
        # Under FSDP the main process writes the gathered weights through an unsharded copy
        # (on the CPU), so that tied tensors are stored once, as in any other run.
        self._replica = None
        if self.sharded and self.accelerator.is_main_process:
            import copy

            self._replica = copy.deepcopy(model).cpu()
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=config.lr,
        )
        # The schedule counts optimizer steps and stays out of prepare(): Accelerate would step a
        # prepared one once per process at every step (it assumes per-process epochs shrink).
        self.scheduler = get_cosine_schedule_with_warmup(
            optimizer, config.warmup_steps, config.max_steps
        )
        if self.sharded and self.accelerator.num_processes > 1:
            # DDP does this itself; fully_shard keeps each process's own copy.
            _broadcast_from_main(model, self.accelerator.device)
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        if self.accelerator.num_processes > 1:
            self._sync_rng_from_main()
        self.ema = EMA(model, config.ema_decay) if config.ema_decay > 0 else None
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.last_saved_step: int | None = None
        self.history: list[dict[str, Any]] = []
        self._peer_rng: tuple[int, list[dict[str, Any]]] | None = None  # (step, per process)

    # -- data ----------------------------------------------------------------------------------
    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        """This process's batches of an epoch, from one seeded permutation shared by all.

        Step k takes the global batch ``perm[k*B*N : (k+1)*B*N]`` (N processes, B examples
        each); process r takes its rows ``r, r + N, ...``. A last partial global batch is
        dropped, so every process makes the same number of steps; a dataset smaller than one
        global batch is shared equally (one step per epoch)."""
        g = torch.Generator().manual_seed(self.config.seed * 100003 + epoch)
        perm = torch.randperm(len(self.train_data), generator=g).tolist()
        acc = self.accelerator
        n_proc, B = acc.num_processes, self.config.batch_size
        if len(perm) >= B * n_proc:
            size = B
            perm = perm[: len(perm) // (B * n_proc) * B * n_proc]
        else:
            size = len(perm) // n_proc
            perm = perm[: size * n_proc]
        mine = perm[acc.process_index :: n_proc]
        if size == 0:
            return [mine]
        return [mine[i : i + size] for i in range(0, len(mine), size)]

    def _global_batch(self) -> int:
        """Examples per step over all processes (as :meth:`_epoch_batches` takes them)."""
        n_proc, B = self.accelerator.num_processes, self.config.batch_size
        n_train = len(self.train_data)
        return B * n_proc if n_train >= B * n_proc else n_train // n_proc * n_proc

    def _shared_draws(self, total: int, start: int, stride: int):
        """Noise drawn for the whole global batch (see :mod:`models.draws`); off for one process,
        whose draws stay exactly those of a plain run."""
        if self.accelerator.num_processes == 1:
            return nullcontext()
        return draws.batch_share(total, start, stride)

    def _term_keys(self) -> list[str]:
        return [*BASE_TERMS, *(f"head_{h}" for h in self.raw_model.heads)]

    def _reduce_means(self, sums: dict[str, float], counts: dict[str, int]) -> dict[str, float]:
        """``sums[k] / counts[k]`` over all processes, for the terms counted on any of them."""
        keys = self._term_keys()  # every term a model returns, in one order on every process
        acc = self.accelerator
        local = torch.tensor([sums.get(k, 0.0) for k in keys] + [counts.get(k, 0) for k in keys],
                             dtype=torch.float64, device=acc.device)
        total = acc.reduce(local, reduction="sum")
        K = len(keys)
        return {k: float(total[i] / total[K + i]) for i, k in enumerate(keys) if total[K + i] > 0}

    def _any_process(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag, true on every process when it is true on any of them (one reduction)."""
        acc = self.accelerator
        if acc.num_processes == 1:
            return flags
        local = torch.tensor([1.0 if f else 0.0 for f in flags], device=acc.device)
        return tuple(bool(v > 0) for v in acc.reduce(local, reduction="sum").tolist())

    def _sync_rng_from_main(self) -> None:
        """Start every process from the main one's RNG state (CPU, and CUDA when present), so that
        they draw the same global noise."""
        import torch.distributed as dist

        device = self.accelerator.device
        cuda = torch.cuda.is_available() and device.type == "cuda"
        states = [torch.get_rng_state()] + ([torch.cuda.get_rng_state(device)] if cuda else [])
        synced = []
        for state in states:
            t = state.to(device)
            dist.broadcast(t, src=0)
            synced.append(t.cpu())
        torch.set_rng_state(synced[0])
        if cuda:
            torch.cuda.set_rng_state(synced[1], device)

    def _rng_of_each_process(self) -> list[dict[str, Any]]:
        """Every process's RNG state (CPU, and its own CUDA device's), gathered on all."""
        from accelerate.utils import gather_object

        device = self.accelerator.device
        cuda = torch.cuda.is_available() and device.type == "cuda"
        mine = {"cpu": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state(device) if cuda else None}
        return list(gather_object([mine]))

    def _batch(self, data: Dataset, index: Sequence[int]) -> dict[str, Any]:
        from models.codec import to_device

        batch = self.raw_model.collate([data.examples[i] for i in index])
        idx = torch.as_tensor(list(index), dtype=torch.long)
        for name, values in data.targets.items():
            batch[f"target_{name}"] = values[idx]
        return to_device(batch, self.accelerator.device)

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs, with full (unsharded) weights and optimizer state.

        Under FSDP every process must call it (it gathers the shards) and only the main
        process's result is complete; otherwise only the main process calls it."""
        if self.sharded:
            model_state = sharding.full_model_state(self.model)
            optimizer_state = sharding.full_optimizer_state(self.model, self.optimizer.optimizer)
            main = self.accelerator.is_main_process
            ema = sharding.full_tensors(self.ema.shadow, keep=main) if self.ema else None
        else:
            model_state = {k: v.detach().cpu().clone()
                           for k, v in self.raw_model.state_dict().items()}
            optimizer_state = self.optimizer.state_dict()
            ema = self.ema.shadow if self.ema else None
        return {
            "model": model_state,
            "optimizer": optimizer_state,
            "scheduler": self.scheduler.state_dict(),
            "ema": ema,
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            # The position in examples, so that a resume with another process count or batch
            # size goes on from the same place in the epoch's permutation.
            "global_batch": self._global_batch(),
            "examples_in_epoch": self.batch_in_epoch * self._global_batch(),
            **self._process_state(),
        }

    def _process_state(self) -> dict[str, Any]:
        """The process count and each process's RNG state; nothing for one process."""
        n_proc = self.accelerator.num_processes
        if n_proc == 1:
            return {}
        out: dict[str, Any] = {"num_processes": n_proc}
        if self._peer_rng is not None and self._peer_rng[0] == self.step:
            out["rng_per_process"] = self._peer_rng[1]
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict` (by any number of processes, sharded or
        not); under FSDP every process calls it with the same state."""
        if self.sharded:
            sharding.load_model_state(self.model, state["model"])
            sharding.load_optimizer_state(self.model, self.optimizer.optimizer, state["optimizer"])
        else:
            self.raw_model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None and state.get("ema"):
            self.ema.load(self.raw_model, state["ema"])
            if self.sharded:
                params = dict(self.raw_model.named_parameters())
                self.ema.shadow = sharding.shard_like(self.ema.shadow, params)
        torch.set_rng_state(state["rng"])
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        acc = self.accelerator
        saved = int(state.get("num_processes", 1))
        global_batch = self._global_batch()
        saved_batch = int(state.get("global_batch", self.config.batch_size * saved))
        done = int(state.get("examples_in_epoch", int(state["batch_in_epoch"]) * saved_batch))
        self.batch_in_epoch = done // global_batch  # exact unless the global batch changed
        self.last_saved_step = self.step
        peers = state.get("rng_per_process") or []
        if acc.num_processes > 1 and len(peers) == acc.num_processes:
            mine = peers[acc.process_index]
            torch.set_rng_state(mine["cpu"])
            if mine.get("cuda") is not None and acc.device.type == "cuda":
                torch.cuda.set_rng_state(mine["cuda"], acc.device)
        if (saved != acc.num_processes or saved_batch != global_batch) and acc.is_main_process:
            repeated = done - self.batch_in_epoch * global_batch
            logger.warning(
                "this run was saved with %d process(es) and a global batch of %d examples, and "
                "resumes with %d and %d: epoch %d goes on after its first %d examples%s",
                saved, saved_batch, acc.num_processes, global_batch, self.epoch,
                self.batch_in_epoch * global_batch,
                f" ({repeated} of them are seen again)" if repeated else "",
            )

    def resume(self) -> None:
        """Restore everything from ``run_dir/trainer`` and the metrics written up to that step
        (every process reads the state; the main one then tidies the directory)."""
        self.load_state_dict(ckpt.load_state(self.run_dir / TRAINER_DIR))
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return
        ckpt.remove_partial_writes(self.run_dir, TRAINER_DIR)
        path = self.run_dir / "metrics.jsonl"
        if path.exists():
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            self.history = [r for r in rows if r["step"] <= self.step]
            self._rewrite_metrics()

    def save(self) -> None:
        """Write the resumable state, then the inference weights (EMA when on).

        Every process calls it: they meet, their RNG states are gathered into the checkpoint,
        and the main process writes (under FSDP every process helps gather the weights). A
        Ctrl-C that arrives while a checkpoint is written takes effect once both of its files
        are written."""
        with interrupts_deferred():  # the state and the weights are written as one
            self._save()

    def _save(self) -> None:
        main = self.accelerator.is_main_process
        self.accelerator.wait_for_everyone()
        if self.accelerator.num_processes > 1:
            self._peer_rng = (self.step, self._rng_of_each_process())
        if main or self.sharded:
            state = self.state_dict()
            if main:
                ckpt.save_state(self.run_dir / TRAINER_DIR, state)
            with self.inference_weights():
                weights = self._full_module()
                if main:
                    ckpt.save_weights(weights, self.run_dir / ckpt.WEIGHTS_NAME)
        if main:
            self._rewrite_metrics()
        self.last_saved_step = self.step

    @contextmanager
    def inference_weights(self) -> Iterator[None]:
        """Within the block the model holds the weights that are saved for inference: the EMA
        average when EMA is on (the training weights come back afterwards)."""
        if self.ema is None:
            yield
            return
        current = {k: v.clone() for k, v in self.raw_model.state_dict().items()}
        self.ema.copy_to(self.raw_model)
        try:
            yield
        finally:
            self.raw_model.load_state_dict(current)

    @contextmanager
    def full_weights(self) -> Iterator[None]:
        """Within the block any method of ``raw_model`` can run: a no-op unless the weights are
        sharded (FSDP), where every process must enter it (the shards are gathered)."""
        with sharding.unsharded(self.raw_model, self.sharded):
            yield

    def _full_module(self) -> torch.nn.Module | None:
        """The model with its current weights whole: the model itself, or under FSDP (where
        every process takes part) the main process's CPU replica, None elsewhere."""
        if not self.sharded:
            return self.raw_model
        full = sharding.full_model_state(self.model)
        if self._replica is None:
            return None
        self._replica.load_state_dict(full)
        return self._replica

    def _rewrite_metrics(self) -> None:
        with ckpt.atomic_path(self.run_dir / "metrics.jsonl") as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in self.history), encoding="utf-8")

    def _log(self, record: dict[str, Any]) -> None:
        if not self.accelerator.is_main_process:
            return
        self.history.append(record)
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.on_log:
            self.on_log(record)

    # -- loop ----------------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train to ``max_steps`` (or the time limit); return the last validation record.

        Raises:
            NonFiniteLossError: the loss became NaN or infinite (the last good checkpoint stays).
            KeyboardInterrupt: on Ctrl-C or SIGTERM, once every process has finished its step
                and a resumable checkpoint is written; on a second Ctrl-C, at once.
        """
        start = time.monotonic()
        bar = self._progress_bar()
        stop_requests: list[int] = []
        try:
            with stop_at_step_boundary(stop_requests, self.accelerator.is_main_process):
                last_val = self._steps(start, bar, stop_requests)
        except KeyboardInterrupt:
            # A second Ctrl-C stops at once, perhaps inside a step: nothing more is saved.
            if self.last_saved_step != self.step and self.accelerator.is_main_process:
                saved = ("no checkpoint was written" if self.last_saved_step is None
                         else f"the checkpoint from step {self.last_saved_step} is kept")
                logger.warning("stopped at once at step %d: %s", self.step, saved)
            raise
        finally:
            if bar is not None:
                bar.close()
        if self.val_data.examples and (not last_val or last_val["step"] != self.step):
            last_val = self.validate()
        if self.last_saved_step != self.step:
            self.save()
        return last_val

    def _steps(self, start: float, bar, stop_requests: list[int]) -> dict[str, Any]:
        """The training loop of :meth:`fit`; returns the last validation record (or {})."""
        cfg = self.config
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        last_val: dict[str, Any] = {}
        while self.step < cfg.max_steps:
            batches = self._epoch_batches(self.epoch)
            while self.batch_in_epoch < len(batches) and self.step < cfg.max_steps:
                terms = self._train_step(batches[self.batch_in_epoch])
                self.batch_in_epoch += 1
                self.step += 1
                for k, v in terms.items():  # per-term counts: align is rarely drawn
                    sums[k] = sums.get(k, 0.0) + v
                    counts[k] = counts.get(k, 0) + 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{terms['loss']:.3f}", rec=f"{terms['rec']:.3f}")
                if self.step % 10 == 0 or self.step == cfg.max_steps:
                    if self.accelerator.num_processes == 1:
                        means = {k: v / counts[k] for k, v in sums.items()}
                    else:
                        means = self._reduce_means(sums, counts)
                    lr = self.scheduler.get_last_lr()[0]
                    self._log({"step": self.step, "split": "train", **means, "lr": lr,
                               "elapsed_s": round(time.monotonic() - start, 2)})
                    sums, counts = {}, {}
                elapsed = time.monotonic() - start
                out_of_time = cfg.max_minutes > 0 and elapsed > cfg.max_minutes * 60
                # Every process stops at the same step boundary (one reduction per step), so a
                # checkpoint written on a stop holds a finished step on all of them.
                out_of_time, stop = self._any_process(out_of_time, bool(stop_requests))
                if stop:
                    if self.last_saved_step != self.step:
                        self.save()
                    raise KeyboardInterrupt
                if self.step % cfg.eval_every == 0 and self.val_data.examples:
                    last_val = self.validate()
                if self.step % cfg.save_every == 0 or out_of_time:
                    self.save()
                if out_of_time:
                    logger.info("time limit of %s minutes reached at step %d", cfg.max_minutes,
                                self.step)
                    self.config = _replace_steps(cfg, self.step)
                    return last_val
            if self.batch_in_epoch < len(batches):  # max_steps reached inside the epoch
                break
            self.epoch += 1
            self.batch_in_epoch = 0
        return last_val

    def _train_step(self, index: Sequence[int]) -> dict[str, float]:
        self.model.train()
        batch = self._batch(self.train_data, index)
        acc = self.accelerator
        n_proc = acc.num_processes
        with self._shared_draws(len(index) * n_proc, acc.process_index, n_proc), acc.autocast():
            terms = self.model(batch)
        loss = terms["loss"]
        if not bool(torch.isfinite(loss.detach())):
            saved = "no checkpoint was written" if self.last_saved_step is None else (
                f"the checkpoint from step {self.last_saved_step} is intact"
            )
            raise NonFiniteLossError(
                f"the training loss became non-finite ({float(loss.detach()):.4g}) at step {self.step + 1}; {saved}",
                hint="lower --lr or check the data",
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        if self.config.grad_clip > 0:
            self.accelerator.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        if not getattr(self.optimizer, "step_was_skipped", False):  # an fp16 overflow skips both
            self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.raw_model)
        return {k: float(v.detach()) for k, v in terms.items()}

    def _progress_bar(self):
        if not (self.progress and self.accelerator.is_main_process):
            return None
        from tqdm.auto import tqdm

        return tqdm(total=self.config.max_steps, initial=self.step, desc="train", unit="step", dynamic_ncols=True)

    # -- validation ----------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict[str, Any]:
        """Each loss term on the held-out split (fixed noise draws) and the codec's
        reconstruction metric on up to ``bleu_examples`` of them (main process).

        The split is cut into batches of ``batch_size``; N processes take them N at a time
        (process r the r-th of each group) and draw their noise as one process would for the
        whole group, so the example-weighted means gathered from all processes are those of a
        one-process run with N times the batch size."""
        self.model.eval()
        data, B = self.val_data, self.config.batch_size
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        acc = self.accelerator
        n_proc, rank = acc.num_processes, acc.process_index
        batches = [range(i, min(i + B, len(data))) for i in range(0, len(data), B)]
        with self.full_weights():  # every process: the shards are gathered under FSDP
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.config.seed + 1)
                for first in range(0, len(batches), n_proc):
                    group = batches[first : first + n_proc]
                    if rank >= len(group):
                        break
                    index = list(group[rank])
                    offset = sum(len(b) for b in group[:rank])
                    with self._shared_draws(sum(len(b) for b in group), offset, 1), acc.autocast():
                        batch = self._batch(data, index)
                        terms = self.raw_model.loss_terms(batch, full_align=True)
                    for k, v in terms.items():
                        sums[k] = sums.get(k, 0.0) + float(v) * len(index)
                        counts[k] = counts.get(k, 0) + len(index)
            record: dict[str, Any] = {"step": self.step, "split": "val",
                                      **self._reduce_means(sums, counts)}
            if acc.is_main_process:
                record.update(self.reconstruction_metrics())
        self._log(record)
        return record

    def reconstruction_metrics(self) -> dict[str, float]:
        refs = self.val_data.examples[: self.config.bleu_examples]
        outputs: list[Any] = []
        B = self.config.batch_size
        for i in range(0, len(refs), B):
            batch = self._batch(self.val_data, range(i, min(i + B, len(refs))))
            outputs += self.raw_model.decode(self.raw_model.encode(batch))
        return {f"recon_{k}": v for k, v in self.raw_model.codec.reconstruction_metrics(refs, outputs).items()}


@torch.no_grad()
def _broadcast_from_main(model: torch.nn.Module, device: torch.device) -> None:
    """Give every process the main process's parameters and buffers (through ``device``: NCCL
    moves GPU tensors only)."""
    import torch.distributed as dist

    for tensor in [*model.parameters(), *model.buffers()]:
        moved = tensor.data.to(device)
        dist.broadcast(moved, src=0)
        tensor.data.copy_(moved)


def _replace_steps(cfg: TrainConfig, steps: int) -> TrainConfig:
    import dataclasses

    return dataclasses.replace(cfg, max_steps=steps)


def plot_losses(history: list[dict[str, Any]], path: Path) -> None:
    """Draw train and validation curves of every loss term into a PNG (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    terms = ["loss", "rec", "diff", "simple"]
    fig, axes = plt.subplots(1, len(terms), figsize=(4 * len(terms), 3.2))
    for ax, term in zip(axes, terms):
        for split, style in (("train", "-"), ("val", "o-")):
            rows = [r for r in history if r.get("split") == split and term in r and math.isfinite(r[term])]
            if rows:
                ax.plot([r["step"] for r in rows], [r[term] for r in rows], style, label=split, ms=3)
        ax.set_title(term)
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.legend()
    fig.tight_layout()
    with ckpt.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


@torch.no_grad()
def class_means(model, data: Dataset, head: str, batch_size: int, max_per_class: int = 5000) -> torch.Tensor:
    """Mean of mu per class of a classification head, over up to ``max_per_class`` examples each."""
    from models.codec import to_device

    classes = model.heads[head].config.classes
    target = data.targets[head]
    device = next(model.parameters()).device
    model.eval()
    means = torch.zeros(len(classes), model.config.prior.latent_dim)
    for c in range(len(classes)):
        index = (target == c).nonzero().flatten()[:max_per_class].tolist()
        total, n = torch.zeros(model.config.prior.latent_dim), 0
        for i in range(0, len(index), batch_size):
            part = index[i : i + batch_size]
            batch = to_device(model.collate([data.examples[j] for j in part]), device)
            total += model.encode(batch).float().sum(0).cpu()
            n += len(part)
        means[c] = total / max(n, 1)
    return means
