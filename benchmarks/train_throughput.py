"""Training throughput (patches/s) of the 9-1-5 net on this machine, per execution choice.

    python benchmarks/train_throughput.py [--seconds 8]

Times srcnn/training/update.py's own `train_step` (Adam with its cosine schedule, the default recipe)
run eagerly, as the tf.function training uses (`compile_train_step`), the same with XLA
(jit_compile), at other batch sizes, and with the mixed_bfloat16 precision, on random
33x33 patches. Numbers are patches per second after a warm-up; the machine should be idle.
"""

import argparse
import functools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from srcnn.training.config import TrainSettings  # noqa: E402
from srcnn.training.update import build_run, compile_train_step, train_step


def measure(batch_size, seconds, mode="function", precision="float32"):
    """Patches/s of srcnn.training.update's own step (`train_step`) with the default recipe's optimizer."""
    strategy = tf.distribute.get_strategy()
    run = build_run(TrainSettings(batch_size=batch_size, precision=precision), strategy, total_steps=10**6)
    if mode == "eager":
        step = functools.partial(train_step, run, strategy)
    else:
        step = compile_train_step(run, strategy, jit_compile=(mode == "xla"))
    rng = np.random.default_rng(0)
    data = rng.random((batch_size, 33, 33, 1), dtype=np.float32)
    label = rng.random((batch_size, 21, 21, 1), dtype=np.float32)
    for _ in range(5):
        float(step(data, label))
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        step(data, label)
        count += 1
    float(step(data, label))
    elapsed = time.perf_counter() - started
    return (count + 1) * batch_size / elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    variants = [
        ("eager, batch 128", dict(batch_size=128, mode="eager")),
        ("tf.function, batch 128 (the old default)", dict(batch_size=128)),
        ("tf.function, batch 32", dict(batch_size=32)),
        ("tf.function + XLA, batch 128", dict(batch_size=128, mode="xla")),
        ("tf.function + XLA, batch 64", dict(batch_size=64, mode="xla")),
        ("tf.function + XLA, batch 32", dict(batch_size=32, mode="xla")),
        ("tf.function + XLA, batch 16 (the float32 default)", dict(batch_size=16, mode="xla")),
        ("tf.function, batch 16", dict(batch_size=16)),
        ("tf.function, mixed_bfloat16, batch 32", dict(batch_size=32, precision="mixed_bfloat16")),
        ("tf.function, mixed_bfloat16, batch 128", dict(batch_size=128, precision="mixed_bfloat16")),
    ]
    print(f"{'variant':<48}{'patches/s':>12}{'s/epoch (21,884)':>18}")
    for name, options in variants:
        rate = measure(seconds=args.seconds, **options)
        print(f"{name:<48}{rate:>12.0f}{21884 / rate:>18.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
