"""Command-line interface: ``python -m imgenlib COMMAND ...`` (also installed as ``imgenlib``).

Commands (``python -m imgenlib COMMAND --help`` for their options):
    datasets     list the datasets, their sizes and where each was found
    fetch        download a dataset once (``fetch emoji``: the emoji packages, with npm)
    show         write a grid of a dataset's images
    train        train a model (a `imgenlib.runs.RunConfig`); re-running a DIR resumes it
    sample       generate images from a trained run (diffusion: --steps, --eta, --guidance,
                 --sampler)
    eval         measure a run: FID, KID, precision/recall, ... (VAE: also reconstruction
                 and test ELBO; diffusion: the sampling options of ``sample``; text runs:
                 how often the samples have what their prompts name)
    reconstruct  originals above their VAE reconstructions
    export       export a run's generator for serving (see imgenlib.export)
    presets      list the training presets
    demo         the README's first command: sample grids and a metrics JSON (`imgenlib.demo`)

Errors in what you typed (unknown names, bad values, missing data, unwritable paths) end
with exit code 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import warnings
from pathlib import Path

from imgenlib.dataset_commands import (
    add_datasets_parser,
    add_fetch_parser,
    add_grid_options,
    add_show_parser,
)
from imgenlib.distribute import STRATEGIES
from imgenlib.export import QUANTIZATIONS
from imgenlib.io import check_output_file
from imgenlib.runs import KINDS, PRECISIONS, SPLITS, RunConfig
from imgenlib.sample_commands import add_eval_parser, add_sample_parser, check_run_argument

__all__ = ["EXPORT_FORMATS", "build_parser", "main", "run_config"]

EXPORT_FORMATS = ("savedmodel", "tflite")

_NO_TENSORFLOW = {"datasets", "fetch"}
_TRAINING_FAILED = 1


class _OneLineParser(argparse.ArgumentParser):
    """An `argparse` parser whose usage errors are one line (exit code 2), like ours."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class _LazyChoices:
    """``choices=`` read from a module that imports TensorFlow (or the data modules), on
    first use: building the parser (``--help``, ``datasets``) then does not import it."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def _values(self):
        from imgenlib._env import quiet_tensorflow

        quiet_tensorflow()
        return getattr(importlib.import_module(self.module), self.name)

    def __contains__(self, value):
        return value in self._values()

    def __iter__(self):
        return iter(self._values())


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m imgenlib``."""
    from imgenlib import __version__

    parser = _OneLineParser(
        prog="python -m imgenlib",
        description="Image generation with GANs, VAEs and diffusion on TensorFlow/Keras.",
    )
    parser.add_argument("--version", action="version", version=f"imgenlib {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        add_datasets_parser, add_fetch_parser, add_show_parser, _add_train_parser, _add_merf_parser,
        add_sample_parser,
        add_eval_parser, _add_reconstruct_parser, _add_export_parser, _add_presets_parser,
        _add_demo_parser,
    ):  # fmt: skip
        add(commands)
    return parser


