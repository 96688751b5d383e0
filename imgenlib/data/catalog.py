"""What ``python -m imgenlib datasets`` prints: every dataset, its size and where it is."""

from __future__ import annotations

from imgenlib.data.datasets import DATASETS
from imgenlib.data.real_datasets import find_local_copy

__all__ = ["datasets_table"]


def datasets_table(data_dir=None) -> str:
    """A text table of the datasets: name, image shape, split sizes, classes, location.

    Args:
        data_dir: an extra directory to look for local copies in.
    """
    rows = [("name", "image shape", "sizes", "classes", "found at")]
    for name, spec in DATASETS.items():
        if spec.embedded:
            where = "embedded (always available)"
        elif name == "emoji":
            local = find_local_copy(name, data_dir)
            where = str(local) if local else "not fetched: run `python -m imgenlib fetch emoji`"
        else:
            local = find_local_copy(name, data_dir)
            where = str(local) if local else "not found locally (Keras download on first use)"
        sizes = ", ".join(f"{split} {count:,}" for split, count in spec.splits.items())
        if name in ("shapes", "shapes_captions"):
            sizes += " (default; any count)"
        if name == "emoji":
            sizes += " per style"
        shape = "x".join(map(str, spec.image_shape))
        rows.append((name, shape, sizes, str(spec.num_classes), where))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join([*map(str.ljust, cells, widths), where]) for *cells, where in rows]
    licensed = [f"{name}: {spec.licence}" for name, spec in DATASETS.items() if spec.licence]
    return "\n".join(lines + ["", "Licences:", *licensed] if licensed else lines)
