"""Sharded training (FSDP2 through Accelerate): full weights in and out of a sharded model.

Under ``distributed_type: FSDP`` with ``fsdp_version: 2`` Accelerate applies
``torch.distributed.fsdp.fully_shard`` to the model in place: every parameter becomes a
``DTensor`` holding this process's shard, and the full weights exist only between the all-gather
before a forward and the reshard after it. The trainer needs the full weights in four places
(checkpoints, the inference weights, validation's direct calls of ``loss_terms``/``encode``/
``decode``, the class means); the functions here give them, collectively: **every process must
call them in the same order**, and the main process gets the result.

Checkpoints keep one format whatever the launch: the full model state dict, and the optimizer
state as ``torch.optim.Optimizer.state_dict()`` gives it for the unsharded model (parameters
numbered in the order of the parameter groups). So a run saved under FSDP resumes on one process
or under DDP and the other way round.

FSDP1 (``fsdp_version: 1``), a size-based wrap, DeepSpeed and Megatron-LM are refused
(:func:`check_launch_environment`, :func:`check_distributed_type`).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator

import torch

from models.errors import UsageError


def is_sharded(accelerator) -> bool:
    """True when Accelerate shards the model (FSDP)."""
    from accelerate.utils import DistributedType

    return accelerator.distributed_type == DistributedType.FSDP


def _refuse(kind: str, fsdp_version: int, wrap_policy: str) -> None:
    """Raise for a distributed setting eddpm cannot train with (``kind``: Accelerate's
    distributed type name; ``wrap_policy``: the FSDP auto-wrap policy's name, any spelling).

    Raises:
        UsageError: FSDP1 wraps the model in flat parameters; SIZE_BASED_WRAP picks module
            lists, which ``fully_shard`` refuses; DeepSpeed and Megatron-LM own the optimizer and
            its state. None of them could write eddpm's checkpoints.
    """
    if kind == "FSDP" and fsdp_version != 2:
        raise UsageError(
            f"eddpm train supports FSDP version 2 only, and the Accelerate config selects FSDP "
            f"{fsdp_version}",
            hint="set fsdp_version: 2 in the config's fsdp_config section",
        )
    if kind == "FSDP" and "size_based" in wrap_policy.lower().replace("-", "_"):
        raise UsageError(
            "fsdp_auto_wrap_policy SIZE_BASED_WRAP cannot shard eddpm's models (it picks "
            "module lists, which fully_shard refuses)",
            hint="use TRANSFORMER_BASED_WRAP with fsdp_transformer_layer_cls_to_wrap (see "
            "docs/distributed.md), or NO_WRAP",
        )
    if kind in ("DEEPSPEED", "MEGATRON_LM"):
        raise UsageError(
            f"eddpm train supports data-parallel (DDP) and FSDP version 2 training, not {kind}",
            hint="use distributed_type: MULTI_GPU, or FSDP with fsdp_version: 2",
        )


def check_launch_environment(environ: dict[str, str] | None = None) -> None:
    """Refuse what ``accelerate launch --config_file`` asked for (its ``ACCELERATE_USE_*`` and
    ``FSDP_*`` variables) before any data is read or any file written; see :func:`_refuse`."""
    env = os.environ if environ is None else environ
    for kind in ("DEEPSPEED", "MEGATRON_LM", "FSDP"):
        if _env_flag(env, f"ACCELERATE_USE_{kind}"):
            raw = env.get("FSDP_VERSION", "1")
            _refuse(kind, int(raw) if raw.isdigit() else 1, env.get("FSDP_AUTO_WRAP_POLICY", ""))


def fsdp_requested(environ: dict[str, str] | None = None) -> bool:
    """Whether ``accelerate launch --config_file`` asked for FSDP (Accelerate applies it only
    where an accelerator is present)."""
    return _env_flag(os.environ if environ is None else environ, "ACCELERATE_USE_FSDP")


def _env_flag(env: dict[str, str], name: str) -> bool:
    """A true/false variable as Accelerate's launcher writes it."""
    return env.get(name, "false").lower() in ("true", "1", "yes")


def check_wrap_classes(model: torch.nn.Module, environ: dict[str, str] | None = None) -> None:
    """Refuse layer classes to wrap (``fsdp_transformer_layer_cls_to_wrap``) that ``model`` does
    not have, before the run directory is written (Accelerate would fail only when sharding).

    Raises:
        UsageError: naming the missing classes and the model's layer classes.
    """
    env = os.environ if environ is None else environ
    if not fsdp_requested(env):
        return
    names = env.get("FSDP_TRANSFORMER_CLS_TO_WRAP", "").split(",")
    wanted = [n.strip() for n in names if n.strip()]
    present = {type(m).__name__ for m in model.modules()}
    missing = [n for n in wanted if n not in present]
    if missing:
        layers = sorted(n for n in present if n.endswith(("Layer", "Block", "Block2D")))
        raise UsageError(
            f"fsdp_transformer_layer_cls_to_wrap names {', '.join(missing)}, which this "
            f"{getattr(model.config, 'modality', '')} model does not have".replace("  ", " "),
            hint=f"its layer classes: {','.join(layers)} (see docs/distributed.md)",
        )


def check_distributed_type(accelerator) -> None:
    """Accept DDP and FSDP2 as Accelerate set them up; refuse the rest (see :func:`_refuse`)."""
    kind = str(accelerator.distributed_type).split(".")[-1]
    if kind != "FSDP":
        _refuse(kind, 0, "")
        return
    plugin = accelerator.state.fsdp_plugin
    policy = getattr(plugin, "auto_wrap_policy", None)
    name = getattr(getattr(policy, "func", policy), "__name__", str(policy))
    _refuse(kind, int(getattr(plugin, "fsdp_version", 1)), name)


def _options(**extra: Any):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **extra)


