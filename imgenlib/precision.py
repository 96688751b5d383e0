"""`precision="auto"`: bfloat16 where the hardware computes it, float32 otherwise.

``mixed_bfloat16`` (layers compute in bfloat16, variables and losses stay float32) pays
only where the hardware has bfloat16 arithmetic; elsewhere TensorFlow emulates it and it
is several times *slower* than float32. Measured with ``benchmarks/options.py`` (the TF
DCGAN tutorial's networks, steady-state training img/s, bfloat16 ÷ float32 in one run):

- a 2-core Xeon with AVX512_BF16 and AMX: 1.75× (928 against 528 img/s,
  ``benchmarks/results/options.json``, 2026-12-03);
- a 2-core AMD EPYC with AVX512_BF16: 1.54× (the same script earlier; the
  ``fashion_mnist`` preset trained 1.34× faster there with a better FID at 10 minutes);
- a 2-core AMD EPYC with AVX2 but no AVX-512 (so no AVX512_BF16): **0.085×** (11.7 against
  139.8 img/s, three rounds, ``python benchmarks/options.py --variants baseline
  mixed_bfloat16``; ``benchmarks/results/other_machines/options_avx2_no_bf16.json``).

So ``"auto"`` reads the hardware:

- a GPU with compute capability ≥ 8.0 (Ampere and newer: bfloat16 tensor cores) →
  ``mixed_bfloat16``; 7.x (Volta, Turing: float16 tensor cores only) → ``mixed_float16``
  with dynamic loss scaling (`use_loss_scaling`); older GPUs → ``float32``;
- a CPU whose flags include ``avx512_bf16`` or ``amx_bf16`` (Linux ``/proc/cpuinfo``) →
  ``mixed_bfloat16`` for a GAN and a diffusion model (each measured better at equal time
  over three seeds, below); ``float32`` for a private run until bfloat16's quality at equal
  time is measured for it on a CPU; any other CPU, or flags that cannot be read →
  ``float32``;
- a VAE → ``float32``: ``mixed_bfloat16`` trains one (networks in bfloat16, the ELBO's
  thousands of per-pixel terms summed in float32) but has not been measured better at
  equal time over three seeds; float16 is refused for VAEs (`imgenlib.runs.RunConfig`).

``"auto"`` is `train`'s default (``RunConfig.precision``, ``--precision``), decided from
three seeds per precision on bfloat16 hardware (a 2-core Xeon with AVX512_BF16 and AMX):
``python -m imgenlib train gan --data fashion_mnist --max-minutes 10 --seed S --precision
P`` then ``eval --n 10000``, the two precisions of a seed running side by side on one core
each. FID 4.60 / 4.17 / 4.44 in float32 against 3.56 / 3.41 / 3.73 in ``mixed_bfloat16``
(KID 0.049 / 0.044 / 0.048 against 0.035 / 0.034 / 0.038) at 462–485 against 678–703
img/s: bfloat16 better on every seed. Diffusion, the same way (``train diffusion --data
fashion_mnist --conditional --max-minutes 10``, then ``eval --n 2000 --steps 25``): FID
7.49 / 8.26 / 8.76 in float32 against 6.69 / 7.80 / 7.73 in ``mixed_bfloat16`` (KID 0.091 /
0.100 / 0.107 against 0.082 / 0.095 / 0.097) at 161–163 against 193–197 img/s, the U-Net's
`imgenlib.models.unet.FLOAT32_LAYERS` kept float32.

`train` resolves ``"auto"`` once per session, prints the choice and its reason and writes
both to ``metrics.json`` (``precision``, ``precision_choice``). Precision is not part of a
run's identity, so a run resumed on other hardware takes that hardware's choice.

Sampling has its own switch, ``generate(precision=...)`` (`sampling_policy`): None keeps
the model's own precision (the default, so a seed means the same images everywhere);
``"auto"`` samples in bfloat16 where it is native (28×28 batches of 256: 11,391 against
6,354 img/s in float32 on that Xeon, ``benchmarks/sampling.py``).

Example:
    >>> choose_precision("gan", flags={"avx2", "avx512_bf16"}, gpus=[])
    PrecisionChoice(policy='mixed_bfloat16', reason='auto: mixed_bfloat16, the CPU computes bfloat16 natively (avx512_bf16)')
"""  # noqa: E501

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

from imgenlib._validation import check_choice

__all__ = [
    "AUTO",
    "BF16_CPU_FLAGS",
    "FLOAT16",
    "MEASURED_WITHOUT_BF16",
    "PrecisionChoice",
    "SAMPLING_PRECISIONS",
    "choose_precision",
    "computing_in",
    "cpu_flags",
    "gpu_capabilities",
    "resolve_auto",
    "sampling_policy",
    "use_loss_scaling",
]

