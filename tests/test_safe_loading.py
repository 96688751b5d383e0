"""Safe loading: no code from model files, clear errors for broken ones, no pickle in the package."""

import json
import re
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from imgenlib.models import GANConfig, build_gan, load_model

PACKAGE = Path(__file__).resolve().parents[1] / "imgenlib"


@pytest.fixture(scope="module")
def saved_gan(tmp_path_factory):
    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("gan") / "gan.keras"
    build_gan(GANConfig.tiny(), (16, 16, 1)).build_for_training().save(path)
    return path


def _rewrite(source, target, edit):
    """Copy the .keras zip `source` to `target`, passing each member through edit(name, bytes)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            new.writestr(item, edit(item.filename, old.read(item.filename)))
    return target


def test_intact_file_loads(saved_gan):
    model = load_model(saved_gan)
    assert model.generate(2, seed=0).shape == (2, 16, 16, 1)


def test_lambda_layer_is_refused(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match=r"Cannot load model from .*lambda\.keras.*Lambda"):
        load_model(tmp_path / "lambda.keras")


@pytest.mark.parametrize("fraction", [0.5, 0.95])
def test_truncated_archive_is_a_clear_error(saved_gan, tmp_path, fraction):
    data = saved_gan.read_bytes()
    cut = tmp_path / "cut.keras"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ValueError, match=r"cut\.keras.*(not a valid \.keras archive|Cannot load)"):
        load_model(cut)


@pytest.mark.parametrize(
    ("module", "name", "argument"),
    [("os", "system", "command"), ("builtins", "eval", "source"), ("subprocess", "Popen", "args")],
)
def test_config_naming_foreign_code_is_refused_and_not_run(
    saved_gan, tmp_path, module, name, argument
):
    """config.json edited to deserialise e.g. `os.system(command="touch …")` instead of the GAN."""
    marker = tmp_path / "pwned"
    command = f"touch {marker}" if name != "eval" else f"open({str(marker)!r}, 'w')"

    def edit(member, data):
        if member != "config.json":
            return data
        config = json.loads(data)
        config.update(
            module=module, class_name=name, config={argument: command}, registered_name=None
        )
        return json.dumps(config).encode()

    tampered = _rewrite(saved_gan, tmp_path / "tampered.keras", edit)
    with pytest.raises(ValueError, match=rf"Cannot load model from .*tampered\.keras.*'{name}'"):
        load_model(tampered)
    assert not marker.exists()


def test_config_naming_an_unknown_class_is_refused(saved_gan, tmp_path):
    def edit(name, data):
        if name != "config.json":
            return data
        config = json.loads(data)
        config.update(class_name="NotAGAN", registered_name="imgenlib>NotAGAN")
        return json.dumps(config).encode()

    with pytest.raises(ValueError, match=r"Cannot load model from .*unknown\.keras.*NotAGAN"):
        load_model(_rewrite(saved_gan, tmp_path / "unknown.keras", edit))


def test_corrupted_weights_are_a_clear_error(saved_gan, tmp_path):
    """Bits flipped inside the weights: the .h5 format has no data checksum, so this is
    caught by the NaN/Inf check (flipped float bytes of the zero-initialised Adam moments
    and of most weights are NaN) - and if a flip ever gave finite values, they differ."""

    def edit(name, data):
        if not name.endswith(".h5"):
            return data
        middle = len(data) // 2
        flipped = bytes(b ^ 0xFF for b in data[middle : middle + 4096])
        return data[:middle] + flipped + data[middle + 4096 :]

    corrupt = _rewrite(saved_gan, tmp_path / "corrupt.keras", edit)
    try:
        model = load_model(corrupt)
    except ValueError as error:
        assert re.search(r"corrupt\.keras.*(NaN or Inf|Cannot load)", str(error)), error
    else:
        original = load_model(saved_gan)
        assert any(
            not np.array_equal(np.asarray(a), np.asarray(b))
            for a, b in zip(
                model.weights + model.d_optimizer.variables + model.g_optimizer.variables,
                original.weights + original.d_optimizer.variables + original.g_optimizer.variables,
                strict=True,
            )
        )


def test_missing_weights_member_is_a_clear_error(saved_gan, tmp_path):
    stripped = tmp_path / "stripped.keras"
    with zipfile.ZipFile(saved_gan) as old, zipfile.ZipFile(stripped, "w") as new:
        for item in old.infolist():
            if not item.filename.endswith(".h5"):
                new.writestr(item, old.read(item.filename))
    with pytest.raises(ValueError, match=r"Cannot load model from .*stripped\.keras"):
        load_model(stripped)


def test_the_package_never_unpickles():
    """No pickle, no np.load(allow_pickle=True), no unsafe Keras/torch loading in imgenlib."""
    forbidden = re.compile(
        r"\bimport pickle\b|\bfrom pickle\b|\bcPickle\b|\bdill\b|\bjoblib\b|\bshelve\b|"
        r"allow_pickle\s*=\s*True|safe_mode\s*=\s*False|torch\.load|\beval\(|\bexec\("
    )
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if forbidden.search(line)
    ]
    assert offenders == []
    assert len(list(PACKAGE.rglob("*.py"))) > 20  # the scan did look at the package


def test_shipped_classifier_weights_are_sha256_checked(tmp_path, monkeypatch):
    import imgenlib.features as features

    name = "digits"
    weights = features.WEIGHTS_DIR / f"{name}_classifier.weights.h5"
    copy = tmp_path / weights.name
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    copy.write_bytes(bytes(data))
    monkeypatch.setattr(features, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(ValueError, match="does not match its recorded SHA-256"):
        features.FeatureExtractor(name)