def _add_train_parser(commands):
    """``train``: one option per `RunConfig` field, defaulting to the field's default."""
    train = commands.add_parser("train", help="train a model into a run directory (resumable)")
    train.add_argument("kind", choices=KINDS, help="model family")
    for flag, options, text in (
        ("--data", {"required": True}, "dataset name (see `datasets`) or a folder of images"),
        ("--out", {"required": True}, "run directory; re-running with the same one resumes"),
        ("--preset", {}, "preset name (see `presets`); default: the dataset's recommended "
         "one, for a folder one chosen from what it holds (printed)"),
        ("--epochs", {"type": int}, "number of epochs (default: the preset's; with "
         "--max-minutes alone: until the time budget)"),
        ("--max-minutes", {"type": float}, "stop after this much training time; without "
         "--epochs, train until then"),
        ("--conditional", {"action": "store_true"}, "train a class-conditional model"),
        ("--text", {"action": "store_true"}, "train a text-conditional model (GAN or diffusion) on the "
         "captions of shapes_captions or emoji; sample it with `sample DIR --prompt TEXT`"),
        ("--text-encoder", {"choices": RunConfig.TEXT_ENCODERS, "default": "new"}, "with --text: a new "
         "encoder trained with the model (default), or the shipped Mini-CLIP's, frozen"),
        ("--loss", {"choices": _LazyChoices("imgenlib.losses", "LOSSES"), "metavar": "LOSS"},
         "GAN loss: %(choices)s (default: the preset's)"),
        ("--batch-size", {"type": int}, "batch size (default: the preset's)"),
        ("--image-size", {"type": int}, "resize images to this square size: 16, 28, 32 or 64 "
         "(folders default to 64)"),
        ("--background", {}, "colour under transparent pixels: white, black or R,G,B"),
        ("--style", {"choices": _LazyChoices("imgenlib.data.emoji", "STYLE_CHOICES"),
                     "metavar": "STYLE"}, "emoji drawing style: twitter (default), google or "
         "all (both styles; needed by --condition style|category_style)"),
        ("--condition", {"choices": _LazyChoices("imgenlib.data.emoji", "CONDITIONS"),
                         "metavar": "CONDITION"}, "with --conditional: what the model is "
         "conditioned on: category (default), or for --data emoji --style all: style or "
         "category_style (one model draws a category in either style; see imgenlib.styles)"),
        ("--seed", {"type": int}, "random seed (default %(default)s)"),
        ("--learning-rate", {"type": float}, "set every learning rate of the preset (a GAN's "
         "G and D alike); may be lowered when resuming a run that diverged"),
        ("--strategy", {"choices": STRATEGIES}, "tf.distribute strategy: default, mirrored (all "
         "local GPUs) or multiworker (one process per machine, TF_CONFIG set on each)"),
        ("--deterministic", {"action": "store_true"}, "TensorFlow op determinism: same machine "
         "+ same --seed -> identical weights (disables XLA)"),
        ("--eval-every", {"type": int, "metavar": "N"}, "measure KID and FID every N epochs "
         "(history.json) and keep the lowest-FID model in DIR/best.keras"),
        ("--eval-n", {"type": int, "metavar": "N"},
         "with --eval-every: samples per evaluation (default %(default)s)"),
        ("--precision", {"choices": PRECISIONS}, "auto (default: bfloat16 where the CPU or GPU computes it "
         "natively, else float32; VAEs float32; the choice and its reason are printed), float32, "
         "mixed_bfloat16 (GANs, diffusion; faster only on hardware with bfloat16 units) or "
         "mixed_float16 (GPUs with float16 tensor cores; dynamic loss scaling)"),
        ("--patience", {"type": int, "metavar": "P"},
         "with --eval-every: stop once FID has not improved for P epochs"),
        ("--tensorboard", {"action": "store_true"}, "also write TensorBoard logs to DIR/logs "
         "(view: tensorboard --logdir DIR/logs)"),
        ("--dp-epsilon", {"type": float, "metavar": "E"}, "train with DP-SGD (GAN: the "
         "discriminator; VAE: all of it) within this epsilon budget: the noise is calibrated "
         "for the planned epochs (needs --epochs with --max-minutes) and training stops before "
         "the budget would be exceeded; batches are Poisson-sampled"),
        ("--dp-delta", {"type": float, "metavar": "D"}, "delta of the guarantee (default 1e-5, "
         "or 0.1/N for N >= 100,000 training images)"),
        ("--dp-clip", {"type": float, "metavar": "C"}, "per-example gradient clip norm "
         "(default 1.0 in a private run; history.json logs grad_norm to choose it)"),
        ("--dp-sigma", {"type": float, "metavar": "S"}, "noise multiplier instead of "
         "calibrating it (alone: private training without a budget, epsilon reported)"),
        ("--dp-accountant", {"choices": ("rdp", "pld")}, "privacy accountant (default rdp)"),
    ):  # fmt: skip
        train.add_argument(flag, **options, help=text)
    fields = dataclasses.fields(RunConfig)
    train.set_defaults(
        **{f.name: f.default for f in fields if f.name not in ("kind", "data", "out")}
    )
    train.set_defaults(handler=_cmd_train, prechecks=(_check_data_argument,))


def _check_data_argument(args) -> None:
    from imgenlib.data.splits import check_data_name

    check_data_name(args.data)


