"""The speed–quality frontier on Fashion-MNIST: GAN vs VAE vs diffusion at 1 to 250 DDIM steps.

    python benchmarks/frontier.py --diffusion RUN_DIR                   # the frontier
    python benchmarks/frontier.py --diffusion RUN_DIR --n 1000 --guidance 0,2,3 \
        --snapshots 10=RUN_DIR_10 30=RUN_DIR                            # as run for the README
    python benchmarks/frontier.py --quick                                # a smoke run (seconds)

One process, one extractor, one n, one seed. The models:

- **GAN**: the zoo's class-conditional ``fashion_mnist_cgan`` (`imgenlib.pretrained.load`),
  one network call per image.
- **VAE**: the zoo's class-conditional ``fashion_mnist_cvae`` (decoder means), one call.
- **diffusion**: the class-conditional model of a run directory written by ``python -m
  imgenlib train diffusion --data fashion_mnist --conditional ...`` (or a zoo name),
  sampled with deterministic DDIM (η = 0, guidance 1: the conditional model) at each of
  `--steps` network evaluations per image; `--guidance` adds a guidance-scale sweep at
  `--guidance-steps` steps (a scale w != 1 costs two network calls per step).

All three are conditional and draw the ten classes in equal shares (``labels="balanced"``),
so they answer the same request.

For each (model, steps) it draws `--n` samples with seed 0 and times them:
``ms_per_image`` is the wall time of ``generate(n, seed=0, batch_size=250)`` divided by n
(throughput: the graph for that batch size and step count is traced by a warm-up call
first), ``batch_of_one_ms`` the p50 latency of ``generate(1)`` (one image on demand, what a
widget or an app asks for). Then FID, KID, precision and recall of the samples against
the first n test images with the shipped Fashion-MNIST extractor
(`imgenlib.evaluation.evaluate_images`; n = 2,000 gives larger FIDs than the zoo's
n = 10,000 figures: compare within this table only).

`--snapshots MIN=DIR ...` adds FID against training minutes: copies of one diffusion run
taken after MIN minutes of training, each scored at `--snapshot-steps` DDIM steps; the zoo
GAN and VAE enter that plot at their own training time (their registry's
``train_seconds``). Writes ``results/frontier.json``, ``.md`` and ``frontier.png``; the
last stdout line is the JSON.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import RESULTS, machine, markdown_table, print_json_line, timed, write_result

STEPS = (1, 2, 5, 10, 25, 50, 100, 250)
METRICS = ("fid", "kid", "precision", "recall")
BATCH = 250


def load(name_or_dir):
    """A model from a run directory (its ``model.keras``) or a zoo name; and what it was."""
    from imgenlib import pretrained
    from imgenlib.runs import load_run_model

    path = Path(name_or_dir)
    if (path / "model.keras").exists():
        return load_run_model(path), {"run": str(path)}
    model = pretrained.load(str(name_or_dir))
    info = pretrained.info(str(name_or_dir))
    return model, {"zoo": str(name_or_dir), "train_minutes": round(info["train_seconds"] / 60, 1)}


def measure(model, *, n, steps=None, guidance=None, calls=3):
    """Samples' metrics and timing for one model (and one step count of a diffusion model)."""
    from imgenlib.evaluation import evaluate_images
    from imgenlib.profiling import latency_ms

    options = {} if steps is None else {"steps": steps}
    if guidance is not None:
        options["guidance"] = guidance
    if getattr(model, "num_classes", None):
        options["labels"] = "balanced"
    batch = min(BATCH, n)
    model.generate(batch, seed=1, batch_size=batch, **options)  # trace the graph: not timed
    seconds, images = timed(model.generate, n, seed=0, batch_size=batch, **options)
    one = latency_ms(lambda: model.generate(1, seed=0, batch_size=1, **options), calls, warmup=1)
    scores = evaluate_images(images, "fashion_mnist", seed=0, n_real=n, metrics=METRICS)
    return {
        "steps": 1 if steps is None else steps,
        **({} if guidance is None else {"guidance": guidance}),
        "ms_per_image": round(1000 * seconds / n, 4),
        "batch_of_one_ms": round(one["p50"], 2),
        **{name: scores[name] for name in METRICS},
    }


def run(diffusion, *, n=2000, steps=STEPS, guidance=(), guidance_steps=25, snapshots=(),
        snapshot_steps=50, gan="fashion_mnist_cgan", vae="fashion_mnist_cvae", calls=3,
        progress=print):  # fmt: skip
    """Measure the frontier; returns (result dict, markdown)."""
    rows, sources = [], {}
    for family, source in (("GAN", gan), ("VAE", vae)):
        model, sources[family] = load(source)
        rows.append({"family": family, **measure(model, n=n, calls=calls)})
        progress(rows[-1])
    model, sources["diffusion"] = load(diffusion)
    for k in steps:
        rows.append({"family": "diffusion", **measure(model, n=n, steps=k, calls=calls)})
        progress(rows[-1])
    sweep = []
    for w in guidance:
        sweep.append(
            {
                "family": "diffusion",
                **measure(model, n=n, steps=guidance_steps, guidance=w, calls=1),
            }
        )
        progress(sweep[-1])
    training = []
    for minutes, directory in snapshots:
        done = [r for r in rows if r["family"] == "diffusion" and r["steps"] == snapshot_steps]
        if Path(directory) == Path(diffusion) and done:  # the frontier's own model: measured
            row = done[0]
        else:
            snapshot, _ = load(directory)
            row = measure(snapshot, n=n, steps=snapshot_steps, calls=1)
        training.append(
            {"family": "diffusion", "train_minutes": minutes, "run": str(directory), **row}
        )
        progress(training[-1])
    for family in ("GAN", "VAE"):
        if "train_minutes" in sources[family]:
            row = next(r for r in rows if r["family"] == family)
            training.append({**row, "train_minutes": sources[family]["train_minutes"]})
    result = {
        "benchmark": "frontier",
        "dataset": "fashion_mnist",
        "n": n,
        "seed": 0,
        "batch_size": BATCH,
        "sampler": "DDIM, eta 0",
        "models": sources,
        "frontier": rows,
        "guidance": sweep,
        "training": training,
        "machine": machine(),
    }
    return result, _markdown(result)


