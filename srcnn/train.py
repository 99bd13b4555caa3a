"""Training: MSE between the VALID network's output and the label patches.

The loop keeps one checkpoint bundle (see `srcnn.checkpoints`) with the optimizer state
and the step, saved every `save_every` steps, on Ctrl-C / SIGTERM and at the end by a
`CheckpointManager`; a rerun restores the newest complete one and continues, so a
killed run loses at most `save_every` steps. A second manager keeps the best checkpoint
by validation PSNR. TensorBoard summaries go to `log_dir`/train (loss), /eval (PSNR,
reconstructed images) and /bicubic (the bicubic PSNR under the same tag, so the two
curves overlay); `log_dir`/history.csv has one row per epoch for scripts, cut back to
the restored step on resume so replayed epochs are not counted twice.

Batches come from `srcnn.data.PatchArrays` (in memory) or `PatchStream` (from disk).
Under a `tf.distribute` strategy each global batch is split evenly across the replicas
and their gradients summed, which gives the single-device update. With several workers
(`MultiWorkerMirroredStrategy`) every worker draws the same global batches and feeds its
own replicas their share; all restore from the (shared) checkpoint folder, and only the
chief writes checkpoints, summaries and history.csv.
"""

import csv
import io
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from srcnn import checkpoints
from srcnn.data import PatchArrays
from srcnn.errors import UserError
from srcnn.files import atomic_path, why_not_a_folder
from srcnn.evaluate import evaluate_images
from srcnn.model import SRCNN, bfloat16_is_native, valid_margin

OPTIMIZERS = ("adam", "sgd")
PRECISIONS = ("auto", "float32", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi-worker")
HISTORY_FIELDS = ("epoch", "step", "seconds", "loss", "psnr", "bicubic_psnr")


@dataclass
class TrainSettings:
    """What `train` needs besides the data; the defaults are the project's recipe."""

    scale: int = 3
    arch: str = "9-1-5"
    optimizer: str = "adam"
    learning_rate: float = None  # None: 1e-3 for adam, 1e-4 for sgd (the paper's)
    epochs: int = 250
    batch_size: int = 128
    seed: int = 0
    checkpoint_dir: str = "checkpoint/x3"
    log_dir: str = "logs/x3"
    save_every: int = 500
    log_every: int = 10
    image_every: int = 10
    augment: bool = True  # a random flip/rotation of each batch
    precision: str = "auto"  # "mixed_bfloat16" (bfloat16 compute, float32 weights) where native, else "float32"
    fresh: bool = False

    def __post_init__(self):
        """Raises UserError for values no training can use (the scripts check their flags earlier)."""
        for name in ("epochs", "batch_size", "save_every", "log_every", "image_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise UserError(f"{name} {getattr(self, name)!r}: must be a positive integer")
        if self.learning_rate is not None and not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise UserError(f"learning rate {self.learning_rate}: must be a finite number above 0")


def training_precision(precision):
    """The Keras dtype policy for a `TrainSettings.precision`; "auto" is bfloat16 compute where native."""
    if precision == "auto":
        return "mixed_bfloat16" if bfloat16_is_native() else "float32"
    return precision


def default_learning_rate(optimizer):
    return 1e-3 if optimizer == "adam" else 1e-4


def make_optimizer(settings, total_steps):
    """The optimizer and a per-variable gradient multiplier list.

    "sgd" is the paper's: momentum 0.9, Gaussian init, learning rate 1e-4 for conv1/conv2
    and ten times smaller for conv3 (a 0.1 gradient multiplier, exact for SGD).
    "adam" uses He init and a cosine decay of the learning rate to 1 % over the run.
    """
    learning_rate = (default_learning_rate(settings.optimizer) if settings.learning_rate is None
                     else settings.learning_rate)
    if settings.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9), (1.0, 1.0, 1.0, 1.0, 0.1, 0.1)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, max(total_steps, 1), alpha=0.01)
    return keras.optimizers.Adam(schedule), (1.0,) * 6


def random_dihedral(rng, *batches):
    """The same random one of the 8 flips/rotations applied to (B, H, W, C) batches."""
    transform = rng.integers(8)
    turned = []
    for batch in batches:
        batch = np.rot90(batch, transform % 4, axes=(1, 2))
        if transform >= 4:
            batch = batch[:, :, ::-1]
        turned.append(np.ascontiguousarray(batch))
    return turned


