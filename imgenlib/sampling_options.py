"""How a diffusion model is sampled (steps, η, guidance, sampler, spacing): one check for all.

A GAN or VAE draws an image in one network call; a `imgenlib.models.diffusion.Diffusion`
model runs a chain whose cost and quality depend on these settings. Everything that samples
a model for a file or a number — ``python -m imgenlib sample`` and ``eval``, ``train
--eval-every``, `imgenlib.evaluation.evaluate`, `imgenlib.export`, the demo — checks them
with `sampling_settings` and records the result next to what it measured (``"sampling"`` in
the metrics JSON), so that FIDs are compared at equal settings only. One more setting,
``level`` (the timestep a given z is at, e.g. from `Diffusion.invert`), is only for callers
that decode latents they are given, the latent widgets (``sampling_settings(...,
latents=True)``): everything else draws z as noise at T − 1.

This module imports no TensorFlow: the CLI builds its options from it.
"""

from __future__ import annotations

from imgenlib._validation import check_choice, check_float, check_int

__all__ = [
    "DEFAULT_STEPS",
    "LATENT_NAMES",
    "SAMPLERS",
    "SAMPLING_NAMES",
    "SPACINGS",
    "add_sampling_options",
    "given_options",
    "sampling_settings",
]

SAMPLING_NAMES = ("steps", "eta", "guidance", "sampler", "spacing")
LATENT_NAMES = ("level",)
SAMPLERS = ("ddim", "ddpm")
SPACINGS = ("uniform", "quadratic", "linspace")
DEFAULT_STEPS = 50


def add_sampling_options(parser) -> None:
    """Add ``--steps``, ``--eta``, ``--guidance``, ``--sampler`` and ``--spacing`` to a parser."""
    group = parser.add_argument_group("diffusion runs")
    group.add_argument(
        "--steps", type=int, metavar="K",
        help=f"network evaluations per image, 1..T (default {DEFAULT_STEPS}, at most T)",
    )  # fmt: skip
    group.add_argument(
        "--eta", type=float, metavar="E", help="DDIM stochasticity >= 0 (default 0: deterministic)"
    )
    group.add_argument(
        "--guidance", type=float, metavar="W",
        help="classifier-free guidance scale >= 0 of a conditional run (default 1; 0: unconditional)",
    )  # fmt: skip
    group.add_argument("--sampler", choices=SAMPLERS, help="default ddim; ddpm: ancestral")
    group.add_argument(
        "--spacing", choices=SPACINGS,
        help="which timesteps the steps visit (default uniform; quadratic: the DDIM paper's, "
        "denser near the clean image; linspace: the last one at t = 0)",
    )  # fmt: skip


def given_options(args) -> dict:
    """The sampling options given on a command line (parsed by `add_sampling_options`)."""
    return {name: getattr(args, name) for name in SAMPLING_NAMES if getattr(args, name) is not None}


