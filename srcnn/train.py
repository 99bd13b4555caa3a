"""Training: MSE between the VALID network's output and the label patches.

The loop keeps one checkpoint bundle (see `srcnn.checkpoints`) with the optimizer state
and the step, saved every `save_every` steps and at the end by a `CheckpointManager`; a
rerun restores the latest and continues. A second manager keeps the best checkpoint by
validation PSNR. TensorBoard summaries go to `log_dir`/train (loss), /eval (PSNR,
reconstructed images) and /bicubic (the bicubic PSNR under the same tag, so the two
curves overlay); `log_dir`/history.csv has one row per epoch for scripts.
"""

import csv
import math
import os
import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from srcnn import checkpoints
from srcnn.errors import UserError
from srcnn.evaluate import evaluate_images
from srcnn.model import SRCNN, valid_margin

OPTIMIZERS = ("adam", "sgd")
HISTORY_FIELDS = ("epoch", "step", "seconds", "loss", "psnr", "bicubic_psnr")


@dataclass
class TrainSettings:
    """What `train` needs besides the data; the defaults are the project's recipe."""

    scale: int = 3
    arch: str = "9-1-5"
    optimizer: str = "adam"
    learning_rate: float = None  # None: 1e-3 for adam, 1e-4 for sgd (the paper's)
    epochs: int = 300
    batch_size: int = 128
    seed: int = 0
    checkpoint_dir: str = "checkpoint/x3"
    log_dir: str = "logs/x3"
    save_every: int = 500
    log_every: int = 10
    image_every: int = 10
    augment: bool = True  # a random flip/rotation of each batch
    fresh: bool = False


def default_learning_rate(optimizer):
    return 1e-3 if optimizer == "adam" else 1e-4


def make_optimizer(settings, total_steps):
    """The optimizer and a per-variable gradient multiplier list.

    "sgd" is the paper's: momentum 0.9, Gaussian init, learning rate 1e-4 for conv1/conv2
    and ten times smaller for conv3 (a 0.1 gradient multiplier, exact for SGD).
    "adam" uses He init and a cosine decay of the learning rate to 1 % over the run.
    """
    learning_rate = settings.learning_rate or default_learning_rate(settings.optimizer)
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


def _check_finite(loss, step, manager):
    if not math.isfinite(loss):
        last = manager.latest_checkpoint or "none saved yet"
        raise UserError(f"training stopped: the loss became {loss} at step {step}; the last good checkpoint "
                        f"is {last}. Lower --learning-rate and rerun (it resumes from there)")


def _prepare_directory(path, what):
    if checkpoints.is_pretrained_location(path):
        raise UserError(f"{path}: holds the shipped weights, which training never overwrites; "
                        "pass another --checkpoint-dir")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise UserError(f"{path}: cannot create the {what} folder ({error.strerror})") from None
    if not os.access(path, os.W_OK):
        raise UserError(f"{path}: the {what} folder is not writable; pass another one")


