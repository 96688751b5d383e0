"""Does a caption-word classifier read held-out colour–shape pairs? Plain vs factorised (issue 16).

    python benchmarks/word_classifier_shortcut.py                 # 3,000 steps per arm (~4 CPU min)
    python benchmarks/word_classifier_shortcut.py --quick --out /tmp/x   # a smoke run (seconds)

A `imgenlib.models.TextDiffusion` with ``word_loss`` trains a small CNN on real scenes to
name their captions' words (`imgenlib.models.diffusion_words.build_word_classifier`) and
asks the denoiser's x̂_0 to satisfy it. The training split never pairs a red with a
triangle, a green with a cross, a blue with a circle or a yellow with a square, so a
classifier that sees colour *and* shape can learn "yellow → not a square", and then pushes
every yellow square the denoiser starts towards a circle. This script trains both kinds on
the same 10,000 ``shapes_captions`` training scenes (32×32, half with two objects; Adam
1e-3, batch 64, Keras seed 0, the shipped TextDiffusion's vocabulary) and reads, every 500
steps, the first object's shape and colour (argmax over the shape words, and over the colour
words, of one-object scenes) on 1,000 real ``test`` (seen pairs) and ``test_compositional``
(held-out pairs) scenes:

- ``plain``: one CNN reads every word (``build_word_classifier(shape, V)``);
- ``factorised``: colour words from a colour branch that sees which colours are present, not
  where; every other word from a CNN on the colour-blind `Silhouette`
  (``build_word_classifier(shape, V, colour_ids=...)``, ``DiffusionConfig.colour_words``).

Writes ``results/word_classifier_shortcut.{json,md}`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import sys
import time

from _common import machine, markdown_table, print_json_line, write_result

ARMS = ("plain", "factorised")
SPLITS = ("test", "test_compositional")


def read_back(model, scenes, shape_ids, colour_ids) -> dict:
    """Shape and colour accuracy of `model`'s argmax over those words, one-object scenes."""
    import numpy as np

    one = scenes.num_objects == 1
    logits = model.predict(scenes.images[one], verbose=0, batch_size=256)
    shape = logits[:, shape_ids].argmax(1) == scenes.shapes[one, 0]
    colour = logits[:, colour_ids].argmax(1) == scenes.colours[one, 0]
    return {"shape": round(float(np.mean(shape)), 3), "colour": round(float(np.mean(colour)), 3)}


def train_arm(arm, data, ids, tests, steps, every, words) -> list[dict]:
    """Train one classifier for `steps`; its read-back on both splits every `every` steps."""
    import keras
    import numpy as np
    import tensorflow as tf

    from imgenlib.losses import caption_word_loss
    from imgenlib.models.diffusion_words import build_word_classifier

    keras.utils.set_random_seed(0)
    size = words["size"]
    colours = words["colour"] if arm == "factorised" else ()
    model = build_word_classifier(data.images.shape[1:], size, colour_ids=colours)
    optimizer = keras.optimizers.Adam(1e-3)

    @tf.function
    def step(images, token_ids):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(caption_word_loss(model(images, training=True), token_ids))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    rng, rows, start = np.random.default_rng(0), [], time.perf_counter()
    for i in range(1, steps + 1):
        batch = rng.integers(0, len(data.images), 64)
        loss = step(data.images[batch], ids[batch])
        if i % every == 0 or i == steps:
            row = {"step": i, "loss": round(float(loss), 4)}
            row |= {s: read_back(model, tests[s], words["shape"], words["colour"]) for s in SPLITS}
            row["seconds"] = round(time.perf_counter() - start, 1)
            rows.append(row)
            print(arm, row, file=sys.stderr, flush=True)
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="tiny data and 20 steps: a smoke run")
    parser.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    args = parser.parse_args(argv)

    from imgenlib.data import load_shapes_captions
    from imgenlib.models.hard_negatives import group_token_ids
    from imgenlib.text import build_text_encoder

    n_train, n_test = (256, 64) if args.quick else (10_000, 1_000)
    steps, every = (20, 10) if args.quick else (args.steps, args.every)
    data = load_shapes_captions("train", n=n_train, image_size=32)
    tests = {
        split: load_shapes_captions(split, n=n_test, image_size=32, seed=1) for split in SPLITS
    }
    tokenizer = build_text_encoder(data.captions, embed_dim=8).tokenizer
    shape_ids, colour_ids = group_token_ids(tokenizer.vocabulary, ("shape", "colour"))
    words = {"size": tokenizer.vocabulary_size, "shape": shape_ids, "colour": colour_ids}
    ids = tokenizer(list(data.captions)).numpy()
    arms = {arm: train_arm(arm, data, ids, tests, steps, every, words) for arm in ARMS}
    command = "python benchmarks/word_classifier_shortcut.py" + (" --quick" if args.quick else "")
    result = {"command": command, "steps": steps, "train_scenes": n_train, "test_scenes": n_test,
              "arms": arms, "machine": machine()}  # fmt: skip
    rows = [
        [
            arm,
            r["step"],
            *(f"{r[s]['shape']:.3f} / {r[s]['colour']:.3f}" for s in SPLITS),
            r["seconds"],
        ]  # fmt: skip
        for arm, history in arms.items()
        for r in history
    ]
    header = ["arm", "step", "seen: shape / colour", "held out: shape / colour", "CPU s"]
    markdown = f"# Word classifier: seen vs held-out pairs\n\n`{command}`\n\n"
    write_result("word_classifier_shortcut", result, markdown + markdown_table(header, rows), args.out)  # fmt: skip
    print_json_line(result)
    return result


if __name__ == "__main__":
    main()
