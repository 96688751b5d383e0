"""The commands of ``python -m imgenlib`` that draw samples from a run: ``sample`` and ``eval``.

`imgenlib.cli` registers them with `add_sample_parser` and `add_eval_parser`. Both take the
diffusion sampling options of `imgenlib.sampling_options` (``--steps``, ``--eta``,
``--guidance``, ``--sampler``, ``--spacing``); ``eval`` checks them against the run's run.json
before its model loads.
"""

from __future__ import annotations

from imgenlib.dataset_commands import add_grid_options
from imgenlib.io import check_output_file
from imgenlib.sampling_options import add_sampling_options, given_options

__all__ = [
    "add_eval_parser",
    "add_sample_parser",
    "check_eval_options",
    "check_run_argument",
    "check_sample_options",
    "cmd_eval",
    "cmd_sample",
]


def add_sample_parser(commands):
    """Register ``sample``: a PNG grid (and optionally a .npy) of a run's samples."""
    sample = commands.add_parser(
        "sample", help="generate a PNG grid (and optionally .npy) from a run"
    )
    sample.add_argument("run", help="run directory written by `train`")
    add_grid_options(sample, n=64)
    sample.add_argument(
        "--seed", type=int, default=0, help="latent seed; same seed, same images (default 0)"
    )
    sample.add_argument("--grid", type=int, default=64, help="most tiles in the PNG (default 64)")
    sample.add_argument("--npy", help="also write every image as float32 NHWC in [0, 1] (.npy)")
    sample.add_argument(
        "--label", type=int, help="class for a conditional model (default: cycle through classes)"
    )
    sample.add_argument(
        "--prompt", action="append", metavar="TEXT", help="what to draw, for a text-conditional "
        "run (train --text); repeat it for several prompts, which the images cycle through",
    )  # fmt: skip
    add_sampling_options(sample)
    sample.set_defaults(handler=cmd_sample, prechecks=(check_sample_options, check_run_argument))


def add_eval_parser(commands):
    """Register ``eval``: the metrics of a run (`imgenlib.evaluation.evaluate_run`)."""
    evaluate = commands.add_parser(
        "eval",
        help="measure a run: FID, KID, precision/recall, IS (VAE: reconstruction, ELBO; "
        "text runs: the attributes of the samples against their prompts)",
    )
    evaluate.add_argument("run", help="run directory written by `train`")
    evaluate.add_argument(
        "--n", type=int, default=None,
        help="samples and real images (default 10000); a text run's prompts per split (500)",
    )  # fmt: skip
    evaluate.add_argument("--seed", type=int, default=0, help="sample seed (default 0)")
    evaluate.add_argument("--json", help="also write the metrics to this .json file")
    add_sampling_options(evaluate)
    evaluate.set_defaults(handler=cmd_eval, prechecks=(check_eval_options,))


def check_run_argument(args) -> None:
    """The run directory of ``args.run`` exists and holds a model.keras (no TensorFlow needed)."""
    from imgenlib.runs import check_run_directory

    check_run_directory(args.run)


def check_sample_options(args) -> tuple[int, int, int, int]:
    """``sample``'s numbers and output files checked (no TensorFlow): (n, grid, seed, scale)."""
    from imgenlib._validation import check_int, check_positive_int

    n, grid = check_positive_int("--n", args.n), check_positive_int("--grid", args.grid)
    seed = check_int("--seed", args.seed, minimum=0)
    scale = check_positive_int("--scale", args.scale)
    check_output_file("--out", args.out, ".png")
    for prompt in args.prompt or ():
        try:
            prompt.encode("utf-8")
        except UnicodeEncodeError:  # bytes that are not UTF-8 arrive as surrogates
            raise ValueError(f"--prompt must be UTF-8 text. Received: {prompt!r}") from None
        if not prompt.strip():
            raise ValueError(f"--prompt must not be empty. Received: --prompt={prompt!r}")
    if args.npy is not None:
        check_output_file("--npy", args.npy, ".npy")
    return n, grid, seed, scale


