"""Privacy against utility: private conditional generators at several ε, scored like the DP literature.

    python -m imgenlib train gan --data fashion_mnist --conditional --dp-epsilon 10 \
        --dp-delta 1e-5 --epochs 16 --max-minutes 60 --out RUNS/e10       # one private run
    python benchmarks/privacy_utility.py --runs 1=RUNS/e1 10=RUNS/e10 inf=RUNS/nonprivate
    python benchmarks/privacy_utility.py --update --runs 3=RUNS/e3       # add a row
    python benchmarks/privacy_utility.py --quick                         # a smoke run (seconds)
    python -m imgenlib merf --data fashion_mnist --dp-epsilon 10 --steps 2000 --out RUNS/merf10
    python benchmarks/privacy_utility.py --update --runs "merf 10=RUNS/merf10"   # DP-MERF row

Each ``LABEL=DIR`` is a class-conditional run directory (``python -m imgenlib train gan|vae
--conditional ...``, private or not, or ``python -m imgenlib merf ...``, a DP-MERF release
and generator, `imgenlib.mean_embedding_runs`); LABEL names its row (``1``, ``10``,
``inf``, ``merf 10``). Every row is scored the same way, in one process:

- **Utility, "train on synthetic, test on real"** (`imgenlib.utility.tstr_accuracy`, the
  measure of DP-GAN, GS-WGAN and DPDM): `--n-per-class` samples of every class (6,000 =
  60,000 in all, like the papers), the shipped extractor's CNN trained on them for 8
  epochs (seed 0), accuracy on the 10,000 real test images. The same classifier trained on
  as many real training images gives ``real_accuracy`` once, for scale.
- **Fidelity**: FID, KID, precision and recall of `--fid-n` samples against the first
  `--fid-n` test images with the shipped extractor (`imgenlib.evaluation.evaluate`, seed
  0; n = 1,000 like ``benchmarks/results/frontier.md``: compare within one table only).
- **Membership inference** (`imgenlib.membership`): members are `--mia-n` training images
  drawn with seed 0 (the run trained on all of them), non-members `--mia-n` test images
  (never trained on); the discriminator attack (LOGAN) on a GAN, the ELBO attack on a
  VAE (none on DP-MERF, whose only contact with the data is its release), and the
  distance-to-nearest-sample attack (GAN-Leaks) with `--mia-n` samples in the extractor's
  feature space. AUC 0.5 is chance; with 2,000 non-members the lowest
  resolvable false-positive rate is 0.05 %.
- **Privacy and cost**, from the run's ``metrics.json``: ε actually spent, δ, σ, clip, the
  private steps, and the training minutes of its last session (a run trained in one go,
  as these are, took exactly that; for DP-MERF the release plus the generator's fit).

Published anchors (train-on-synthetic accuracy on Fashion-MNIST, δ = 1e-5, from the DPDM
paper's table, Dockhorn et al. 2022, https://arxiv.org/abs/2210.09929) are stored in the
results for the table and the figure.

`--update` keeps the rows of the results file and scores only labels it does not hold
(refusing another n or dataset). Writes ``results/privacy_utility.json``, ``.md`` and
``.png``; the last stdout line is the JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from pathlib import Path

from _common import RESULTS, machine, markdown_table, print_json_line, write_result

NAME = "privacy_utility"
ANCHORS = {  # method: {epsilon: accuracy}; Fashion-MNIST, delta 1e-5, DPDM paper's table
    "DP-GAN": {1: 0.105, 10: 0.610},
    "GS-WGAN": {1: 0.166, 10: 0.658},
    "DPDM": {1: 0.794, 10: 0.862},
}
ATTACKS = {"GAN": "discriminator", "VAE": "elbo"}  # a family's own attack (DP-MERF has none)
FAMILIES = {"mean_embedding": "DP-MERF"}  # run kind -> row family, where not kind.upper()
SETTINGS = ("data", "n_per_class", "fid_n", "mia_n", "seed")


def parse_runs(items) -> dict:
    """``["10=DIR", "inf=DIR"]`` -> ``{"10": Path, "inf": Path}``; bad items name themselves."""
    runs = {}
    for item in items or ():
        label, sep, directory = item.partition("=")
        if not sep or not label or not directory:
            raise SystemExit(f"--runs takes LABEL=DIR items (e.g. 10=runs/e10). Received: {item!r}")
        if not (Path(directory) / "model.keras").is_file():
            raise SystemExit(f"No model.keras in {directory!r} (item {item!r})")
        runs[label] = Path(directory)
    return runs


def _pools(data: str, n: int, seed: int):
    """(train images, labels), (test images, labels) and the membership split."""
    import numpy as np

    from imgenlib.data import load_images
    from imgenlib.membership import MembershipSplit, membership_split

    train = load_images(data, "train")
    try:
        test = load_images(data, "test")
    except ValueError:  # a dataset with one split (digits): members and non-members from it
        split = membership_split(*train, n_members=n, seed=seed)
        return train, train, split
    rng = np.random.default_rng(seed)
    members = np.sort(rng.permutation(len(train[0]))[:n])
    nonmembers = np.sort(rng.permutation(len(test[0]))[:n])
    split = MembershipSplit(
        train[0][members], test[0][nonmembers], train[1][members], test[1][nonmembers],
        members, nonmembers,
    )  # fmt: skip
    return train, test, split


def score_run(label: str, run_dir: Path, *, pools, settings: dict) -> dict:
    """One row: privacy record, TSTR accuracy, FID/KID/precision/recall, attacks."""
    from imgenlib.evaluation import evaluate
    from imgenlib.membership import membership_attack
    from imgenlib.runs import load_run_model
    from imgenlib.utility import tstr_accuracy

    model = load_run_model(run_dir)
    summary = json.loads((run_dir / "metrics.json").read_text())
    privacy = summary.get("privacy")
    family = FAMILIES.get(summary["kind"], summary["kind"].upper())
    _, (test_images, test_labels), split = pools
    row = {
        "label": label,
        "run": str(run_dir),
        "family": family,
        "private": privacy is not None,
        "epsilon": privacy["epsilon"] if privacy else math.inf,
        "target_epsilon": (privacy or {}).get("target_epsilon"),
        "delta": (privacy or {}).get("delta"),
        "noise_multiplier": (privacy or {}).get("noise_multiplier", 0.0),
        "clip_norm": (privacy or {}).get("clip_norm"),
        "train_minutes": round(summary["seconds_this_session"] / 60, 1),
        "optimizer_steps": summary["steps_this_session"],
        "private_steps": (privacy or {}).get("steps"),
        "sampling_rate": (privacy or {}).get("sampling_rate"),
        "batch_size": (privacy or {}).get("expected_batch_size"),
    }
    if privacy and privacy["epsilon"] == math.inf:  # a DP-MERF release with no noise
        row.update(private=False, delta=None)
    tstr = tstr_accuracy(
        model, test_images, test_labels.astype("int32"),
        n_per_class=settings["n_per_class"], epochs=8, seed=settings["seed"],
    )  # fmt: skip
    row["tstr_accuracy"] = tstr["accuracy"]
    quality = evaluate(model, settings["data"], n=settings["fid_n"], seed=settings["seed"])
    row.update({k: float(quality[k]) for k in ("fid", "kid", "precision", "recall")})
    attacks = {}
    for attack in (*([ATTACKS[family]] if family in ATTACKS else []), "distance"):
        options = (
            {"n_samples": settings["mia_n"], "space": "features", "extractor": settings["data"]}
            if attack == "distance"
            else {}
        )
        report = membership_attack(model, split, attack, seed=settings["seed"], **options).report()
        attacks[attack] = {k: report[k] for k in ("auc", "tpr_at_fpr_0.01", "balanced_accuracy")}
    row["membership"] = attacks
    return row


def real_accuracy(pools, settings: dict) -> float:
    """The TSTR classifier trained on real training images instead (n_per_class of each)."""
    import numpy as np

    from imgenlib.utility import classifier_accuracy, fit_classifier

    (images, labels), (test_images, test_labels), _ = pools
    rng = np.random.default_rng(settings["seed"])
    labels = labels.astype("int32")
    classes = int(labels.max()) + 1
    chosen = np.concatenate([
        rng.permutation(np.flatnonzero(labels == c))[: settings["n_per_class"]] for c in range(classes)
    ])  # fmt: skip
    classifier = fit_classifier(images[chosen], labels[chosen], classes, seed=settings["seed"])
    return classifier_accuracy(classifier, test_images, test_labels.astype("int32"))


def _epsilon_text(row) -> str:
    return "∞" if math.isinf(row["epsilon"]) else f"{row['epsilon']:.2f}"


def markdown(result: dict) -> str:
    rows = sorted(result["rows"], key=lambda r: r["epsilon"])
    lines = [
        f"# Privacy against utility ({result['settings']['data']})\n",
        f"Train-on-synthetic accuracy ({result['settings']['n_per_class']:,} samples per class, "
        f"tested on the real test split); FID/KID/precision/recall at n = "
        f"{result['settings']['fid_n']:,}; membership attacks on {result['settings']['mia_n']:,} "
        "training members against as many test non-members (AUC 0.5 = chance). "
        f"The same classifier trained on real images: **{result['real_accuracy']:.4f}**.\n",
    ]
    header = ["row", "family", "ε spent (δ)", "σ", "steps", "minutes", "TSTR accuracy", "FID",
              "KID", "precision", "recall", "attack AUC", "TPR at 1 % FPR", "distance AUC"]  # fmt: skip
    table = []
    for r in rows:
        attack = ATTACKS.get(r["family"])
        own = r["membership"][attack] if attack else {"auc": math.nan, "tpr_at_fpr_0.01": math.nan}
        table.append([
            r["label"], r["family"],
            _epsilon_text(r) + (f" ({r['delta']:g})" if r["delta"] else ""),
            f"{r['noise_multiplier']:.3f}", f"{r['optimizer_steps']:,}", r["train_minutes"],
            f"{r['tstr_accuracy']:.4f}", f"{r['fid']:.2f}", f"{r['kid']:.4f}",
            f"{r['precision']:.3f}", f"{r['recall']:.3f}",
            f"{own['auc']:.3f} ({attack})" if attack else "—",
            f"{own['tpr_at_fpr_0.01']:.3f}" if attack else "—",
            f"{r['membership']['distance']['auc']:.3f}",
        ])  # fmt: skip
    lines.append(markdown_table(header, table))
    lines.append(
        "\nPublished train-on-synthetic accuracy on Fashion-MNIST (δ = 1e-5, DPDM paper):\n"
    )
    lines.append(markdown_table(
        ["method", "ε = 1", "ε = 10"],
        [[m, f"{a[1]:.3f}", f"{a[10]:.3f}"] for m, a in result["anchors"].items()],
    ))  # fmt: skip
    return "\n".join(lines)


def plot(result: dict, path: Path) -> Path:
    """Accuracy and FID against ε (log axis; the non-private row drawn at the right edge)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from imgenlib.io import atomic_path

    rows = sorted(result["rows"], key=lambda r: r["epsilon"])
    finite = [r["epsilon"] for r in rows if not math.isinf(r["epsilon"])] or [1.0]
    infinity = max(max(finite) * 4, 40.0)
    xs = [infinity if math.isinf(r["epsilon"]) else r["epsilon"] for r in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    families = list(dict.fromkeys(r["family"] for r in rows))
    for i, family in enumerate(families):
        own = [(x, r) for x, r in zip(xs, rows, strict=True) if r["family"] == family]
        options = {"color": f"C{i}", "marker": "o", "ls": "-"}
        left.plot([x for x, _ in own], [r["tstr_accuracy"] for _, r in own], **options,
                  label=f"imgenlib {family}")  # fmt: skip
        right.plot([x for x, _ in own], [r["fid"] for _, r in own], **options)
    for i, (method, anchor) in enumerate(result["anchors"].items()):
        left.plot(list(anchor), list(anchor.values()), "s--", color=f"C{i + len(families)}",
                  alpha=0.7, label=f"{method} (published)")  # fmt: skip
    left.axhline(result["real_accuracy"], color="gray", ls=":", label="trained on real images")
    left.set_ylabel("train-on-synthetic accuracy")
    right.set_ylabel(f"FID (n = {result['settings']['fid_n']:,}, lower is better)")
    for axis in (left, right):
        axis.set_xscale("log")
        ticks = sorted(set(finite)) + [infinity]
        axis.set_xticks(ticks, [f"{t:.2g}" for t in ticks[:-1]] + ["∞"])
        axis.minorticks_off()
        axis.set_xlabel("ε spent (δ = 1e-5)")
        axis.grid(alpha=0.3)
    left.set_ylim(0, 1)
    left.legend(fontsize=7, loc="lower right")
    figure.suptitle(f"Privacy against utility: {result['settings']['data']}, {', '.join(families)}")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110, format="png")
    plt.close(figure)
    return path