def full_model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The full state dict on the CPU, in the main process (empty elsewhere). Collective."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_options(cpu_offload=True))


def load_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a full state dict (the same on every process) into the sharded model. Collective."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    set_model_state_dict(model, state, options=_options())


def _parameter_names(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
    """The name of each optimizer parameter, in the order of its parameter groups."""
    names = {id(p): name for name, p in model.named_parameters()}
    return [names[id(p)] for group in optimizer.param_groups for p in group["params"]]


def full_optimizer_state(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """The optimizer state of the unsharded model, numbered as ``optimizer.state_dict()``
    numbers it, on the CPU in the main process (empty elsewhere). Collective."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    named = get_optimizer_state_dict(model, optimizer, options=_options(cpu_offload=True))
    if not named:
        return {}
    order = [name for group in named["param_groups"] for name in group["params"]]
    index = {name: i for i, name in enumerate(order)}
    return {
        "state": {index[name]: value for name, value in named["state"].items()},
        "param_groups": [{**g, "params": [index[n] for n in g["params"]]}
                         for g in named["param_groups"]],
    }


def load_optimizer_state(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]
) -> None:
    """Load a state saved by :func:`full_optimizer_state` or by ``optimizer.state_dict()`` of an
    unsharded run (the same on every process). Collective."""
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    names = _parameter_names(model, optimizer)
    named = {
        "state": {names[int(i)]: value for i, value in state["state"].items()},
        "param_groups": [{**g, "params": [names[int(i)] for i in g["params"]]}
                         for g in state["param_groups"]],
    }
    set_optimizer_state_dict(model, optimizer, named, options=_options())


def full_tensors(tensors: dict[str, torch.Tensor], keep: bool) -> dict[str, torch.Tensor]:
    """Sharded tensors gathered whole onto the CPU where ``keep`` (the main process; empty
    elsewhere). Collective."""
    from torch.distributed.tensor import DTensor

    out = {}
    for k, v in tensors.items():
        full = (v.full_tensor() if isinstance(v, DTensor) else v).detach()
        if keep:
            out[k] = full.cpu()
    return out


def shard_like(
    full: dict[str, torch.Tensor], like: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Each full tensor cut as its namesake in ``like`` is (same mesh and placements).
    Collective."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    out = {}
    for k, v in full.items():
        ref = like[k]
        v = v.to(device=ref.device, dtype=ref.dtype)
        if isinstance(ref, DTensor):
            v = distribute_tensor(v, ref.device_mesh, ref.placements)
        out[k] = v
    return out


@contextmanager
def unsharded(model: torch.nn.Module, sharded: bool = True) -> Iterator[None]:
    """Within the block every parameter is whole on every process, so any method of the model
    (not only ``forward``) can run, on each process as often as it likes, without gradients.

    The FSDP units do not reshard after their forwards (nor gather again before them) until the
    block ends, and the forwards run inside it leave no trace: FSDP records the order of forwards
    to prefetch in the next backward, and processes that validated different numbers of batches
    would otherwise prefetch different units there and wait for each other forever. Collective
    on entry."""
    if not sharded:
        yield
        return
    from torch.distributed.fsdp import FSDPModule

    units = [m for m in model.modules() if isinstance(m, FSDPModule)]
    groups = [g for u in units for g in _param_groups(u)]
    # Each unit's own setting, to put back (FSDP sets the root's to False by itself), and the
    # forward order recorded so far (empty between training steps).
    saved = [(g, g.post_forward_mesh_info, list(g._post_forward_indices)) for g in groups]
    orders = {id(g.comm_ctx): (g.comm_ctx, len(g.comm_ctx.post_forward_order)) for g in groups}
    for unit in units:
        unit.set_reshard_after_forward(False, recurse=False)
        unit.unshard()
    try:
        with torch.no_grad():
            yield
    finally:
        for unit in reversed(units):
            unit.reshard()
        for group, info, indices in saved:
            group.post_forward_mesh_info = info
            group._post_forward_indices[:] = indices
        for ctx, length in orders.values():
            del ctx.post_forward_order[length:]


def _param_groups(unit) -> list[Any]:
    """The parameter groups of an FSDP2 unit (they hold its resharding setting and the forward
    order it recorded); private attributes of torch 2.13's ``fully_shard``."""
    return list(unit._get_fsdp_state()._fsdp_param_groups)
