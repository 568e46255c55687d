"""Start-up time of `eddpm --help` against `python -c "import typer"`, side by side.

    python benchmarks/startup.py [--repeat 10]

Prints the median wall time of each and their ratio, plus whether torch was imported.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def timed(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    py = sys.executable
    help_s = timed([py, "-m", "eddpm_cli.app", "--help"], args.repeat)
    typer_s = timed([py, "-c", "import typer"], args.repeat)
    err_s = timed([py, "-c", "import sys; sys.argv=['eddpm','train','--bogus'];"
                   "from eddpm_cli.app import main\ntry: main()\nexcept SystemExit: pass"], args.repeat)
    probe = subprocess.run(
        [py, "-c", "import sys; sys.argv=['eddpm','--help']\nfrom eddpm_cli.app import app\n"
         "try: app()\nexcept SystemExit: pass\nprint(sorted(m for m in ('torch','transformers','diffusers') if m in sys.modules))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()[-1]
    print(f"eddpm --help           median {help_s * 1000:.0f} ms over {args.repeat} runs")
    print(f"eddpm train --bogus    median {err_s * 1000:.0f} ms (usage error)")
    print(f"python -c 'import typer' median {typer_s * 1000:.0f} ms")
    print(f"ratio --help / import typer: {help_s / typer_s:.2f}")
    print(f"heavy modules imported by --help: {probe}")


if __name__ == "__main__":
    main()
