"""Training throughput (patches/s) of the 9-1-5 net on this machine, per execution choice.

    python benchmarks/train_throughput.py [--seconds 8]

Compares an eager step, a tf.function step (what srcnn/train.py uses), the same with XLA
(jit_compile), other batch sizes, and Keras' mixed_bfloat16 policy, on random 33x33
patches. Numbers are patches per second after a warm-up; the machine should be idle.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from srcnn.model import SRCNN  # noqa: E402


def measure(batch_size, seconds, mode="function", policy="float32"):
    keras.mixed_precision.set_global_policy(policy)
    model = SRCNN("9-1-5")
    optimizer = keras.optimizers.Adam(1e-3)
    rng = np.random.default_rng(0)
    data = rng.random((batch_size, 33, 33, 1), dtype=np.float32)
    label = rng.random((batch_size, 21, 21, 1), dtype=np.float32)

    def step(batch_data, batch_label):
        with tf.GradientTape() as tape:
            output = tf.cast(model(batch_data, training=True), tf.float32)
            loss = tf.reduce_mean(tf.square(output - batch_label))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    if mode != "eager":
        step = tf.function(step, jit_compile=(mode == "xla"))
    for _ in range(5):
        float(step(data, label))
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        step(data, label)
        count += 1
    float(step(data, label))
    elapsed = time.perf_counter() - started
    keras.mixed_precision.set_global_policy("float32")
    return (count + 1) * batch_size / elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    variants = [
        ("eager, batch 128", dict(batch_size=128, mode="eager")),
        ("tf.function, batch 128 (default)", dict(batch_size=128)),
        ("tf.function + XLA, batch 128", dict(batch_size=128, mode="xla")),
        ("tf.function, batch 64", dict(batch_size=64)),
        ("tf.function, batch 256", dict(batch_size=256)),
        ("tf.function, mixed_bfloat16, batch 128", dict(batch_size=128, policy="mixed_bfloat16")),
    ]
    print(f"{'variant':<42}{'patches/s':>12}{'s/epoch (21,884)':>18}")
    for name, options in variants:
        rate = measure(seconds=args.seconds, **options)
        print(f"{name:<42}{rate:>12.0f}{21884 / rate:>18.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
