"""Where a training step's time goes, and the fraction of the CPU's FMA peak it reaches.

    python benchmarks/train_profile.py                  # the chosen execution, batch 16
    python benchmarks/train_profile.py --execution xla  # another one (threads set to match)

Times, on this machine, in one process:
- the whole step as step2_train.py runs it (`update.compile_train_steps`: 25 steps per call) and
  the previous release's per-step path (`update.compile_train_step`, the Keras layers, XLA);
- each layer of one part of the batch, forward, and its gradients (forward and backward less the
  forward), under the execution's compiler, as `srcnn.core.model.training_output` computes it;
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


def layer_functions(layer, features, sources):
    """(the layer's forward, summed; its gradients with respect to `sources`, each summed)."""
    from srcnn.core.startup import tf

    def forward():
        return tf.reduce_sum(layer(features))

    def backward():
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(tf.square(layer(features)))
        return [tf.reduce_sum(gradient) for gradient in tape.gradient(total, sources)]

    return forward, backward


def layer_table(execution, model, part, seconds):
    """[(name, seconds per call, multiply-adds)]: each layer of one part, forward alone and forward with
    its gradients (weights, and input where a layer below needs it), as the step computes it: under XLA
    as matrix products (`srcnn.training.products`), else as convolutions (`training_output`)."""
    import numpy as np
    from srcnn.core.model import row_maps_kernel, sum_row_maps
    from srcnn.core.startup import tf
    from srcnn.training.products import patches_product, tap_maps_output
    rng = np.random.default_rng(0)

    def conv1(features, products=execution.xla):
        kernel = model.conv1.kernel
        maps = patches_product(features, kernel) if products else tf.nn.conv2d(features, kernel, 1, "VALID")
        return tf.nn.relu(tf.nn.bias_add(maps, model.conv1.bias))

    def conv2(features):  # a 1 x 1 layer is a matrix product
        return tf.nn.relu(tf.tensordot(features, model.conv2.kernel[0, 0], axes=1) + model.conv2.bias)

    def conv3(features):
        if execution.xla:
            return tap_maps_output(features, model.conv3.kernel) + model.conv3.bias[0]
        return sum_row_maps(tf.nn.conv2d(features, row_maps_kernel(model.conv3.kernel), 1, "VALID"),
                            model.conv3.bias[0])

    last_form = "tap maps" if execution.xla else "row maps"
    first_form = "patches product" if execution.xla and not execution.first_layer_apart else "convolution"
    layers = [(f"conv1 9x9, 64 maps ({first_form})", conv1, (part, 33, 33, 1), model.conv1, False, 625 * 81 * 64),
              ("conv2 1x1, 32 maps", conv2, (part, 25, 25, 64), model.conv2, True, 625 * 64 * 32),
              (f"conv3 5x5, 1 map ({last_form})", conv3, (part, 25, 25, 32), model.conv3, True, 25 * 21 * 5 * 32 * 5)]
    table = []
    for name, layer, shape, weights, input_gradient, macs in layers:
        # A variable input: a compiler folds a layer of constants away before it runs.
        features = tf.Variable(rng.random(shape, dtype=np.float32))
        sources = [weights.kernel, weights.bias] + ([features] if input_gradient else [])

        forward, backward = layer_functions(layer, features, sources)
        forward_seconds = timed(tf.function(forward, jit_compile=execution.xla), seconds)
        both_seconds = timed(tf.function(backward, jit_compile=execution.xla), seconds)
        shown = forward_seconds
        if weights is model.conv1 and execution.first_layer_apart:  # its forward runs on TensorFlow's kernel
            on_tensorflow = layer_functions(lambda images: conv1(images, products=False), features, sources)[0]
            shown = timed(tf.function(on_tensorflow, jit_compile=False), seconds)
        table.append((f"{name}: forward", shown, macs * part))
        table.append((f"{name}: gradients", both_seconds - forward_seconds, macs * part * (2 if input_gradient else 1)))
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
    validation_seconds = timed(validation_restorer(run.model, test_images, 3), args.seconds / 2) if test_images else None

    print(f"\n{'part of the step':<60}{'ms':>8}{'GMAC/s':>9}{'% of peak':>11}")
    layers_seconds = 0.0
    core_peak = peak / executions.core_count() if execution.per_core else peak
    for name, seconds, macs in layer_table(execution, run.model, parts[0], args.seconds / 2):
        layers_seconds += seconds
        rate = macs / seconds if seconds > 0 else float("nan")
        print(f"{name + f' ({parts[0]})':<60}{seconds * 1e3:>8.3f}{rate / 1e9:>9.1f}{100 * rate / core_peak:>10.0f}%")
    print(f"{'the three layers, one part':<60}{layers_seconds * 1e3:>8.3f}")
    print(f"{'Adam update of the 6 variables':<60}{optimizer_seconds * 1e3:>8.3f}")
    print(f"{'input pipeline (numpy gather, flip, stack)':<60}{input_seconds * 1e3:>8.3f}")
    print(f"{'the whole step, as step2_train.py runs it':<60}{step_seconds * 1e3:>8.3f}"
          f"{step_macs / step_seconds / 1e9:>9.1f}{100 * step_macs / step_seconds / peak:>10.0f}%")
    print(f"{'the previous release: a call per step':<60}{old_seconds * 1e3:>8.3f}"
          f"{step_macs / old_seconds / 1e9:>9.1f}{100 * step_macs / old_seconds / peak:>10.0f}%")
    if validation_seconds is not None:
        print(f"{'validation on h5/test.h5 (once per epoch)':<60}{validation_seconds * 1e3:>8.1f}")
    print(f"\n{batch / step_seconds:,.0f} patches/s now, {batch / old_seconds:,.0f} with a call per step; "
          f"{step_macs / batch / 1e6:.1f} M multiply-adds per patch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