AUTO = "auto"
FLOAT16 = "mixed_float16"  # the one policy a resume cannot switch to or from (loss scaling)
_POLICIES = ("float32", "mixed_bfloat16", FLOAT16)
# x86 flags of native bfloat16 arithmetic, as Linux names them in /proc/cpuinfo.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
# bfloat16 ÷ float32 training img/s measured on a CPU without them (benchmarks/options.py,
# benchmarks/results/other_machines/options_avx2_no_bf16.json).
MEASURED_WITHOUT_BF16 = 0.085
_READ = object()  # choose_precision's default: read the flags of this machine
# imgenlib.run_config.KINDS; not imported from there: the models import this module, and
# run_config imports the models (through presets), which would close an import cycle.
_KINDS = ("gan", "vae", "diffusion")
# What `GenerativeModel.generate(precision=...)` accepts.
SAMPLING_PRECISIONS = (AUTO, "float32", "bfloat16")


@dataclasses.dataclass(frozen=True)
class PrecisionChoice:
    """A resolved precision: the Keras dtype policy name and why it was chosen."""

    policy: str
    reason: str


def cpu_flags(path="/proc/cpuinfo") -> set[str] | None:
    """The CPU feature flags Linux reports (first ``flags`` line), or None if unreadable."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "flags":
            return set(value.split())
    return None


def gpu_capabilities() -> list[tuple[int, int] | None]:
    """The compute capability of each GPU TensorFlow sees (None where it does not say)."""
    import tensorflow as tf

    capabilities = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        capability = details.get("compute_capability")
        capabilities.append(None if capability is None else tuple(capability))
    return capabilities


def choose_precision(
    kind: str, *, flags=_READ, gpus=None, private: bool = False
) -> PrecisionChoice:
    """The precision ``"auto"`` means for a model `kind` on this machine.

    Args:
        kind: ``"gan"``, ``"vae"`` or ``"diffusion"``.
        flags: the CPU's feature flags (default: read by `cpu_flags`; None: unknown).
        gpus: the GPUs' compute capabilities (default: `gpu_capabilities`); with any GPU
            the choice follows the first one (training runs there).
        private: a DP-SGD run, which cannot use float16 (its per-example gradients are not
            loss-scaled): float32 where float16 would be chosen.

    Returns:
        A `PrecisionChoice` whose ``policy`` is ``"float32"``, ``"mixed_bfloat16"`` or
        ``"mixed_float16"``.
    """
    check_choice("kind", kind, _KINDS)
    if kind == "vae":
        return PrecisionChoice(
            "float32", "auto: float32 for a VAE (bfloat16 not measured better at equal time)"
        )
    gpus = gpu_capabilities() if gpus is None else list(gpus)
    if gpus:
        capability = tuple(gpus[0]) if gpus[0] is not None else None
        shown = "unknown" if capability is None else ".".join(map(str, capability))
        gpu = f"the GPU (compute capability {shown})"
        if capability is not None and capability >= (8, 0):
            return PrecisionChoice(
                "mixed_bfloat16", f"auto: mixed_bfloat16, {gpu} has bfloat16 tensor cores"
            )
        if capability is None or capability < (7, 0):
            return PrecisionChoice("float32", f"auto: float32, {gpu} has no tensor cores")
        if private:
            return PrecisionChoice(
                "float32",
                f"auto: float32, {gpu} has float16 but no bfloat16 tensor cores, and a private "
                "run cannot scale its per-example gradients' losses",
            )
        return PrecisionChoice(
            "mixed_float16",
            f"auto: mixed_float16, {gpu} has float16 but no bfloat16 tensor cores; losses are "
            "scaled dynamically",
        )
    flags = cpu_flags() if flags is _READ else flags
    if flags is None:
        return PrecisionChoice("float32", "auto: float32, the CPU's features could not be read")
    native = [flag for flag in BF16_CPU_FLAGS if flag in set(flags)]
    if native and private:
        return PrecisionChoice(
            "float32",
            f"auto: float32; the CPU computes bfloat16 natively ({', '.join(native)}), but "
            "bfloat16 private (DP-SGD) training on a CPU is not yet measured to reach better "
            "quality in equal time (--precision mixed_bfloat16 asks for it)",
        )
    if native:
        return PrecisionChoice(
            "mixed_bfloat16",
            f"auto: mixed_bfloat16, the CPU computes bfloat16 natively ({', '.join(native)})",
        )
    return PrecisionChoice(
        "float32",
        f"auto: float32, the CPU has no bfloat16 arithmetic ({' or '.join(BF16_CPU_FLAGS)}), "
        "so bfloat16 would be emulated: it trained at "
        f"{MEASURED_WITHOUT_BF16:g}× float32's speed on such a CPU",
    )


def resolve_auto(config):
    """A `imgenlib.runs.RunConfig` with ``precision="auto"`` resolved for this machine.

    Returns:
        ``(config, reason)``: the config with `choose_precision`'s policy and its reason,
        or the config unchanged and None when its precision was not ``"auto"``.
    """
    if config.precision != AUTO:
        return config, None
    chosen = choose_precision(config.kind, private=config.private)
    policy, reason = chosen.policy, chosen.reason
    recorded = _recorded_precision(config.out)
    if recorded is not None and (recorded == FLOAT16) != (policy == FLOAT16):
        # A resume cannot switch loss scaling on or off (`imgenlib.runs.check_same_run`):
        # keep the run's precision rather than refuse the resume that "auto" asked for.
        policy = recorded
        reason = (
            f"auto: {recorded}, the precision of the run being resumed ({chosen.reason[6:]}; "
            f"but a resume cannot switch {FLOAT16}'s loss scaling on or off)"
        )
    return dataclasses.replace(config, precision=policy), reason


def _recorded_precision(run_dir) -> str | None:
    """The precision in ``run_dir/run.json`` (None: no run there yet, or none recorded)."""
    from imgenlib.io import load_json

    try:
        recorded = load_json(Path(run_dir) / "run.json").get("precision")
    except (OSError, ValueError, AttributeError):
        return None
    return recorded if recorded in _POLICIES else None


def use_loss_scaling(model) -> None:
    """Wrap each optimiser of a compiled `imgenlib.models.GenerativeModel` in Keras'
    `LossScaleOptimizer` (dynamic loss scaling), as ``mixed_float16`` training needs.

    float16 has 5 exponent bits: gradients below about 6e-8 flush to zero. The loss is
    multiplied by a large scale (2¹⁵ at first) before the gradients are taken (every
    ``train_step`` calls ``optimizer.scale_loss``, the identity for other optimisers); the
    optimiser divides the gradients by it again, skips a step whose gradients overflowed
    and halves the scale, and doubles it after 2,000 finite steps. Call it before
    ``build_for_training`` (inside the distribution strategy's scope). Already wrapped
    optimisers are left alone, so a loaded model is not wrapped twice.
    """
    import keras

    for name in model.optimizer_variables():
        optimizer = getattr(model, name, None)
        if optimizer is None:
            raise ValueError(f"Call compile() before use_loss_scaling(). Received: {name}=None")
        if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            setattr(model, name, keras.optimizers.LossScaleOptimizer(optimizer))


def sampling_policy(precision: str, *, kind: str = "gan", flags=_READ, gpus=None) -> str:
    """The Keras dtype policy `generate(precision=...)` samples with.

    ``"float32"`` → ``"float32"``; ``"bfloat16"`` → ``"mixed_bfloat16"`` (weights stay
    float32 and are cast per call); ``"auto"`` → ``"mixed_bfloat16"`` where
    `choose_precision` would train a model of `kind` in bfloat16 (the hardware computes it
    natively and, for that family, it is measured to pay), else ``"float32"``. `flags` and
    `gpus` as in `choose_precision`; a VAE's ``"auto"`` asks the GAN's question (its
    float32 rule is about training sums, not sampling).

    Raises:
        ValueError: `precision` is not one of `SAMPLING_PRECISIONS`, or an unknown `kind`.
    """
    check_choice("precision", precision, SAMPLING_PRECISIONS)
    check_choice("kind", kind, _KINDS)
    if precision == AUTO:
        asked = "gan" if kind == "vae" else kind
        native = choose_precision(asked, flags=flags, gpus=gpus).policy == "mixed_bfloat16"
        precision = "bfloat16" if native else "float32"
    return "mixed_bfloat16" if precision == "bfloat16" else "float32"


@contextlib.contextmanager
def computing_in(network, policy: str | None, *, keep=()):
    """Give every layer of `network` the dtype `policy` for the duration of the block.

    For tracing a sampler in another precision without copying its weights: a graph
    traced inside the block keeps that precision's casts and reads the network's own
    variables, so it sees later training; outside the block the network is unchanged.
    `policy` None leaves every layer's own policy. `keep`: names of layers of `network`
    that keep their own policy, with everything inside them (a U-Net's float32 stem,
    embeddings and output: `imgenlib.models.unet.FLOAT32_LAYERS`).
    """
    if policy is None:
        yield network
        return
    # Layer._flatten_layers walks every tracked sub-layer (also those of custom layers,
    # which `Model.layers` does not list); Keras 3 has no public equivalent.
    every = list(network._flatten_layers(include_self=True, recursive=True))
    kept = {
        id(inner)
        for layer in every
        if layer is not network and layer.name in set(keep)
        for inner in layer._flatten_layers(include_self=True, recursive=True)
    }
    layers = [layer for layer in every if id(layer) not in kept]
    saved = [layer.dtype_policy for layer in layers]
    try:
        for layer in layers:
            layer.dtype_policy = policy
        yield network
    finally:
        for layer, previous in zip(layers, saved, strict=True):
            layer.dtype_policy = previous