def _add_merf_parser(commands):
    """``merf``: a private mean-embedding release and a generator fitted to it (DP-MERF)."""
    merf = commands.add_parser(
        "merf",
        help="private generator by DP-MERF: release the data's class mean embeddings once "
        "(epsilon, delta), then fit a generator to them (resumable)",
    )
    for flag, options, text in (
        ("--data", {"required": True}, "labelled dataset name (see `datasets`)"),
        ("--out", {"required": True}, "run directory; re-running with it resumes and reuses "
         "its release.npz (never releases twice)"),
        ("--dp-epsilon", {"type": float, "metavar": "E"}, "privacy budget of the release"),
        ("--dp-sigma", {"type": float, "metavar": "S"}, "noise multiplier instead of "
         "--dp-epsilon (0: no noise, the non-private reference)"),
        ("--dp-delta", {"type": float, "metavar": "D", "default": 1e-5},
         "delta of the guarantee (default %(default)g)"),
        ("--steps", {"type": int, "default": 2000}, "generator steps, a multiple of "
         "--steps-per-epoch (default %(default)s)"),
        ("--steps-per-epoch", {"type": int, "default": 200}, "steps between saves and sample "
         "grids (default %(default)s)"),
        ("--features", {"type": int, "default": None}, "random features (default 12,000)"),
        ("--max-minutes", {"type": float}, "stop fitting after this many minutes"),
        ("--seed", {"type": int, "default": 0}, "seed of the features and the generator (the "
         "release's noise always comes from the operating system)"),
    ):  # fmt: skip
        merf.add_argument(flag, **options, help=text)
    merf.set_defaults(handler=_cmd_merf)


def _cmd_merf(args) -> int:
    from imgenlib.mean_embedding_runs import train_mean_embedding

    extra = {} if args.features is None else {"num_features": args.features}
    summary = train_mean_embedding(
        args.data, args.out, epsilon=args.dp_epsilon, noise_multiplier=args.dp_sigma,
        delta=args.dp_delta, steps=args.steps, steps_per_epoch=args.steps_per_epoch,
        max_minutes=args.max_minutes, seed=args.seed, **extra,
    )  # fmt: skip
    privacy = summary["privacy"]
    print(
        f"{summary['steps_this_session']} steps this session ({summary['fit_seconds']:g} s; "
        f"release {summary['release_seconds']:g} s). Privacy: epsilon {privacy['epsilon']:.4g} "
        f"(delta {privacy['delta']:g}) spent once, by the release. Outputs in {args.out}: "
        "release.npz, model.keras, samples.png, history.json, metrics.json"
    )
    return 0


def _add_reconstruct_parser(commands):
    reconstruct = commands.add_parser(
        "reconstruct", help="write originals above their reconstructions (VAE runs)"
    )
    reconstruct.add_argument("run", help="VAE run directory written by `train vae`")
    add_grid_options(reconstruct, n=32)
    reconstruct.add_argument(
        "--split", choices=SPLITS, help="default: test when the dataset has one"
    )
    reconstruct.set_defaults(handler=_cmd_reconstruct, prechecks=(check_run_argument,))


def _add_export_parser(commands):
    export = commands.add_parser(
        "export",
        help="export a run's generator (diffusion: its DDIM chain) as a SavedModel or TFLite file",
    )
    export.add_argument("run", help="run directory written by `train`")
    export.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    export.add_argument("--quantize", choices=QUANTIZATIONS, help="TFLite weight quantization")
    export.add_argument("--out", required=True, help="SavedModel directory or .tflite file")
    export.add_argument(
        "--steps",
        type=int,
        metavar="K",
        help="diffusion runs: DDIM steps fixed in the export (default 50, at most T)",
    )
    export.add_argument(
        "--guidance",
        type=float,
        metavar="W",
        help="conditional diffusion runs: guidance scale fixed in the export (default 1)",
    )
    export.set_defaults(handler=_cmd_export, prechecks=(check_run_argument,))


def _add_presets_parser(commands):
    presets = commands.add_parser("presets", help="list the training presets")
    presets.set_defaults(handler=_cmd_presets)


