"""Scale-out with `tf.distribute`: strategies by name, replica-invariant noise, a fit workaround.

The models' ``train_step`` methods are written to run unchanged under any
`tf.distribute.Strategy`: losses are averaged with `tf.nn.compute_average_loss` (which
divides by the *global* batch, so the all-reduced gradient equals the single-device one),
and training noise is drawn with the functions here, which make the global batch's noise
independent of how many replicas share it.

- `make_strategy(name)`: ``"default"`` (one device), ``"mirrored"`` (all local GPUs, or
  the logical CPU devices made by `use_logical_cpus`), ``"multiworker"`` (one process per
  machine, configured by the ``TF_CONFIG`` environment variable). Build the model *and its
  optimisers* inside ``strategy.scope()``.
- `stateless_normal` / `stateless_uniform`: every replica draws the noise of the whole
  global batch from the same stateless seed and keeps its own slice. The extra draws cost
  nothing next to a forward pass, and in exchange a run on N replicas sees exactly the
  noise a one-device run with the same global batch sees: results then agree up to
  floating-point summation order, which is what the distributed tests check.
- `rank1_metrics(train_step)`: wraps a ``train_step`` so it returns metrics of shape
  ``[1]``; needed by `MultiWorkerMirroredStrategy` with Keras 3 ``fit``, which otherwise
  fails with "Invalid reduction dimension 0" when it concatenates the workers' scalar
  results (tensorflow/tensorflow#72388, keras-team/keras#20585). `prepare_model` applies it
  only when the strategy needs it.
"""

from __future__ import annotations

import functools
import json
import os

__all__ = [
    "STRATEGIES",
    "make_strategy",
    "prepare_model",
    "rank1_metrics",
    "start_strategy",
    "stateless_normal",
    "stateless_uniform",
    "use_logical_cpus",
    "worker_dir",
]

STRATEGIES = ("default", "mirrored", "multiworker")
_INSTANCES: dict = {}


def use_logical_cpus(n: int) -> None:
    """Split the CPU into `n` logical devices, so `MirroredStrategy` can be tried without GPUs.

    Must run before TensorFlow executes any operation (TensorFlow fixes its devices then).

    Raises:
        ValueError: bad `n`.
        RuntimeError: TensorFlow has already initialised its devices.
    """
    import tensorflow as tf

    from imgenlib._validation import check_positive_int

    n = check_positive_int("n", n)
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)


def start_strategy(name: str = "default", *, deterministic: bool = False):
    """`make_strategy` (and op determinism) for a run, before its first TensorFlow op.

    Raises:
        ValueError: when TensorFlow has already run an operation the strategy must
            precede (``"multiworker"`` in a busy process), naming the strategy.
    """
    import tensorflow as tf

    if deterministic:
        tf.config.experimental.enable_op_determinism()
    try:
        return make_strategy(name)
    except RuntimeError as error:
        raise ValueError(
            f"strategy {name!r} must be set up before TensorFlow runs anything in "
            "this process (start a fresh process, e.g. the CLI). TensorFlow said: "
            f"{str(error).splitlines()[0]}"
        ) from None


def worker_dir(run_dir, distribution):
    """This worker's run directory: `run_dir`, or ``run_dir/worker-i`` for multi-worker task i > 0."""
    import tensorflow as tf

    from imgenlib.io import ensure_writable_dir

    if isinstance(distribution, tf.distribute.MultiWorkerMirroredStrategy):
        task_id = distribution.cluster_resolver.task_id
        if task_id:
            return ensure_writable_dir(run_dir / f"worker-{task_id}")
    return run_dir


