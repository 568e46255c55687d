"""Data-parallel training: two CPU processes (torchrun, gloo) against one process.

``--batch-size`` is per process, and step k of an epoch uses the global batch
``perm[k*B*N : (k+1)*B*N]`` of one seeded permutation, split across the N processes; the noise
of the objective is drawn for the whole global batch (models/draws.py). So two processes with
``--batch-size 4`` take the same gradient steps, over the same examples and the same noise, as
one process with ``--batch-size 8``, and the final weights agree up to floating-point rounding.

Every run is a real ``python -m eddpm_cli.app train`` subprocess with OMP_NUM_THREADS=1
(interpreter start-up is most of the time); the short test takes about 40 s on two cores.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file

from models import checkpoint as ckpt

REPO_ROOT = Path(__file__).resolve().parents[2]
# Weights may differ by float32 rounding only (see test_two_processes_match_one_and_resume).
ATOL = 1e-5
# A quarter of the 48 examples held out: 12 validation examples make two groups of
# validation batches, the second one for the first process only.
CONFIG = {"train": {"val_fraction": 0.25, "eval_every": 3, "save_every": 3}}

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available in this torch build",
)


def _env() -> dict[str, str]:
    """The test's environment, without any launcher variables it may itself run under."""
    launcher = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                "MASTER_PORT", "GROUP_RANK", "ROLE_RANK", "TORCHELASTIC_", "ACCELERATE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(launcher)}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1",
               EDDPM_PROGRESS="0", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    return env


def _run(launcher: list[str], *args: object) -> subprocess.CompletedProcess:
    cmd = [*launcher, "-m", "eddpm_cli.app", "train", *(str(a) for a in args)]
    result = subprocess.run(cmd, env=_env(), cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"{' '.join(cmd)}\nexit {result.returncode}\n{result.stderr}"
    return result


def one_process(*args: object) -> subprocess.CompletedProcess:
    return _run([sys.executable], *args)


def torchrun(*args: object) -> subprocess.CompletedProcess:
    # --standalone: a local rendezvous on a free port, so parallel runs do not collide.
    return _run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                 "--nproc_per_node", "2"], *args)


def accelerate_launch(*args: object) -> subprocess.CompletedProcess:
    # --multi_gpu starts the processes through torch.distributed.run even without a GPU;
    # eddpm then joins them on CPU (gloo). (--cpu --num_processes 2 starts one process.)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return _run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
                 "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
                 "--dynamo_backend", "no", "--main_process_port", str(port)], *args)


FSDP_CONFIG = """\
compute_environment: LOCAL_MACHINE
distributed_type: FSDP
num_machines: 1
num_processes: 2
mixed_precision: 'no'
fsdp_config:
  fsdp_version: 2
  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP
  fsdp_transformer_layer_cls_to_wrap: BertLayer,GPT2Block
  fsdp_reshard_after_forward: true
  fsdp_state_dict_type: FULL_STATE_DICT
  fsdp_cpu_ram_efficient_loading: {ram_efficient}
"""


def accelerate_fsdp(config_dir: Path, *args: object, ram_efficient: bool = False,
                    layers: str = "BertLayer,GPT2Block"):
    """``accelerate launch --config_file`` with an FSDP2 config wrapping ``layers`` separately,
    through tests/models/fsdp_on_cpu.py (which lets Accelerate shard on CPU processes as it
    would on GPUs)."""
    config = config_dir / "fsdp.yaml"
    text = FSDP_CONFIG.format(ram_efficient=str(ram_efficient).lower())
    config.write_text(text.replace("BertLayer,GPT2Block", layers), encoding="utf-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config),
           "--main_process_port", str(port), str(Path(__file__).with_name("fsdp_on_cpu.py")),
           "train", *(str(a) for a in args)]
    # A hang (processes waiting for each other in a collective) fails the test instead.
    result = subprocess.run(cmd, env=_env(), cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=150)
    assert result.returncode == 0, f"{' '.join(cmd)}\nexit {result.returncode}\n{result.stderr}"
    assert "sharded across the processes (FSDP2)" in result.stderr
    return result


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """The first 48 reviews of examples/reviews.txt, text only."""
    lines = (REPO_ROOT / "examples" / "reviews.txt").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "reviews48.txt"
    path.write_text("".join(ln.split("\t", 1)[1] + "\n" for ln in lines[:48]), encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(CONFIG), encoding="utf-8")
    return path


