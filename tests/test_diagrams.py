"""The course's diagrams: what each one says, that it names the library's layers and losses,
that nothing overlaps or leaves the figure, and that bad arguments are refused by name.
Imports no TensorFlow."""

import io
import itertools
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

from imgenlib import diagrams
from imgenlib.course import CourseNotebook, default_notebooks_dir, read_course

ROOT = Path(__file__).resolve().parents[1]
DRAWERS = {
    "gan_game": lambda **kw: diagrams.gan_game(**kw),
    "conditional_gan_game": lambda **kw: diagrams.gan_game(conditional=True, **kw),
    "vae_pipeline": lambda **kw: diagrams.vae_pipeline(**kw),
    "projection_discriminator": lambda **kw: diagrams.projection_discriminator(**kw),
    "diffusion_chain": lambda **kw: diagrams.diffusion_chain(**kw),
    "diffusion_thumbnails": lambda **kw: diagrams.diffusion_chain(
        np.linspace(-1, 1, 4 * 8 * 8).reshape(4, 8, 8, 1), timesteps=[0, 10, 500, 999], **kw
    ),
    "course_map": lambda **kw: diagrams.course_map(current="03", **kw),
}


def texts(figure):
    return [t.get_text() for ax in figure.axes for t in ax.texts if t.get_text()]


def joined(figure):
    return " ".join(texts(figure)).replace("\n", " ")


@pytest.mark.parametrize("name", DRAWERS)
def test_each_diagram_renders_without_warnings_overlaps_or_clipped_text(name):
    figure = DRAWERS[name]()
    assert isinstance(figure, Figure)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a glyph missing from the font is a warning
        figure.savefig(io.BytesIO(), format="png")
    renderer = FigureCanvasAgg(figure).get_renderer()
    labels = [(t.get_text(), t.get_window_extent(renderer)) for t in figure.axes[0].texts]
    for text, box in labels:
        assert 0 <= box.x0 and box.x1 <= figure.bbox.x1, text
        assert 0 <= box.y0 and box.y1 <= figure.bbox.y1, text
    overlapping = [
        (text_a, text_b)
        for (text_a, a), (text_b, b) in itertools.combinations(labels, 2)
        if min(a.x1, b.x1) - max(a.x0, b.x0) > 2 and min(a.y1, b.y1) - max(a.y0, b.y0) > 2
    ]  # more than 2 px both ways: line spacing of adjacent lines does not count
    assert not overlapping


@pytest.mark.parametrize("name", DRAWERS)
def test_each_diagram_draws_into_a_given_axes(name):
    figure = Figure(figsize=(12, 6))
    ax = figure.add_subplot()
    assert DRAWERS[name](ax=ax) is figure
    assert figure.axes == [ax] and ax.patches and ax.texts


@pytest.mark.parametrize("name", DRAWERS)
def test_a_bad_axes_is_refused_by_name(name):
    with pytest.raises(TypeError, match=r"ax must be a matplotlib Axes.*Received: ax='left'"):
        DRAWERS[name](ax="left")


def test_gan_game_shows_players_losses_and_updates():
    words = texts(diagrams.gan_game())
    assert {"G", "D", "z ∼ N(0, I)"} <= set(words)
    text = joined(diagrams.gan_game())
    for phrase in (
        "g_loss = −log D(G(z))",
        "d_loss = −log D(x) − log(1 − D(G(z)))",
        "updates G's weights only",
        "updates D's weights only",
    ):
        assert phrase in text
    assert "y" not in words
    conditional = diagrams.gan_game(conditional=True)
    assert "y" in texts(conditional)
    assert "label_embedding" in joined(conditional) and "⟨embed(y), φ(x)⟩" in joined(conditional)
    with pytest.raises(TypeError, match="Received: conditional='yes'"):
        diagrams.gan_game(conditional="yes")


def test_vae_pipeline_shows_the_reparameterisation_and_both_elbo_terms():
    words, text = texts(diagrams.vae_pipeline()), joined(diagrams.vae_pipeline())
    assert {"μ", "log σ²", "z = μ + σ ⊙ ε", "ε ∼ N(0, I)", "encoder", "decoder"} <= set(words)
    for phrase in (
        "∂z/∂μ = 1",
        "∂z/∂σ = ε",
        "no gradient needed",
        "kl_loss",
        "reconstruction_loss",
    ):
        assert phrase in text


def test_projection_discriminator_sums_the_two_terms():
    words, text = (
        texts(diagrams.projection_discriminator()),
        joined(diagrams.projection_discriminator()),
    )
    assert {"h = φ(x)", "embed(y)", "⟨embed(y), h⟩", "+", "logit"} <= set(words)
    assert "logit = w · φ(x) + ⟨embed(y), φ(x)⟩" in text