def run(runs: dict, *, settings: dict, out_dir=None, update: bool = False) -> dict:
    """Score every run of `runs` ({label: dir}) and write the results files."""
    out_dir = Path(out_dir or RESULTS)
    previous = None
    path = out_dir / f"{NAME}.json"
    if update and path.is_file():
        previous = json.loads(path.read_text())
        differing = {k: (previous["settings"][k], settings[k]) for k in SETTINGS
                     if previous["settings"].get(k) != settings[k]}  # fmt: skip
        if differing:
            raise SystemExit(
                f"--update needs the file's settings. Differing (file, now): {differing}"
            )
        runs = {
            label: d
            for label, d in runs.items()
            if label not in {r["label"] for r in previous["rows"]}
        }
    pools = _pools(settings["data"], settings["mia_n"], settings["seed"])
    rows = [
        {**r, "epsilon": math.inf if r["epsilon"] == "inf" else r["epsilon"]}
        for r in (previous["rows"] if previous else [])
    ]
    for label, directory in runs.items():
        print(f"scoring {label}: {directory}", flush=True)
        rows.append(score_run(label, directory, pools=pools, settings=settings))
    result = {
        "benchmark": NAME,
        "settings": settings,
        "real_accuracy": previous["real_accuracy"] if previous else real_accuracy(pools, settings),
        "anchors": ANCHORS,
        "rows": rows,
        "machine": machine(),
    }
    stored = _json_ready(result)
    write_result(NAME, stored, markdown(result), out_dir)
    plot(result, out_dir / f"{NAME}.png")
    return stored


