"""Checkpoints: a self-describing directory of config, weights and assets.

    RUN/
      config.json          model config with modality and format version
      model.safetensors    weights (EMA weights when EMA is on); tied tensors stored once
      tokenizer/           codec assets (text: the decoder's tokenizer)
      encoder_tokenizer/   text with a pretrained encoder that has its own vocabulary
      run.json             command, seed, versions, data fingerprint, time
      metrics.jsonl        one JSON object per logged step
      loss.png             loss curves, train and validation
      trainer/             resumable state: weights, optimizer, RNG, step, data position

Loading needs no training code and never unpickles: weights come from safetensors, the rest from
JSON. Every file is written to a temporary name in its directory and renamed into place.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch

from models.config import ModelConfig
from models.errors import CheckpointError, UsageError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _share_like_a_new_file(path: Path, directory: bool = False) -> None:
    """Give a file made by ``tempfile`` (mode 0600, or 0700 for a directory) the mode a plain
    ``open`` or ``mkdir`` would have given it under the current umask, so results can be shared."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A symbolic link stays a link: its target is replaced. A device, named pipe or socket (say
    ``/dev/null``, or ``/dev/stdout`` into a pipe) cannot be replaced: it is yielded itself, to
    be written in place."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode  # follows links
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(f"{path} is a loop of symbolic links",
                             hint="point it at a file, or write elsewhere") from None
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        yield path
        return
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _share_like_a_new_file(tmp_path)  # after the block: writers may recreate the file
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def save_weights(module: torch.nn.Module, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Save a module's weights to safetensors atomically; shared (tied) tensors are stored once.

    Raises:
        CheckpointError: a tensor is NaN or infinite (nothing is written).
    """
    from safetensors.torch import save_model

    for name, tensor in module.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"refusing to save {path}: tensor {name} has non-finite values")
    with atomic_path(path) as tmp:
        save_model(module, str(tmp), metadata=metadata)


def load_weights(module: torch.nn.Module, path: Path) -> None:
    """Load safetensors weights into ``module`` strictly, checking names and shapes first.

    Raises:
        CheckpointError: missing/corrupt file, or keys or shapes differ (first few named).
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_model

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    expected = module.state_dict()
    try:
        with safe_open(str(path), framework="pt") as f:
            stored = {k: f.get_slice(k).get_shape() for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    problems = [
        f"{k} has shape {tuple(s)} in the file but {tuple(expected[k].shape)} in the model"
        for k, s in stored.items()
        if k in expected and tuple(s) != tuple(expected[k].shape)
    ]
    if problems:
        raise CheckpointError(f"{path}: {len(problems)} shape mismatch(es): " + "; ".join(problems[:3]))
    missing, unexpected = load_model(module, str(path), strict=False)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {', '.join(sorted(missing)[:4])}" + (" ..." if len(missing) > 4 else ""))
        if unexpected:
            parts.append(
                f"unexpected keys {', '.join(sorted(unexpected)[:4])}" + (" ..." if len(unexpected) > 4 else "")
            )
        raise CheckpointError(f"{path} does not match this model: {'; '.join(parts)}")


def read_config(directory: Path) -> ModelConfig:
    """Read ``config.json`` of a checkpoint directory.

    Raises:
        CheckpointError: not a checkpoint directory, or an unreadable config.
    """
    directory = Path(directory)
    path = directory / CONFIG_NAME
    if not directory.is_dir():
        raise CheckpointError(f"model directory {directory} does not exist", hint="train one with: eddpm train --data FILE")
    if not path.is_file():
        raise CheckpointError(f"{directory} is not an eddpm checkpoint (no {CONFIG_NAME})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ModelConfig.from_dict(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: invalid checkpoint config ({exc})") from None
    except CheckpointError:
        raise
    except Exception as exc:  # UsageError from from_dict: a foreign or newer config
        raise CheckpointError(f"{path}: {exc}") from None


def build_model(config: ModelConfig, directory: Path):
    """Build an EDDPM with random weights from a checkpoint's config and assets."""
    from models.autoencoder import EDDPM
    from models.codecs import load_codec

    return EDDPM(config, load_codec(config, directory))


def load_model(directory: Path, device: str | torch.device = "cpu"):
    """Load a trained model for inference (fp32, eval mode) from a checkpoint directory.

    Raises:
        CheckpointError: anything missing, corrupt or mismatched, naming the path.
    """
    directory = Path(directory)
    config = read_config(directory)
    model = build_model(config, directory)
    load_weights(model, directory / WEIGHTS_NAME)
    return model.float().to(device).eval()


def save_model_dir(model, directory: Path) -> None:
    """Write config.json, codec assets and model.safetensors of ``model`` into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_json(directory / CONFIG_NAME, model.config.to_dict())
    model.codec.save_assets(directory)
    save_weights(model, directory / WEIGHTS_NAME, metadata={"format": "pt"})


# -- optimizer state as safetensors + JSON (no pickle) ---------------------------------------------
def flatten_state(state: dict[str, Any], prefix: str = "") -> tuple[dict[str, torch.Tensor], Any]:
    """Split a nested state dict into tensors (by dotted key) and a JSON-able skeleton."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(obj: Any, key: str) -> Any:
        if isinstance(obj, torch.Tensor):
            tensors[key] = obj.detach().cpu().contiguous()
            return {"__tensor__": key}
        if isinstance(obj, dict):
            return {"__dict__": [[k, walk(v, f"{key}.{k}")] for k, v in obj.items()]}
        if isinstance(obj, (list, tuple)):
            return [walk(v, f"{key}.{i}") for i, v in enumerate(obj)]
        return obj

    return tensors, walk(state, prefix or "s")


def unflatten_state(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten_state`."""
    if isinstance(skeleton, dict) and "__tensor__" in skeleton:
        return tensors[skeleton["__tensor__"]]
    if isinstance(skeleton, dict) and "__dict__" in skeleton:
        return {k: unflatten_state(v, tensors) for k, v in skeleton["__dict__"]}
    if isinstance(skeleton, list):
        return [unflatten_state(v, tensors) for v in skeleton]
    return skeleton


def save_state(directory: Path, state: dict[str, Any]) -> None:
    """Save a nested training state as ``state.safetensors`` + ``state.json`` in a new directory,
    swapped into place atomically (a kill leaves the previous state whole)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    tensors, skeleton = flatten_state(state)
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"refusing to save training state: {name} has non-finite values")
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    _share_like_a_new_file(tmp, directory=True)
    try:
        save_file(tensors, str(tmp / "state.safetensors"))
        (tmp / "state.json").write_text(json.dumps(skeleton), encoding="utf-8")
        old = directory.with_name(directory.name + ".old")
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_partial_writes(directory: Path, state_name: str) -> None:
    """Delete what a killed writer left in ``directory``: the temporary files of
    :func:`atomic_path` and the half-written directories of :func:`save_state` for the state
    ``state_name``. Call it only while no other process writes there (before a resumed run)."""
    directory = Path(directory)
    for path in directory.glob(".*.tmp"):
        path.unlink(missing_ok=True)
    for path in directory.glob(f".{state_name}.*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def load_state(directory: Path) -> dict[str, Any]:
    """Load a state saved by :func:`save_state` (falls back to ``.old`` after a kill mid-swap).

    Raises:
        CheckpointError: no state, or a corrupt one.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = _state_directory(Path(directory))
    try:
        skeleton = json.loads((directory / "state.json").read_text(encoding="utf-8"))
        tensors = load_file(str(directory / "state.safetensors"))
    except FileNotFoundError:
        raise CheckpointError(f"no resumable training state in {directory.parent}") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{directory}: corrupt training state ({exc})") from None
    return unflatten_state(skeleton, tensors)


def saved_step(directory: Path) -> int | None:
    """The step of the state saved in ``directory``, read without its tensors; None when there
    is no readable state (:func:`load_state` then says why)."""
    try:
        path = _state_directory(Path(directory)) / "state.json"
        skeleton = json.loads(path.read_text(encoding="utf-8"))
        return int(dict(skeleton["__dict__"])["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _state_directory(directory: Path) -> Path:
    """``directory``, or its ``.old`` copy when a kill came between the two renames of a save."""
    old = directory.with_name(directory.name + ".old")
    if not (directory / "state.json").is_file() and (old / "state.json").is_file():
        return old
    return directory
