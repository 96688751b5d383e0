"""Command-line interface: ``python -m imgenlib COMMAND ...`` (also installed as ``imgenlib``).

Commands:
    datasets                  list the datasets, their sizes and where each was found
    show NAME --out grid.png  write a grid of a dataset's images
    demo --out DIR            the README's first command: sample grids and a metrics JSON

Errors in what you typed (unknown names, bad values, missing data, unwritable paths) end
with exit code 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["build_parser", "main"]

_NO_TENSORFLOW = {"datasets"}


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m imgenlib``."""
    from imgenlib import __version__

    parser = argparse.ArgumentParser(
        prog="python -m imgenlib",
        description="Image generation with GANs and VAEs on TensorFlow/Keras.",
    )
    parser.add_argument("--version", action="version", version=f"imgenlib {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    datasets = commands.add_parser(
        "datasets", help="list datasets, their sizes and where each is found"
    )
    datasets.add_argument("--data-dir", help="extra directory to search for local copies")
    datasets.set_defaults(handler=_cmd_datasets)

    show = commands.add_parser("show", help="write a PNG grid of a dataset's images")
    show.add_argument("name", help="dataset name (see `datasets`) or a folder of images")
    show.add_argument("--out", required=True, help="PNG file to write")
    show.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    show.add_argument("--split", default="train", help="train or test (default train)")
    show.add_argument("--image-size", type=int, help="resize to this square size")
    show.add_argument("--data-dir", help="directory holding a local copy of the dataset")
    show.add_argument("--scale", type=int, default=2, help="pixel upscaling of the PNG (default 2)")
    show.set_defaults(handler=_cmd_show)

    demo = commands.add_parser("demo", help="the README's first command: grids and a metrics JSON")
    demo.add_argument("--out", default="outputs", help="output directory (default outputs/)")
    demo.set_defaults(handler=_cmd_demo)
    return parser


def main(argv=None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 2 usage or input error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command not in _NO_TENSORFLOW:
            from imgenlib._env import quiet_tensorflow

            quiet_tensorflow()
        return args.handler(args) or 0
    except (ValueError, TypeError, FileNotFoundError, PermissionError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"{parser.prog} {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130


def _cmd_datasets(args) -> int:
    from imgenlib.data import DATASETS, find_local_copy

    rows = [("name", "image shape", "sizes", "classes", "found at")]
    for name, spec in DATASETS.items():
        if spec.embedded:
            where = "embedded (always available)"
        else:
            local = find_local_copy(name, args.data_dir)
            where = str(local) if local else "not found locally (Keras download on first use)"
        sizes = ", ".join(f"{split} {count:,}" for split, count in spec.splits.items())
        if name == "shapes":
            sizes += " (default; any count)"
        shape = "x".join(map(str, spec.image_shape))
        rows.append((name, shape, sizes, str(spec.num_classes), where))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[-1]
        )
    return 0


def _load_for_show(args):
    from imgenlib.data import DATASETS, load_folder, load_images

    if args.name not in DATASETS and Path(args.name).is_dir():
        return load_folder(args.name, args.image_size or 64)[: args.n]
    images, _ = load_images(args.name, args.split, args.image_size, args.data_dir, n=args.n)
    return images


def _cmd_show(args) -> int:
    from imgenlib._validation import check_positive_int
    from imgenlib.io import ensure_writable_dir
    from imgenlib.plotting import save_grid

    check_positive_int("--n", args.n)
    check_positive_int("--scale", args.scale)
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out must be a .png file. Received: --out={args.out!r}")
    ensure_writable_dir(out.parent if str(out.parent) else ".")
    images = _load_for_show(args)
    save_grid(images, out, scale=args.scale)
    print(f"Wrote {len(images)} images of {args.name!r} to {out}")
    return 0


def _cmd_demo(args) -> int:
    import numpy as np

    from imgenlib import __version__
    from imgenlib.data import dataset_info, load_images
    from imgenlib.io import ensure_writable_dir, save_json
    from imgenlib.plotting import save_grid

    out = ensure_writable_dir(args.out)
    report = {"imgenlib": __version__, "datasets": {}}
    for name in ("digits", "shapes"):
        start = time.perf_counter()
        images, labels = load_images(name)
        grid = save_grid(images[:64], out / f"{name}_data.png", scale=2)
        report["datasets"][name] = {
            "images": int(len(images)),
            "image_shape": list(images.shape[1:]),
            "classes": list(dataset_info(name).class_names),
            "class_counts": np.bincount(labels).tolist(),
            "pixel_mean": round(float(images.mean()), 4),
            "pixel_std": round(float(images.std()), 4),
            "grid": grid.name,
            "seconds": round(time.perf_counter() - start, 2),
        }
        print(f"{name}: {len(images)} images {images.shape[1:]} -> {grid}")
    path = save_json(report, out / "metrics.json")
    print(f"Wrote {path}")
    return 0