def check_eval_options(args) -> None:
    """``eval``'s numbers, output file and run directory checked (no TensorFlow; the run's
    other files are checked by `imgenlib.evaluation.evaluate_run`)."""
    from imgenlib._validation import check_int
    from imgenlib.runs import check_run_directory

    if args.n is not None:
        check_int("--n", args.n, minimum=10)
    check_int("--seed", args.seed, minimum=0)
    if args.json is not None:
        check_output_file("--json", args.json, ".json")
    check_run_directory(args.run, model=False)


def cmd_sample(args) -> int:
    """Write the samples ``args`` ask for; returns the exit code."""
    from imgenlib.demo import save_samples
    from imgenlib.runs import load_run_model
    from imgenlib.sampling_options import sampling_settings

    n, grid, seed, scale = check_sample_options(args)
    model = load_run_model(args.run)
    sampling = sampling_settings(model, given_options(args), flag="--")
    labels, prompts = None, _prompts(model, args.prompt, n, args.run)
    if getattr(model, "num_classes", None):
        labels = "balanced" if args.label is None else args.label
    elif args.label is not None:
        kind = "text-conditional: give --prompt" if prompts else "unconditional"
        raise ValueError(
            f"--label is for class-conditional models; this run is {kind}. "
            f"Received: --label={args.label}"
        )
    save_samples(
        model, n, args.out, seed=seed, labels=labels, npy=args.npy, grid=grid, scale=scale,
        sampling=sampling, prompts=prompts,
    )  # fmt: skip
    shown = f" (a grid of the first {grid})" if n > grid else ""
    if prompts:
        shown += f" of {len(set(prompts))} prompt(s)"
    how = "; " + ", ".join(f"{k} {v}" for k, v in sampling.items()) if sampling else ""
    print(
        f"Wrote {n} samples (seed {seed}{how}) to {args.out}{shown}"
        + (f" and {args.npy}" if args.npy else "")
    )
    return 0


def _prompts(model, given, n: int, run_dir) -> list[str] | None:
    """The `n` images' prompts: `given` cycled, for a text-conditional model (else refused)."""
    if not hasattr(model, "text_encoder"):
        if given:
            raise ValueError(
                "--prompt is for text-conditional runs (train --text); this run is not one. "
                f"Received: --prompt={given[0]!r}"
            )
        return None
    if not given:
        from imgenlib.runs import load_run_config
        from imgenlib.text_runs import grid_prompts

        words = model.text_encoder.vocabulary
        example = grid_prompts(load_run_config(run_dir), 1)[0]
        raise ValueError(
            f'This run draws from text: give --prompt "...", e.g. --prompt "{example}" '
            f"(the model knows {len(words)} words: {', '.join(words)})."
        )
    return [given[i % len(given)] for i in range(n)]


def cmd_eval(args) -> int:
    """Measure the run ``args.run`` and print (optionally save) the report; returns 0."""
    from imgenlib.evaluation import evaluate_run, format_report
    from imgenlib.io import save_json
    from imgenlib.runs import load_run_config

    check_eval_options(args)
    sampling = _run_sampling(args.run, given_options(args))
    if load_run_config(args.run).text:  # how well the samples follow their prompts
        from imgenlib.text_runs import evaluate_text_run, format_text_report

        result = evaluate_text_run(args.run, n=args.n, seed=args.seed, sampling=sampling)
        print(format_text_report(result))
    else:
        n = 10000 if args.n is None else args.n
        result = evaluate_run(args.run, n=n, seed=args.seed, sampling=sampling)
        print(format_report(result))
    if args.json is not None:
        print(f"Wrote {save_json(result, args.json)}")
    return 0


def _run_sampling(run_dir, given: dict) -> dict | None:
    """The checked sampling options of a run, from its run.json (before the model loads)."""
    import types

    from imgenlib.runs import load_run_config
    from imgenlib.sampling_options import sampling_settings

    if not given:
        return None
    config = load_run_config(run_dir)
    timesteps = getattr(config.model_config(), "timesteps", None)
    model = types.SimpleNamespace(
        kind=config.kind, num_classes=config.conditional or None, timesteps=timesteps
    )
    if config.text:
        model.text_encoder = None  # guidance applies (`sampling_settings` asks for the attribute)
    return sampling_settings(model, given, flag="--")