def make_strategy(name, replicas=None):
    """A `tf.distribute` strategy; call it before anything else touches TensorFlow's devices.

    Args:
        name: "default" (one device), "mirrored" (`MirroredStrategy` over the local GPUs,
            or over logical CPU devices where there is no GPU) or "multi-worker"
            (`MultiWorkerMirroredStrategy` over the machines TF_CONFIG names, each with
            all its GPUs, or its CPU).
        replicas: with "mirrored", how many GPUs to use (default all), or logical CPU
            devices to make (default 2).

    Raises:
        UserError: an unknown name, more replicas than GPUs, devices already set up, or a
            missing or malformed TF_CONFIG.
    """
    if name not in STRATEGIES:
        raise UserError(f"--strategy {name!r} is not one of {', '.join(STRATEGIES)}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multi-worker":
        if "TF_CONFIG" not in os.environ:
            raise UserError("--strategy multi-worker needs TF_CONFIG in the environment (the cluster's workers "
                            "and this one's task); see the README")
        try:
            config = json.loads(os.environ["TF_CONFIG"])
            if not isinstance(config.get("cluster"), dict) or not isinstance(config.get("task"), dict):
                raise ValueError("no 'cluster' or 'task' object")
        except (ValueError, AttributeError) as error:
            raise UserError(f"TF_CONFIG is not a cluster description ({error}); see the README") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    if replicas is not None and replicas < 1:
        raise UserError(f"--replicas {replicas}: needs at least 1")
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        count = replicas or len(gpus)
        if count > len(gpus):
            raise UserError(f"--replicas {count}: only {len(gpus)} GPUs here; pass at most {len(gpus)}")
        return tf.distribute.MirroredStrategy([f"/gpu:{index}" for index in range(count)])
    count = replicas or 2
    try:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        # TensorFlow fixes its devices on first use; a second call in one process ends here.
        if len(tf.config.list_logical_devices("CPU")) < count:
            raise UserError(f"--replicas {count}: TensorFlow has already set up its CPU devices in this "
                            "process; start a new one") from None
    return tf.distribute.MirroredStrategy([f"/cpu:{index}" for index in range(count)])


def _prepare_directory(path, what):
    if checkpoints.is_pretrained_location(path):
        raise UserError(f"{path}: holds the shipped weights, which training never overwrites; "
                        f"pass another --{what}-dir")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise UserError(f"{path}: cannot create the {what} folder ({why_not_a_folder(path, error)}); "
                        "pass another one") from None
    try:
        # A real write, not os.access: that says yes to root and to read-only mounts.
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise UserError(f"{path}: the {what} folder is not writable ({error.strerror}); pass another one") from None


def train(settings, data, label, test_images, say=print, strategy=None):
    """Trains (or resumes training) on patches held in memory; see `train_on`.

    Args:
        data, label: float32 (N, S, S, 1) patches and (N, S - 2m, S - 2m, 1) labels.
    """
    return train_on(settings, PatchArrays(data, label), test_images, say, strategy)


def train_on(settings, patches, test_images, say=print, strategy=None):
    """Trains (or resumes training) and returns the history rows.

    Args:
        settings: a TrainSettings.
        patches: a `srcnn.data.PatchArrays` or `PatchStream`.
        test_images: `srcnn.data.TestImage`s for validation each epoch.
        say: where progress lines go.
        strategy: a `tf.distribute.Strategy` (see `make_strategy`); default one device.

    Returns:
        list of dicts with HISTORY_FIELDS, one per epoch trained in this call.

    Raises:
        UserError: mismatched data or checkpoint, unwritable folders, or a non-finite loss
            (the checkpoints then stay as they were before it).
    """
    if settings.optimizer not in OPTIMIZERS:
        raise UserError(f"--optimizer {settings.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
    if settings.precision not in PRECISIONS:
        raise UserError(f"--precision {settings.precision!r} is not one of {', '.join(PRECISIONS)}")
    margin = valid_margin(settings.arch)
    if patches.image_size - 2 * margin != patches.label_size:
        raise UserError(f"patches {patches.image_size}x{patches.image_size} with labels "
                        f"{patches.label_size}x{patches.label_size} do not fit a {settings.arch} network, "
                        f"which crops {margin} px per side")
    if patches.count == 0:
        raise UserError("no training patches: the images are smaller than the patch size")
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    if settings.batch_size % replicas:
        raise UserError(f"--batch-size {settings.batch_size} does not split evenly over {replicas} replicas; "
                        f"pass a multiple of {replicas}")
    batch_size = min(settings.batch_size, patches.count - patches.count % replicas)  # fewer patches than a batch
    if batch_size == 0:
        raise UserError(f"{patches.count} training patches cannot be split over {replicas} replicas; "
                        "make more patches with step1_pre.py")
    # Only false on the other workers of a multi-worker run: they read, the chief writes.
    chief = strategy.extended.should_checkpoint
    if chief:
        _prepare_directory(settings.checkpoint_dir, "checkpoint")
        _prepare_directory(settings.log_dir, "log")

    steps_per_epoch = patches.count // batch_size
    total_steps = steps_per_epoch * settings.epochs

    keras.utils.set_random_seed(settings.seed)
    initialization = "gaussian" if settings.optimizer == "sgd" else "he"
    with strategy.scope():
        model = SRCNN(settings.arch, initialization=initialization, padding="valid",
                      dtype=training_precision(settings.precision))
        optimizer, multipliers = make_optimizer(settings, total_steps)
        optimizer.build(model.trainable_variables)  # slots must exist before a restore fills them
    # Host-side counters, outside the strategy: only the loop (not the replicas) updates them.
    step = tf.Variable(0, dtype=tf.int64, trainable=False)
    first_bad_step = tf.Variable(-1, dtype=tf.int64, trainable=False)
    bundle = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step,
                                 config=checkpoints.Config(settings.scale, settings.arch))
    best_dir = os.path.join(settings.checkpoint_dir, "best")
    history_path = os.path.join(settings.log_dir, "history.csv")
    if chief:
        for directory, name in ((settings.checkpoint_dir, "ckpt"), (best_dir, "best")):
            if settings.fresh:
                _remove_checkpoints(directory, name)
            _remove_unfinished_saves(directory, name)
        if settings.fresh and os.path.exists(history_path):
            os.remove(history_path)
    manager = tf.train.CheckpointManager(bundle, settings.checkpoint_dir, max_to_keep=5, checkpoint_name="ckpt")
    best_manager = tf.train.CheckpointManager(bundle, best_dir, max_to_keep=1, checkpoint_name="best")

    restored = None if settings.fresh else _restore(bundle, settings, say)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        _check_workers_agree(strategy, int(step), settings.checkpoint_dir)
    if restored:
        say(f"Continuing from step {int(step)} ({restored})")
    else:
        say(f"Starting a new {settings.arch} x{settings.scale} training: {patches.count} patches, "
            f"{steps_per_epoch} steps per epoch, {settings.epochs} epochs")
    best_psnr = _trim_history(history_path, int(step), best_dir) if chief else math.inf

    variables = model.trainable_variables

    def replica_step(batch_data, batch_label):
        with tf.GradientTape() as tape:
            # This replica's mean; the replicas' gradients are summed, so each counts 1/replicas.
            output = tf.cast(model(batch_data, training=True), tf.float32)
            loss = tf.reduce_mean(tf.square(output - batch_label)) / replicas
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients([(gradient * multiplier, variable) for gradient, multiplier, variable
                                   in zip(gradients, multipliers, variables)])
        return loss

    @tf.function
    def train_step(batch_data, batch_label):
        loss = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(replica_step, (batch_data, batch_label)),
                               axis=None)
        step.assign_add(1)
        # Remember the first bad step without a device-to-host copy every step.
        first_bad_step.assign(tf.where((first_bad_step < 0) & ~tf.math.is_finite(loss), step, first_bad_step))
        return loss

    def distribute(batch):
        if replicas == 1:
            return batch
        parts = np.split(batch, replicas)  # (B, ...) -> replicas x (B / replicas, ...)
        return strategy.experimental_distribute_values_from_function(
            lambda context: parts[context.replica_id_in_sync_group])

    last_good = restored

    def check_health():
        """Raises UserError, before anything is saved, once the loss or weights are not finite."""
        bad = int(first_bad_step.numpy())
        if bad < 0 and all(np.isfinite(variable.numpy()).all() for variable in variables):
            return
        where = f"at step {bad}" if bad >= 0 else f"by step {int(step)} (non-finite weights)"
        raise UserError(f"training stopped: the loss became non-finite {where}; the last good checkpoint is "
                        f"{last_good or 'none (nothing was saved)'}. Lower --learning-rate and rerun "
                        "(it resumes from there)")

    def save(which):
        nonlocal last_good
        current = int(step)
        if which is manager and last_good and checkpoints.checkpoint_number(last_good) == current:
            return last_good  # rewriting a recorded checkpoint in place is the one unsafe save
        check_health()
        if not chief:
            return None  # saving reads local copies only (no collectives), so the chief saves alone
        try:
            saved = which.save(checkpoint_number=current)
        except (tf.errors.OpError, OSError) as error:
            message = getattr(error, "message", None) or str(error)
            raise UserError(f"{which.directory}: cannot write a checkpoint ({message.splitlines()[0]}); "
                            f"free space or pass another --checkpoint-dir (the last good one is {last_good})") from None
        if which is manager:
            last_good = saved
        return saved

    writers = {name: tf.summary.create_file_writer(os.path.join(settings.log_dir, name)) if chief
               else tf.summary.create_noop_writer() for name in ("train", "eval", "bicubic")}
    history = []
    started = time.perf_counter()
    first_epoch = int(step) // steps_per_epoch
    try:
        for epoch in range(first_epoch, settings.epochs):
            rng = np.random.default_rng([settings.seed, epoch])
            skip = int(step) - epoch * steps_per_epoch
            batches = patches.batches(batch_size, rng, skip)
            losses = []
            bar = tqdm(batches, total=steps_per_epoch - skip, desc=f"epoch {epoch + 1}/{settings.epochs}",
                       leave=False, disable=None)
            for batch_data, batch_label in bar:
                if settings.augment:
                    batch_data, batch_label = random_dihedral(rng, batch_data, batch_label)
                loss = train_step(distribute(batch_data), distribute(batch_label))
                current = int(step)
                if current % settings.log_every == 0:
                    check_health()
                    loss = float(loss)
                    losses.append(loss)
                    tqdm.write(f"Epoch: [{epoch + 1:2d}] step: [{current}] time: "
                               f"[{time.perf_counter() - started:.4f}] loss: [{loss:.8f}]")
                    with writers["train"].as_default(step=current):
                        tf.summary.scalar("loss", loss)
                        tf.summary.scalar("learning_rate", float(optimizer.learning_rate))
                if current % settings.save_every == 0:
                    save(manager)
            check_health()
            final_loss = float(loss)
            results = evaluate_images(model, test_images, settings.scale, padding="replicate")
            psnr = float(np.mean([row.psnr for row in results])) if results else math.nan
            bicubic_psnr = float(np.mean([row.bicubic_psnr for row in results])) if results else math.nan
            current = int(step)
            with writers["eval"].as_default(step=current):
                tf.summary.scalar("psnr", psnr)
                if epoch % settings.image_every == 0 or epoch + 1 == settings.epochs:
                    for row in results[:3]:
                        tf.summary.image(f"srcnn/{row.name}", row.sr[None], max_outputs=1)
            with writers["bicubic"].as_default(step=current):
                tf.summary.scalar("psnr", bicubic_psnr)
            row = {"epoch": epoch + 1, "step": current, "seconds": round(time.perf_counter() - started, 2),
                   "loss": float(np.mean(losses)) if losses else final_loss, "psnr": psnr,
                   "bicubic_psnr": bicubic_psnr}
            history.append(row)
            if chief:
                _append_history(history_path, row)
            say(f"epoch {epoch + 1}: loss {row['loss']:.6f}, validation PSNR {psnr:.2f} dB "
                f"(bicubic {bicubic_psnr:.2f} dB), {row['seconds']:.0f} s")
            if psnr > best_psnr:
                best_psnr = psnr
                save(best_manager)
    except KeyboardInterrupt:
        saved = save(manager)
        say(f"Interrupted: saved {saved}; rerun to continue" if chief else "Interrupted; the chief saves")
        raise
    finally:
        for writer in writers.values():
            writer.flush()
    if int(step):
        save(manager)
    return history