def max_weight_difference(
    run_a: Path, run_b: Path, skip: tuple[str, ...] = ()
) -> tuple[float, str]:
    """The largest absolute difference between the inference weights of two runs, and where
    (tensors named in ``skip`` left out)."""
    a = load_file(str(run_a / ckpt.WEIGHTS_NAME))
    b = load_file(str(run_b / ckpt.WEIGHTS_NAME))
    assert a.keys() == b.keys()
    worst = (0.0, "")
    for name in a:
        if a[name].numel() and a[name].is_floating_point() and name not in skip:
            diff = float((a[name].double() - b[name].double()).abs().max())
            worst = max(worst, (diff, name))
    return worst


def metrics(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(set(lines)), "metrics.jsonl has duplicate lines"
    return [json.loads(line) for line in lines]


def assert_same_records(single: Path, multi: Path) -> None:
    """The same records (step, split) with the same loss terms, up to rounding.

    Compared: the terms that are means over every example of a batch (loss, rec, diff, the
    heads', and validation's align, drawn at t = 1 for all). ``simple`` and training's ``align``
    are means over the examples whose random t is above 1 (or is 1): each process averages its
    own, so with two processes they are weighted slightly differently and are not compared."""
    rows_1, rows_2 = metrics(single), metrics(multi)
    assert [(r["step"], r["split"]) for r in rows_1] == [(r["step"], r["split"]) for r in rows_2]
    for r1, r2 in zip(rows_1, rows_2):
        exact = ("loss", "rec", "diff") + (("align",) if r1["split"] == "val" else ())
        terms = [k for k in r1 if k in exact or k.startswith("head_")]
        assert set(terms) <= set(r2)
        for k in terms:
            assert r2[k] == pytest.approx(r1[k], rel=1e-5), (r1["step"], r1["split"], k)
        if r1["split"] == "train":
            assert r2["lr"] == pytest.approx(r1["lr"], rel=1e-9, abs=1e-12)


def assert_one_writer(single: Path, multi: Path, result: subprocess.CompletedProcess) -> None:
    """Only the main process wrote and printed: the same files as one process, no leftovers."""
    def files(run: Path) -> list[str]:
        return sorted(str(p.relative_to(run)) for p in run.rglob("*"))

    assert files(multi) == files(single)
    assert result.stdout == f"{multi}\n"
    assert result.stderr.count("eddpm: done at step") == 1
    for asset in (single / "tokenizer").iterdir():
        assert (multi / "tokenizer" / asset.name).read_bytes() == asset.read_bytes(), asset.name
    finished_1 = json.loads((single / "run.json").read_text())["finished"]
    finished_2 = json.loads((multi / "run.json").read_text())["finished"]
    assert [f["step"] for f in finished_2] == [f["step"] for f in finished_1]


def test_two_processes_match_one_and_resume(data: Path, config: Path, tmp_path: Path) -> None:
    """Two torchrun processes with batch 4 against one process with batch 8: 3 steps, then
    ``--resume`` (under torchrun too) to step 6, crossing an epoch (36 training examples, 8 a
    step), with validation at steps 3 and 6.

    Tolerance: final weights within 1e-5 absolute (weights are of order 0.1 to 1). The only
    expected differences are float32 rounding: the gradient is the mean of two per-process
    means instead of one mean over 8 examples, and each process pads its texts to its own
    longest one; measured, the weights differ by about 1e-7 (one or two float32 units at 1.0).
    A wrong split, shared noise or a wrongly stepped LR schedule moves the weights by the size of
    an update, about 1e-3 (lr 2e-3), so 1e-5 separates the two by two orders of magnitude.
    Loss terms in metrics.jsonl must agree to a relative 1e-5.
    """
    single, multi = tmp_path / "one", tmp_path / "two"
    common = ("--data", data, "--config", config, "--preset", "tiny", "--seed", 0)
    one_process(*common, "--max-steps", 3, "--batch-size", 8, "--out", single)
    first = torchrun(*common, "--max-steps", 3, "--batch-size", 4, "--out", multi)

    diff, name = max_weight_difference(single, multi)
    assert diff <= ATOL, f"after 3 steps: max |difference| {diff:.3g} in {name}"
    assert_one_writer(single, multi, first)
    assert "with 2 processes" in first.stderr and first.stderr.count("eddpm: training") == 1
    state = ckpt.load_state(multi / "trainer")
    assert state["num_processes"] == 2 and len(state["rng_per_process"]) == 2

    one_process("--resume", single, "--max-steps", 6)
    resumed = torchrun("--resume", multi, "--max-steps", 6)

    assert ckpt.load_state(multi / "trainer")["step"] == 6
    diff, name = max_weight_difference(single, multi)
    print(f"max |weight difference| after resuming to step 6: {diff:.3g} ({name})")
    assert diff <= ATOL, f"after resuming to 6 steps: max |difference| {diff:.3g} in {name}"
    assert_same_records(single, multi)
    assert_one_writer(single, multi, resumed)
    assert resumed.stderr.count("resuming") == 1
    assert [r["step"] for r in metrics(multi) if r["split"] == "val"] == [3, 6]


def test_ctrl_c_under_torchrun_saves_a_finished_step_of_every_process(
    data: Path, tmp_path: Path
) -> None:
    """Ctrl-C reaches torchrun, which passes it on to its processes: they agree to stop at the
    next step boundary, save together (with every process's random state) and exit; the
    checkpoint's optimizer and LR schedule are at the saved step, and the run resumes."""
    run, config = tmp_path / "run", tmp_path / "rare_saves.json"
    config.write_text(json.dumps({"train": {"save_every": 100000, "eval_every": 100000}}))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "eddpm_cli.app", "train", "--data", str(data), "--config", str(config),
           "--preset", "tiny", "--batch-size", "4", "--max-steps", "100000", "--out", str(run)]
    proc = subprocess.Popen(cmd, env=_env(), cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run / "metrics.jsonl").exists():  # step 10 is logged: the loop is running
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "training did not start within 120 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)

    assert proc.returncode != 0
    assert stderr.count("interrupted: stopping after this step") == 1, stderr
    assert stderr.count("eddpm: interrupted\n") == 1, stderr
    assert "stopped at once" not in stderr and "unexpected" not in stderr, stderr
    state = ckpt.load_state(run / "trainer")
    step = state["step"]
    assert step >= 10
    assert state["scheduler"]["last_epoch"] == step
    assert {int(s["step"]) for s in state["optimizer"]["state"].values()} == {step}
    assert len(state["rng_per_process"]) == 2
    torchrun("--resume", run, "--max-steps", step + 2)
    assert ckpt.load_state(run / "trainer")["step"] == step + 2