def make_strategy(name: str = "default"):
    """Return the `tf.distribute.Strategy` called `name`.

    Args:
        name: ``"default"`` (the current one-device strategy), ``"mirrored"``
            (`tf.distribute.MirroredStrategy` over all local GPUs, else all logical CPU
            devices) or ``"multiworker"`` (`tf.distribute.MultiWorkerMirroredStrategy`;
            every worker runs the same command with its own ``TF_CONFIG``).

    Returns:
        The strategy; the same instance for the same name (and devices or ``TF_CONFIG``)
        within a process.

    Raises:
        ValueError: unknown `name`, or ``"multiworker"`` without a valid ``TF_CONFIG``.
    """
    import tensorflow as tf

    from imgenlib._validation import check_choice

    name = check_choice("strategy", name, STRATEGIES)
    if name == "default":
        return tf.distribute.get_strategy()
    # One instance per configuration and process: TensorFlow allows one multi-worker
    # strategy per process, and two mirrored instances can collide in their collective keys.
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = tuple(d.name for d in gpus or tf.config.list_logical_devices("CPU"))
        key = (name, devices)
        if key not in _INSTANCES:
            _INSTANCES[key] = tf.distribute.MirroredStrategy(list(devices))
        return _INSTANCES[key]
    raw = os.environ.get("TF_CONFIG")
    _check_tf_config(raw)
    key = (name, raw)
    if key not in _INSTANCES:
        _INSTANCES[key] = tf.distribute.MultiWorkerMirroredStrategy()
    return _INSTANCES[key]


def _check_tf_config(raw):
    hint = (
        'set TF_CONFIG to {"cluster": {"worker": ["host1:port", "host2:port"]}, '
        '"task": {"type": "worker", "index": I}} on every worker'
    )
    if not raw:
        raise ValueError(
            f"strategy 'multiworker' needs the TF_CONFIG environment variable: {hint}."
        )
    try:
        config = json.loads(raw)
        workers = config["cluster"]["worker"]
        index = config["task"]["index"]
        valid = config["task"]["type"] in ("worker", "chief") and isinstance(workers, list)
    except (ValueError, KeyError, TypeError):
        valid = False
    if not valid or not (0 <= index < len(workers)):
        raise ValueError(
            f"TF_CONFIG is not a valid worker configuration ({hint}). Received: TF_CONFIG={raw!r}"
        )


def prepare_model(model, strategy) -> None:
    """Adapt `model` to `strategy` in place (today: the MultiWorker metrics workaround)."""
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and not getattr(
        model.train_step, "_imgenlib_rank1", False
    ):
        model.train_step = rank1_metrics(model.train_step)


def rank1_metrics(train_step):
    """Wrap a Keras ``train_step`` so that every scalar metric it returns has shape ``[1]``.

    Keras 3's ``fit`` under `MultiWorkerMirroredStrategy` gathers the per-replica results
    with a concatenation that fails on scalars ("Invalid reduction dimension 0";
    tensorflow/tensorflow#72388, keras-team/keras#20585). One-element vectors gather fine,
    and logs still show one number per metric.
    """
    import tensorflow as tf

    @functools.wraps(train_step)
    def wrapped(data):
        logs = train_step(data)
        return {
            name: tf.reshape(value, [1]) if tf.is_tensor(value) and value.shape.rank == 0 else value
            for name, value in logs.items()
        }

    wrapped._imgenlib_rank1 = True
    return wrapped


def _replica_position():
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None:
        return 1, 0
    return context.num_replicas_in_sync, context.replica_id_in_sync_group


def _global_draw(draw, shape, seed, **kwargs):
    import tensorflow as tf

    replicas, replica = _replica_position()
    if isinstance(replicas, int) and replicas == 1:
        return draw(shape, seed, **kwargs)
    shape = tf.convert_to_tensor(shape, tf.int32)
    local = shape[0]
    full = draw(tf.concat([[local * replicas], shape[1:]], 0), seed, **kwargs)
    start = tf.cast(replica, tf.int32) * local
    return full[start : start + local]


def stateless_normal(shape, seed):
    """`tf.random.stateless_normal` whose global batch does not depend on the replica count.

    Args:
        shape: this replica's shape; the first axis is the per-replica batch.
        seed: a stateless seed (shape [2]); the same on every replica.

    Returns:
        This replica's slice of the noise for the global batch: on one device, the draw
        itself; on N replicas, rows ``[i*B, (i+1)*B)`` of the draw for N*B rows.
    """
    import tensorflow as tf

    return _global_draw(tf.random.stateless_normal, shape, seed)


def stateless_uniform(shape, seed, minval=0.0, maxval=1.0):
    """`tf.random.stateless_uniform` with a replica-count-independent global batch (see above)."""
    import tensorflow as tf

    return _global_draw(tf.random.stateless_uniform, shape, seed, minval=minval, maxval=maxval)
