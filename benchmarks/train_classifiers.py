"""Train the feature-extractor classifiers shipped in imgenlib/weights/ (used by FID/KID/IS).

    python benchmarks/train_classifiers.py                 # every dataset
    python benchmarks/train_classifiers.py fashion_mnist   # one
    python benchmarks/train_classifiers.py mnist           # needs a local copy of MNIST
    python benchmarks/train_classifiers.py emoji_style     # Twemoji vs Noto (style_accuracy)

Writes <name>_classifier.weights.h5 and records test accuracy, training time, the command
and the file's SHA-256 in imgenlib/weights/classifiers.json.
"""

import argparse

import imgenlib

imgenlib.quiet_tensorflow()

from imgenlib.features import CLASSIFIERS, STYLE_CLASSIFIER, TRAINABLE, train_classifier  # noqa: E402

SHIPPED = (*CLASSIFIERS, STYLE_CLASSIFIER)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"any of {', '.join(TRAINABLE)} (default: {', '.join(SHIPPED)})",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="default: fashion_mnist 8, mnist 5, digits 40, shapes 10, emoji 30, emoji_style 5",
    )
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(TRAINABLE))
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; expected any of {', '.join(TRAINABLE)}")
    for name in args.names or SHIPPED:
        epochs = (
            args.epochs
            or {
                "fashion_mnist": 8,
                "mnist": 5,
                "digits": 40,
                "shapes": 10,
                "emoji": 30,
                "emoji_style": 5,
            }[name]  # fmt: skip
        )
        record = train_classifier(name, epochs=epochs)
        print(
            f"{name}: test accuracy {record['test_accuracy']:.4f} in {record['train_seconds']} s ({epochs} epochs)"
        )


if __name__ == "__main__":
    main()