@pytest.mark.parametrize("case", ["one example", "empty label column"])
def test_refusal_under_torchrun_is_one_line_and_writes_nothing(case: str, tmp_path: Path) -> None:
    """A refusal that every process meets (too few examples for the processes) and one that
    only the main process can see (it builds the model: a label column without values) both
    print one error line, from the main process, and leave no run directory."""
    run = tmp_path / "run"
    if case == "one example":
        data = tmp_path / "one.txt"
        data.write_text("the only review\n", encoding="utf-8")
        args = ("--data", data)
        expected = "cannot be shared by 2 processes"
    else:
        data = tmp_path / "proteins.csv"
        rows = [f"{'ACDEFGHIKL'[i % 10]}MKTAYIAKQR{'ACDEFGHIKL'[(i * 3) % 10]},"
                for i in range(40)]
        data.write_text("sequence,fitness\n" + "\n".join(rows) + "\n", encoding="utf-8")
        args = ("--data", data, "--label-column", "fitness")
        expected = "'fitness' has no values"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "eddpm_cli.app", "train", *map(str, args), "--preset", "tiny",
           "--batch-size", "4", "--max-steps", "2", "--out", str(run)]
    result = subprocess.run(cmd, env=_env(), cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300)

    assert result.returncode != 0
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("eddpm: error:")]
    assert len(errors) == 1 and expected in errors[0], result.stderr
    assert not run.exists()


