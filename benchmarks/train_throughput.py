"""Training throughput: imgenlib ``GAN.fit`` versus the TF DCGAN tutorial's bare training step.

    python benchmarks/train_throughput.py            # 5 rounds x 20 steps each, batch 256
    python benchmarks/train_throughput.py --quick    # a smoke run

Both sides train the tutorial's exact networks (https://www.tensorflow.org/tutorials/generative/dcgan:
Dense 7*7*256 → Conv2DTranspose 128/64/1, Conv2D 64/128 → Dense 1; BCE from logits; Adam 1e-4
for both; noise 100; batch 256) on the same Fashion-MNIST images, in one process. One
``fit`` call runs ``rounds + 1`` epochs of `steps` steps; after each imgenlib epoch a callback
runs `steps` bare tutorial steps, so the two alternate and share the machine's noise. Epoch 0
of each (tracing) is warm-up and not counted. Reports images/s of each and
``ratio = imgenlib / bare``; the last stdout line is that JSON object.

Both step the same *algorithm*: imgenlib's ``update="simultaneous"`` computes G's and D's
gradients from one forward pass, as the tutorial does. ``--update alternating`` measures
imgenlib's default (D update, then a fresh G forward against the updated D), which does
one more G and D forward per step by design.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import machine, markdown_table, print_json_line, training_images, write_result

NOISE_DIM = 100


def tutorial_generator(image_shape=(28, 28, 1)):
    """The tutorial's generator; other image shapes keep its layers and scale the 7x7 seed
    to a quarter of the side (64x64x3: a 16x16x256 seed, three output channels)."""
    from keras import Input, Sequential, layers

    side, channels = image_shape[0] // 4, image_shape[-1]
    return Sequential(
        [
            Input((NOISE_DIM,)),
            layers.Dense(side * side * 256, use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Reshape((side, side, 256)),
            layers.Conv2DTranspose(128, (5, 5), strides=(1, 1), padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(64, (5, 5), strides=(2, 2), padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(
                channels, (5, 5), strides=(2, 2), padding="same", use_bias=False, activation="tanh"
            ),
        ],
        name="generator",
    )


def tutorial_discriminator(image_shape=(28, 28, 1)):
    """The tutorial's discriminator for images of `image_shape`."""
    from keras import Input, Sequential, layers

    return Sequential(
        [
            Input(tuple(image_shape)),
            layers.Conv2D(64, (5, 5), strides=(2, 2), padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Conv2D(128, (5, 5), strides=(2, 2), padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Flatten(),
            layers.Dense(1),
        ],
        name="discriminator",
    )


def tutorial_step(batch_size, return_generator=False, image_shape=(28, 28, 1)):
    """The tutorial's training step, verbatim apart from names; returns ``train_step``
    (and the generator it trains when `return_generator`)."""
    import keras
    import tensorflow as tf

    generator = tutorial_generator(image_shape)
    discriminator = tutorial_discriminator(image_shape)
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
    generator_optimizer = keras.optimizers.Adam(1e-4)
    discriminator_optimizer = keras.optimizers.Adam(1e-4)

    def discriminator_loss(real_output, fake_output):
        real_loss = cross_entropy(tf.ones_like(real_output), real_output)
        fake_loss = cross_entropy(tf.zeros_like(fake_output), fake_output)
        return real_loss + fake_loss

    def generator_loss(fake_output):
        return cross_entropy(tf.ones_like(fake_output), fake_output)

    @tf.function
    def train_step(images):
        noise = tf.random.normal([batch_size, NOISE_DIM])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated_images = generator(noise, training=True)
            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated_images, training=True)
            gen_loss = generator_loss(fake_output)
            disc_loss = discriminator_loss(real_output, fake_output)
        gradients_of_generator = gen_tape.gradient(gen_loss, generator.trainable_variables)
        gradients_of_discriminator = disc_tape.gradient(
            disc_loss, discriminator.trainable_variables
        )
        generator_optimizer.apply_gradients(
            zip(gradients_of_generator, generator.trainable_variables, strict=True)
        )
        discriminator_optimizer.apply_gradients(
            zip(gradients_of_discriminator, discriminator.trainable_variables, strict=True)
        )
        return gen_loss, disc_loss

    return (train_step, generator) if return_generator else train_step


def imgenlib_gan(update="simultaneous"):
    import keras

    from imgenlib.models import GAN

    gan = GAN(
        tutorial_generator(),
        tutorial_discriminator(),
        latent_dim=NOISE_DIM,
        loss="non_saturating",
        update=update,
    )
    gan.compile(g_optimizer=keras.optimizers.Adam(1e-4), d_optimizer=keras.optimizers.Adam(1e-4))
    return gan


def run(*, steps=20, rounds=5, batch_size=256, n_images=None, update="simultaneous"):
    """Alternate imgenlib and bare rounds in one ``fit``; returns the result dict."""
    import keras
    import tensorflow as tf

    from imgenlib.data import make_dataset

    keras.utils.set_random_seed(0)
    images, data_name = training_images(n_images)
    bare_step = tutorial_step(batch_size)
    bare_data = iter(
        tf.data.Dataset.from_tensor_slices(images).shuffle(len(images)).batch(batch_size).repeat()
    )
    gan = imgenlib_gan(update)
    dataset = make_dataset(images, batch_size=batch_size, seed=0, repeat=True)
    times = {"imgenlib": [], "bare": []}

    class Alternate(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times["imgenlib"].append(time.perf_counter() - self.start)
            start = time.perf_counter()
            for _ in range(steps):
                losses = bare_step(next(bare_data))
            float(losses[0])
            times["bare"].append(time.perf_counter() - start)

    gan.fit(
        dataset,
        epochs=rounds + 1,
        steps_per_epoch=steps,
        callbacks=[Alternate()],
        verbose=0,
        shuffle=False,
    )
    per_round = {
        side: [round(steps * batch_size / seconds, 1) for seconds in values[1:]]
        for side, values in times.items()
    }
    ratios = [a / b for a, b in zip(per_round["imgenlib"], per_round["bare"], strict=True)]
    result = {
        "benchmark": "train_throughput",
        "data": data_name,
        "batch_size": batch_size,
        "steps_per_round": steps,
        "rounds": rounds,
        "update": update,
        "imgenlib_img_per_s": round(sum(steps * batch_size for _ in times["imgenlib"][1:])
                                    / sum(times["imgenlib"][1:]), 1),
        "bare_img_per_s": round(sum(steps * batch_size for _ in times["bare"][1:])
                                / sum(times["bare"][1:]), 1),
        "per_round_img_per_s": per_round,
        "ratio_median_of_rounds": round(statistics.median(ratios), 3),
    }  # fmt: skip
    result["ratio"] = round(result["imgenlib_img_per_s"] / result["bare_img_per_s"], 3)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="steps per round (default 20)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--update", default="simultaneous", choices=["simultaneous", "alternating"])
    parser.add_argument("--quick", action="store_true", help="2 rounds x 2 steps, 2,048 images")
    parser.add_argument("--out", help="results directory (default benchmarks/results)")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.rounds, n_images = 2, 2, 2048
    else:
        n_images = None
    result = run(
        steps=args.steps,
        rounds=args.rounds,
        batch_size=args.batch_size,
        n_images=n_images,
        update=args.update,
    )
    result["machine"] = machine()
    table = markdown_table(
        ["", "img/s"],
        [
            ["imgenlib GAN.fit", result["imgenlib_img_per_s"]],
            ["bare tutorial step", result["bare_img_per_s"]],
            ["ratio imgenlib / bare", result["ratio"]],
        ],
    )
    name = "train_throughput" + ("" if args.update == "simultaneous" else f"_{args.update}")
    write_result(name, result, table, args.out)
    print(table)
    print_json_line(result)


if __name__ == "__main__":
    main()
