"""Export round trips: SavedModel and TFLite outputs against the Keras model they came from.

Tolerances (max absolute error on images in [-1, 1], tiny random-init GANs):
SavedModel float32 1e-5 (the same graph); TFLite float32 1e-4 (XNNPACK kernels sum in
another order); TFLite float16 weights 1e-2; TFLite int8 (dynamic range) 5e-2.
"""

import subprocess
import sys

import numpy as np
import pytest

from imgenlib.cli import main
from imgenlib.export import (
    compare_exported,
    export_savedmodel,
    export_tflite,
    load_exported,
)
from imgenlib.models import GANConfig, build_gan

TOLERANCE = {"savedmodel": 1e-5, None: 1e-4, "float16": 1e-2, "int8": 5e-2}


@pytest.fixture(scope="module")
def gans():
    import keras

    keras.utils.set_random_seed(7)
    config = GANConfig.tiny(ema_decay=0.9)
    return {
        "unconditional": build_gan(config, (16, 16, 1)),
        "conditional": build_gan(config, (16, 16, 3), num_classes=3),
    }


@pytest.fixture(scope="module")
def tflite(gans, tmp_path_factory):
    """TFLite exports made on first use and shared: (kind, quantization) -> path."""
    cache, root = {}, tmp_path_factory.mktemp("tflite")

    def get(kind, quantization=None):
        if (kind, quantization) not in cache:
            path = root / f"{kind}-{quantization}.tflite"
            cache[kind, quantization] = export_tflite(gans[kind], path, quantization=quantization)
        return cache[kind, quantization]

    return get


def _inputs(model, n=9):
    z = np.random.default_rng(3).standard_normal((n, model.latent_dim)).astype(np.float32)
    labels = None if model.num_classes is None else np.arange(n) % model.num_classes
    return z, labels


@pytest.mark.parametrize("kind", ["unconditional", "conditional"])
def test_savedmodel_matches_keras(gans, kind, tmp_path):
    model = gans[kind]
    path = export_savedmodel(model, tmp_path / "sm")
    z, labels = _inputs(model)
    expected = model.generate(z=z, labels=labels)
    generator = load_exported(path)
    assert generator.format == "savedmodel"
    assert (generator.latent_dim, generator.num_classes) == (model.latent_dim, model.num_classes)
    np.testing.assert_allclose(generator(z, labels), expected, atol=TOLERANCE["savedmodel"])


