"""Train the shapes_captions attribute classifier shipped in imgenlib/weights/ (colour, shape,
size, position of one-object scenes; used by imgenlib.text_evaluation.evaluate_text).

    python benchmarks/train_attribute_classifier.py               # 12,000 scenes, 8 epochs
    python benchmarks/train_attribute_classifier.py --epochs 3    # a quick check

Writes shapes_captions_attributes.weights.h5 and records per-attribute test accuracy (both
test splits, at 32 and 16 px), training time, the command and the file's SHA-256 in
imgenlib/weights/classifiers.json.
"""

import argparse
import json

import imgenlib

imgenlib.quiet_tensorflow()

from imgenlib.attribute_classifier import train_attribute_classifier  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12000, help="training scenes (default 12000)")
    parser.add_argument("--epochs", type=int, default=8, help="default 8")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", help="also save the weights here after every epoch")
    args = parser.parse_args()
    record = train_attribute_classifier(
        n=args.n, epochs=args.epochs, seed=args.seed, checkpoint=args.checkpoint
    )
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
