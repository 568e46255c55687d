"""eddpm train under a launcher (torchrun, accelerate launch): what the processes share.

Every process runs the same command. The first one prints and writes; the others stay quiet
about what they all meet, stop together with the main process's errors, and leave the process
group together.
"""

from __future__ import annotations

from pathlib import Path

from eddpm_cli._errors import fail


def quiet_other_processes() -> None:
    """Under a multi-process launch (torchrun, accelerate launch) only the first process prints
    notes, logs and the usage errors every process meets; other errors come from any process."""
    from eddpm_cli._errors import state
    from models.interrupts import main_process_by_env

    if not main_process_by_env():
        state.quiet = True
        state.other_process = True


def check_launch_data(data: list[Path] | None) -> None:
    """Under a launch every process reads --data itself: several cannot share one stdin (each
    would read part of the stream), and a file must be where every process looks."""
    from models.data.images import GLOB_CHARS
    from models.training import launched_processes

    n_proc = launched_processes()
    if n_proc < 2:
        return
    if any(str(p) == "-" for p in data or ()):
        raise fail(f"--data - (stdin) cannot be read by the {n_proc} processes of a launch",
                   hint="write the data to a file and pass its path to --data")
    for path in data or ():
        if not path.exists() and not GLOB_CHARS & set(str(path)):
            raise fail(f"{path}: no such file",
                       hint="check the path; every process reads it, so on several machines "
                            "it must be on a file system they share")


def raise_everywhere(error: Exception | None, state) -> None:
    """Raise the main process's ``error`` (if any) in every process; a meeting point of all."""
    if state.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        shared = [error]
        broadcast_object_list(shared, from_process=0)
        error = shared[0]
    if error is not None:
        leave_process_group()
        raise error


def leave_process_group() -> None:
    """Close this process's side of a launch once every process is done with it (a process
    that exits with the group still open can abort in gloo's or NCCL's threads)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