def _markdown(result) -> str:
    header = ["family", "network calls", "ms/image (batch 250)", "ms for one image", "FID", "KID", "precision", "recall"]  # fmt: skip
    body = [
        [r["family"], r["steps"], r["ms_per_image"], r["batch_of_one_ms"], round(r["fid"], 2),
         round(r["kid"], 4), round(r["precision"], 3), round(r["recall"], 3)]
        for r in result["frontier"]
    ]  # fmt: skip
    text = f"Fashion-MNIST, n = {result['n']} samples (seed 0) vs {result['n']} test images.\n\n"
    text += markdown_table(header, body)
    if result["guidance"]:
        rows = [[r["guidance"], r["steps"], r["ms_per_image"], round(r["fid"], 2), round(r["kid"], 4),
                 round(r["precision"], 3), round(r["recall"], 3)] for r in result["guidance"]]  # fmt: skip
        text += "\n" + markdown_table(["guidance", "DDIM steps", "ms/image", "FID", "KID", "precision", "recall"], rows)  # fmt: skip
    if result["training"]:
        rows = [[r["family"], r["train_minutes"], r["steps"], round(r["fid"], 2), round(r["kid"], 4)]
                for r in result["training"]]  # fmt: skip
        text += "\n" + markdown_table(
            ["family", "training minutes", "network calls", "FID", "KID"], rows
        )
    return text


def plot(result, path):
    """Two panels: FID against ms per image (log), FID against training minutes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = {"GAN": "tab:red", "VAE": "tab:blue", "diffusion": "tab:green"}
    for family, colour in colours.items():
        rows = [r for r in result["frontier"] if r["family"] == family]
        xs, ys = [r["ms_per_image"] for r in rows], [r["fid"] for r in rows]
        axes[0].plot(xs, ys, "o-" if len(rows) > 1 else "o", color=colour, label=family)
        if family == "diffusion":
            for r in rows:
                axes[0].annotate(str(r["steps"]), (r["ms_per_image"], r["fid"]), fontsize=8,
                                 textcoords="offset points", xytext=(4, 4))  # fmt: skip
        rows = sorted((r for r in result["training"] if r["family"] == family), key=lambda r: r["train_minutes"])  # fmt: skip
        if rows:
            axes[1].plot([r["train_minutes"] for r in rows], [r["fid"] for r in rows],
                         "o-", color=colour, label=family)  # fmt: skip
    axes[0].set(xscale="log", yscale="log", xlabel="ms per image (batch 250, 2-core CPU)",
                ylabel=f"FID (n = {result['n']})", title="Speed vs quality (labels: DDIM steps)")  # fmt: skip
    axes[1].set(yscale="log", xlabel="training minutes", ylabel=f"FID (n = {result['n']})",
                title="Quality vs training time")  # fmt: skip
    for axis in axes:
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _snapshot(text):
    minutes, _, directory = text.partition("=")
    if not directory:
        raise argparse.ArgumentTypeError(f"expected MINUTES=RUN_DIR. Received: {text!r}")
    return float(minutes), directory


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--diffusion", help="diffusion run directory or zoo name")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--steps", default=",".join(map(str, STEPS)))
    parser.add_argument("--guidance", default="", help="guidance scales to sweep, e.g. 0,1,2,3")
    parser.add_argument("--guidance-steps", type=int, default=25, help="DDIM steps of that sweep")
    parser.add_argument("--snapshots", nargs="*", type=_snapshot, default=[])
    parser.add_argument("--snapshot-steps", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="tiny untrained diffusion, n=20")
    parser.add_argument(
        "--out", help="results folder (default benchmarks/results; --quick: a temporary one)"
    )
    args = parser.parse_args(argv)
    steps = tuple(int(k) for k in args.steps.split(","))
    if args.quick:
        import tempfile

        args.diffusion = args.diffusion or quick_run(Path(tempfile.mkdtemp()))
        args.n, steps, args.out = 20, (1, 2), args.out or tempfile.mkdtemp()
        args.guidance, args.guidance_steps, args.snapshot_steps = "0,2", 2, 2
        args.snapshots = args.snapshots or [(0.0, args.diffusion)]
    if not args.diffusion:
        parser.error("--diffusion RUN_DIR is required (or --quick)")
    args.out = args.out or str(RESULTS)
    guidance = tuple(float(w) for w in args.guidance.split(",") if w)
    result, table = run(args.diffusion, n=args.n, steps=steps, guidance=guidance,
                        guidance_steps=args.guidance_steps, snapshots=args.snapshots,
                        snapshot_steps=args.snapshot_steps)  # fmt: skip
    write_result("frontier", result, table, out_dir=args.out)
    plot(result, Path(args.out) / "frontier.png")
    print(table)
    print_json_line(result)


def quick_run(directory: Path) -> str:
    """A run directory holding an untrained tiny diffusion model of 28×28 images (smoke runs)."""
    from imgenlib.models.diffusion import DiffusionConfig, build_diffusion

    model = build_diffusion(DiffusionConfig.tiny(timesteps=20), (28, 28, 1), num_classes=10)
    model.build_for_training()
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / "model.keras")
    return str(directory)


if __name__ == "__main__":
    main()
