"""Evaluate a text EDDPM on held-out Yelp sentences, through the eddpm CLI itself.

Every figure comes from running the same ``eddpm`` commands a user would run; the commands are
printed into the report. The evaluation sentences come from ``sentiment.test.*``, which the model
never saw when it was trained on ``sentiment.dev.*``.

    python benchmarks/text_yelp.py --model runs/yelp-small --shared ../shared --out bench-out/yelp

Needs the ``bench`` extra (scikit-learn for the external sentiment classifier).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from _bench import require


def run(cmd: list[str], log: list[str], stdin: str | None = None) -> list[str]:
    """Run an eddpm command, record it, return its stdout lines."""
    log.append(" ".join(shlex.quote(c) for c in cmd))
    start = time.monotonic()
    res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        sys.exit(f"command failed ({res.returncode}): {log[-1]}\n{res.stderr}")
    log[-1] += f"    # {time.monotonic() - start:.1f} s"
    return res.stdout.splitlines()


def read(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def unseen(lines: list[str], seen: set[str]) -> list[str]:
    """``lines`` without those in ``seen`` and without repeats, in their first order."""
    return [line for line in dict.fromkeys(lines) if line not in seen]


def external_classifier(pos: list[str], neg: list[str]):
    """TF-IDF + logistic regression, trained apart from eddpm on other test lines."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    clf = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2), LogisticRegression(max_iter=2000, C=4.0))
    clf.fit(neg + pos, [0] * len(neg) + [1] * len(pos))
    return clf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--shared", default="../shared")
    ap.add_argument("--out", default="bench-out/yelp")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eddpm", default="eddpm")
    ap.add_argument("--edit-strength", type=float, default=None)
    args = ap.parse_args()
    require("sklearn", "sacrebleu")

    import sacrebleu

    data = Path(args.shared) / "data" / "yelp_sentiment"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_set = set(read(data / "sentiment.dev.0")) | set(read(data / "sentiment.dev.1"))
    # Held out means never seen in training: drop test lines that also occur in dev, and repeats.
    neg = unseen(read(data / "sentiment.test.0"), train_set)
    pos = unseen(read(data / "sentiment.test.1"), train_set)
    rng = random.Random(args.seed)
    rng.shuffle(neg)
    rng.shuffle(pos)
    eval_lines = neg[:500] + pos[:500]
    rng.shuffle(eval_lines)
    (out / "test1000.txt").write_text("\n".join(eval_lines) + "\n", encoding="utf-8")
    clf = external_classifier(pos[1000:21000], neg[1000:21000])
    clf_check = clf.score(neg[500:1000] + pos[500:1000], [0] * 500 + [1] * 500)

    E, M, log = args.eddpm, ["--model", args.model], []
    report: dict = {
        "model": args.model,
        "classifier_accuracy_heldout": clf_check,
        "test_pool_unseen": {"neg": len(neg), "pos": len(pos)},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "torch": metadata.version("torch"), "eddpm": metadata.version("eddpm")},
    }

    recon = run([E, "reconstruct", str(out / "test1000.txt"), *M], log)
    report["recon_bleu"] = sacrebleu.corpus_bleu(recon, [eval_lines]).score
    report["recon_exact"] = sum(a == b for a, b in zip(recon, eval_lines)) / len(eval_lines)
    report["recon_examples"] = list(zip(eval_lines[:8], recon[:8]))

    for name, extra in (("greedy", []), ("sampled", ["--temperature", "1.0", "--top-p", "0.9"])):
        gen = run([E, "generate", "-n", "20", "--seed", str(args.seed), *extra, *M], log)
        report[f"generate_{name}"] = gen
        report[f"generate_{name}_novel"] = sum(g not in train_set for g in gen) / len(gen)
        report[f"generate_{name}_distinct"] = len(set(gen)) / len(gen)
        report[f"generate_{name}_positive_rate"] = float(clf.predict(gen).mean())
    gen_ddpm = run([E, "generate", "-n", "20", "--sampler", "ddpm", "--seed", str(args.seed), *M], log)
    report["generate_ddpm"] = gen_ddpm

    pairs = [(neg[1000 + i], pos[1000 + i]) for i in range(3)]
    report["interpolations"] = [run([E, "interpolate", a, b, "--steps", "5", *M], log) for a, b in pairs]

    edit_neg, edit_pos = neg[600:610], pos[600:610]
    (out / "edit_neg.txt").write_text("\n".join(edit_neg) + "\n", encoding="utf-8")
    (out / "edit_pos.txt").write_text("\n".join(edit_pos) + "\n", encoding="utf-8")
    report["edits"] = {}
    for method, strengths in (("guidance", [2.0, 5.0]), ("mean", [1.0, 2.0])):
        if args.edit_strength is not None:
            strengths = [args.edit_strength]
        for s in strengths:
            to_pos = run([E, "edit", str(out / "edit_neg.txt"), "--toward", "1", "--method", method,
                          "--strength", str(s), *M], log)
            to_neg = run([E, "edit", str(out / "edit_pos.txt"), "--toward", "0", "--method", method,
                          "--strength", str(s), *M], log)
            success = (sum(clf.predict(to_pos) == 1) + sum(clf.predict(to_neg) == 0)) / 20
            bleu = sacrebleu.corpus_bleu(to_pos + to_neg, [edit_neg + edit_pos]).score
            report["edits"][f"{method}@{s}"] = {
                "success": success, "bleu_to_input": bleu,
                "pairs": list(zip(edit_neg + edit_pos, to_pos + to_neg)),
            }
    report["commands"] = log
    (out / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (out / "results_text.md").write_text(markdown(report), encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if not isinstance(v, (list, dict))}, indent=2))


