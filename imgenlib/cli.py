"""Command-line interface: ``python -m imgenlib COMMAND ...`` (also installed as ``imgenlib``).

Commands:
    datasets                  list the datasets, their sizes and where each was found
    show NAME --out grid.png  write a grid of a dataset's images
    train gan|vae --data NAME --out DIR [--preset P] [--epochs N] [--max-minutes M]
              [--learning-rate LR] [--strategy default|mirrored|multiworker]
              [--deterministic] ...
                              train a model; re-running with the same DIR resumes
    sample DIR --n N --seed S --out grid.png [--npy file.npy]
                              generate images from a trained run
    eval DIR --n N [--json out.json] [--seed S]
                              measure a run: FID, KID, precision/recall, ... (VAE: also
                              reconstruction and test ELBO)
    reconstruct DIR --out grid.png [--n N] [--split test]
                              originals above their VAE reconstructions
    export DIR --format savedmodel|tflite [--quantize float16|int8] --out PATH
                              export a run's generator for serving (see imgenlib.export)
    presets                   list the training presets
    demo --out DIR            the README's first command: sample grids and a metrics JSON

Errors in what you typed (unknown names, bad values, missing data, unwritable paths) end
with exit code 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["build_parser", "main"]

_NO_TENSORFLOW = {"datasets"}
_TRAINING_FAILED = 1


class _OneLineParser(argparse.ArgumentParser):
    """An `argparse` parser whose usage errors are one line (exit code 2), like ours."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m imgenlib``."""
    from imgenlib import __version__

    parser = _OneLineParser(
        prog="python -m imgenlib",
        description="Image generation with GANs and VAEs on TensorFlow/Keras.",
    )
    parser.add_argument("--version", action="version", version=f"imgenlib {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    datasets = commands.add_parser(
        "datasets", help="list datasets, their sizes and where each is found"
    )
    datasets.add_argument("--data-dir", help="extra directory to search for local copies")
    datasets.set_defaults(handler=_cmd_datasets)

    show = commands.add_parser("show", help="write a PNG grid of a dataset's images")
    show.add_argument("name", help="dataset name (see `datasets`) or a folder of images")
    show.add_argument("--out", required=True, help="PNG file to write")
    show.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    show.add_argument("--split", default="train", help="train or test (default train)")
    show.add_argument("--image-size", type=int, help="resize to this square size")
    show.add_argument("--data-dir", help="directory holding a local copy of the dataset")
    show.add_argument("--scale", type=int, default=2, help="pixel upscaling of the PNG (default 2)")
    show.set_defaults(handler=_cmd_show)

    train = commands.add_parser("train", help="train a model into a run directory (resumable)")
    train.add_argument("kind", choices=["gan", "vae"], help="model family")
    train.add_argument(
        "--data", required=True, help="dataset name (see `datasets`) or a folder of images"
    )
    train.add_argument(
        "--out", required=True, help="run directory; re-running with the same one resumes"
    )
    train.add_argument(
        "--preset", help="preset name (see `presets`); default: the dataset's recommended one"
    )
    train.add_argument("--epochs", type=int, help="number of epochs (default: the preset's)")
    train.add_argument("--max-minutes", type=float, help="stop after this much training time")
    train.add_argument("--conditional", action="store_true", help="train a class-conditional model")
    train.add_argument(
        "--loss", help="GAN loss: non_saturating, minimax, hinge, least_squares, wasserstein_gp"
    )
    train.add_argument("--batch-size", type=int, help="batch size (default: the preset's)")
    train.add_argument("--image-size", type=int, help="resize images to this square size")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument(
        "--learning-rate",
        type=float,
        help="set every learning rate of the preset (a GAN's G and D alike); may be lowered "
        "when resuming a run that diverged",
    )
    train.add_argument(
        "--strategy",
        default="default",
        help="tf.distribute strategy: default, mirrored (all local GPUs) or multiworker "
        "(one process per machine, TF_CONFIG set on each)",
    )
    train.add_argument(
        "--deterministic",
        action="store_true",
        help="TensorFlow op determinism: same machine + same --seed -> identical weights "
        "(disables XLA)",
    )
    train.add_argument(
        "--eval-every",
        type=int,
        metavar="N",
        help="measure KID and FID every N epochs (history.json) and keep the lowest-FID "
        "model in DIR/best.keras",
    )
    train.add_argument(
        "--precision",
        default="float32",
        help="float32 (default) or mixed_bfloat16 (GANs; faster only on hardware with bfloat16 "
        "units: measure with benchmarks/options.py first)",
    )
    train.add_argument(
        "--patience",
        type=int,
        metavar="P",
        help="with --eval-every: stop once FID has not improved for P epochs",
    )
    train.set_defaults(handler=_cmd_train)

    sample = commands.add_parser(
        "sample", help="generate a PNG grid (and optionally .npy) from a run"
    )
    sample.add_argument("run", help="run directory written by `train`")
    sample.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    sample.add_argument(
        "--seed", type=int, default=0, help="latent seed; same seed, same images (default 0)"
    )
    sample.add_argument("--out", required=True, help="PNG file to write")
    sample.add_argument(
        "--npy", help="also write the images as float32 NHWC in [0, 1] to this .npy file"
    )
    sample.add_argument(
        "--label", type=int, help="class for a conditional model (default: cycle through classes)"
    )
    sample.add_argument(
        "--scale", type=int, default=2, help="pixel upscaling of the PNG (default 2)"
    )
    sample.set_defaults(handler=_cmd_sample)

    evaluate = commands.add_parser(
        "eval", help="measure a run: FID, KID, precision/recall, IS (VAE: reconstruction, ELBO)"
    )
    evaluate.add_argument("run", help="run directory written by `train`")
    evaluate.add_argument(
        "--n", type=int, default=10000, help="samples and real images (default 10000)"
    )
    evaluate.add_argument("--seed", type=int, default=0, help="sample seed (default 0)")
    evaluate.add_argument("--json", help="also write the metrics to this .json file")
    evaluate.set_defaults(handler=_cmd_eval)
    _add_reconstruct_parser(commands)
    export = commands.add_parser(
        "export", help="export a run's generator as a SavedModel or TFLite file"
    )
    export.add_argument("run", help="run directory written by `train`")
    export.add_argument("--format", required=True, help="savedmodel or tflite")
    export.add_argument("--quantize", help="TFLite weight quantization: float16 or int8")
    export.add_argument("--out", required=True, help="SavedModel directory or .tflite file")
    export.set_defaults(handler=_cmd_export)

    presets = commands.add_parser("presets", help="list the training presets")
    presets.set_defaults(handler=_cmd_presets)

    demo = commands.add_parser("demo", help="the README's first command: grids and a metrics JSON")
    demo.add_argument("--out", default="outputs", help="output directory (default outputs/)")
    demo.set_defaults(handler=_cmd_demo)
    return parser