def train(settings, data, label, test_images, say=print):
    """Trains (or resumes training) and returns the history rows.

    Args:
        settings: a TrainSettings.
        data, label: float32 (N, S, S, 1) patches and (N, S - 2m, S - 2m, 1) labels.
        test_images: `srcnn.data.TestImage`s for validation each epoch.
        say: where progress lines go.

    Returns:
        list of dicts with HISTORY_FIELDS, one per epoch trained in this call.
    """
    if settings.optimizer not in OPTIMIZERS:
        raise UserError(f"--optimizer {settings.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
    margin = valid_margin(settings.arch)
    if data.shape[1] - 2 * margin != label.shape[1]:
        raise UserError(f"patches {data.shape[1]}x{data.shape[1]} with labels {label.shape[1]}x{label.shape[1]} "
                        f"do not fit a {settings.arch} network, which crops {margin} px per side")
    if len(data) == 0:
        raise UserError("no training patches: the images are smaller than the patch size")
    _prepare_directory(settings.checkpoint_dir, "checkpoint")
    _prepare_directory(settings.log_dir, "log")

    batch_size = min(settings.batch_size, len(data))
    steps_per_epoch = len(data) // batch_size
    total_steps = steps_per_epoch * settings.epochs

    keras.utils.set_random_seed(settings.seed)
    initialization = "gaussian" if settings.optimizer == "sgd" else "he"
    model = SRCNN(settings.arch, initialization=initialization, padding="valid")
    optimizer, multipliers = make_optimizer(settings, total_steps)
    optimizer.build(model.trainable_variables)  # slots must exist before a restore fills them
    step = tf.Variable(0, dtype=tf.int64, trainable=False)
    bundle = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step,
                                 config=checkpoints.Config(settings.scale, settings.arch))
    manager = tf.train.CheckpointManager(bundle, settings.checkpoint_dir, max_to_keep=5, checkpoint_name="ckpt")
    best_manager = tf.train.CheckpointManager(bundle, os.path.join(settings.checkpoint_dir, "best"),
                                              max_to_keep=1, checkpoint_name="best")
    history_path = os.path.join(settings.log_dir, "history.csv")
    if settings.fresh:
        for stale in (manager, best_manager):
            _remove_checkpoints(stale)
        if os.path.exists(history_path):
            os.remove(history_path)
        manager = tf.train.CheckpointManager(bundle, settings.checkpoint_dir, max_to_keep=5, checkpoint_name="ckpt")
        best_manager = tf.train.CheckpointManager(bundle, os.path.join(settings.checkpoint_dir, "best"),
                                                  max_to_keep=1, checkpoint_name="best")
    if manager.latest_checkpoint:
        checkpoints.check_config(manager.latest_checkpoint, settings.scale, settings.arch)
        bundle.restore(manager.latest_checkpoint).assert_consumed()
        say(f"Continuing from step {int(step)} ({manager.latest_checkpoint})")
    else:
        say(f"Starting a new {settings.arch} x{settings.scale} training: {len(data)} patches, "
            f"{steps_per_epoch} steps per epoch, {settings.epochs} epochs")

    variables = model.trainable_variables

    @tf.function
    def train_step(batch_data, batch_label):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(batch_data, training=True) - batch_label))
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients([(gradient * multiplier, variable) for gradient, multiplier, variable
                                   in zip(gradients, multipliers, variables)])
        step.assign_add(1)
        return loss

    writers = {name: tf.summary.create_file_writer(os.path.join(settings.log_dir, name))
               for name in ("train", "eval", "bicubic")}
    best_psnr = max((row["psnr"] for row in _read_history(history_path)), default=-math.inf)
    history = []
    started = time.perf_counter()
    first_epoch = int(step) // steps_per_epoch
    try:
        for epoch in range(first_epoch, settings.epochs):
            rng = np.random.default_rng([settings.seed, epoch])
            order = rng.permutation(len(data))
            skip = int(step) - epoch * steps_per_epoch
            losses = []
            bar = tqdm(range(skip, steps_per_epoch), desc=f"epoch {epoch + 1}/{settings.epochs}",
                       leave=False, disable=None)
            for index in bar:
                batch = np.sort(order[index * batch_size:(index + 1) * batch_size])
                batch_data, batch_label = data[batch], label[batch]
                if settings.augment:
                    batch_data, batch_label = random_dihedral(rng, batch_data, batch_label)
                loss = train_step(batch_data, batch_label)
                current = int(step)
                if current % settings.log_every == 0:
                    loss = float(loss)
                    _check_finite(loss, current, manager)
                    losses.append(loss)
                    tqdm.write(f"Epoch: [{epoch + 1:2d}] step: [{current}] time: "
                               f"[{time.perf_counter() - started:.4f}] loss: [{loss:.8f}]")
                    with writers["train"].as_default(step=current):
                        tf.summary.scalar("loss", loss)
                        tf.summary.scalar("learning_rate", float(optimizer.learning_rate))
                if current % settings.save_every == 0:
                    _check_finite(float(loss), current, manager)
                    manager.save(checkpoint_number=current)
            final_loss = float(loss)
            _check_finite(final_loss, int(step), manager)
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
            _append_history(history_path, row)
            say(f"epoch {epoch + 1}: loss {row['loss']:.6f}, validation PSNR {psnr:.2f} dB "
                f"(bicubic {bicubic_psnr:.2f} dB), {row['seconds']:.0f} s")
            if psnr > best_psnr:
                best_psnr = psnr
                best_manager.save(checkpoint_number=current)
    except KeyboardInterrupt:
        saved = manager.save(checkpoint_number=int(step))
        say(f"Interrupted: saved {saved}; rerun to continue")
        raise
    finally:
        for writer in writers.values():
            writer.flush()
    if int(step) and manager.latest_checkpoint != os.path.join(settings.checkpoint_dir, f"ckpt-{int(step)}"):
        manager.save(checkpoint_number=int(step))
    return history


def _remove_checkpoints(manager):
    """Deletes a manager's checkpoints and its state file (for --fresh)."""
    for prefix in manager.checkpoints:
        for name in tf.io.gfile.glob(prefix + ".*"):
            tf.io.gfile.remove(name)
    state = os.path.join(manager.directory, "checkpoint")
    if os.path.exists(state):
        os.remove(state)


def _read_history(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as handle:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]


def _append_history(path, row):
    new = not os.path.exists(path)
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=HISTORY_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)
