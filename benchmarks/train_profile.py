"""Where a training step's time goes, and the fraction of the CPU's FMA peak it reaches.

    python benchmarks/train_profile.py                  # the chosen execution, batch 16
    python benchmarks/train_profile.py --execution xla  # another one (threads set to match)

Times, on this machine, in one process:
- the whole step as step2_train.py runs it (`update.compile_train_steps`: 25 steps per call) and
  the previous release's per-step path (`update.compile_train_step`, the Keras layers, XLA);
- each convolution of one part of the batch and its gradients, under the execution's compiler,
  each op repeated in one compiled graph on distinct inputs so that only the op is timed;
- the optimizer update (Adam on the six variables), the input pipeline (a batch gathered, flipped
  or rotated and stacked in numpy, as the loop does) and one validation on Set5.
The multiply-adds per patch (forward, the weight gradients, and the input gradients of conv2 and
conv3: conv1's input needs none) against the peak of the cores' FMA units give the fraction of
peak; the peak assumes two FMA units per core at the clock /proc/cpuinfo reports (turbo clocks
make the true peak higher and the fraction lower).
"""

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from srcnn.training import execution as executions  # noqa: E402  (sets no threads by itself)

REPEATS = 20  # an op per compiled call, on distinct inputs


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--execution", choices=executions.EXECUTIONS, default=None,
                        help="default: the default for float32 here (what `auto` picks without a measurement)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=2.0)
    return parser.parse_args(argv)


def timed(function, seconds, per_call=1):
    """Seconds per unit of `function()` (it does `per_call` units), after a warm-up call."""
    function()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        function()
        count += 1
    return (time.perf_counter() - started) / count / per_call


def peak_macs_per_second():
    """Multiply-adds per second of the cores' FMA units: 2 units x lanes (8 AVX2, 16 AVX-512) x clock."""
    flags, megahertz = set(), None
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            if line.startswith("cpu MHz") and megahertz is None:
                megahertz = float(line.split(":", 1)[1])
    lanes = 16 if "avx512f" in flags else 8 if "fma" in flags else 4
    return executions.core_count() * 2 * lanes * megahertz * 1e6, lanes, megahertz


def op_table(execution, part, seconds):
    """[(name, seconds per call, multiply-adds)] of each convolution of one part and its gradients."""
    import numpy as np
    from srcnn.core.startup import tf
    rng = np.random.default_rng(0)
    shapes = dict(x=(part, 33, 33, 1), h1=(part, 25, 25, 64), h2=(part, 25, 25, 32), rows=(part, 25, 21, 5),
                  w1=(9, 9, 1, 64), w2=(1, 1, 64, 32), w3rows=(1, 5, 32, 5))
    tensors = {name: tf.constant(rng.random(shape, dtype=np.float32)) for name, shape in shapes.items()}
    backprop_filter = tf.compat.v1.nn.conv2d_backprop_filter
    ops = {
        "conv1 9x9x64, forward": (lambda t: tf.nn.conv2d(t["x"], t["w1"], 1, "VALID"), 625 * 81 * 64),
        "conv1 weight gradient": (lambda t: backprop_filter(t["x"], (9, 9, 1, 64), t["h1"], (1, 1, 1, 1), "VALID"),
                                  625 * 81 * 64),
        "conv2 1x1x32 (matrix product), forward": (lambda t: tf.tensordot(t["h1"], t["w2"][0, 0], axes=1), 625 * 2048),
        "conv2 weight gradient": (lambda t: tf.tensordot(t["h1"], t["h2"], axes=[[0, 1, 2], [0, 1, 2]]), 625 * 2048),
        "conv2 input gradient": (lambda t: tf.tensordot(t["h2"], t["w2"][0, 0], axes=[[3], [1]]), 625 * 2048),
        "conv3 5x5x1 (row maps), forward": (lambda t: tf.nn.conv2d(t["h2"], t["w3rows"], 1, "VALID"), 441 * 800),
        "conv3 weight gradient": (lambda t: backprop_filter(t["h2"], (1, 5, 32, 5), t["rows"], (1, 1, 1, 1), "VALID"),
                                  441 * 800),
        "conv3 input gradient": (lambda t: tf.nn.conv2d_transpose(t["rows"], t["w3rows"], shapes["h2"], 1, "VALID"),
                                 441 * 800),
    }
    table = []
    for name, (op, macs) in ops.items():
        def repeated(op=op):
            total = tf.constant(0.0)
            for index in range(REPEATS):  # distinct inputs: no repeat is folded into another
                scaled = {key: value * (1.0 + index * 1e-3) for key, value in tensors.items()}
                total += tf.reduce_sum(op(scaled)[..., :1])
            return total
        baseline = tf.function(lambda: sum(tf.reduce_sum(value * (1.0 + index * 1e-3))
                                           for index in range(REPEATS) for value in tensors.values()),
                               jit_compile=execution.xla)
        function = tf.function(repeated, jit_compile=execution.xla)
        seconds_each = timed(function, seconds, REPEATS) - timed(baseline, seconds / 4, REPEATS)
        table.append((name, max(seconds_each, 0.0), macs * part))
    return table