def main(argv=None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 2 usage or input error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command not in _NO_TENSORFLOW:
            from imgenlib._env import quiet_tensorflow

            quiet_tensorflow()
        return args.handler(args) or 0
    except (ValueError, TypeError, FileNotFoundError, PermissionError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"{parser.prog} {args.command}: error: {message}", file=sys.stderr)
        return 2
    except RuntimeError as error:  # TrainingDiverged and health checks set to raise
        print(f"{parser.prog} {args.command}: {str(error).splitlines()[0]}", file=sys.stderr)
        return _TRAINING_FAILED
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130


def _cmd_datasets(args) -> int:
    from imgenlib.data import DATASETS, find_local_copy

    rows = [("name", "image shape", "sizes", "classes", "found at")]
    for name, spec in DATASETS.items():
        if spec.embedded:
            where = "embedded (always available)"
        else:
            local = find_local_copy(name, args.data_dir)
            where = str(local) if local else "not found locally (Keras download on first use)"
        sizes = ", ".join(f"{split} {count:,}" for split, count in spec.splits.items())
        if name == "shapes":
            sizes += " (default; any count)"
        shape = "x".join(map(str, spec.image_shape))
        rows.append((name, shape, sizes, str(spec.num_classes), where))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[-1]
        )
    return 0


def _load_for_show(args):
    from imgenlib.data import DATASETS, load_folder, load_images

    if args.name not in DATASETS and Path(args.name).is_dir():
        return load_folder(args.name, args.image_size or 64)[: args.n]
    images, _ = load_images(args.name, args.split, args.image_size, args.data_dir, n=args.n)
    return images


def _cmd_show(args) -> int:
    from imgenlib._validation import check_positive_int
    from imgenlib.io import ensure_writable_dir
    from imgenlib.plotting import save_grid

    check_positive_int("--n", args.n)
    check_positive_int("--scale", args.scale)
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out must be a .png file. Received: --out={args.out!r}")
    ensure_writable_dir(out.parent if str(out.parent) else ".")
    images = _load_for_show(args)
    save_grid(images, out, scale=args.scale)
    print(f"Wrote {len(images)} images of {args.name!r} to {out}")
    return 0