def sampling_settings(
    model, sampling=None, *, flag: str = "", latents: bool = False
) -> dict | None:
    """The complete, checked settings to sample `model` with; None for a one-call generator.

    Args:
        model: a generative model (its ``kind``; a diffusion model's ``timesteps`` and
            ``num_classes``).
        sampling: a dict with some of ``steps`` (1..level + 1; default
            min(`DEFAULT_STEPS`, level + 1)), ``eta`` (≥ 0, DDIM only; default 0),
            ``guidance`` (≥ 0, class- or text-conditional models only; default 1), ``sampler``
            (``"ddim"`` (default) or ``"ddpm"``), ``spacing`` (one of `SPACINGS`,
            `imgenlib.models.schedules.sampling_timesteps`; default ``"uniform"``) and, with
            `latents`, ``level`` (the timestep of the given z, 0..T − 1, where the chain
            starts; default T − 1: z is noise); None values count as not given.
        flag: prefix of the names in error messages (``"--"`` for the CLI).
        latents: the caller decodes latents it is given (``generate(z=...)``, the latent
            widgets), so ``level`` is allowed.

    Returns:
        For a diffusion model, ``{"sampler", "steps"}`` plus ``"eta"`` (DDIM),
        ``"guidance"`` (class- or text-conditional), ``"spacing"`` (only when not ``"uniform"``, so that
        records from before spacings existed read the same) and ``"level"`` (only when
        given): keyword arguments of ``generate``. Otherwise None.

    Raises:
        ValueError / TypeError: a setting for a model that is not a diffusion model, an
            unknown name, ``level`` without `latents`, or a value out of range.

    Example:
        >>> sampling_settings(model, {"steps": 10, "level": 934}, latents=True)  # doctest: +SKIP
        {'sampler': 'ddim', 'steps': 10, 'eta': 0.0, 'level': 934}
    """
    if sampling is None:
        sampling = {}
    if not isinstance(sampling, dict):
        raise TypeError(f"sampling must be a dict. Received: sampling={sampling!r}")
    names = SAMPLING_NAMES + LATENT_NAMES
    unknown = sorted(set(sampling) - set(names))
    if unknown:
        raise ValueError(
            f"Unknown sampling setting(s) {unknown}; expected any of "
            f"{', '.join(names if latents else SAMPLING_NAMES)}."
        )
    given = {name: sampling[name] for name in names if sampling.get(name) is not None}
    kind = getattr(model, "kind", None)
    if kind != "diffusion":
        if given:
            name, value = next(iter(given.items()))
            raise ValueError(
                f"{flag}{name} is for diffusion models; this model's kind is {kind!r}. "
                f"Received: {flag}{name}={value!r}"
            )
        return None
    sampler = check_choice(f"{flag}sampler", given.get("sampler", "ddim"), SAMPLERS)
    timesteps = model.timesteps
    level = _level(given.get("level"), timesteps, flag, latents)
    top = timesteps - 1 if level is None else level
    steps = given.get("steps", min(DEFAULT_STEPS, top + 1))
    check_int(f"{flag}steps", steps)
    if not 1 <= steps <= top + 1:
        bound = "the model's timesteps T" if level is None else f"{flag}level + 1"
        raise ValueError(
            f"{flag}steps must be in 1..{top + 1} ({bound}). Received: {flag}steps={steps!r}"
        )
    settings = {"sampler": sampler, "steps": int(steps)}
    if sampler == "ddim":
        settings["eta"] = check_float(f"{flag}eta", given.get("eta", 0.0), minimum=0)
    elif "eta" in given:
        raise ValueError(
            f"{flag}eta is for the ddim sampler (ddpm has a fixed variance). "
            f"Received: {flag}eta={given['eta']!r} with {flag}sampler=ddpm"
        )
    if getattr(model, "num_classes", None) or hasattr(model, "text_encoder"):
        settings["guidance"] = check_float(f"{flag}guidance", given.get("guidance", 1.0), minimum=0)
    elif "guidance" in given:
        raise ValueError(
            f"{flag}guidance needs a class- or text-conditional model; this one is unconditional. "
            f"Received: {flag}guidance={given['guidance']!r}"
        )
    spacing = check_choice(f"{flag}spacing", given.get("spacing", "uniform"), SPACINGS)
    if spacing != "uniform":
        settings["spacing"] = spacing
    if level is not None:
        settings["level"] = level
    return settings


def _level(level, timesteps: int, flag: str, latents: bool) -> int | None:
    """A checked ``level`` setting (0..T − 1), refused unless the caller decodes given latents."""
    if level is None:
        return None
    if not latents:
        raise ValueError(
            f"{flag}level is the timestep of latents you give (the latent widgets); here z "
            f"is drawn as noise at T − 1 = {timesteps - 1}. Received: {flag}level={level!r}"
        )
    level = check_int(f"{flag}level", level)
    if not 0 <= level <= timesteps - 1:
        raise ValueError(
            f"{flag}level must be a timestep in 0..{timesteps - 1} (T − 1). "
            f"Received: {flag}level={level!r}"
        )
    return level