def test_savedmodel_loads_without_imgenlib(gans, tmp_path):
    model = gans["conditional"]
    path = export_savedmodel(model, tmp_path / "sm")
    z, labels = _inputs(model)
    expected = model.generate(z=z, labels=labels)
    feed = {"z": z.tolist()} if labels is None else {"z": z.tolist(), "labels": labels.tolist()}
    script = (
        "import json, sys, numpy as np, tensorflow as tf\n"
        "feed = json.loads(sys.argv[2])\n"
        "serve = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "args = {'z': tf.constant(feed['z'], tf.float32)}\n"
        "if 'labels' in feed: args['labels'] = tf.constant(feed['labels'], tf.int32)\n"
        "np.save(sys.argv[3], serve(**args)['images'].numpy())\n"
        "print('imgenlib' in sys.modules)\n"
    )
    import json

    out = tmp_path / "out.npy"
    result = subprocess.run(
        [sys.executable, "-c", script, str(path), json.dumps(feed), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[0] == "False"  # imgenlib never imported
    np.testing.assert_allclose(np.load(out), expected, atol=TOLERANCE["savedmodel"])


@pytest.mark.slow
@pytest.mark.parametrize("quantization", [None, "float16", "int8"])
@pytest.mark.parametrize("kind", ["unconditional", "conditional"])
def test_tflite_matches_keras(gans, tflite, kind, quantization):
    model = gans[kind]
    path = tflite(kind, quantization)
    z, labels = _inputs(model)
    generator = load_exported(path)
    assert generator.format == "tflite" and generator.num_classes == model.num_classes
    images = generator(z, labels)
    expected = model.generate(z=z, labels=labels)
    assert images.shape == expected.shape and images.dtype == np.float32
    error = np.abs(images - expected).max()
    assert error <= TOLERANCE[quantization]
    if quantization is None:
        assert error > 0 or np.array_equal(images, expected)
    stats = compare_exported(model, generator, n=16)
    assert stats["max_abs_error"] <= TOLERANCE[quantization]
    assert stats["mean_abs_error"] <= stats["max_abs_error"]


@pytest.mark.parametrize("quantization", [None, "int8"])
def test_litert_and_the_tf_lite_fallback_agree(gans, tflite, quantization):
    """The same .tflite file run by LiteRT (ai-edge-litert) and by TensorFlow's deprecated
    tf.lite interpreter: the same images, both within the export's tolerance of Keras."""
    model = gans["conditional"]
    path = tflite("conditional", quantization)
    z, labels = _inputs(model)
    litert = load_exported(path, runtime="litert")
    fallback = load_exported(path, runtime="tf.lite")
    assert (litert.runtime, fallback.runtime, load_exported(path).runtime) == (
        "litert",
        "tf.lite",
        "litert",
    )  # fmt: skip  (LiteRT is installed with imgenlib on Linux)
    images = litert(z, labels)
    np.testing.assert_allclose(images, fallback(z, labels), atol=1e-5)
    expected = model.generate(z=z, labels=labels)
    assert np.abs(images - expected).max() <= TOLERANCE[quantization]


@pytest.mark.parametrize("runtime", ["litert", "tf.lite"])
def test_num_threads_reaches_the_tflite_interpreter_and_leaves_the_images_unchanged(
    gans, tflite, tmp_path, monkeypatch, runtime
):
    import tensorflow as tf

    from imgenlib import exported as exported_module

    path = tflite("unconditional")
    z, _ = _inputs(gans["unconditional"])
    received = []
    real = exported_module._litert_interpreter() if runtime == "litert" else tf.lite.Interpreter

    def recording(*args, **kwargs):
        received.append(kwargs.get("num_threads"))
        return real(*args, **kwargs)

    if runtime == "litert":
        monkeypatch.setattr(exported_module, "_litert_interpreter", lambda: recording)
    else:
        monkeypatch.setattr(tf.lite, "Interpreter", recording)
    default = load_exported(path, runtime=runtime)
    two = load_exported(path, runtime=runtime, num_threads=2)
    assert received == [None, 2] and (default.num_threads, two.num_threads) == (None, 2)
    np.testing.assert_allclose(two(z), default(z), atol=1e-6)
    with pytest.raises(ValueError, match=r"num_threads.*Received: num_threads=0"):
        load_exported(path, runtime=runtime, num_threads=0)
    saved = export_savedmodel(gans["unconditional"], tmp_path / "sm")
    with pytest.raises(ValueError, match=r"is a SavedModel.*Received: num_threads=1"):
        load_exported(saved, num_threads=1)


def test_without_litert_the_fallback_runs_and_asking_for_litert_says_what_to_install(
    gans, tflite, tmp_path, monkeypatch
):
    path = tflite("unconditional")
    z, _ = _inputs(gans["unconditional"])
    expected = load_exported(path, runtime="litert")(z)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # import fails
    generator = load_exported(path)
    assert generator.runtime == "tf.lite"
    np.testing.assert_allclose(generator(z), expected, atol=1e-5)
    with pytest.raises(ValueError, match=r"pip install ai-edge-litert.*runtime='litert'"):
        load_exported(path, runtime="litert")
    with pytest.raises(ValueError, match=r"Unknown runtime 'tflite'"):
        load_exported(path, runtime="tflite")
    saved = export_savedmodel(gans["unconditional"], tmp_path / "sm")
    assert load_exported(saved).runtime == "savedmodel"
    with pytest.raises(ValueError, match=r"is a SavedModel.*runtime='tf.lite'"):
        load_exported(saved, runtime="tf.lite")


def test_quantization_shrinks_the_file(tflite):
    # Tiny models: biases, graph and signatures stay, so less than the 2x / 4x of the weights.
    sizes = {q: tflite("conditional", q).stat().st_size for q in (None, "float16", "int8")}
    assert sizes["float16"] < 0.7 * sizes[None]
    assert sizes["int8"] < sizes["float16"]


def test_single_vector_and_batch_size_are_free(gans, tflite):
    model = gans["unconditional"]
    generator = load_exported(tflite("unconditional"))
    z, _ = _inputs(model, n=3)
    np.testing.assert_allclose(generator(z[0]), generator(z)[:1], atol=1e-6)
    assert generator(np.zeros((1, model.latent_dim))).shape == (1, *model.image_shape)


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda g: g(np.zeros((2, 5))), ValueError, "z.shape=(2, 5)"),
        (lambda g: g(np.zeros((2, 8)), labels=None), ValueError, "labels=None"),
        (lambda g: g(np.zeros((2, 8)), labels=[0, 3]), ValueError, "[0, 3]"),
        (lambda g: g(np.zeros((2, 8)), labels=[0.5, 1]), TypeError, "float"),
    ],
)
def test_bad_calls(gans, tmp_path, call, error, fragment):
    generator = load_exported(export_savedmodel(gans["conditional"], tmp_path / "sm"))
    with pytest.raises(error, match=None) as info:
        call(generator)
    assert fragment in str(info.value)


