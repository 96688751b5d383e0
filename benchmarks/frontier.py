"""The speed–quality frontier on Fashion-MNIST: GAN vs VAE vs diffusion at 1 to 250 DDIM steps.

    python benchmarks/frontier.py --diffusion RUN_DIR                   # the frontier
    python benchmarks/frontier.py --diffusion RUN_DIR --n 1000 --guidance 0,2,3 \
        --snapshots gan:10=GAN_10 gan:30=GAN vae:10=VAE_10 10=RUN_10 30=RUN
    python benchmarks/frontier.py --update --n 1000 --snapshots diffusion:60=RUN_60
                                                                        # add rows to the file
    python benchmarks/frontier.py --update --n 1000 --steps 2,5,10 --spacing quadratic,linspace
    python benchmarks/frontier.py --quick                                # a smoke run (seconds)

One process, one extractor, one n, one seed. The models:

- **GAN**: the zoo's class-conditional ``fashion_mnist_cgan`` (`imgenlib.pretrained.load`),
  one network call per image.
- **VAE**: the zoo's class-conditional ``fashion_mnist_cvae`` (decoder means), one call.
- **diffusion**: the class-conditional model of a run directory written by ``python -m
  imgenlib train diffusion --data fashion_mnist --conditional ...`` (or a zoo name),
  sampled with deterministic DDIM (η = 0, guidance 1: the conditional model) at each of
  `--steps` network evaluations per image; `--guidance` adds a guidance-scale sweep at
  `--guidance-steps` steps (a scale w != 1 costs two network calls per step), and
  `--spacing` (e.g. ``quadratic,linspace``) a table of the same model at each of `--steps`
  (but 1, where every spacing is [T − 1]) with the timesteps of each spacing other than
  ``uniform`` (the frontier's: `imgenlib.models.schedules.sampling_timesteps`).

All three are conditional and draw the ten classes in equal shares (``labels="balanced"``),
so they answer the same request.

For each (model, steps) it draws `--n` samples with seed `--seed` (0) and times them:
``ms_per_image`` is the wall time of ``generate(n, seed=0, batch_size=250)`` divided by n
(throughput: the graph for that batch size and step count is traced by a warm-up call
first), ``batch_of_one_ms`` the p50 latency of ``generate(1)`` (one image on demand, what a
widget or an app asks for). Then FID, KID, precision and recall of the samples against
the first n test images with the shipped Fashion-MNIST extractor
(`imgenlib.evaluation.evaluate_images`; n = 2,000 gives larger FIDs than the zoo's
n = 10,000 figures: compare within this table only).

FID against training minutes: `--snapshots [gan:|vae:|diffusion:]MIN=DIR ...` (no prefix:
diffusion) scores a model of that family after MIN minutes of training. DIR is a run
directory or a snapshot copy (``model.keras`` + ``snapshot.txt``, "10 minutes, optimizer
step 1640"); a GAN or VAE is scored with one network call, a diffusion model at
`--snapshot-steps` DDIM steps. The zoo GAN and VAE enter as well, at their registry's
``train_seconds`` (marked "zoo"). The optimizer steps come from ``snapshot.txt``, the
saved optimizer, or the run's ``metrics.json``.

`--update` reads the results file and measures only the rows it does not hold yet (a row
is identified by table, family, network calls, guidance, spacing and training minutes), keeps all
others and rewrites the three files; without `--diffusion` it takes the file's diffusion
model. It refuses when n, seed, the test set or a family's model differ from the file's.
Writes ``results/frontier.json``, ``.md`` and ``frontier.png``; the last stdout line is the
JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import NamedTuple

from _common import RESULTS, machine, print_json_line, timed, write_result
from frontier_io import (
    SECTIONS,
    Snapshot,
    backfill,
    check_compatible,
    describe,
    load,
    markdown,
    merge,
    optimizer_steps,
    parse_snapshot,
    plot,
    row_key,
    zoo_minutes,
)

from imgenlib.sampling_options import SPACINGS

__all__ = ["STEPS", "Job", "load", "main", "measure", "plan", "quick_run", "run"]

STEPS = (1, 2, 5, 10, 25, 50, 100, 250)
METRICS = ("fid", "kid", "precision", "recall")
BATCH = 250
DATASET = "fashion_mnist"


def measure(model, *, n, seed=0, steps=None, guidance=None, spacing=None, calls=3):
    """Samples' metrics and timing for one model (and one step count of a diffusion model)."""
    from imgenlib.evaluation import evaluate_images
    from imgenlib.profiling import latency_ms

    options = {} if steps is None else {"steps": steps}
    if guidance is not None:
        options["guidance"] = guidance
    if spacing is not None:
        options["spacing"] = spacing
    if getattr(model, "num_classes", None):
        options["labels"] = "balanced"
    batch = min(BATCH, n)
    model.generate(batch, seed=seed + 1, batch_size=batch, **options)  # trace: not timed
    seconds, images = timed(model.generate, n, seed=seed, batch_size=batch, **options)
    one = latency_ms(lambda: model.generate(1, seed=seed, batch_size=1, **options), calls, warmup=1)
    scores = evaluate_images(images, DATASET, seed=seed, n_real=n, metrics=METRICS)
    return {
        "steps": 1 if steps is None else steps,
        **({} if guidance is None else {"guidance": guidance}),
        **({} if spacing is None else {"spacing": spacing}),
        "ms_per_image": round(1000 * seconds / n, 4),
        "batch_of_one_ms": round(one["p50"], 2),
        **{name: scores[name] for name in METRICS},
    }


