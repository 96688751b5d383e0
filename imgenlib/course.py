"""The course's notebooks as data and as a map: titles and prerequisites read from the notebooks.

Each notebook's first cell starts with ``# NN · Title: subtitle`` and has a line
``**Prerequisites:** notebooks 00–02 ...``; `read_course` parses both, so the map drawn by
`course_map` follows the notebooks when they change.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import NamedTuple

from imgenlib.drawing import arrow, box, canvas

__all__ = ["CourseNotebook", "course_map", "default_notebooks_dir", "read_course"]

_HEADING = re.compile(r"^#\s+(\d\d)\s*·\s*([^:\n]+?)(?::\s*([^\n]+))?\s*$", re.MULTILINE)
_PREREQUISITES = re.compile(r"\*\*Prerequisites:\*\*(.*?)(?:\.\s|\n\n|$)", re.DOTALL)
_RANGE = re.compile(r"\b(\d\d)\s*[–-]\s*(\d\d)\b")
_NUMBER = re.compile(r"\b(\d\d)\b")


class CourseNotebook(NamedTuple):
    """One notebook of the course: its number ("03"), title, subtitle and prerequisites.

    Example:
        >>> CourseNotebook("03", "VAEs", prerequisites=("02",)).title
        'VAEs'
    """

    number: str
    title: str
    subtitle: str = ""
    prerequisites: tuple[str, ...] = ()


def default_notebooks_dir() -> Path:
    """The ``notebooks/`` directory next to the `imgenlib` package (a source checkout).

    Example:
        >>> default_notebooks_dir().name
        'notebooks'
    """
    return Path(__file__).resolve().parents[1] / "notebooks"


def read_course(directory=None) -> list[CourseNotebook]:
    """Read number, title and prerequisites of every ``NN_*.ipynb`` in `directory`.

    Args:
        directory: folder of the notebooks; by default `default_notebooks_dir`.

    Returns:
        The notebooks sorted by number. Prerequisites are the two-digit numbers (and
        ranges such as ``00–02``) in the first sentence after ``**Prerequisites:**``.

    Raises:
        FileNotFoundError: if `directory` does not exist or holds no ``NN_*.ipynb``.
        ValueError: if a notebook's first cell has no ``# NN · Title`` heading.

    Example:
        >>> from imgenlib.course import read_course
        >>> [n.title for n in read_course()][:2]  # doctest: +SKIP
        ['Introduction', 'Data']
    """
    directory = Path(default_notebooks_dir() if directory is None else directory)
    paths = sorted(directory.glob("[0-9][0-9]_*.ipynb")) if directory.is_dir() else []
    if not paths:
        raise FileNotFoundError(
            f"directory must be a folder of NN_*.ipynb notebooks. Received: directory={directory}"
        )
    return [_read_notebook(path) for path in paths]


def _read_notebook(path: Path) -> CourseNotebook:
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    source = "".join(cells[0]["source"]) if cells else ""
    heading = _HEADING.search(source)
    if heading is None:
        raise ValueError(
            f"{path.name}'s first cell must start with '# NN · Title'. Got: {source[:80]!r}"
        )
    number, title, subtitle = heading.group(1), heading.group(2).strip(), heading.group(3) or ""
    found = _PREREQUISITES.search(source)
    text = found.group(1) if found else ""
    numbers = {f"{i:02d}" for a, b in _RANGE.findall(text) for i in range(int(a), int(b) + 1)}
    numbers |= set(_NUMBER.findall(_RANGE.sub(" ", text)))
    return CourseNotebook(number, title, subtitle.strip(), tuple(sorted(numbers - {number})))


def course_map(notebooks=None, *, current: str | None = None, ax=None):
    """Draw the course: one box per notebook, arrows from each prerequisite to what needs it.

    Arrows implied by others are left out (if 03 needs 02 and 02 needs 01, no arrow
    01 → 03), so the map reads as "what to read first". Notebooks are placed in columns
    by the longest chain of prerequisites before them.

    Args:
        notebooks: a folder of ``NN_*.ipynb`` (default: the course's, `read_course`) or a
            list of `CourseNotebook` (or ``(number, title, subtitle, prerequisites)``).
        current: a notebook number to highlight ("you are here"), e.g. ``"03"``.
        ax: a matplotlib `Axes` to draw into; by default a new figure.

    Returns:
        The matplotlib `Figure`.

    Raises:
        ValueError: if `current` or a prerequisite is not one of the notebooks.
        TypeError: if `notebooks` is not a folder or a list, or `ax` not an `Axes`.
        FileNotFoundError: if the folder holds no notebooks.

    Example:
        >>> from imgenlib import diagrams
        >>> fig = diagrams.course_map(current="00")
    """
    course = _course(notebooks)
    numbers = [n.number for n in course]
    if current is not None and current not in numbers:
        raise ValueError(f"current must be one of {numbers}. Received: current={current!r}")
    needs = {n.number: set(n.prerequisites) for n in course}
    for n in course:
        unknown = needs[n.number] - set(numbers)
        if unknown:
            raise ValueError(
                f"notebook {n.number} needs {sorted(unknown)}, which are not "
                f"among the notebooks {numbers}"
            )
    column = {number: _depth(number, needs, ()) for number in numbers}
    columns = max(column.values()) + 1
    rows = max(list(column.values()).count(c) for c in range(columns))
    step_x, step_y = 2.3, 1.5
    figure, ax = canvas(ax, columns * step_x + 0.2, rows * step_y + 0.3)
    patches = {}
    row = {}
    for c in range(columns):
        members = sorted(k for k in numbers if column[k] == c)
        members.sort(key=lambda k: _mean(row[b] for b in _direct(k, needs)))
        for r, number in enumerate(members):
            row[number] = r - (len(members) - 1) / 2
            n = course[numbers.index(number)]
            y = (rows * step_y + 0.3) / 2 - row[number] * step_y
            highlight = number == current
            title = textwrap.wrap(n.title, 15) + (["(this notebook)"] if highlight else [])
            text = f"{number}\n" + "\n".join(title)
            patches[number] = box(
                ax,
                (0.1 + (c + 0.5) * step_x, y),
                text,
                "noise" if highlight else "neutral",
                size=(1.8, 1.15),
                fontsize=12.5,
                linewidth=3 if highlight else 1.6,
            )
    for number in numbers:
        for before in sorted(_direct(number, needs)):
            arrow(ax, patches[before], patches[number], role="data")
    return figure


def _course(notebooks) -> list[CourseNotebook]:
    if notebooks is None or isinstance(notebooks, (str, Path)):
        return read_course(notebooks)
    if not isinstance(notebooks, (list, tuple)) or not notebooks:
        raise TypeError(
            "notebooks must be a folder or a non-empty list of CourseNotebook. "
            f"Received: notebooks={notebooks!r}"
        )
    course = []
    for item in notebooks:
        try:
            n = CourseNotebook(*item)
        except TypeError as error:
            raise TypeError(
                f"each notebook must be (number, title[, subtitle, prerequisites]). "
                f"Received: {item!r}"
            ) from error
        course.append(n._replace(number=str(n.number), prerequisites=tuple(n.prerequisites)))
    return sorted(course)


def _depth(number, needs, seen) -> int:
    if number in seen:
        raise ValueError(f"the prerequisites form a cycle through notebook {number}")
    before = needs[number]
    return 0 if not before else 1 + max(_depth(b, needs, (*seen, number)) for b in before)


def _direct(number, needs) -> set[str]:
    """Prerequisites of `number` not already implied by another of its prerequisites."""
    implied = set()
    stack = [b for a in needs[number] for b in needs[a]]
    while stack:
        item = stack.pop()
        if item not in implied:
            implied.add(item)
            stack.extend(needs[item])
    return needs[number] - implied


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0