def _json_ready(result: dict) -> dict:
    """As stored: ε = ∞ as the string "inf" (JSON has no infinity), anchor ε keys as text."""
    rows = [
        {**r, "epsilon": "inf" if math.isinf(r["epsilon"]) else r["epsilon"]}
        for r in result["rows"]
    ]
    anchors = {m: {str(k): v for k, v in a.items()} for m, a in result["anchors"].items()}
    return {**result, "rows": rows, "anchors": anchors}


def quick_run(out_dir) -> dict:
    """Seconds: a private and an ordinary tiny conditional GAN and a DP-MERF generator on the
    digits, scored small."""
    from imgenlib.mean_embedding_runs import train_mean_embedding
    from imgenlib.training import train

    runs_dir = Path(tempfile.mkdtemp(prefix="privacy_utility_"))
    common = {"preset": "tiny", "conditional": True, "epochs": 1, "seed": 0, "verbose": 0}
    train("gan", "digits", runs_dir / "private", dp_sigma=1.0, dp_clip=1.0, **common)
    train("gan", "digits", runs_dir / "inf", **common)
    train_mean_embedding("digits", runs_dir / "merf", epsilon=1.0, steps=20, steps_per_epoch=20,
                         num_features=960, samples_per_class=20, verbose=0)  # fmt: skip
    runs = {"1": runs_dir / "private", "inf": runs_dir / "inf", "merf 1": runs_dir / "merf"}
    settings = {"data": "digits", "n_per_class": 100, "fid_n": 50, "mia_n": 50, "seed": 0}
    return run(runs, settings=settings, out_dir=out_dir)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", metavar="LABEL=DIR", help="run directories to score")
    parser.add_argument("--data", default="fashion_mnist")
    parser.add_argument("--n-per-class", type=int, default=6000)
    parser.add_argument("--fid-n", type=int, default=1000)
    parser.add_argument("--mia-n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--update", action="store_true", help="keep the file's rows, add new labels"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run on the digits (seconds)")
    parser.add_argument("--out", help="results directory (default benchmarks/results)")
    args = parser.parse_args(argv)
    if args.quick or os.environ.get("IMGENLIB_QUICK") == "1" and not args.runs:
        result = quick_run(args.out or tempfile.mkdtemp(prefix="privacy_utility_out_"))
    else:
        if not args.runs:
            parser.error("give --runs LABEL=DIR ... (or --quick)")
        settings = {"data": args.data, "n_per_class": args.n_per_class, "fid_n": args.fid_n,
                    "mia_n": args.mia_n, "seed": args.seed}  # fmt: skip
        result = run(parse_runs(args.runs), settings=settings, out_dir=args.out, update=args.update)
    print_json_line(result)


if __name__ == "__main__":
    main()