def _check_workers_agree(strategy, step, checkpoint_dir):
    """Raises UserError unless every worker restored the same step (all read checkpoint_dir)."""
    # Sums of 1, step and step^2 over the replicas: n * sum(step^2) == sum(step)^2 only if all are equal.
    count, total, squares = strategy.reduce(tf.distribute.ReduceOp.SUM, tf.constant([1.0, step, step**2], tf.float64),
                                            axis=None).numpy()
    if count * squares != total**2:
        raise UserError(f"{checkpoint_dir}: the workers restored different steps (this one {step}, mean "
                        f"{total / count:g}); put the checkpoint folder on storage every worker reads")


def _remove_checkpoints(directory, name):
    """Deletes every `name-*` checkpoint file and the state file in `directory` (for --fresh)."""
    for path in tf.io.gfile.glob(os.path.join(directory, f"{name}-*")):
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    state = os.path.join(directory, "checkpoint")
    if os.path.exists(state):
        os.remove(state)


def _remove_unfinished_saves(directory, name):
    """Deletes the `name-N_temp` folders a save killed while writing its shards leaves behind."""
    for path in tf.io.gfile.glob(os.path.join(directory, f"{name}-*_temp")):
        shutil.rmtree(path, ignore_errors=True)


def _restore(bundle, settings, say):
    """Restores the newest complete checkpoint in settings.checkpoint_dir; returns its prefix or None."""
    restored, skipped = checkpoints.newest_complete(settings.checkpoint_dir)
    for prefix, reason in skipped:
        say(f"Skipping {prefix}: incomplete or damaged ({reason})")
    if restored:
        checkpoints.check_config(restored, settings.scale, settings.arch, settings.optimizer)
        status = None
        try:
            status = bundle.restore(restored)
            status.assert_consumed()
        except (AssertionError, *checkpoints.READ_ERRORS) as error:
            if status:
                status.expect_partial()  # the error says it; no warnings about unrestored values at exit
            raise UserError(f"{restored}: does not restore into this training ({str(error).splitlines()[0]}); "
                            "pass --fresh to start over or another --checkpoint-dir") from None
    return restored


