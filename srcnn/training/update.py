"""One training update: the model, the optimizer and the compiled train step."""

import functools
from dataclasses import dataclass
from srcnn.core.startup import tf  # first: keras imports TensorFlow, whose start-up messages this filters
import keras  # noqa: E402
from srcnn.core import checkpoints
from srcnn.core.model import SRCNN, first_layer_maps, parse_arch, training_output
from srcnn.training.config import resolved_initialization, resolved_learning_rate, training_precision
from srcnn.training.products import output_by_products, output_from_maps


def make_optimizer(settings, total_steps):
    """The optimizer and a gradient multiplier per trainable variable (a kernel and a bias per layer).

    "sgd" is the paper's: momentum 0.9, Gaussian init, learning rate 1e-4 for the hidden layers
    and ten times smaller for the last (a 0.1 gradient multiplier, exact for SGD).
    "adam" uses He init and a cosine decay of the learning rate to 1 % over the run.
    """
    hidden_variables = 2 * (len(parse_arch(settings.arch).sizes) - 1)
    if settings.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(resolved_learning_rate(settings), momentum=0.9)
        return optimizer, (1.0,) * hidden_variables + (0.1, 0.1)
    schedule = keras.optimizers.schedules.CosineDecay(resolved_learning_rate(settings), max(total_steps, 1), alpha=0.01)
    return keras.optimizers.Adam(schedule), (1.0,) * (hidden_variables + 2)


def describe_compute(settings, strategy, execution=None):
    """How the steps compute, for the start line: e.g. "float32 (auto: no native bfloat16 here), XLA, ..."."""
    precision = training_precision(settings.precision)
    if settings.precision == "auto":
        precision += f" (auto: {'no ' if precision == 'float32' else ''}native bfloat16 here)"
    return precision + (f", {execution.describe(settings.batch_size)}" if execution else "")


def float32_model(model):
    """`model`, or a float32 copy of it if it computes in another precision (validation is float32)."""
    if model.dtype_policy.compute_dtype == "float32":
        return model
    twin = SRCNN(model.arch, channels=model.channels)
    twin.set_weights(model.get_weights())
    return twin


@dataclass(eq=False)
class TrainingRun:
    """What one training updates, and the checkpoint bundle that saves it (see `build_run`)."""

    model: SRCNN
    optimizer: keras.optimizers.Optimizer
    multipliers: tuple  # one gradient multiplier per trainable variable (see `make_optimizer`)
    step: tf.Variable  # int64: optimizer steps taken
    first_bad_step: tf.Variable  # int64: the first step whose loss was not finite, -1 while none
    epoch_losses: tf.Variable  # float64 (sum, count) of the losses read this epoch, for its history row
    bundle: tf.train.Checkpoint  # model, optimizer, step, epoch_losses and `checkpoints.Config`


def build_run(settings, strategy, total_steps):
    """The model, optimizer and step counter of a training, seeded, and their checkpoint bundle.

    Args:
        settings: a TrainSettings (seed, arch, optimizer, precision, scale).
        strategy: the `tf.distribute.Strategy` whose scope holds the model and optimizer.
        total_steps: the length of the whole run, for the learning-rate schedule.
    """
    keras.utils.set_random_seed(settings.seed)
    with strategy.scope():
        model = SRCNN(settings.arch, initialization=resolved_initialization(settings), padding="valid",
                      channels=settings.channels, dtype=training_precision(settings.precision))
        optimizer, multipliers = make_optimizer(settings, total_steps)
        optimizer.build(model.trainable_variables)  # slots must exist before a restore fills them
    # Host-side counters, outside the strategy: only the loop (not the replicas) updates them.
    step = tf.Variable(0, dtype=tf.int64, trainable=False)
    first_bad_step = tf.Variable(-1, dtype=tf.int64, trainable=False)
    epoch_losses = tf.Variable([0.0, 0.0], dtype=tf.float64, trainable=False)
    bundle = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step, epoch_losses=epoch_losses,
                                 config=checkpoints.Config(settings.scale, settings.arch, settings.channels))
    return TrainingRun(model, optimizer, multipliers, step, first_bad_step, epoch_losses, bundle)


def _replica_step(run, replicas, batch_data, batch_label):
    """One replica's share of `train_step`: its loss, and the update from its gradients."""
    variables = run.model.trainable_variables
    with tf.GradientTape() as tape:
        # This replica's mean; the replicas' gradients are summed, so each counts 1/replicas.
        output = tf.cast(run.model(batch_data, training=True), tf.float32)
        loss = tf.reduce_mean(tf.square(output - batch_label)) / replicas
    gradients = tape.gradient(loss, variables)
    run.optimizer.apply_gradients([(gradient * multiplier, variable) for gradient, multiplier, variable
                                   in zip(gradients, run.multipliers, variables)])
    return loss