def _add_demo_parser(commands):
    demo = commands.add_parser("demo", help="the README's first command: grids and a metrics JSON")
    demo.add_argument("--out", default="outputs", help="output directory (default outputs/)")
    demo.set_defaults(handler=_cmd_demo)


def run_config(args: argparse.Namespace) -> RunConfig:
    """The `RunConfig` of parsed ``train`` arguments (the one `train` would build)."""
    return RunConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig)})


def main(argv=None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 2 usage or input error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # --help, --version and usage errors (already printed)
        return int(exit.code or 0)
    format_warning = warnings.formatwarning
    warnings.formatwarning = lambda message, *_, **__: (
        f"{parser.prog} {args.command}: warning: {message}\n"
    )  # one line, not the library's source line
    try:
        if args.command not in _NO_TENSORFLOW:
            from imgenlib._env import quiet_tensorflow

            for check in getattr(args, "prechecks", ()):  # typos refused before TF's ~6 s import
                check(args)
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
    finally:
        warnings.formatwarning = format_warning


def _cmd_train(args) -> int:
    from imgenlib.training import train

    summary = train(run_config(args))
    done, requested = summary["epochs_completed"], summary["epochs_requested"]
    length = (
        f"{done}/{requested} epochs"
        if requested
        else f"{done} epochs (until the {args.max_minutes:g}-minute budget)"
    )
    print(
        f"{length} done; {summary['images_per_second']} img/s this session. "
        f"Outputs in {args.out}: model.keras, samples.png, history.json, metrics.json"
    )
    if "privacy" in summary:
        privacy = summary["privacy"]
        budget = privacy["target_epsilon"]
        print(
            f"Privacy: epsilon {privacy['epsilon']:.4g}"
            + ("" if budget is None else f" of {budget:g}")
            + f" spent (delta {privacy['delta']:g}) in {privacy['steps']:,} private steps"
            + ("; the budget is spent" if privacy["budget_spent"] else "")
        )
    if args.tensorboard:
        print(f"TensorBoard: tensorboard --logdir {Path(args.out) / 'logs'}")
    if "best" in summary:
        best = summary["best"]
        print(
            f"Lowest FID {best['fid']} (n={best['eval_n']}) at epoch {best['epoch']}: {args.out}/best.keras"
        )
    return 0


def _cmd_reconstruct(args) -> int:
    from imgenlib._validation import check_positive_int
    from imgenlib.demo import save_reconstructions
    from imgenlib.runs import load_run_data, load_run_model

    n = check_positive_int("--n", args.n)
    scale = check_positive_int("--scale", args.scale)
    check_output_file("--out", args.out, ".png")
    model = load_run_model(args.run)
    if model.kind != "vae":
        raise ValueError(
            f"reconstruct needs a VAE run; {args.run!r} holds a {type(model).__name__}."
        )
    images, labels, split = load_run_data(args.run, args.split, n)
    save_reconstructions(model, images, labels, args.out, scale=scale)
    print(f"Wrote {len(images)} {split} images above their reconstructions to {args.out}")
    return 0


def _cmd_export(args) -> int:
    from imgenlib.export import compare_exported, export_savedmodel, export_tflite
    from imgenlib.runs import load_run_model
    from imgenlib.sampling_options import sampling_settings

    if args.format == "savedmodel" and args.quantize:
        raise ValueError(
            f"--quantize is for --format tflite. Received: --quantize={args.quantize!r}"
        )
    if args.format == "tflite" and Path(args.out).suffix != ".tflite":
        raise ValueError(f"--out must be a .tflite file. Received: --out={args.out!r}")
    model = load_run_model(args.run)
    sampling = sampling_settings(model, {"steps": args.steps, "guidance": args.guidance}, flag="--")
    fixed = {"steps": args.steps, "guidance": args.guidance}
    if args.format == "savedmodel":
        path = export_savedmodel(model, args.out, **fixed)
    else:
        path = export_tflite(model, args.out, quantization=args.quantize, **fixed)
    check = compare_exported(model, path, n=64)
    how = f" (DDIM, {sampling['steps']} steps)" if sampling else ""
    print(
        f"Wrote {args.format}{how} to {path}; vs the Keras model on 64 latents: "
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
    from imgenlib.demo import run_demo

    run_demo(args.out)
    return 0
