"""eddpm generate: one sample per stdout line, seeded, with the DDIM and DDPM samplers."""

from __future__ import annotations

from pathlib import Path


def test_num_samples_gives_that_many_lines(cli, tiny_text_model: Path) -> None:
    result = cli.ok(cli("generate", "-n", 3, "--steps", 5, "--model", tiny_text_model))

    assert len(cli.lines(result)) == 3


def test_same_seed_same_output(cli, tiny_text_model: Path) -> None:
    args = ("generate", "-n", 3, "--steps", 5, "--seed", 7, "--temperature", 1.0, "--model",
            tiny_text_model)

    first = cli.ok(cli(*args))
    second = cli.ok(cli(*args))

    assert first.stdout_bytes == second.stdout_bytes


def test_ddpm_sampler(cli, tiny_text_model: Path) -> None:
    result = cli.ok(cli("generate", "-n", 2, "--sampler", "ddpm", "--steps", 20, "--model",
                        tiny_text_model))

    assert len(cli.lines(result)) == 2


def test_missing_model_dir_exits_2(cli, tmp_path: Path) -> None:
    missing = tmp_path / "no_such_run"

    result = cli("generate", "-n", 1, "--model", missing)

    cli.usage_error(result, str(missing))


def test_line_breaks_inside_a_sample_stay_on_one_line(cli, tiny_text_model: Path, monkeypatch) -> None:
    # A byte-level decoder can emit \r or \n; each sample must still be exactly one stdout line,
    # also for readers that split on \r (Python text mode) and for eddpm's own input reader.
    from models import inference

    samples = ["a\rb", "c\r\nd", "e\nf", "plain"]
    monkeypatch.setattr(inference, "generate", lambda *a, **k: list(samples))

    result = cli.ok(cli("generate", "-n", 4, "--model", tiny_text_model))

    assert result.stdout_bytes == b"a b\nc d\ne f\nplain\n"


def test_out_without_model_picks_the_latest_image_run(cli, tiny_text_model: Path,
                                                      tiny_image_model: Path, tmp_path: Path,
                                                      monkeypatch) -> None:
    import os

    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "image").symlink_to(tiny_image_model)
    (runs / "text").symlink_to(tiny_text_model)
    os.utime(tiny_text_model / "model.safetensors")  # the text run is the newest
    monkeypatch.setenv("EDDPM_RUNS", str(runs))

    result = cli.ok(cli("generate", "-n", 1, "--pixel-steps", 2, "--out", tmp_path / "png"))

    assert "latest image run" in result.stderr
    assert list((tmp_path / "png").glob("*.png"))