@pytest.mark.slow
def test_accelerate_launch_with_labels_matches_one_process(tmp_path: Path) -> None:
    """``accelerate launch --multi_gpu --num_processes 2`` on CPU, labelled text (a classifier
    head, and the class means written by the main process after training): 6 steps straight,
    against one process with the global batch. Same tolerance and reasons as above."""
    lines = (REPO_ROOT / "examples" / "reviews.txt").read_text(encoding="utf-8").splitlines()
    data = tmp_path / "labelled48.txt"
    data.write_text("\n".join(lines[:48]) + "\n", encoding="utf-8")
    single, multi = tmp_path / "one", tmp_path / "two"
    common = ("--data", data, "--labels", "--preset", "tiny", "--seed", 0, "--max-steps", 6)
    one_process(*common, "--batch-size", 8, "--out", single)
    result = accelerate_launch(*common, "--batch-size", 4, "--out", multi)

    diff, name = max_weight_difference(single, multi)
    assert diff <= ATOL, f"max |difference| {diff:.3g} in {name}"
    assert_same_records(single, multi)
    assert_one_writer(single, multi, result)
    means = load_file(str(multi / ckpt.WEIGHTS_NAME))["class_means"]
    assert means.shape[0] == 2 and bool(torch.isfinite(means).all()) and means.abs().sum() > 0


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    """The first 48 reviews of examples/reviews.txt with their labels."""
    lines = (REPO_ROOT / "examples" / "reviews.txt").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "labelled48.txt"
    path.write_text("\n".join(lines[:48]) + "\n", encoding="utf-8")
    return path


def assert_same_trainer_state(single: Path, multi: Path) -> None:
    """The gathered checkpoint has the one-process layout and values: optimizer state numbered
    as ``optimizer.state_dict()`` numbers it, and the EMA, up to the same rounding."""
    a, b = ckpt.load_state(single / "trainer"), ckpt.load_state(multi / "trainer")
    assert [g["params"] for g in a["optimizer"]["param_groups"]] == \
        [g["params"] for g in b["optimizer"]["param_groups"]]
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    for i, moments in a["optimizer"]["state"].items():
        for name, value in moments.items():
            other = b["optimizer"]["state"][i][name]
            assert float((value.double() - other.double()).abs().max()) <= ATOL, (i, name)
    assert a["ema"].keys() == b["ema"].keys()
    for name, value in a["ema"].items():
        assert float((value.double() - b["ema"][name].double()).abs().max()) <= ATOL, name