def markdown(r: dict) -> str:
    """The text section of docs/results.md, from a report."""
    m = r["machine"]
    lines = [
        "## Text: Yelp review sentences",
        "",
        f"Model `{r['model']}`, evaluated by `benchmarks/text_yelp.py` on {m['cpus']} CPU cores "
        f"({m['platform']}), eddpm {m['eddpm']}, torch {m['torch']}. Held-out pool: test lines "
        f"that never occur in the training files ({r['test_pool_unseen']['neg']} negative, "
        f"{r['test_pool_unseen']['pos']} positive after removing repeats).",
        "",
        "| measure | value |",
        "|---|---|",
        f"| reconstruction BLEU, 1,000 held-out sentences (sacrebleu corpus, greedy from mu) "
        f"| {r['recon_bleu']:.1f} |",
        f"| reconstruction exact match | {100 * r['recon_exact']:.1f}% |",
        f"| external sentiment classifier, held-out accuracy | "
        f"{100 * r['classifier_accuracy_heldout']:.1f}% |",
    ]
    for name in ("greedy", "sampled"):
        lines.append(
            f"| generate ({name}): novel / distinct / judged positive | "
            f"{100 * r[f'generate_{name}_novel']:.0f}% / {100 * r[f'generate_{name}_distinct']:.0f}%"
            f" / {100 * r[f'generate_{name}_positive_rate']:.0f}% |"
        )
    lines += ["", "Edits toward the other sentiment (10 negative and 10 positive inputs):", "",
              "| method @ strength | success (external classifier) | BLEU to input |", "|---|---|---|"]
    for key, e in r["edits"].items():
        lines.append(f"| {key} | {100 * e['success']:.0f}% | {e['bleu_to_input']:.1f} |")
    lines += ["", "Reconstructions (input, then output):", "", "```"]
    for a, b in r["recon_examples"]:
        lines += [f"  {a}", f"> {b}"]
    lines += ["```", "", "Generated, DDIM 50 steps, greedy decoding:", "", "```",
              *r["generate_greedy"], "```", "", "Generated, DDIM, nucleus sampling (top-p 0.9):",
              "", "```", *r["generate_sampled"], "```", "", "Generated, DDPM 1000 steps:", "",
              "```", *r["generate_ddpm"], "```", "", "Interpolations (negative to positive):", ""]
    for path in r["interpolations"]:
        lines += ["```", *path, "```", ""]
    best = max(r["edits"], key=lambda k: r["edits"][k]["success"])
    lines += [f"Edits with {best} (input, then output):", "", "```"]
    for a, b in r["edits"][best]["pairs"]:
        lines += [f"  {a}", f"> {b}"]
    lines += ["```", "", "Commands, with wall times:", "", "```", *r["commands"], "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