def test_bad_arguments(gans, tmp_path):
    model = gans["unconditional"]
    with pytest.raises(ValueError, match="Unknown quantization 'int4'"):
        export_tflite(model, tmp_path / "g.tflite", quantization="int4")
    with pytest.raises(ValueError, match="must end in .tflite"):
        export_tflite(model, tmp_path / "g.bin")
    with pytest.raises(TypeError, match="Received: model=str"):
        export_savedmodel("generator", tmp_path / "sm")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="new directory or an existing SavedModel"):
        export_savedmodel(model, tmp_path / "busy")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    (tmp_path / "x.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(ValueError, match="x.tflite"):
        load_exported(tmp_path / "x.tflite")
    with pytest.raises(ValueError, match="SavedModel directory or a .tflite file"):
        load_exported(tmp_path / "missing")


def test_unconditional_refuses_labels(gans, tmp_path):
    generator = load_exported(export_savedmodel(gans["unconditional"], tmp_path / "sm"))
    with pytest.raises(ValueError, match="unconditional"):
        generator(np.zeros((1, 8)), labels=[0])


def test_savedmodel_overwrites_previous_export(gans, tmp_path):
    path = export_savedmodel(gans["unconditional"], tmp_path / "sm")
    export_savedmodel(gans["conditional"], path)
    assert load_exported(path).num_classes == 3


def test_cli_round_trip_and_bad_input(gans, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    model = gans["conditional"]
    model.build_for_training().save(run / "model.keras")  # as a trained run stores it
    out = tmp_path / "g.tflite"
    assert (
        main(["export", str(run), "--format", "tflite", "--quantize", "float16", "--out", str(out)])
        == 0
    )
    assert "PSNR" in capsys.readouterr().out
    z, labels = _inputs(model)
    np.testing.assert_allclose(
        load_exported(out)(z, labels), model.generate(z=z, labels=labels), atol=TOLERANCE["float16"]
    )
    for args, fragment in [
        ([str(run), "--format", "onnx", "--out", "x"], "invalid choice: 'onnx'"),
        ([str(run), "--format", "savedmodel", "--quantize", "int8", "--out", "x"], "--quantize is for"),
        ([str(run), "--format", "tflite", "--out", "x.bin"], "--out must be a .tflite"),
        ([str(run), "--format", "tflite", "--quantize", "int4", "--out", "x.tflite"], "'int4'"),
        ([str(tmp_path / "nope"), "--format", "savedmodel", "--out", "x"], "Run directory does not exist"),
    ]:  # fmt: skip
        assert main(["export", *args]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and fragment in err, err


@pytest.mark.slow
def test_export_logs_no_temporary_paths_and_restores_the_logger(gans, tmp_path, caplog):
    """SavedModel writing logs "Assets written to /tmp/..." at INFO: noise with a random path."""
    import logging

    logger = logging.getLogger("tensorflow")
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        with caplog.at_level(logging.INFO, logger="tensorflow"):
            export_savedmodel(gans["unconditional"], tmp_path / "sm")
            export_tflite(gans["unconditional"], tmp_path / "g.tflite")
        assert not [r for r in caplog.records if "Assets written" in r.getMessage()]
        assert logger.level == logging.INFO
    finally:
        logger.setLevel(previous)


@pytest.fixture(scope="module")
def diffusions(randomised):
    import keras

    from imgenlib.models import DiffusionConfig, build_diffusion

    keras.utils.set_random_seed(7)
    config = DiffusionConfig.tiny(timesteps=20)
    return {
        "unconditional": randomised(build_diffusion(config, (16, 16, 1))),
        "conditional": randomised(build_diffusion(config, (16, 16, 1), num_classes=3)),
    }


@pytest.mark.parametrize("kind", ["unconditional", "conditional"])
def test_diffusion_savedmodel_runs_the_ddim_chain(diffusions, kind, tmp_path):
    model = diffusions[kind]
    guidance = {} if model.num_classes is None else {"guidance": 2.0}
    exported = load_exported(export_savedmodel(model, tmp_path / "sm", steps=3, **guidance))
    assert exported.steps == 3 and exported.latent_dim == 256
    assert exported.guidance == guidance.get("guidance", 1.0)
    z, labels = _inputs(model, n=5)
    expected = model.generate(z=z, labels=labels, steps=3, **guidance)
    np.testing.assert_allclose(exported(z, labels), expected, atol=TOLERANCE["savedmodel"])
    assert not np.allclose(expected, model.generate(z=z, labels=labels, steps=4, **guidance))
    assert compare_exported(model, exported, n=4)["max_abs_error"] <= TOLERANCE["savedmodel"]


@pytest.mark.slow
def test_diffusion_tflite_and_cli(diffusions, tmp_path, capsys):
    model = diffusions["conditional"]
    path = export_tflite(model, tmp_path / "d.tflite", steps=2, guidance=1.5)
    z, labels = _inputs(model, n=4)
    expected = model.generate(z=z, labels=labels, steps=2, guidance=1.5)
    error = np.abs(load_exported(path)(z, labels) - expected)
    # The chain amplifies XNNPACK's rounding (x_0 = x_t / sqrt(ᾱ_t) with ᾱ_t near 0 at the
    # first step): a rare pixel moves by up to ~1e-3, the mean stays ~1e-6.
    assert error.max() <= 2e-3 and error.mean() <= 1e-4, (error.max(), error.mean())
    run = tmp_path / "run"
    run.mkdir()
    model.build_for_training().save(run / "model.keras")
    out = tmp_path / "sm"
    assert (
        main(["export", str(run), "--format", "savedmodel", "--steps", "2", "--out", str(out)]) == 0
    )
    assert "(DDIM, 2 steps)" in capsys.readouterr().out and load_exported(out).steps == 2
    for args, fragment in [
        (["--steps", "21"], "--steps must be in 1..20"),
        (["--guidance", "-1"], "--guidance must be >= 0"),
    ]:
        assert main(["export", str(run), "--format", "savedmodel", "--out", str(out), *args]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and fragment in err, err


def test_gan_export_refuses_diffusion_options(gans, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    gans["unconditional"].build_for_training().save(run / "model.keras")
    assert main(["export", str(run), "--format", "savedmodel", "--steps", "5", "--out", "x"]) == 2
    assert "--steps is for diffusion models; this model's kind is 'gan'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="guidance is for diffusion models"):
        export_savedmodel(gans["unconditional"], tmp_path / "sm", guidance=2.0)
