"""The real-data floor of imgenlib's metrics: real images scored as if they were samples.

    python benchmarks/metric_floor.py                      # fashion_mnist, n=10000
    python benchmarks/metric_floor.py --data shapes --n 2000

Scores, with the shipped feature extractor and exactly the code of ``python -m imgenlib
eval`` (`imgenlib.evaluation.evaluate_images`, so the numbers compare with a model's):

- ``train_vs_test``: the first n training images against the first n test images. This
  is the best a generator can hope for: a perfect model's samples are new draws from the
  data distribution, as the test images are. FID is not 0 at finite n (it is biased
  upwards); that residual is the floor the README's results table quotes for scale.
- ``noise_vs_test``: uniform noise in [-1, 1] against the same test images: the ceiling
  of "nothing learnt".

Prints one JSON object.
"""

import argparse
import json
import time

import imgenlib

imgenlib.quiet_tensorflow()

import numpy as np  # noqa: E402

from imgenlib.data import dataset_info, load_images  # noqa: E402
from imgenlib.evaluation import evaluate_images  # noqa: E402
from imgenlib.features import CLASSIFIERS  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion_mnist", choices=CLASSIFIERS)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if "test" not in dataset_info(args.data).splits:
        parser.error(f"{args.data} has no test split to compare the training images with")
    start = time.perf_counter()
    train, _ = load_images(args.data, "train", n=args.n)
    noise = np.random.default_rng(args.seed).uniform(-1, 1, train.shape).astype(np.float32)
    report = {
        "command": f"python benchmarks/metric_floor.py --data {args.data} --n {args.n} --seed {args.seed}",
        "train_vs_test": evaluate_images(train, args.data, seed=args.seed, split="test"),
        "noise_vs_test": evaluate_images(noise, args.data, seed=args.seed, split="test"),
    }
    report["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
