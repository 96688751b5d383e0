"""Everything the README (and the notebooks' prose) shows works as written after `import imgenlib`.

The README's Python blocks are executed (on a few hundred images instead of 60,000), and
every `imgenlib.…` name quoted in the README or in a notebook's Markdown must resolve.
"""

import importlib
import json
import re
import warnings
from pathlib import Path

import pytest

import imgenlib

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NAME = re.compile(r"`[^`]*?\b(imgenlib(?:\.[A-Za-z_]\w*)+)(\()?")


def python_blocks(text):
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def quoted_names():
    sources = {"README.md": README.read_text()}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        sources[path.name] = "\n".join(
            "".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown"
        )
    return sorted(
        {
            (source, match[0], bool(match[1]))
            for source, text in sources.items()
            for match in NAME.findall(text)
        }
    )


def resolve(dotted):
    """The object `dotted` names: a submodule is imported (another test may have re-imported
    its package, which then lacks the attribute until the submodule is imported again)."""
    value = imgenlib
    parts = dotted.split(".")
    for index, part in enumerate(parts[1:], start=2):
        try:
            value = getattr(value, part)
        except AttributeError:
            value = importlib.import_module(".".join(parts[:index]))
    return value


@pytest.mark.parametrize(("source", "name", "called"), quoted_names())
def test_every_quoted_name_resolves(source, name, called):
    value = resolve(name)
    assert not called or callable(value), f"{source} calls {name}(...), which is not callable"


def test_readme_has_python_blocks():
    assert len(python_blocks(README.read_text())) >= 1


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(python_blocks(README.read_text()))))
def test_readme_python_block_runs(index, tmp_path, monkeypatch):
    """Run block `index` as written, on the first 256 images of each dataset it loads."""
    load_images = imgenlib.load_images

    def first_images(*args, **kwargs):
        images, labels = load_images(*args, **kwargs)
        return images[:256], (None if labels is None else labels[:256])

    monkeypatch.setattr(imgenlib, "load_images", first_images)
    monkeypatch.chdir(tmp_path)
    code = compile(python_blocks(README.read_text())[index], str(README), "exec")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(code, {"__name__": "readme"})
    ours = [
        w
        for w in caught
        if issubclass(w.category, DeprecationWarning) and w.filename == str(README)
    ]
    assert not ours, [str(w.message) for w in ours]
