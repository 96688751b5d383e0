"""Train the Mini-CLIP models shipped in imgenlib/weights/ and measure retrieval and zero-shot.

    python benchmarks/train_mini_clip.py --out runs/clip_base     # shapes_captions, stage 1
    python benchmarks/train_mini_clip.py --init runs/clip_base/mini_clip_shapes_captions.keras
                                                  # stage 2 (shipped): 25,000 fresh scenes
    python benchmarks/train_mini_clip.py --data emoji             # emoji names, 32x32
    python benchmarks/train_mini_clip.py --quick --out /tmp/clip  # a one-minute smoke run

Writes mini_clip_<data>.keras and its record (metrics, settings, CPU time, SHA-256) in
mini_clip.json, into imgenlib/weights/ (or --out), and the measurements to
benchmarks/results/mini_clip_<data>.{json,md} (or --out). Shapes are measured on the test
split (seen colour-shape pairs) and on test_compositional (held-out pairs):
- retrieval recall@1/5 over the whole split, an image counting as a hit when it fits the
  caption (`caption_keys`: same attributes, any phrasing), and strictly (only the caption's
  own image, or an identical caption's) in galleries of 100;
- zero-shot accuracy of colour, shape, size and position on one-object scenes, with the
  prompt ensembles of `shapes_class_prompts`.
Emoji: retrieval on the test split (emoji never seen in training) and zero-shot category,
each category prompted with its training captions.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import machine, markdown_table, print_json_line, write_result

import imgenlib

imgenlib.quiet_tensorflow()


from imgenlib.clip import (  # noqa: E402
    caption_keys,
    retrieve,
    shapes_class_prompts,
    zero_shot_classify,
)
from imgenlib.clip_tasks import pack_mini_clip  # noqa: E402
from imgenlib.clip_training import train_mini_clip  # noqa: E402
from imgenlib.data import load_emoji, load_shapes_captions  # noqa: E402

SETTINGS = {
    "shapes_captions": {
        "train": 10000, "test": 2000, "image_size": 32, "epochs": 40, "batch_size": 128,
        "learning_rate": 2e-3,
        "model": {"embed_dim": 128, "image_width": 32, "image_features": 256, "text_dim": 64,
                  "num_heads": 4, "num_layers": 2, "hard_negatives": ["shape", "colour", "size"]},
        # with --init: a few epochs over fresh scenes (another seed) at a lower rate
        "continue": {"train": 25000, "epochs": 4, "learning_rate": 5e-4, "seed": 1},
    },
    "emoji": {
        # 32x32: the side the emoji text models draw (a Mini-CLIP reads one image size), and
        # a quarter of the 64x64 cost (6 s per step of 128 at 64x64 on the shared CPU)
        "train": None, "test": None, "image_size": 32, "epochs": 60, "batch_size": 128,
        "learning_rate": 2e-3,
        "model": {"embed_dim": 128, "image_width": 32, "image_features": 256, "text_dim": 64,
                  "num_heads": 4, "num_layers": 2},
    },
}  # fmt: skip
QUICK = {
    "train": 400, "test": 200, "epochs": 1, "batch_size": 50,
    "model": {"embed_dim": 32, "image_width": 8, "image_features": 64, "text_dim": 16,
              "num_heads": 2, "num_layers": 1},
}  # fmt: skip


def load_init(path: Path) -> dict:
    """A saved Mini-CLIP to continue training, with its file's SHA-256 and its own record's
    training facts when `path` sits beside a ``mini_clip.json`` that lists it."""
    from imgenlib.features import sha256
    from imgenlib.io import load_json
    from imgenlib.models import load_model

    if not path.is_file():
        raise ValueError(f"--init must be a saved Mini-CLIP (.keras). Received: {path}")
    entries = (
        load_json(path.parent / "mini_clip.json")
        if (path.parent / "mini_clip.json").is_file()
        else {}
    )
    entry = next((e for e in entries.values() if e.get("file") == path.name), {})
    facts = (
        "train_pairs",
        "epochs",
        "learning_rate",
        "model",
        "cpu_seconds",
        "total_cpu_seconds",
        "command",
        "init",
    )
    record = {
        "file": path.name,
        "sha256": sha256(path),
        **{k: entry[k] for k in facts if k in entry},
    }
    cpu = entry.get("total_cpu_seconds", entry.get("cpu_seconds", 0.0))
    return {"model": load_model(path, compile=False), "record": record, "cpu_seconds": cpu}


def gallery_recall(model, images, captions, unknown="warn", size=100) -> dict:
    """Mean strict recall@1/5 over consecutive galleries of `size` pairs."""
    return retrieve(model, images, captions, k=(1, 5), unknown=unknown, gallery=size)


def evaluate_shapes(model, settings) -> dict:
    metrics = {}
    for split in ("test", "test_compositional"):
        data = load_shapes_captions(split, n=settings["test"], image_size=settings["image_size"])
        captions = list(data.captions)
        one = data.num_objects == 1
        truth = {"colour": data.colours, "shape": data.shapes, "size": data.sizes,
                 "position": data.positions}  # fmt: skip
        metrics[split] = {
            "retrieval_fits_caption": retrieve(
                model, data.images, captions, k=(1, 5), keys=caption_keys(data)
            ),
            "retrieval_gallery_100": gallery_recall(model, data.images, captions),
            "zero_shot": {
                name: zero_shot_classify(
                    model, data.images[one], shapes_class_prompts(name), labels=values[one, 0]
                ).accuracy
                for name, values in truth.items()
            },
        }
    return metrics


def evaluate_emoji(model, train, settings) -> dict:
    test = load_emoji("test", image_size=settings["image_size"], style="all", n=settings["test"])
    prompts = []
    for label in range(int(max(train.labels.max(), test.labels.max())) + 1):
        names = sorted({c for c, y in zip(train.captions, train.labels, strict=True) if y == label})
        prompts.append(names[:200] or ["face"])
    zero_shot = zero_shot_classify(model, test.images, prompts, labels=test.labels)
    captions = list(test.captions)  # unseen emoji: many words are unknown, by design
    return {
        "test": {
            "retrieval_fits_caption": retrieve(
                model, test.images, captions, k=(1, 5), unknown="ignore"
            ),
            "retrieval_gallery_100": gallery_recall(model, test.images, captions, "ignore"),
            "zero_shot": {"category": zero_shot.accuracy},
        }
    }


def markdown(name, record) -> str:
    rows = []
    for split, values in record["metrics"].items():
        row = [split]
        for group in ("retrieval_fits_caption", "retrieval_gallery_100"):
            row += [f"{values[group][f'text_to_image@{k}']:.3f}" for k in (1, 5)]
        row.append(", ".join(f"{k} {v:.3f}" for k, v in values["zero_shot"].items()))
        rows.append(row)
    header = ["split", "t→i R@1 (whole split, fits)", "t→i R@5 (fits)", "t→i R@1 (gallery 100)",
              "t→i R@5 (gallery 100)", "zero-shot accuracy"]  # fmt: skip
    return (
        f"# Mini-CLIP on {name}\n\n{record['train_pairs']} training pairs, {record['epochs']} "
        f"epochs, {record['cpu_seconds']:.0f} CPU s ({record['wall_seconds']:.0f} s wall)"
        + (
            f", continuing {record['init']['file']} (SHA-256 {record['init']['sha256'][:12]}…, "
            f"its command `{record['init'].get('command', '?')}`); "
            f"{record['total_cpu_seconds']:.0f} CPU s in all"
            if "init" in record
            else ""
        )
        + ".\n\n"
        + markdown_table(header, rows)
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=sorted(SETTINGS), default="shapes_captions")
    parser.add_argument("--epochs", type=int, default=None, help="override the preset")
    parser.add_argument("--train", type=int, default=None, metavar="N",
                        help="training pairs (shapes only; default: the preset)")  # fmt: skip
    parser.add_argument("--learning-rate", type=float, default=None, help="override the preset")
    parser.add_argument(
        "--init", type=Path, default=None, metavar="KERAS",
        help="continue training this saved Mini-CLIP (its architecture and vocabulary) "
        "instead of building a new one; the record adds its CPU time to this run's",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="tiny data and model: a smoke test")
    parser.add_argument("--out", type=Path, default=None,
                        help="write weights and results here (default: imgenlib/weights/ "
                             "and benchmarks/results/)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=None,
                        help="data and shuffling seed (default 0, or the preset's with --init)")  # fmt: skip
    parser.add_argument(
        "--hard-negatives", default=None, metavar="ATTRS",
        help="attributes whose words are swapped for hard negative captions, comma-separated "
        "(shape,colour,size), or 'none' (default: the data's setting)",
    )  # fmt: skip
    args = parser.parse_args()
    settings = {**SETTINGS[args.data]}
    if args.init:
        settings.update(settings.get("continue", {}))
    settings.update(QUICK if args.quick else {})
    if args.seed is None:
        args.seed = settings.get("seed", 0)
    if args.epochs:
        settings["epochs"] = args.epochs
    if args.learning_rate:
        settings["learning_rate"] = args.learning_rate
    if args.train:
        if args.data != "shapes_captions":
            parser.error(f"--train is for shapes_captions only, got --data {args.data}")
        settings["train"] = args.train
    if args.hard_negatives is not None:
        chosen = [] if args.hard_negatives == "none" else args.hard_negatives.split(",")
        settings["model"] = {**settings["model"], "hard_negatives": chosen}
    size = settings["image_size"]
    if args.data == "shapes_captions":
        train = load_shapes_captions("train", n=settings["train"], image_size=size, seed=args.seed)
        keys = caption_keys(train)
    else:
        train = load_emoji("train", image_size=size, style="all", n=settings["train"])
        keys = None
    init = load_init(args.init) if args.init else None
    start = time.perf_counter()
    model, history = train_mini_clip(
        train.images, train.captions, keys=keys, epochs=settings["epochs"],
        batch_size=settings["batch_size"], learning_rate=settings["learning_rate"],
        seed=args.seed, verbose=2, model=init and init["model"],
        **({} if init else settings["model"]),
    )  # fmt: skip
    wall = time.perf_counter() - start
    if args.data == "shapes_captions":
        metrics = evaluate_shapes(model, settings)
    else:
        metrics = evaluate_emoji(model, train, settings)
    command = (
        f"python benchmarks/train_mini_clip.py --data {args.data}"
        + (" --quick" if args.quick else "")
        + (f" --train {args.train}" if args.train else "")
        + (f" --epochs {args.epochs}" if args.epochs else "")
        + (f" --hard-negatives {args.hard_negatives}" if args.hard_negatives is not None else "")
        + (f" --learning-rate {args.learning_rate:g}" if args.learning_rate else "")
        + (f" --seed {args.seed}" if args.seed != settings.get("seed", 0) else "")
        + (f" --init {args.init.name}" if args.init else "")
    )
    record = {
        "data": args.data,
        "image_shape": list(model.image_shape),
        "train_pairs": len(train.images),
        "epochs": settings["epochs"],
        "batch_size": settings["batch_size"],
        "learning_rate": settings["learning_rate"],
        "model": settings["model"],
        "parameters": int(model.count_params()),
        "final_loss": round(float(history["loss"][-1]), 4),
        "cpu_seconds": round(history["cpu_seconds"], 1),
        "wall_seconds": round(wall, 1),
        "metrics": metrics,
        "command": command,
    }
    if init:
        record["model"] = init["record"].pop("model", settings["model"])
        record["init"] = init["record"]
        record["total_cpu_seconds"] = round(record["cpu_seconds"] + init["cpu_seconds"], 1)
    path = pack_mini_clip(model, args.data, record, directory=args.out)
    result = {**record, "weights": str(path), "machine": machine()}
    write_result(f"mini_clip_{args.data}", result, markdown(args.data, record), out_dir=args.out)
    print(markdown(args.data, record))
    print_json_line(result)


if __name__ == "__main__":
    main()
