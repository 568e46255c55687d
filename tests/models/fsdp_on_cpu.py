"""``python tests/models/fsdp_on_cpu.py ARGS`` is ``eddpm ARGS``, with FSDP allowed on CPUs.

Accelerate turns ``distributed_type: FSDP`` into sharded training only on accelerators (GPU,
XPU, NPU, ...); on CPU processes it falls back to plain data parallelism, although PyTorch's
``fully_shard`` itself runs there over gloo. This launcher makes the choice Accelerate makes on a
GPU: when the configuration asked for FSDP (``ACCELERATE_USE_FSDP``, set by ``accelerate launch
--config_file``), the state becomes FSDP with that configuration's plugin. Everything after it
(Accelerate's FSDP2 preparation, ``fully_shard``, eddpm's sharded checkpoints) is the real code.
Used by tests/models/test_distributed.py.
"""

from __future__ import annotations

from accelerate.state import AcceleratorState
from accelerate.utils import DistributedType

_init = AcceleratorState.__init__


def _init_choosing_fsdp(self, *args, fsdp_plugin=None, **kwargs):
    _init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
    if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
        self.distributed_type = DistributedType.FSDP
        self.fsdp_plugin = fsdp_plugin


AcceleratorState.__init__ = _init_choosing_fsdp

if __name__ == "__main__":
    from eddpm_cli.app import main

    main()