def train_step(run, strategy, batch_data, batch_label):
    """One optimizer update of `run` on a global batch; returns the batch's mean squared error.

    Args:
        run: a TrainingRun.
        strategy: the strategy `run` was built under.
        batch_data, batch_label: (B, S, S, 1) and (B, L, L, 1), as `split_batch` gives them.
    """
    replica_losses = strategy.run(functools.partial(_replica_step, run, strategy.num_replicas_in_sync),
                                  (batch_data, batch_label))
    loss = strategy.reduce(tf.distribute.ReduceOp.SUM, replica_losses, axis=None)
    run.step.assign_add(1)
    # Remember the first bad step without a device-to-host copy every step.
    run.first_bad_step.assign(tf.where((run.first_bad_step < 0) & ~tf.math.is_finite(loss), run.step,
                                       run.first_bad_step))
    return loss


def compile_train_step(run, strategy, jit_compile=None):
    """`train_step` bound to a run as a `tf.function`: call it with (batch_data, batch_label)."""
    return tf.function(functools.partial(train_step, run, strategy), jit_compile=jit_compile)


def _part_gradients(run, forward, data, label):
    """One part of a batch: the sum of its squared errors, and that sum's gradients."""
    with tf.GradientTape() as tape:
        squared = tf.reduce_sum(tf.square(forward(run.model, data) - label))
    return squared, tape.gradient(squared, run.model.trainable_variables)


def _rest_gradients(run, maps, label):
    """The sum of a part's squared errors from conv1's maps, its gradients for every variable but
    conv1's kernel (in `trainable_variables` order, which starts with that kernel: `SRCNN`), and
    its gradient for the maps."""
    variables = run.model.trainable_variables[1:]
    with tf.GradientTape() as tape:
        tape.watch(maps)
        squared = tf.reduce_sum(tf.square(output_from_maps(run.model, maps) - label))
    *gradients, map_gradient = tape.gradient(squared, variables + [maps])
    return squared, gradients, map_gradient


def _first_kernel_gradient(run, data, map_gradient):
    kernel = run.model.conv1.kernel
    gradient = tf.compat.v1.nn.conv2d_backprop_filter(tf.cast(data, map_gradient.dtype), tf.shape(kernel),
                                                      map_gradient, (1, 1, 1, 1), "VALID")
    return tf.cast(gradient, kernel.dtype)


def part_gradients_function(run, execution):
    """(data, label) -> (sum of squared errors, gradients of it for `trainable_variables`), for one part.

    One function under XLA (the network as matrix products: `srcnn.training.products`) or on
    TensorFlow's kernels (as convolutions); or with `execution.first_layer_apart`, conv1's forward
    on TensorFlow's kernel and the rest (conv1's kernel gradient apart) under XLA.
    """
    if not execution.first_layer_apart:
        forward = output_by_products if execution.xla else training_output
        return tf.function(functools.partial(_part_gradients, run, forward), jit_compile=execution.xla)
    rest = tf.function(functools.partial(_rest_gradients, run), jit_compile=True)
    first_kernel = tf.function(functools.partial(_first_kernel_gradient, run), jit_compile=True)

    def part(data, label):
        squared, gradients, map_gradient = rest(first_layer_maps(run.model, data), label)
        return squared, [first_kernel(data, map_gradient)] + list(gradients)

    return part


def compile_train_steps(run, execution, batch_size):
    """Optimizer steps of `run` on one device, a chunk per call, as `execution` says.

    Returns a `tf.function` that takes (K, B, S, S, 1) data and (K, B, L, L, 1) labels, the
    K batches of K steps, and returns their K mean squared errors. Each step splits its batch
    into `execution.part_sizes`, whose gradients are computed side by side (under XLA where
    `execution.xla`) and summed: the update of the whole batch. K steps per call leave the
    per-step Python and dispatch out of the step's time.
    """
    part = part_gradients_function(run, execution)
    sizes = execution.part_sizes(batch_size)

    def apply_gradients(gradients):
        run.optimizer.apply_gradients([(gradient * multiplier, variable) for gradient, multiplier, variable
                                       in zip(gradients, run.multipliers, run.model.trainable_variables)])

    apply = tf.function(apply_gradients, jit_compile=execution.xla)  # a few percent faster under XLA

    def step(batch_data, batch_label):
        results = [part(data, label) for data, label in zip(tf.split(batch_data, sizes), tf.split(batch_label, sizes))]
        count = tf.cast(tf.size(batch_label), tf.float32)
        loss = tf.add_n([squared for squared, _ in results]) / count
        gradients = [tf.add_n(list(parts)) / count for parts in zip(*(grads for _, grads in results))]
        apply(gradients)
        run.step.assign_add(1)
        run.first_bad_step.assign(tf.where((run.first_bad_step < 0) & ~tf.math.is_finite(loss), run.step,
                                           run.first_bad_step))
        return loss

    def steps(data, label):
        losses = tf.TensorArray(tf.float32, size=tf.shape(data)[0])
        for index in tf.range(tf.shape(data)[0]):
            losses = losses.write(index, step(data[index], label[index]))
        return losses.stack()

    planes = run.model.planes
    return tf.function(steps, input_signature=[tf.TensorSpec((None, batch_size, None, None, planes), tf.float32),
                                               tf.TensorSpec((None, batch_size, None, None, planes), tf.float32)])

