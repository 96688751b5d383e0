"""The committed notebooks read well without a kernel (GitHub, nbviewer, an untrusted JupyterLab).

Reads the stored notebook JSON only; runs nothing.
"""

import base64
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def widgets_without_png(notebook: dict) -> list[str]:
    """One line per stored widget view that has no decodable PNG fallback beside it."""
    missing = []
    for index, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            bundle = output.get("data", {})
            if WIDGET_VIEW not in bundle:
                continue
            png = bundle.get("image/png", "")
            png = "".join(png) if isinstance(png, list) else png
            if not base64.b64decode(png).startswith(PNG_SIGNATURE):
                last_line = ([""] + "".join(cell["source"]).strip().splitlines())[-1][:60]
                missing.append(f"cell {index} ({last_line!r}): {sorted(bundle)}")
    return missing


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 10, NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_widget_output_has_a_png_fallback(path):
    missing = widgets_without_png(json.loads(path.read_text()))
    assert not missing, (
        f"{path.name}: widget outputs without an image/png fallback (re-execute the notebook "
        "so DisplayMixin._repr_mimebundle_ stores one): " + "; ".join(missing)
    )


def test_the_check_sees_a_missing_and_a_broken_png():
    view = {WIDGET_VIEW: {"model_id": "0"}, "text/plain": "W()"}
    png = base64.b64encode(PNG_SIGNATURE + b"rest").decode()
    cells = [
        {"cell_type": "markdown", "source": ["# title"]},
        {"source": ["w = W()\n", "w"], "outputs": [{"data": view}]},
        {"source": ["v"], "outputs": [{"data": {**view, "image/png": "bm90IGEgcG5n\n"}}]},
        {"source": ["u"], "outputs": [{"data": {**view, "image/png": png}}]},
        {"source": ["plot()"], "outputs": [{"data": {"image/png": png}}, {"text": "x"}]},
    ]
    assert widgets_without_png({"cells": cells}) == [
        f"cell 1 ('w'): {sorted(view)}",
        f"cell 2 ('v'): {sorted([*view, 'image/png'])}",
    ]