def test_fsdp2_matches_one_process_and_resumes(labelled: Path, tmp_path: Path) -> None:
    """FSDP2 from an Accelerate config (transformer layers wrapped separately) on two CPU
    processes with batch 4, against one process with batch 8: labelled text with EMA, 6 steps
    and then ``--resume`` to 8 under the same launch, validation at 3, 6 and 8. 12 held-out
    examples make three batches, so the processes validate unequal numbers of them while the
    weights are gathered, and training goes on after that (steps 4 to 6): the forwards of
    validation must not change what the next backward prefetches (it hung before). Same
    tolerance and reasons as the DDP test: every parameter and optimizer moment is a shard of
    the one-process tensor, summed in another order."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"train": {**CONFIG["train"], "ema_decay": 0.9}}), encoding="utf-8")
    single, multi = tmp_path / "one", tmp_path / "fsdp"
    common = ("--data", labelled, "--labels", "--config", config, "--preset", "tiny", "--seed", 0)
    one_process(*common, "--max-steps", 6, "--batch-size", 8, "--out", single)
    first = accelerate_fsdp(tmp_path, *common, "--max-steps", 6, "--batch-size", 4, "--out", multi)
    assert_one_writer(single, multi, first)

    one_process("--resume", single, "--max-steps", 8)
    resumed = accelerate_fsdp(tmp_path, "--resume", multi, "--max-steps", 8)

    diff, name = max_weight_difference(single, multi)
    print(f"FSDP2: max |weight difference| after resuming to step 8: {diff:.3g} ({name})")
    assert diff <= ATOL, f"max |difference| {diff:.3g} in {name}"
    assert_same_records(single, multi)
    assert_one_writer(single, multi, resumed)
    assert_same_trainer_state(single, multi)
    assert [r["step"] for r in metrics(multi) if r["split"] == "val"] == [3, 6, 8]
    means = load_file(str(multi / ckpt.WEIGHTS_NAME))["class_means"]
    assert means.shape[0] == 2 and means.abs().sum() > 0
    # The gathered checkpoint resumes on one process (another global batch: a warning only).
    moved = one_process("--resume", multi, "--max-steps", 9, "--batch-size", 8)
    assert "saved with 2 process(es) and a global batch of 8 examples, and resumes with 1 and 8"\
        in moved.stderr
    assert ckpt.load_state(multi / "trainer")["step"] == 9


@pytest.mark.slow
def test_fsdp2_ram_efficient_loading_keeps_tied_weights(data: Path, tmp_path: Path) -> None:
    """``fsdp_cpu_ram_efficient_loading: true`` builds the other processes' models on the meta
    device and loads the main process's weights into them; the text decoder's tied embedding
    and output layer must stay tied (EDDPM.tie_weights), or the run drifts from one process."""
    single, multi = tmp_path / "one", tmp_path / "fsdp"
    common = ("--data", data, "--preset", "tiny", "--seed", 0, "--max-steps", 3)
    one_process(*common, "--batch-size", 8, "--out", single)
    accelerate_fsdp(tmp_path, *common, "--batch-size", 4, "--out", multi, ram_efficient=True)
    diff, name = max_weight_difference(single, multi)
    assert diff <= ATOL, f"max |difference| {diff:.3g} in {name}"


def test_fsdp2_protein_head_trains_on_after_uneven_validation(tmp_path: Path) -> None:
    """Proteins with a fitness head, the convolution blocks and the denoiser's blocks wrapped
    separately: 6 steps with validation at step 3 over 15 held-out sequences (four batches of
    4: the processes validate 2 each, with unequal lengths), then training goes on. This
    hung in the backward of step 4 while the validation forwards were still recorded for
    prefetching. Against DDP on the same two processes (the same per-process batches): weights
    within the same tolerance, except two biases that a softmax does not depend on (the
    attention-pooling score bias, and the attention key bias inside ``in_proj_bias``): their
    gradient is rounding noise, which Adam scales up to steps of the learning rate, so they
    differ by 1e-5 to 1e-4 between any two runs that round differently (DDP against one process
    alike)."""
    rng = torch.Generator().manual_seed(0)
    letters = "ACDEFGHIKLMNPQRSTVWY"
    rows = ["sequence,fitness"]
    for i in range(60):
        n = 8 + int(torch.randint(0, 12, (1,), generator=rng))
        seq = "".join(letters[int(k)] for k in torch.randint(0, 20, (n,), generator=rng))
        rows.append(f"{seq},{float(torch.randn(1, generator=rng)):.4f}")
    data = tmp_path / "fitness.csv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"train": {"val_fraction": 0.25, "eval_every": 3}}),
                      encoding="utf-8")
    ddp, multi = tmp_path / "ddp", tmp_path / "fsdp"
    common = ("--data", data, "--label-column", "fitness", "--config", config, "--preset", "tiny",
              "--seed", 0, "--max-steps", 6, "--batch-size", 4)
    torchrun(*common, "--out", ddp)
    accelerate_fsdp(tmp_path, *common, "--out", multi, layers="ResidualConvBlock,SkipBlock")

    softmax_invariant = ("codec.pool_score.bias", "codec.encoder.layers.0.self_attn.in_proj_bias",
                         "codec.encoder.layers.1.self_attn.in_proj_bias")
    diff, name = max_weight_difference(ddp, multi, skip=softmax_invariant)
    print(f"FSDP2 against DDP, proteins: max |weight difference| {diff:.3g} ({name})")
    assert diff <= ATOL, f"max |difference| {diff:.3g} in {name}"
    assert [r["step"] for r in metrics(multi) if r["split"] == "val"] == [3, 6]