def _cmd_train(args) -> int:
    from imgenlib.training import train

    summary = train(
        args.kind,
        args.data,
        args.out,
        preset=args.preset,
        epochs=args.epochs,
        max_minutes=args.max_minutes,
        conditional=args.conditional,
        loss=args.loss,
        batch_size=args.batch_size,
        seed=args.seed,
        image_size=args.image_size,
        learning_rate=args.learning_rate,
        strategy=args.strategy,
        deterministic=args.deterministic,
        eval_every=args.eval_every,
        patience=args.patience,
        precision=args.precision,
    )
    done = summary["epochs_completed"]
    print(
        f"{done}/{summary['epochs_requested']} epochs done; {summary['images_per_second']} img/s this session. "
        f"Outputs in {args.out}: model.keras, samples.png, history.json, metrics.json"
    )
    if "best" in summary:
        best = summary["best"]
        print(
            f"Lowest FID {best['fid']} (n={best['eval_n']}) at epoch {best['epoch']}: {args.out}/best.keras"
        )
    return 0


def _cmd_sample(args) -> int:
    import numpy as np

    from imgenlib._validation import check_int, check_positive_int
    from imgenlib.images import to_unit
    from imgenlib.io import atomic_path, ensure_writable_dir
    from imgenlib.plotting import save_grid
    from imgenlib.training import load_run_model

    n = check_positive_int("--n", args.n)
    seed = check_int("--seed", args.seed, minimum=0)
    scale = check_positive_int("--scale", args.scale)
    for flag, value, suffix in (("--out", args.out, ".png"), ("--npy", args.npy, ".npy")):
        if value is not None:
            if Path(value).suffix.lower() != suffix:
                raise ValueError(f"{flag} must be a {suffix} file. Received: {flag}={value!r}")
            ensure_writable_dir(Path(value).parent)
    model = load_run_model(args.run)
    labels = None
    if getattr(model, "num_classes", None):
        labels = np.arange(n) % model.num_classes if args.label is None else args.label
    elif args.label is not None:
        raise ValueError(
            f"--label is for conditional models; this run is unconditional. Received: --label={args.label}"
        )
    images = model.generate(n, seed=seed, labels=labels)
    save_grid(images, args.out, scale=scale)
    if args.npy:
        with atomic_path(args.npy) as tmp:
            np.save(tmp, to_unit(images))
    print(
        f"Wrote {n} samples (seed {seed}) to {args.out}" + (f" and {args.npy}" if args.npy else "")
    )
    return 0


def _cmd_eval(args) -> int:
    from imgenlib._validation import check_int
    from imgenlib.evaluation import evaluate_run, format_report
    from imgenlib.io import ensure_writable_dir, save_json

    check_int("--n", args.n, minimum=10)
    check_int("--seed", args.seed, minimum=0)
    if args.json is not None:
        if Path(args.json).suffix.lower() != ".json":
            raise ValueError(f"--json must be a .json file. Received: --json={args.json!r}")
        ensure_writable_dir(Path(args.json).parent)
    result = evaluate_run(args.run, n=args.n, seed=args.seed)
    print(format_report(result))
    if args.json is not None:
        print(f"Wrote {save_json(result, args.json)}")
    return 0


def _add_reconstruct_parser(commands):
    reconstruct = commands.add_parser(
        "reconstruct", help="write originals above their reconstructions (VAE runs)"
    )
    reconstruct.add_argument("run", help="VAE run directory written by `train vae`")
    reconstruct.add_argument("--out", required=True, help="PNG file to write")
    reconstruct.add_argument("--n", type=int, default=32, help="number of images (default 32)")
    reconstruct.add_argument(
        "--split", help="train or test (default: test when the dataset has one)"
    )
    reconstruct.add_argument(
        "--scale", type=int, default=2, help="pixel upscaling of the PNG (default 2)"
    )
    reconstruct.set_defaults(handler=_cmd_reconstruct)


def _save_reconstructions(model, images, labels, path, *, scale=2, ncols=16):
    from imgenlib.plotting import paired_rows, save_grid

    ncols = min(ncols, len(images))
    pairs = paired_rows(images, model.reconstruct(images, labels), ncols=ncols)
    return save_grid(pairs, path, ncols=ncols, scale=scale)


def _cmd_reconstruct(args) -> int:
    from imgenlib._validation import check_positive_int
    from imgenlib.io import ensure_writable_dir
    from imgenlib.training import load_run_data, load_run_model

    n = check_positive_int("--n", args.n)
    scale = check_positive_int("--scale", args.scale)
    if Path(args.out).suffix.lower() != ".png":
        raise ValueError(f"--out must be a .png file. Received: --out={args.out!r}")
    ensure_writable_dir(Path(args.out).parent)
    model = load_run_model(args.run)
    if not hasattr(model, "reconstruct"):
        raise ValueError(
            f"reconstruct needs a VAE run; {args.run!r} holds a {type(model).__name__}."
        )
    images, labels, split = load_run_data(args.run, args.split, n)
    _save_reconstructions(model, images, labels, args.out, scale=scale)
    print(f"Wrote {len(images)} {split} images above their reconstructions to {args.out}")
    return 0


