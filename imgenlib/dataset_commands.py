"""The data commands of ``python -m imgenlib``: ``datasets``, ``fetch`` and ``show``.

`imgenlib.cli` registers them with `add_datasets_parser`, `add_fetch_parser` and
`add_show_parser`; `add_grid_options` is shared with the model commands that write grids.
``datasets`` and ``fetch`` run without TensorFlow.
"""

from __future__ import annotations

import sys
from pathlib import Path

from imgenlib.io import check_output_file
from imgenlib.runs import SPLITS

__all__ = [
    "add_datasets_parser",
    "add_fetch_parser",
    "add_grid_options",
    "add_show_parser",
    "check_show_options",
    "cmd_datasets",
    "cmd_fetch",
    "cmd_show",
]


def add_datasets_parser(commands):
    datasets = commands.add_parser("datasets", help="list datasets, sizes and where each is")
    datasets.add_argument("--data-dir", help="extra directory to search for local copies")
    datasets.set_defaults(handler=cmd_datasets)


def add_fetch_parser(commands):
    fetch = commands.add_parser("fetch", help="download a dataset once (emoji: with npm)")
    fetch.add_argument("name", choices=("emoji",), help="dataset to fetch")
    fetch.add_argument("--style", choices=("all", "twitter", "google"), default="all")
    fetch.add_argument(
        "--data-dir", help="cache directory (default $IMGENLIB_DATA/emoji or ~/.cache)"
    )
    fetch.add_argument("--force", action="store_true", help="fetch again even if cached")
    fetch.set_defaults(handler=cmd_fetch)


def add_show_parser(commands):
    show = commands.add_parser("show", help="write a PNG grid of a dataset's images")
    show.add_argument("name", help="dataset name (see `datasets`) or a folder of images")
    add_grid_options(show, n=64)
    show.add_argument("--split", default="train", choices=SPLITS, help="(default train)")
    show.add_argument("--image-size", type=int, help="resize to this square size")
    show.add_argument("--data-dir", help="directory holding a local copy of the dataset")
    show.set_defaults(handler=cmd_show, prechecks=(check_show_options,))


def add_grid_options(parser, *, n: int):
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--n", type=int, default=n, help="number of images (default %(default)s)")
    parser.add_argument("--scale", type=int, default=2, help="pixel upscaling (default 2)")


def cmd_datasets(args) -> int:
    from imgenlib.data.catalog import datasets_table

    print(datasets_table(args.data_dir))
    return 0


def cmd_fetch(args) -> int:
    from imgenlib.data import EMOJI_STYLES, fetch_emoji

    styles = EMOJI_STYLES if args.style == "all" else (args.style,)
    print(f"emoji: fetching {', '.join(styles)} with npm unless cached (~70 MB each) ...")
    try:
        paths = fetch_emoji(styles, args.data_dir, force=args.force)
    except RuntimeError as error:  # npm missing, no network, a corrupted download
        print(f"python -m imgenlib fetch: error: {error}", file=sys.stderr)
        return 2
    print("\n".join(f"emoji ({style}): {path}" for style, path in paths.items()))
    return 0


def check_show_options(args) -> None:
    """``show``'s checks that need no TensorFlow (`imgenlib.cli` runs them before importing it)."""
    from imgenlib._validation import check_positive_int
    from imgenlib.data.splits import check_data_name

    check_positive_int("--n", args.n)
    check_positive_int("--scale", args.scale)
    check_output_file("--out", args.out, ".png")
    check_data_name(args.name)


def cmd_show(args) -> int:
    from imgenlib.plotting import save_grid
    from imgenlib.runs import load_split

    check_show_options(args)
    images, _, _ = load_split(
        args.name, args.split, image_size=args.image_size, n=args.n, data_dir=args.data_dir
    )
    save_grid(images, args.out, scale=args.scale)
    print(f"Wrote {len(images)} images of {args.name!r} to {Path(args.out)}")
    return 0
