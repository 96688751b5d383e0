"""Bad input everywhere public: each case is a ValueError/TypeError naming the received value,
and on the command line exit code 2 with one line on stderr and no traceback.

Library cases run in-process; CLI cases call `imgenlib.cli.main` in-process (TensorFlow is
imported once) and only two go through a real ``python -m imgenlib`` subprocess.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from imgenlib import evaluation, metrics, plotting
from imgenlib.cli import main
from imgenlib.data import ImageLoadWarning, load_folder, load_images, make_dataset
from imgenlib.models import GAN, GANConfig, build_gan, build_generator
from imgenlib.training import train

GOOD = np.zeros((8, 16, 16, 1), np.float32)
FEATURES = np.random.default_rng(0).standard_normal((20, 4))


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("folders")
    (root / "empty").mkdir()
    (root / "junk").mkdir()
    (root / "junk" / "a.png").write_bytes(b"not a png")
    (root / "ok").mkdir()
    for i in range(4):
        Image.new("RGB", (20, 20), (60 * i, 0, 0)).save(root / "ok" / f"{i}.png")
    (root / "a_file.png").write_bytes(b"")
    return root


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """An unconditional and a conditional tiny GAN (16x16), and a run directory for each."""
    root = tmp_path_factory.mktemp("models")
    result = {}
    for name, classes in (("plain", None), ("cond", 4)):
        gan = build_gan(GANConfig.tiny(), (16, 16, 1), num_classes=classes).build_for_training()
        (root / name).mkdir()
        gan.save(root / name / "model.keras")
        result[name] = gan
    result["root"] = root
    return result


def _tiny_networks(latent_dim=8, conditional=False):
    from imgenlib.models import build_discriminator

    classes = 4 if conditional else None
    return (
        build_generator((16, 16, 1), latent_dim, width_multiplier=0.125, num_classes=classes),
        build_discriminator((16, 16, 1), width_multiplier=0.125, num_classes=classes),
    )


LIBRARY_CASES = {
    # data
    "load_images unknown name": (lambda f, m: load_images("imagenet"), ValueError, "'imagenet'"),
    "load_images unknown split": (lambda f, m: load_images("shapes", "val"), ValueError, "'val'"),
    "load_images n=0": (lambda f, m: load_images("digits", n=0), ValueError, "n=0"),
    "load_images n=-2": (lambda f, m: load_images("digits", n=-2), ValueError, "n=-2"),
    "load_images n='5'": (lambda f, m: load_images("digits", n="5"), TypeError, "n='5'"),
    "load_images image_size=0": (
        lambda f, m: load_images("digits", image_size=0), ValueError, "image_size=0"),
    "load_folder missing": (lambda f, m: load_folder(f / "nope", 8), ValueError, "nope"),
    "load_folder a file": (lambda f, m: load_folder(f / "a_file.png", 8), ValueError, "a_file.png"),
    "load_folder empty": (lambda f, m: load_folder(f / "empty", 8), ValueError, "empty"),
    "load_folder only junk": (lambda f, m: load_folder(f / "junk", 8), ValueError, "none decodable"),
    "load_folder channels=4": (
        lambda f, m: load_folder(f / "ok", 8, channels=4), ValueError, "channels=4"),
    "make_dataset 3-D images": (
        lambda f, m: make_dataset(GOOD[..., 0], batch_size=2), ValueError, r"shape=\(8, 16, 16\)"),
    "make_dataset 2 channels": (
        lambda f, m: make_dataset(np.zeros((8, 4, 4, 2)), batch_size=2), ValueError, "channels"),
    "make_dataset strings": (
        lambda f, m: make_dataset(np.full((2, 2, 2, 1), "x"), batch_size=1), TypeError, "dtype <U1"),
    "make_dataset 0..255": (
        lambda f, m: make_dataset(GOOD + 255, batch_size=2), ValueError, r"\[255, 255\]"),
    "make_dataset NaN": (
        lambda f, m: make_dataset(GOOD * np.nan, batch_size=2), ValueError, "NaN"),
    "make_dataset no images": (
        lambda f, m: make_dataset(GOOD[:0], batch_size=2), ValueError, r"shape=\(0,"),
    "make_dataset batch_size=0": (
        lambda f, m: make_dataset(GOOD, batch_size=0), ValueError, "batch_size=0"),
    "make_dataset batch too big": (
        lambda f, m: make_dataset(GOOD, batch_size=9), ValueError, "batch_size=9"),
    "make_dataset labels length": (
        lambda f, m: make_dataset(GOOD, np.zeros(7, int), batch_size=2), ValueError, r"\(7,\)"),
    "make_dataset float labels": (
        lambda f, m: make_dataset(GOOD, np.zeros(8), batch_size=2), TypeError, "float64"),
    "make_dataset negative labels": (
        lambda f, m: make_dataset(GOOD, -np.ones(8, int), batch_size=2), ValueError, "-1"),
    # models
    "build_gan unknown loss": (
        lambda f, m: build_gan(GANConfig.tiny(loss="wgan"), (16, 16, 1)), ValueError, "'wgan'"),
    "build_gan latent_dim=0": (
        lambda f, m: build_gan(GANConfig.tiny(latent_dim=0), (16, 16, 1)), ValueError,
        "latent_dim=0"),
    "build_gan width<0": (
        lambda f, m: build_gan(GANConfig.tiny(width_multiplier=-1.0), (16, 16, 1)), ValueError, "width_multiplier=-1"),
    "build_gan unknown optimizer": (
        lambda f, m: build_gan(GANConfig.tiny(optimizer="adagrad"), (16, 16, 1)), ValueError,
        "'adagrad'"),
    "build_gan learning rate 0": (
        lambda f, m: build_gan(GANConfig.tiny(g_learning_rate=0.0), (16, 16, 1)), ValueError,
        "learning_rate=0.0"),
    "build_gan d_steps=0": (
        lambda f, m: build_gan(GANConfig.tiny(d_steps=0), (16, 16, 1)), ValueError, "d_steps=0"),
    "build_gan ema_decay=1.5": (
        lambda f, m: build_gan(GANConfig.tiny(ema_decay=1.5), (16, 16, 1)), ValueError, "ema_decay=1.5"),
    "build_gan unknown augment": (
        lambda f, m: build_gan(GANConfig.tiny(augment="zoom"), (16, 16, 1)), ValueError, "'zoom'"),
    "build_gan 30x30": (
        lambda f, m: build_gan(GANConfig.tiny(), (30, 30, 1)), ValueError, r"\(30, 30, 1\)"),
    "build_gan 2 channels": (
        lambda f, m: build_gan(GANConfig.tiny(), (16, 16, 2)), ValueError, r"\(16, 16, 2\)"),
    "build_gan config as str": (
        lambda f, m: build_gan("tiny", (16, 16, 1)), TypeError, "config='tiny'"),
    "build_gan one class": (
        lambda f, m: build_gan(GANConfig.tiny(), (16, 16, 1), num_classes=1), ValueError,
        "num_classes=1"),
    "GAN latent size mismatch": (
        lambda f, m: GAN(*_tiny_networks(8), latent_dim=9), ValueError, "latent_dim=9"),
    "GAN generator not a model": (
        lambda f, m: GAN("g", _tiny_networks()[1], latent_dim=8), TypeError, "generator='g'"),
    "GAN labels half-configured": (
        lambda f, m: GAN(*_tiny_networks(), latent_dim=8, num_classes=4), ValueError,
        "num_classes=4"),
    # generation
    "generate n=0": (lambda f, m: m["plain"].generate(0), ValueError, "n=0"),
    "generate n=-1": (lambda f, m: m["plain"].generate(-1), ValueError, "n=-1"),
    "generate n=1.5": (lambda f, m: m["plain"].generate(1.5), TypeError, "n=1.5"),
    "generate z of wrong size": (
        lambda f, m: m["plain"].generate(z=np.zeros((2, 5))), ValueError, r"z.shape=\(2, 5\)"),
    "generate z NaN": (
        lambda f, m: m["plain"].generate(z=np.full((2, 8), np.nan)), ValueError, "NaN"),
    "generate labels for unconditional": (
        lambda f, m: m["plain"].generate(2, labels=1), ValueError, "labels=1"),
    "generate conditional without labels": (
        lambda f, m: m["cond"].generate(2), ValueError, "labels=None"),
    "generate label out of range": (
        lambda f, m: m["cond"].generate(2, labels=4), ValueError, r"\[4, 4\]"),
    "generate negative label": (
        lambda f, m: m["cond"].generate(2, labels=[0, -1]), ValueError, r"\[-1, 0\]"),
    "generate float labels": (
        lambda f, m: m["cond"].generate(2, labels=[0.5, 1.0]), TypeError, "0.5"),
    # metrics
    "fid 1-D features": (
        lambda f, m: metrics.fid_from_features(FEATURES[:, 0], FEATURES), ValueError,
        r"shape=\(20,\)"),
    "fid feature sizes differ": (
        lambda f, m: metrics.fid_from_features(FEATURES, FEATURES[:, :3]), ValueError, r"\(20, 3\)"),
    "fid NaN": (
        lambda f, m: metrics.fid_from_features(FEATURES * np.nan, FEATURES), ValueError, "NaN"),
    "kid subsets=0": (
        lambda f, m: metrics.kid_from_features(FEATURES, FEATURES, subsets=0), ValueError,
        "subsets=0"),
    "precision_recall k=0": (
        lambda f, m: metrics.precision_recall(FEATURES, FEATURES, k=0), ValueError, "k=0"),
    "density_coverage k too big": (
        lambda f, m: metrics.density_coverage(FEATURES, FEATURES, k=50), ValueError, "k=50"),
    "inception_score negative probabilities": (
        lambda f, m: metrics.inception_score(-np.ones((4, 3))), ValueError, "probs"),
    "evaluate unknown dataset": (
        lambda f, m: evaluation.evaluate(m["plain"], "cifar10"), ValueError, "'cifar10'"),
    "evaluate n=5": (lambda f, m: evaluation.evaluate(m["plain"], "digits", n=5), ValueError, "n=5"),
    # plotting
    "save_grid 0..255": (
        lambda f, m: plotting.save_grid(GOOD + 255, f / "g.png"), ValueError, r"\[255, 255\]"),
    "save_grid unwritable": (
        lambda f, m: plotting.save_grid(GOOD, "/proc/imgenlib/g.png"), ValueError, "/proc/imgenlib"),
    "save_grid into a file": (
        lambda f, m: plotting.save_grid(GOOD, f / "a_file.png" / "g.png"), ValueError, "a_file.png"),
    "image_grid ncols=0": (lambda f, m: plotting.image_grid(GOOD, ncols=0), ValueError, "ncols=0"),
    "image_grid titles": (
        lambda f, m: plotting.image_grid(GOOD, titles=["a"]), ValueError, "1 titles"),
    # training driver
    "train unknown kind": (lambda f, m: train("vae2", "digits", f / "r"), ValueError, "'vae2'"),
    "train unknown data": (lambda f, m: train("gan", "imagenet", f / "r"), ValueError, "'imagenet'"),
    "train missing folder": (
        lambda f, m: train("gan", str(f / "nope"), f / "r"), ValueError, "nope"),
    "train empty folder": (lambda f, m: train("gan", str(f / "empty"), f / "r"), ValueError, "empty"),
    "train unknown preset": (
        lambda f, m: train("gan", "digits", f / "r", preset="huge"), ValueError, "'huge'"),
    "train unknown loss": (
        lambda f, m: train("gan", "digits", f / "r", loss="wgan"), ValueError, "'wgan'"),
    "train epochs=0": (lambda f, m: train("gan", "digits", f / "r", epochs=0), ValueError, "epochs=0"),
    "train learning_rate=-1": (
        lambda f, m: train("gan", "digits", f / "r", learning_rate=-1.0), ValueError,
        "learning_rate=-1.0"),
    "train learning_rate str": (
        lambda f, m: train("gan", "digits", f / "r", learning_rate="fast"), TypeError,
        "learning_rate='fast'"),
    "train unknown strategy": (
        lambda f, m: train("gan", "digits", f / "r", strategy="tpu"), ValueError, "'tpu'"),
    "train deterministic str": (
        lambda f, m: train("gan", "digits", f / "r", deterministic="yes"), TypeError,
        "deterministic='yes'"),
    "train unwritable out": (
        lambda f, m: train("gan", "digits", "/proc/imgenlib/run"), ValueError, "/proc/imgenlib"),
    "train conditional folder": (
        lambda f, m: train("gan", str(f / "ok"), f / "r", conditional=True), ValueError,
        "no labels"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(LIBRARY_CASES))
def test_library_rejects(case, folders, models):
    call, error, pattern = LIBRARY_CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImageLoadWarning)
        with pytest.raises(error, match=pattern):
            call(folders, models)
    assert not (folders / "r" / "run.json").exists()


CLI_CASES = [
    (["train", "gan", "--data", "nowhere", "--out", "{tmp}/r"], "Unknown dataset 'nowhere'"),
    (["train", "gan", "--data", "{folders}/empty", "--out", "{tmp}/r"], "empty"),
    (["train", "gan", "--data", "{folders}/junk", "--out", "{tmp}/r"], "none decodable"),
    (["train", "gan", "--data", "digits", "--out", "{tmp}/r", "--preset", "huge"], "'huge'"),
    (["train", "gan", "--data", "digits", "--out", "{tmp}/r", "--loss", "wgan"], "'wgan'"),
    (["train", "gan", "--data", "digits", "--out", "{tmp}/r", "--epochs", "0"], "epochs=0"),
    (["train", "gan", "--data", "digits", "--out", "{tmp}/r", "--epochs", "two"], "'two'"),
    (["train", "gan", "--data", "digits", "--out", "{tmp}/r", "--batch-size", "0"], "batch_size=0"),
    (["train", "gan", "--data", "digits", "--out", "{tmp}/r", "--batch-size", "99999"], "99999"),
    (["train", "gan", "--data", "digits", "--out", "{tmp}/r", "--image-size", "0"], "image_size=0"),
    (["train", "gan", "--data", "digits", "--out", "{tmp}/r", "--learning-rate", "-1"], "=-1.0"),
    (["train", "gan", "--data", "digits", "--out", "{tmp}/r", "--strategy", "tpu"], "'tpu'"),
    (["train", "gan", "--data", "digits", "--out", "/proc/imgenlib/r"], "/proc/imgenlib"),
    (["train", "gan", "--data", "{folders}/ok", "--out", "{tmp}/r", "--conditional"], "no labels"),
    (["train", "vae2", "--data", "digits", "--out", "{tmp}/r"], "'vae2'"),
    (["train", "gan", "--out", "{tmp}/r"], "--data"),
    (["sample", "{tmp}/missing", "--out", "{tmp}/x.png"], "does not exist"),
    (["sample", "{folders}/empty", "--out", "{tmp}/x.png"], "No model.keras"),
    (["sample", "{models}/plain", "--out", "{tmp}/x.png", "--n", "0"], "--n=0"),
    (["sample", "{models}/plain", "--out", "{tmp}/x.png", "--n", "-3"], "--n=-3"),
    (["sample", "{models}/plain", "--out", "{tmp}/x.png", "--seed", "-1"], "--seed=-1"),
    (["sample", "{models}/plain", "--out", "{tmp}/x.png", "--scale", "0"], "--scale=0"),
    (["sample", "{models}/plain", "--out", "{tmp}/x.jpg"], "--out='"),
    (["sample", "{models}/plain", "--out", "{tmp}/x.png", "--npy", "{tmp}/x.txt"], "--npy='"),
    (["sample", "{models}/plain", "--out", "/proc/imgenlib/x.png"], "/proc/imgenlib"),
    (["sample", "{models}/plain", "--out", "{tmp}/x.png", "--label", "1"], "--label=1"),
    (["sample", "{models}/cond", "--out", "{tmp}/x.png", "--label", "4"], "[4, 4]"),
    (["sample", "{models}/cond", "--out", "{tmp}/x.png", "--label", "-1"], "[-1, -1]"),
    (["show", "imagenet", "--out", "{tmp}/x.png"], "'imagenet'"),
    (["show", "{folders}/empty", "--out", "{tmp}/x.png"], "empty"),
    (["show", "digits", "--out", "{tmp}/x.png", "--n", "0"], "--n=0"),
    (["show", "digits", "--out", "{tmp}/x.png", "--scale", "0"], "--scale=0"),
    (["show", "digits", "--out", "{tmp}/x.png", "--image-size", "0"], "image_size=0"),
    (["show", "digits", "--out", "{tmp}/x.gif"], "--out must be a .png"),
    (["show", "digits", "--out", "/proc/imgenlib/x.png"], "/proc/imgenlib"),
    (["demo", "--out", "/proc/imgenlib"], "/proc/imgenlib"),
    (["nonsense"], "'nonsense'"),
]


@pytest.mark.parametrize(("args", "fragment"), CLI_CASES, ids=[" ".join(a) for a, _ in CLI_CASES])
def test_cli_rejects_with_exit_2_and_one_line(args, fragment, tmp_path, folders, models, capsys):
    paths = {"{tmp}": str(tmp_path), "{folders}": str(folders), "{models}": str(models["root"])}
    argv = []
    for arg in args:
        for key, value in paths.items():
            arg = arg.replace(key, value)
        argv.append(arg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImageLoadWarning)
        try:
            code = main(argv)
        except SystemExit as exit:  # argparse errors
            code = exit.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and fragment in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "r" / "run.json").exists()


@pytest.mark.slow
def test_real_subprocesses_exit_2_with_one_line(run_cli, tmp_path):
    for args, fragment in (
        (["train", "gan", "--data", "digits", "--out", str(tmp_path), "--epochs", "two"], "'two'"),
        (["sample", str(tmp_path / "missing"), "--out", str(tmp_path / "x.png")], "does not exist"),
    ):
        result = run_cli(*args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and fragment in lines[0], result.stderr


_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".bmp": "BMP", ".gif": "GIF", ".webp": "WEBP"}


def _encoded(ext, size, colour):
    import io

    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=_FORMATS[ext])
    return buffer.getvalue()


def _fuzz_strategies():
    exts = st.sampled_from(sorted(_FORMATS))
    valid = st.tuples(
        st.just("valid"), exts, st.tuples(st.integers(1, 40), st.integers(1, 40)),
        st.tuples(*[st.integers(0, 255)] * 3),
    )  # fmt: skip
    noise = st.tuples(st.just("noise"), exts, st.binary(max_size=600))
    cut = st.tuples(
        st.just("cut"), exts, st.tuples(st.integers(8, 40), st.integers(8, 40)),
        st.floats(0.0, 0.5),
    )  # fmt: skip
    return st.lists(st.one_of(valid, noise, cut), min_size=1, max_size=6)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(files=_fuzz_strategies())
def test_fuzzed_folder_loads_exactly_the_valid_images(tmp_path_factory, files):
    """Random bytes and images cut to at most half their length, under image extensions,
    mixed with real images: never a crash, exactly the real images load, in [-1, 1] and
    with their colours (so nothing was decoded from garbage)."""
    folder = tmp_path_factory.mktemp("fuzz")
    expected = []
    for index, (kind, ext, *rest) in enumerate(files):
        name = folder / f"{index:02d}{ext}"
        if kind == "valid":
            size, colour = rest
            name.write_bytes(_encoded(ext, size, colour))
            expected.append(colour)
        elif kind == "noise":
            name.write_bytes(rest[0])
        else:
            data = _encoded(ext, rest[0], (200, 30, 90))
            name.write_bytes(data[: int(len(data) * rest[1])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImageLoadWarning)
        if not expected:
            with pytest.raises(ValueError, match="No decodable images"):
                load_folder(folder, 4)
            return
        images = load_folder(folder, 4)
    assert images.shape == (len(expected), 4, 4, 3) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    centres = (images[:, 2, 2] + 1) * 127.5
    tolerance = 40  # JPEG and WebP are lossy on flat colours (esp. chroma of tiny images)
    np.testing.assert_allclose(centres, np.array(expected, np.float32), atol=tolerance)