class Job(NamedTuple):
    """One row to measure: its table, model, identifying fields and `measure` options."""

    section: str
    source: str
    fields: dict
    options: dict
    calls: int

    def key(self) -> tuple:
        steps, guidance = self.options.get("steps", 1), self.options.get("guidance")
        return row_key(self.section, {**self.fields, "steps": steps, "guidance": guidance})


def plan(diffusion, *, steps=STEPS, guidance=(), guidance_steps=25, spacings=(), snapshots=(),
         snapshot_steps=50, gan="fashion_mnist_cgan", vae="fashion_mnist_cvae", calls=3):  # fmt: skip
    """Every row a run asks for, as `Job`s (`diffusion` None: no diffusion frontier)."""
    jobs = [Job("frontier", gan, {"family": "GAN"}, {}, calls),
            Job("frontier", vae, {"family": "VAE"}, {}, calls)]  # fmt: skip
    if diffusion:
        jobs += [Job("frontier", diffusion, {"family": "diffusion"}, {"steps": k}, calls)
                 for k in steps]  # fmt: skip
        jobs += [Job("guidance", diffusion, {"family": "diffusion"},
                     {"steps": guidance_steps, "guidance": w}, 1) for w in guidance]  # fmt: skip
        jobs += [Job("spacing", diffusion, {"family": "diffusion", "spacing": name},
                     {"steps": k, "spacing": name}, 1)
                 for name in spacings if name != "uniform" for k in steps if k > 1]  # fmt: skip
    for family, source in (("GAN", gan), ("VAE", vae)):
        if "zoo" in describe(source):
            fields = {"family": family, "train_minutes": zoo_minutes(source)}
            jobs.append(Job("training", source, fields, {}, calls))
    for snapshot in snapshots:
        family, minutes, directory = Snapshot(*snapshot) if len(snapshot) == 3 else ("diffusion", *snapshot)  # fmt: skip
        options = {"steps": snapshot_steps} if family == "diffusion" else {}
        fields = {"family": family, "train_minutes": float(minutes)}
        jobs.append(Job("training", directory, fields, options, 1))
    return jobs


