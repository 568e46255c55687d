"""Which dtype inference computes in on a device.

``auto`` picks bf16 autocast on a CUDA GPU that supports bf16 (tensor cores run it several times
faster than fp32) and fp32 everywhere else. On CPUs bf16 is never chosen by default: on the
reference 2-core machine a 2048 x 2048 bf16 matmul ran at about 0.3 GFLOP/s against about
130 GFLOP/s in fp32 (docs/performance.md).
"""

from __future__ import annotations

import torch

from models.errors import UsageError

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def inference_dtype(name: str, device: torch.device) -> torch.dtype:
    """The compute dtype for ``name`` (``auto``, ``fp32``, ``bf16``, ``fp16``) on ``device``.

    Raises:
        UsageError: an unknown name, fp16 off a GPU, or bf16 on a GPU without bf16 support.
    """
    if name == "auto":
        fast_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if fast_bf16 else torch.float32
    if name not in PRECISIONS:
        raise UsageError(f"unknown precision {name!r}", hint="use auto, fp32, bf16 or fp16")
    if name == "fp16" and device.type != "cuda":
        raise UsageError("--precision fp16 needs a CUDA GPU", hint="use fp32 (or bf16) on a CPU")
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UsageError("this GPU does not support bf16", hint="use --precision fp16 or fp32")
    return PRECISIONS[name]