def _trim_history(path, step, best_dir):
    """Cuts history.csv back to the rows up to `step` and returns the best validation PSNR.

    A killed run may have logged epochs after its last checkpoint; they are trained again,
    so their rows go. The best PSNR is that of the checkpoint in best/, whose row may be
    one of those (the checkpoint stays until beaten).
    """
    rows, clean = _read_history(path)
    kept = [row for row in rows if row["step"] <= step]
    if kept != rows or not clean:
        _write_history(path, kept)
    best, _ = checkpoints.newest_complete(best_dir)
    for row in reversed(rows if best else []):
        if row["step"] == checkpoints.checkpoint_number(best):
            return row["psnr"]
    return max((row["psnr"] for row in kept), default=-math.inf)


def _read_history(path):
    """(rows, clean): the whole rows of history.csv, and False when the file also holds a
    damaged or cut-off one (a kill mid-write) that a rewrite should drop."""
    if not os.path.exists(path):
        return [], True
    with open(path, newline="") as handle:
        lines = handle.read().splitlines(keepends=True)
    clean = not lines or lines[-1].endswith("\n")
    rows = []
    for row in csv.DictReader(line for line in lines if line.endswith("\n")):
        try:
            rows.append({field: float(row[field]) for field in HISTORY_FIELDS})
        except (KeyError, TypeError, ValueError):
            clean = False
    return rows, clean


def _format_history(rows):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({field: int(row[field]) if field in ("epoch", "step") else row[field]
                         for field in HISTORY_FIELDS})
    return buffer.getvalue()


def _write_history(path, rows):
    """Rewrites history.csv atomically (temporary file, then rename)."""
    try:
        with atomic_path(path) as temporary, open(temporary, "w", newline="") as handle:
            handle.write(_format_history(rows))
    except OSError as error:
        raise UserError(f"{path}: cannot write ({error.strerror}); pass another --log-dir") from None


def _append_history(path, row):
    """Appends one row in a single write, so a kill leaves the row whole or absent."""
    text = _format_history([row])
    if os.path.exists(path):
        text = text.split("\n", 1)[1]  # the header is there already
    try:
        with open(path, "a", newline="") as handle:
            handle.write(text)
    except OSError as error:
        raise UserError(f"{path}: cannot write ({error.strerror}); pass another --log-dir") from None