def test_diagram_labels_are_the_names_the_library_uses():
    source = {
        name: (ROOT / "imgenlib" / "models" / f"{name}.py").read_text()
        for name in ("gan", "vae", "networks")
    }
    used = {
        "networks": [
            "class_projection",
            "projection",
            "logit_plus_projection",
            "logit",
            "z_mean",
            "z_log_var",
        ],
        "gan": ["d_loss", "g_loss"],
        "vae": ["reconstruction_loss", "kl_loss"],
    }
    drawn = " ".join(joined(f()) for f in DRAWERS.values())
    for module, names in used.items():
        for name in names:
            assert f'name="{name}"' in source[module], (module, name)
            assert re.search(rf"\b{name}\b", drawn), name


def test_diffusion_chain_default_and_with_thumbnails():
    text = joined(diagrams.diffusion_chain())
    assert "$x_0$" in text and "$x_T$" in text and "q($x_t$ | $x_{t-1}$)" in text
    assert "$p_\\theta$($x_{t-1}$ | $x_t$)" in text
    images = np.zeros((3, 6, 6, 3), np.float32)
    figure = diagrams.diffusion_chain(images, timesteps=[0, 250, 999])
    assert len(figure.axes[0].images) == 3
    assert {"$x_{0}$", "$x_{250}$", "$x_{999}$"} <= set(texts(figure))
    assert "$x_{t_1}$" in texts(diagrams.diffusion_chain(images))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"images": np.zeros((1, 4, 4, 1))}, ValueError, "Received: 1 images"),
        (
            {"images": np.zeros((2, 4, 4, 1)), "timesteps": [5, 1]},
            ValueError,
            r"timesteps=\[5, 1\]",
        ),
        ({"images": np.zeros((2, 4, 4, 1)), "timesteps": [0]}, ValueError, r"timesteps=\[0\]"),
        ({"timesteps": [0, 1]}, ValueError, "timesteps needs images"),
        ({"images": np.full((2, 4, 4, 1), 3.0)}, ValueError, "images"),
    ],
)
def test_diffusion_chain_refuses_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        diagrams.diffusion_chain(**kwargs)


def test_course_map_lists_every_notebook_with_its_title():
    paths = sorted(default_notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
    assert len(paths) >= 9
    text = joined(diagrams.course_map()).replace("-", "")
    for path in paths:
        heading = "".join(json.loads(path.read_text())["cells"][0]["source"]).splitlines()[0]
        number, title = re.match(r"# (\d\d) · ([^:]+)", heading).groups()
        assert number in texts(diagrams.course_map()) and title in text, (number, title)


def test_read_course_parses_titles_and_prerequisites(tmp_path):
    def write(name, heading, prerequisites):
        cell = {"cell_type": "markdown", "source": [heading + "\n\n", prerequisites]}
        (tmp_path / name).write_text(json.dumps({"cells": [cell]}))

    write("00_a.ipynb", "# 00 · Start: the beginning", "**Prerequisites:** none.")
    write("01_b.ipynb", "# 01 · Middle", "**Prerequisites:** notebook 00. Then 07 is mentioned.")
    write("02_c.ipynb", "# 02 · End", "**Prerequisites:** notebooks 00–01 (01 for data) and 00.")
    assert read_course(tmp_path) == [
        CourseNotebook("00", "Start", "the beginning", ()),
        CourseNotebook("01", "Middle", "", ("00",)),
        CourseNotebook("02", "End", "", ("00", "01")),
    ]
    figure = diagrams.course_map(tmp_path)
    arrows = [p for p in figure.axes[0].patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == 2  # 00 → 01 → 02; 00 → 02 is implied
    course = {n.number: n for n in read_course()}
    assert course["08"].prerequisites == ("03", "04") and course["00"].prerequisites == ()


def test_course_map_takes_a_list_and_highlights_the_current_notebook():
    course = [("00", "Start"), ("01", "Next", "", ("00",)), ("02", "Other", "", ("00",))]
    figure = diagrams.course_map(course, current="01")
    assert "Next\n(this notebook)" in "\n".join(texts(figure))
    with pytest.raises(ValueError, match=r"Received: current='09'"):
        diagrams.course_map(course, current="09")
    with pytest.raises(ValueError, match=r"needs \['05'\]"):
        diagrams.course_map([("00", "Start", "", ("05",))])
    with pytest.raises(ValueError, match="cycle"):
        diagrams.course_map([("00", "A", "", ("01",)), ("01", "B", "", ("00",))])
    with pytest.raises(TypeError, match="Received: notebooks=42"):
        diagrams.course_map(42)
    with pytest.raises(FileNotFoundError, match="directory=/nowhere"):
        diagrams.course_map("/nowhere")


def test_importing_the_diagrams_does_not_import_tensorflow():
    code = (
        "import sys, imgenlib.diagrams; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.split() == ["False", "False"], result.stderr[-2000:]