def run(diffusion=None, *, n=2000, seed=0, steps=STEPS, guidance=(), guidance_steps=25,
        spacings=(), snapshots=(), snapshot_steps=50, gan="fashion_mnist_cgan", vae="fashion_mnist_cvae",
        calls=3, existing=None, progress=print):  # fmt: skip
    """Measure the frontier; returns (result dict, markdown).

    `existing`: a results dict to update: only the rows it lacks are measured (`--update`).
    """
    from imgenlib.data.splits import default_split

    if existing is not None and not diffusion and "diffusion" in existing.get("models", {}):
        source = existing["models"]["diffusion"]
        diffusion = source.get("run") or source.get("zoo")
    models = {"GAN": describe(gan), "VAE": describe(vae)}
    if diffusion:
        models["diffusion"] = describe(diffusion)
    test_set = {"dataset": DATASET, "split": default_split(DATASET), "n_real": n}
    base = existing or {"benchmark": "frontier", "dataset": DATASET, "n": n, "seed": seed,
                        "batch_size": BATCH, "sampler": "DDIM, eta 0", "models": {},
                        **{section: [] for section in SECTIONS}, "machine": machine()}  # fmt: skip
    if existing is not None:
        check_compatible(existing, n=n, seed=seed, test_set=test_set, models=models)
    done = {row_key(section, row) for section in SECTIONS for row in base.get(section, [])}
    update = {"update": len(base.get("updates", [])) + 1} if existing is not None else {}
    loaded, measured, new = {}, {}, {section: [] for section in SECTIONS}
    jobs = plan(diffusion, steps=steps, guidance=guidance, guidance_steps=guidance_steps,
                spacings=spacings, snapshots=snapshots, snapshot_steps=snapshot_steps, gan=gan, vae=vae, calls=calls)  # fmt: skip
    for job in jobs:
        if job.key() in done:
            continue
        done.add(job.key())
        source = describe(job.source)
        cached = (json.dumps(source, sort_keys=True), *sorted(job.options.items()))
        if cached not in measured:
            if job.source not in loaded:
                loaded[job.source] = load(job.source)[0]
            measured[cached] = measure(loaded[job.source], n=n, seed=seed, calls=job.calls, **job.options)  # fmt: skip
        named = source if job.section == "training" else {}
        row = {**job.fields, **named, **measured[cached], **update}
        if "run" in named:
            row["optimizer_steps"] = optimizer_steps(source["run"], loaded.get(job.source))
        new[job.section].append(row)
        progress(row)
    result = merge(base, new)
    result["models"] = {**base.get("models", {}), **models}
    result["test_set"] = test_set
    added = sum(len(rows) for rows in new.values())
    if existing is not None and added:
        result["updates"] = [*base.get("updates", []), {"rows_added": added, "machine": machine()}]
    backfill(result)
    return result, markdown(result)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--diffusion", help="diffusion run directory or zoo name")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", default=",".join(map(str, STEPS)))
    parser.add_argument("--guidance", default="", help="guidance scales to sweep, e.g. 0,1,2,3")
    parser.add_argument("--guidance-steps", type=int, default=25, help="DDIM steps of that sweep")
    parser.add_argument("--spacing", default="uniform",
                        help=f"timestep spacings to compare at --steps, any of {','.join(SPACINGS)}")  # fmt: skip
    parser.add_argument("--snapshots", nargs="*", type=parse_snapshot, default=[],
                        help="[gan:|vae:|diffusion:]MINUTES=DIR (no prefix: diffusion)")  # fmt: skip
    parser.add_argument("--snapshot-steps", type=int, default=50)
    parser.add_argument("--update", action="store_true",
                        help="measure only the rows the results file lacks; keep the others")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="tiny untrained diffusion, n=20")
    parser.add_argument(
        "--out", help="results folder (default benchmarks/results; --quick: a temporary one)"
    )
    args = parser.parse_args(argv)
    steps = tuple(int(k) for k in args.steps.split(","))
    spacings = tuple(name for name in args.spacing.split(",") if name)
    if not set(spacings) <= set(SPACINGS):
        parser.error(f"--spacing takes names from {','.join(SPACINGS)}. Received: --spacing {args.spacing}")  # fmt: skip
    if args.quick:
        import tempfile

        args.diffusion = args.diffusion or quick_run(Path(tempfile.mkdtemp()))
        args.n, steps, args.out = 20, (1, 2), args.out or tempfile.mkdtemp()
        args.guidance, args.guidance_steps, args.snapshot_steps = "0,2", 2, 2
        spacings = spacings if args.spacing != "uniform" else ("uniform", "quadratic")
        args.snapshots = args.snapshots or [Snapshot("diffusion", 0.0, args.diffusion)]
    args.out = args.out or str(RESULTS)
    existing = None
    if args.update:
        path = Path(args.out) / "frontier.json"
        if not path.is_file():
            parser.error(f"--update: no results file to update. Received: --out {args.out}")
        existing = json.loads(path.read_text())
    elif not args.diffusion:
        parser.error("--diffusion RUN_DIR is required (or --quick, or --update)")
    guidance = tuple(float(w) for w in args.guidance.split(",") if w)
    result, table = run(args.diffusion, n=args.n, seed=args.seed, steps=steps, guidance=guidance,
                        guidance_steps=args.guidance_steps, spacings=spacings, snapshots=args.snapshots,
                        snapshot_steps=args.snapshot_steps, existing=existing)  # fmt: skip
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