def main(argv=None):
    args = parse_args(argv)
    execution = executions.Execution(args.execution or executions.default_execution("float32"))
    executions.apply_threads(execution)
    import numpy as np
    from srcnn.core.startup import tf
    from srcnn.training.config import TrainSettings
    from srcnn.training.patches import random_dihedral
    from srcnn.training.summaries import validation_restorer
    from srcnn.training import hdf5
    from srcnn.training.update import build_run, compile_train_step, compile_train_steps

    batch = args.batch_size
    parts = execution.part_sizes(batch)
    peak, lanes, megahertz = peak_macs_per_second()
    step_macs = (625 * 81 * 64 * 2 + 625 * 2048 * 3 + 441 * 800 * 3) * batch
    print(f"execution {execution.name}: batch {batch} as parts {parts}, {executions.core_count()} cores, "
          f"FMA peak {peak / 1e9:.0f} GMAC/s ({lanes} lanes x 2 units x {megahertz:.0f} MHz per core)")

    settings = TrainSettings(precision="float32", batch_size=batch)
    strategy = tf.distribute.get_strategy()
    rng = np.random.default_rng(0)
    data = rng.random((4096, 33, 33, 1), dtype=np.float32)
    label = rng.random((4096, 21, 21, 1), dtype=np.float32)
    chunk_data = rng.random((executions.CHUNK_STEPS, batch, 33, 33, 1), dtype=np.float32)
    chunk_label = rng.random((executions.CHUNK_STEPS, batch, 21, 21, 1), dtype=np.float32)
    run = build_run(settings, strategy, total_steps=10**6)
    steps = compile_train_steps(run, execution, batch)
    step_seconds = timed(lambda: steps(chunk_data, chunk_label).numpy(), args.seconds, executions.CHUNK_STEPS)
    old_run = build_run(settings, strategy, total_steps=10**6)
    old_step = compile_train_step(old_run, strategy, jit_compile=True)
    old_seconds = timed(lambda: float(old_step(chunk_data[0], chunk_label[0])), args.seconds)

    def input_pipeline():
        index = np.sort(rng.choice(len(data), batch, replace=False))
        return random_dihedral(np.random.default_rng([0, 0, 1]), data[index], label[index])
    input_seconds = timed(lambda: np.stack([input_pipeline()[0] for _ in range(10)]), args.seconds / 2, 10)

    variables = run.model.trainable_variables
    gradients = [tf.zeros_like(variable) for variable in variables]
    apply = tf.function(lambda: run.optimizer.apply_gradients(zip(gradients, variables)))
    optimizer_seconds = timed(apply, args.seconds / 2)

    test_images, _ = hdf5.read_test_h5(os.path.join(ROOT, "h5", "test.h5"), {"scale": 3}) \
        if os.path.exists(os.path.join(ROOT, "h5", "test.h5")) else ([], None)
    validation_seconds = timed(validation_restorer(run.model, test_images), args.seconds / 2) if test_images else None

    print(f"\n{'part of the step':<44}{'ms':>8}{'GMAC/s':>9}{'% of peak':>11}")
    total_ops = 0.0
    for name, seconds, macs in op_table(execution, parts[0], args.seconds / 2):
        total_ops += seconds * len(parts)
        rate = macs / seconds if seconds else float("nan")
        print(f"{name + f' (part of {parts[0]})':<44}{seconds * 1e3:>8.3f}{rate / 1e9:>9.1f}"
              f"{100 * rate / (peak / (len(parts) if execution.per_core else 1)):>10.0f}%")
    print(f"{'the convolutions, all parts':<44}{total_ops * 1e3:>8.3f}")
    print(f"{'Adam update of the 6 variables':<44}{optimizer_seconds * 1e3:>8.3f}")
    print(f"{'input pipeline (numpy gather, flip, stack)':<44}{input_seconds * 1e3:>8.3f}")
    print(f"{'the whole step, as step2_train.py runs it':<44}{step_seconds * 1e3:>8.3f}"
          f"{step_macs / step_seconds / 1e9:>9.1f}{100 * step_macs / step_seconds / peak:>10.0f}%")
    print(f"{'the previous release: a call per step':<44}{old_seconds * 1e3:>8.3f}"
          f"{step_macs / old_seconds / 1e9:>9.1f}{100 * step_macs / old_seconds / peak:>10.0f}%")
    if validation_seconds is not None:
        print(f"{'validation on h5/test.h5 (once per epoch)':<44}{validation_seconds * 1e3:>8.1f}")
    print(f"\n{batch / step_seconds:,.0f} patches/s now, {batch / old_seconds:,.0f} with a call per step; "
          f"{step_macs / batch / 1e6:.1f} M multiply-adds per patch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
