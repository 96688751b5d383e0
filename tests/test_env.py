import io
import os
import re
import subprocess
import sys

import pytest

from imgenlib._env import TF_STARTUP_NOISE, quick_mode


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("yes", True), ("0", False), ("", False), ("false", False)]
)
def test_quick_mode(monkeypatch, value, expected):
    monkeypatch.setenv("IMGENLIB_QUICK", value)
    assert quick_mode() is expected


def test_startup_noise_filter_keeps_real_messages():
    noise = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1795492047.840911    4531 port.cc:153] oneDNN custom operations are on.",
        "I0000 00:00:1795492047.841268    4531 cudart_stub.cc:31] Could not find cuda drivers",
    ]
    real = [
        "W0000 00:00:1795492047.840911    4531 port.cc:153] a real warning",
        "E0000 00:00:1795492047.840911    4531 gpu.cc:12] an error",
        "Traceback (most recent call last):",
    ]
    assert all(TF_STARTUP_NOISE.match(line) for line in noise)
    assert not any(TF_STARTUP_NOISE.match(line) for line in real)


@pytest.mark.slow
def test_quiet_tensorflow_import_prints_nothing():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    script = "import imgenlib; tf = imgenlib.quiet_tensorflow(); print(tf.reduce_sum(tf.ones(3)).numpy())"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3.0"
    assert result.stderr == ""


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_for_long_loops_on_a_terminal(monkeypatch):
    from imgenlib._env import progress

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert list(progress(range(20), total=20, desc="generate")) == list(range(20))
    assert sys.stderr.getvalue() == ""  # piped: no bar
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert list(progress(range(3), total=3, desc="generate")) == [0, 1, 2]
    assert terminal.getvalue() == ""  # short loop: no bar
    assert list(progress(range(20), total=20, desc="generate")) == list(range(20))
    assert re.search(r"generate: .*/20 ", terminal.getvalue())  # a bar over the 20 steps


def test_sampling_ten_thousand_images_shows_a_bar_on_a_terminal(monkeypatch):
    from imgenlib.models import GANConfig, build_gan

    gan = build_gan(GANConfig.tiny(), (16, 16, 1))
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert gan.generate(2048, seed=0, batch_size=128).shape == (2048, 16, 16, 1)
    assert re.search(r"generate: .*/16 ", terminal.getvalue())  # 2,048 / 128 batches