def _cmd_export(args) -> int:
    from imgenlib._validation import check_choice
    from imgenlib.export import QUANTIZATIONS, compare_exported, export_savedmodel, export_tflite
    from imgenlib.training import load_run_model

    check_choice("--format", args.format, ("savedmodel", "tflite"))
    if args.quantize is not None:
        check_choice("--quantize", args.quantize, QUANTIZATIONS)
    if args.format == "savedmodel" and args.quantize:
        raise ValueError(
            f"--quantize is for --format tflite. Received: --quantize={args.quantize!r}"
        )
    if args.format == "tflite" and Path(args.out).suffix != ".tflite":
        raise ValueError(f"--out must be a .tflite file. Received: --out={args.out!r}")
    model = load_run_model(args.run)
    if args.format == "savedmodel":
        path = export_savedmodel(model, args.out)
    else:
        path = export_tflite(model, args.out, quantization=args.quantize)
    check = compare_exported(model, path, n=64)
    print(
        f"Wrote {args.format} to {path}; vs the Keras model on 64 latents: "
        f"max |error| {check['max_abs_error']:.2g}, PSNR {check['psnr_db']:.1f} dB"
    )
    return 0


def _cmd_presets(args) -> int:
    from imgenlib.presets import available

    for kind, presets in available().items():
        for name, description in presets.items():
            print(f"{kind:4s} {name:14s} {description}")
    return 0


def _cmd_demo(args) -> int:
    import numpy as np

    from imgenlib import __version__
    from imgenlib._env import quick_mode
    from imgenlib.data import dataset_info, load_images
    from imgenlib.io import ensure_writable_dir, save_json
    from imgenlib.plotting import save_grid
    from imgenlib.training import load_run_model, train

    out = ensure_writable_dir(args.out)
    report = {"imgenlib": __version__, "quick_mode": quick_mode(), "datasets": {}, "models": {}}
    for name in ("digits", "shapes"):
        start = time.perf_counter()
        images, labels = load_images(name)
        grid = save_grid(images[:64], out / f"{name}_data.png", scale=2)
        report["datasets"][name] = {
            "images": int(len(images)),
            "image_shape": list(images.shape[1:]),
            "classes": list(dataset_info(name).class_names),
            "class_counts": np.bincount(labels).tolist(),
            "pixel_mean": round(float(images.mean()), 4),
            "pixel_std": round(float(images.std()), 4),
            "grid": grid.name,
            "seconds": round(time.perf_counter() - start, 2),
        }
        print(f"{name}: {len(images)} images {images.shape[1:]} -> {grid}")

    preset, epochs = ("tiny", 1) if quick_mode() else ("demo", None)
    print(f"Training a GAN on digits (preset {preset!r}) into {out / 'gan_digits'} ...")
    summary = train("gan", "digits", out / "gan_digits", preset=preset, epochs=epochs, verbose=2)
    model = load_run_model(out / "gan_digits")
    samples = save_grid(model.generate(64, seed=0), out / "gan_digits_samples.png", scale=2)
    report["models"]["gan_digits"] = {**summary, "samples": samples.name, "run_dir": "gan_digits"}
    print(f"GAN samples -> {samples}")
    report["models"]["vae_digits"] = _demo_vae(out, preset, epochs)
    path = save_json(report, out / "metrics.json")
    print(f"Wrote {path}")
    return 0


def _demo_vae(out, preset, epochs) -> dict:
    from imgenlib.plotting import save_grid
    from imgenlib.training import load_run_data, load_run_model, train

    print(f"Training a VAE on digits (preset {preset!r}) into {out / 'vae_digits'} ...")
    summary = train("vae", "digits", out / "vae_digits", preset=preset, epochs=epochs, verbose=2)
    model = load_run_model(out / "vae_digits")
    samples = save_grid(model.generate(64, seed=0), out / "vae_digits_samples.png", scale=2)
    images, labels, _ = load_run_data(out / "vae_digits", n=32)
    pairs = _save_reconstructions(model, images, labels, out / "vae_digits_reconstructions.png")
    print(f"VAE samples -> {samples}; reconstructions -> {pairs}")
    return {
        **summary,
        "samples": samples.name,
        "reconstructions": pairs.name,
        "run_dir": "vae_digits",
    }
