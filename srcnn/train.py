"""Training: MSE between the VALID network's output and the label patches.

The loop keeps one checkpoint bundle (see `srcnn.checkpoints`) with the optimizer state
and the step, saved every `save_every` steps, on Ctrl-C / SIGTERM and at the end by a
`CheckpointManager`, with the training `recipe` in recipe.json beside it; a rerun restores
the newest complete one and continues, so a killed run loses at most `save_every` steps.
A second manager keeps the best checkpoint by validation PSNR. TensorBoard summaries go
to `log_dir`/train (loss), /eval (PSNR, reconstructed images) and /bicubic (the bicubic
PSNR under the same tag, so the two curves overlay); `log_dir`/history.csv has one row
per epoch for scripts, cut back to the restored step on resume so replayed epochs are
not counted twice.

Batches come from `srcnn.data.PatchArrays` (in memory) or `PatchStream` (from disk).
Under a `tf.distribute` strategy each global batch is split evenly across the replicas
and their gradients summed, which gives the single-device update. With several workers
(`MultiWorkerMirroredStrategy`) every worker draws the same global batches and feeds its
own replicas their share; all restore from the (shared) checkpoint folder, and only the
chief writes checkpoints, summaries and history.csv.
"""

import contextlib
import dataclasses
import functools
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass

from srcnn.startup import tf  # first: keras imports TensorFlow, whose start-up messages this filters

import keras  # noqa: E402
import numpy as np
from tqdm import tqdm

from srcnn import checkpoints, history, run_folders
from srcnn.data import PatchArrays, random_dihedral
from srcnn.errors import UserError, printable, tf_reason
from srcnn.evaluate import evaluate_images
from srcnn.flags import SEED_LIMIT
from srcnn.model import INITIALIZATIONS, SRCNN, bfloat16_is_native, valid_margin

OPTIMIZERS = ("adam", "sgd")
TRAINING_PRECISIONS = ("auto", "float32", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi-worker")
MAX_CPU_REPLICAS = 64  # logical CPU devices `make_strategy` makes where there is no GPU


@dataclass
class TrainSettings:
    """What `train` needs besides the data; the defaults are the project's recipe."""

    scale: int = 3
    arch: str = "9-1-5"
    optimizer: str = "adam"
    learning_rate: float = None  # None: 1e-3 for adam, 1e-4 for sgd (the paper's)
    initialization: str = None  # None: "identity" for adam, "gaussian" for sgd (the paper's); see SRCNN
    epochs: int = 36
    batch_size: int = 16
    seed: int = 0
    checkpoint_dir: str = "checkpoint/x3"
    log_dir: str = "logs/x3"
    save_every: int = 500
    log_every: int = 10  # steps between loss summaries (and step lines with print_steps)
    print_steps: bool = False  # a line per log_every steps, besides the progress bar
    image_every: int = 10
    augment: bool = True  # a random flip/rotation of each batch
    precision: str = "auto"  # "mixed_bfloat16" (bfloat16 compute, float32 weights) where native, else "float32"
    fresh: bool = False

    def __post_init__(self):
        """Raises UserError for values no training can use (the scripts check their flags earlier)."""
        for name in ("epochs", "batch_size", "save_every", "log_every", "image_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise UserError(f"{name} {getattr(self, name)!r}: must be a positive integer")
        if not isinstance(self.seed, int) or not 0 <= self.seed < SEED_LIMIT:
            raise UserError(f"seed {self.seed!r}: must be an integer from 0 to {SEED_LIMIT - 1}")
        if self.learning_rate is not None and not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise UserError(f"learning rate {self.learning_rate}: must be a finite number above 0")
        if self.initialization is not None and self.initialization not in INITIALIZATIONS:
            raise UserError(f"initialization {self.initialization!r} is not one of {', '.join(INITIALIZATIONS)}")


def training_precision(precision):
    """The Keras dtype policy for a `TrainSettings.precision`; "auto" is bfloat16 compute where native."""
    if precision == "auto":
        return "mixed_bfloat16" if bfloat16_is_native() else "float32"
    return precision


def resolved_learning_rate(settings):
    """The learning rate a training uses: the given one, or 1e-3 for adam, 1e-4 for sgd (the paper's)."""
    if settings.learning_rate is not None:
        return settings.learning_rate
    return 1e-3 if settings.optimizer == "adam" else 1e-4


def resolved_initialization(settings):
    """The initialisation a training uses: the given one, or "identity" for adam, "gaussian" for sgd."""
    if settings.initialization is not None:
        return settings.initialization
    return "identity" if settings.optimizer == "adam" else "gaussian"


def recipe(settings):
    """What of `settings` decides the weights, resolved (no "auto", no None): saved as recipe.json
    beside the checkpoints (see `srcnn.checkpoints`)."""
    return {"scale": settings.scale, "arch": settings.arch, "optimizer": settings.optimizer,
            "learning_rate": resolved_learning_rate(settings), "initialization": resolved_initialization(settings),
            "epochs": settings.epochs, "batch_size": settings.batch_size, "seed": settings.seed,
            "augment": settings.augment, "precision": training_precision(settings.precision)}


def make_optimizer(settings, total_steps):
    """The optimizer and a per-variable gradient multiplier list.

    "sgd" is the paper's: momentum 0.9, Gaussian init, learning rate 1e-4 for conv1/conv2
    and ten times smaller for conv3 (a 0.1 gradient multiplier, exact for SGD).
    "adam" uses He init and a cosine decay of the learning rate to 1 % over the run.
    """
    if settings.optimizer == "sgd":
        return keras.optimizers.SGD(resolved_learning_rate(settings), momentum=0.9), (1.0, 1.0, 1.0, 1.0, 0.1, 0.1)
    schedule = keras.optimizers.schedules.CosineDecay(resolved_learning_rate(settings), max(total_steps, 1), alpha=0.01)
    return keras.optimizers.Adam(schedule), (1.0,) * 6


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
            check_tf_config(json.loads(os.environ["TF_CONFIG"]))
            return tf.distribute.MultiWorkerMirroredStrategy()
        except (TypeError, ValueError) as error:  # json's, ours, and TensorFlow's own checks
            raise UserError(f"TF_CONFIG is not a cluster description ({printable(error)}); see the README") from None
    if replicas is not None and replicas < 1:
        raise UserError(f"--replicas {replicas}: needs at least 1")
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        count = replicas or len(gpus)
        if count > len(gpus):
            raise UserError(f"--replicas {count}: only {len(gpus)} GPUs here; pass at most {len(gpus)}")
        return tf.distribute.MirroredStrategy([f"/gpu:{index}" for index in range(count)])
    count = replicas or 2
    if count > MAX_CPU_REPLICAS:
        raise UserError(f"--replicas {count}: no GPU here, and more than {MAX_CPU_REPLICAS} logical CPU devices "
                        "only slow training down (setting them up alone takes minutes); pass fewer")
    try:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        # TensorFlow fixes its devices on first use; a second call in one process ends here.
        if len(tf.config.list_logical_devices("CPU")) < count:
            raise UserError(f"--replicas {count}: TensorFlow has already set up its CPU devices in this "
                            "process; start a new one") from None
    return tf.distribute.MirroredStrategy([f"/cpu:{index}" for index in range(count)])


def check_tf_config(config):
    """Raises ValueError unless `config` (TF_CONFIG, parsed) is {"cluster": {job: ["host:port", ...]},
    "task": {"type": job, "index": i}} with this task among the cluster's."""
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict) \
            or not isinstance(config.get("task"), dict):
        raise ValueError("no 'cluster' or 'task' object")
    for job, addresses in config["cluster"].items():
        if not isinstance(addresses, list) or not addresses or not all(isinstance(address, str) and ":" in address
                                                                        for address in addresses):
            raise ValueError(f"cluster job {job!r} is not a list of 'host:port' addresses")
    task_type, index = config["task"].get("type"), config["task"].get("index")
    if task_type not in config["cluster"]:
        raise ValueError(f"task type {task_type!r} is not a job of the cluster")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(config["cluster"][task_type]):
        raise ValueError(f"task index {index!r} is not one of the {len(config['cluster'][task_type])} "
                         f"{task_type} addresses")


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
        list of dicts with `history.FIELDS`, one per epoch trained in this call.

    Raises:
        UserError: mismatched data or checkpoint, unwritable folders, or a non-finite loss
            (the checkpoints then stay as they were before it).
    """
    return _Training(settings, patches, test_images, say, strategy or tf.distribute.get_strategy()).run()


class _Training:
    """One call of `train_on`, by phase: set up (here), then `run`: each epoch's steps
    (`train_epoch`) and its validation (`end_epoch`), a save on interrupt and at the end."""

    def __init__(self, settings, patches, test_images, say, strategy):
        # Check the inputs, build the run, restore its newest checkpoint.
        batch_size = _check_inputs(settings, patches, strategy)
        if batch_size != settings.batch_size:
            say(f"--batch-size {settings.batch_size}: only {patches.count} patches, so batches of {batch_size}")
            settings = dataclasses.replace(settings, batch_size=batch_size)  # what recipe.json records
        self.settings, self.patches, self.test_images, self.strategy = settings, patches, test_images, strategy
        self.chief = strategy.extended.should_checkpoint  # false only on the other workers: they read, the chief writes
        self.steps_per_epoch = patches.count // batch_size
        self.run_state, self.checkpointer = _start_run(settings, strategy, self.chief, self.steps_per_epoch,
                                                       patches.count, say)
        self.history_path = os.path.join(settings.log_dir, history.FILE_NAME)
        self.best_psnr = _start_history(settings.log_dir, int(self.run_state.step), settings.fresh,
                                        self.checkpointer.best_dir) if self.chief else math.inf
        self.step_function = compile_train_step(self.run_state, strategy, jit_compile=uses_xla(settings, strategy))
        self.writers = _summary_writers(settings.log_dir, self.chief)
        self.rows, self.progress = [], Progress(settings, int(self.run_state.step), self.steps_per_epoch, say)

    def run(self):
        run, checkpointer, progress = self.run_state, self.checkpointer, self.progress
        try:
            # A run stopped while validating its last epoch saved that epoch's end, but not its row.
            if self.chief and run.epoch_losses[1] and _row_missing(self.history_path, int(run.step),
                                                                   self.steps_per_epoch, self.settings.epochs):
                self.end_epoch(int(run.step) // self.steps_per_epoch - 1)
            for epoch in range(int(run.step) // self.steps_per_epoch, self.settings.epochs):
                self.train_epoch(epoch)
                self.end_epoch(epoch)
        except KeyboardInterrupt as interrupt:
            # Interrupt (Ctrl-C, or SIGTERM as `srcnn.errors.Terminated`): save, then stop, saying what was saved.
            progress.close()
            saved = checkpointer.save()
            raise type(interrupt)(f"saved {saved}; rerun to continue" if self.chief else "the chief saves") from None
        finally:
            progress.close()
            # A full log folder shows here; when something else stopped the run, that is what to report.
            with contextlib.suppress(UserError) if sys.exc_info()[0] else contextlib.nullcontext():
                _flush(self.writers, self.settings.log_dir)
        if int(run.step):
            checkpointer.save()
        return self.rows

    def train_epoch(self, epoch):
        """The epoch's steps, from where a resumed run stopped."""
        settings, run, steps_per_epoch = self.settings, self.run_state, self.steps_per_epoch
        # Data: the epoch's order is drawn from (seed, epoch), so a resumed epoch replays
        # it and skips the steps already taken.
        rng = np.random.default_rng([settings.seed, epoch])
        skip = int(run.step) - epoch * steps_per_epoch
        if not skip:
            run.epoch_losses.assign([0.0, 0.0])
        self.progress.start_epoch(epoch)
        for batch_data, batch_label in self.patches.batches(settings.batch_size, rng, skip):
            # Step: the same random flip/rotation of data and label, one update over all replicas.
            # Drawn from (seed, step), so a resumed run draws what the uninterrupted one would.
            if settings.augment:
                step_rng = np.random.default_rng([settings.seed, epoch, int(run.step)])
                batch_data, batch_label = random_dihedral(step_rng, batch_data, batch_label)
            loss = self.step_function(split_batch(self.strategy, batch_data), split_batch(self.strategy, batch_label))
            step = int(run.step)
            self.progress.step_done(step)
            # Log: reading the loss costs a device-to-host copy, so only every log_every steps;
            # the epoch's sum is in the checkpoint, so a resumed epoch's row has the whole mean.
            if step % settings.log_every == 0 or (step % steps_per_epoch == 0 and not run.epoch_losses[1]):
                self.checkpointer.check_health()
                value = float(loss)
                run.epoch_losses.assign_add([value, 1.0])
            if step % settings.log_every == 0:
                _log_step(self.writers["train"], step, value, run.optimizer.learning_rate)
                self.progress.loss(epoch, step, value)
            # Save: the kill-safe checkpoint.
            if step % settings.save_every == 0:
                self.checkpointer.save()

    def end_epoch(self, epoch):
        """Validate: PSNR on the test images, one history row, and the best checkpoint."""
        self.checkpointer.check_health()
        loss_sum, loss_count = self.run_state.epoch_losses.numpy()
        row = validate(self.run_state.model, self.test_images, self.settings, self.writers, epoch=epoch,
                       step=int(self.run_state.step), loss=loss_sum / loss_count, seconds=self.progress.clock.seconds())
        self.rows.append(row)
        if self.chief:
            history.append(self.history_path, row)
        self.progress.epoch_done(row)
        if row["psnr"] > self.best_psnr:
            self.best_psnr = row["psnr"]
            self.checkpointer.save(best=True)


class Progress:
    """What the person watching a training sees: one progress bar for the whole run (epoch,
    loss, the run's ETA), the expected time once steps have been timed, an optional loss
    line per logged step, and a line per epoch with its own time.

    Args:
        settings: the TrainSettings (epochs, print_steps).
        first_step: the step the run (re)starts from.
        steps_per_epoch: steps in an epoch.
        say: where lines go.
    """

    def __init__(self, settings, first_step, steps_per_epoch, say):
        self.settings, self.steps_per_epoch, self.say = settings, steps_per_epoch, say
        self.clock = RunClock(first_step, steps_per_epoch * settings.epochs)
        self.bar = tqdm(total=self.clock.total_steps, initial=first_step, unit="step", leave=False, disable=None,
                        dynamic_ncols=True)
        self.epoch_started = time.perf_counter()

    def line(self, text):
        """A line above the bar."""
        with tqdm.external_write_mode():
            self.say(text)

    def start_epoch(self, epoch):
        self.bar.set_description(f"epoch {epoch + 1}/{self.settings.epochs}", refresh=False)
        self.epoch_started = time.perf_counter()

    def step_done(self, step):
        self.bar.update()
        if self.clock.step_done(step) == RunClock.TIMED_STEPS:
            self.line(self.clock.expectation(self.steps_per_epoch, self.settings.epochs))

    def loss(self, epoch, step, loss):
        self.bar.set_postfix(loss=f"{loss:.6f}", refresh=False)
        if self.settings.print_steps:
            self.line(f"Epoch: [{epoch + 1:2d}] step: [{step}] time: [{self.clock.seconds():.4f}] loss: [{loss:.8f}]")

    def epoch_done(self, row):
        self.line(f"epoch {row['epoch']}/{self.settings.epochs}: loss {row['loss']:.6f}, validation PSNR "
                  f"{row['psnr']:.2f} dB (bicubic {row['bicubic_psnr']:.2f} dB), "
                  f"{time.perf_counter() - self.epoch_started:.1f} s ({self.clock.progress(row['step'])})")

    def close(self):
        self.bar.close()


class RunClock:
    """Time since this process started training, and what it says about the rest of the run.

    Args:
        first_step: the step the run (re)starts from.
        total_steps: the step it ends at.
    """

    WARM_UP_STEPS = 10  # steps after the first (which traces and compiles) that still run slower
    TIMED_STEPS = 50  # steps timed after those, for the expected time

    def __init__(self, first_step, total_steps):
        self.first_step, self.total_steps = first_step, total_steps
        self.started = time.perf_counter()
        self._first_done = None  # (time, step) when the first step of this process ended
        self._warm = None  # (time, step) when the warm-up ended

    def seconds(self):
        return time.perf_counter() - self.started

    def step_done(self, step):
        """Records a finished step; returns how many steps have been timed (after the warm-up)."""
        if self._first_done is None:
            self._first_done = (time.perf_counter(), step)
        if step - self._first_done[1] == self.WARM_UP_STEPS:
            self._warm = (time.perf_counter(), step)
        return step - self._warm[1] if self._warm else 0

    def expectation(self, steps_per_epoch, epochs):
        """The line that says how long an epoch and the rest of the run should take here."""
        step_seconds = (time.perf_counter() - self._warm[0]) / self.TIMED_STEPS
        left = self.total_steps - self._first_done[1]
        return (f"Expected: {step_seconds * steps_per_epoch:.1f} s per epoch here (from {self.TIMED_STEPS} "
                f"steps), about {duration(step_seconds * left)} for the "
                f"{math.ceil(left / steps_per_epoch)} of {epochs} epochs to go")

    def progress(self, step):
        """'12.3 min in, about 4.1 min left', from the pace since the first step (which compiles)."""
        if self._first_done is None:  # an epoch validated again on resume, before any step
            return f"{duration(self.seconds())} in"
        first_time, first_step = self._first_done
        done = step - first_step
        left = (self.total_steps - step) * (time.perf_counter() - first_time) / done if done else math.nan
        return f"{duration(self.seconds())} in, about {duration(left)} left" if step < self.total_steps else \
            f"{duration(self.seconds())} in all"


def duration(seconds):
    """A duration as people say it: "45 s", "12.6 min", "1.4 h"."""
    if not math.isfinite(seconds):
        return "? s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def uses_xla(settings, strategy):
    """Whether the training step is compiled with XLA: on one device in float32, where it runs
    faster on the CPU; bfloat16 and split batches keep TensorFlow's own kernels."""
    return strategy.num_replicas_in_sync == 1 and training_precision(settings.precision) == "float32" \
        and not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def describe_compute(settings, strategy):
    """How the steps compute, for the start line: e.g. "float32 (auto: no native bfloat16 here), XLA"."""
    precision = training_precision(settings.precision)
    if settings.precision == "auto":
        precision += f" (auto: {'no ' if precision == 'float32' else ''}native bfloat16 here)"
    return precision + (", XLA" if uses_xla(settings, strategy) else "")


CALIBRATION_STEPS = 20  # timed training steps (after one that compiles) for `epochs_for_minutes`


def epochs_for_minutes(settings, patches, test_images, minutes, say=print, strategy=None):
    """The number of epochs that train in `minutes` here, from a short measured trial.

    The trial builds a throwaway copy of the run, times CALIBRATION_STEPS of its steps on
    real batches and one validation, and spends its own time out of the budget. A run
    that will continue from a checkpoint keeps the epochs its recipe.json records (the
    learning-rate schedule spans them).

    Raises:
        UserError: as `train_on` for unusable settings or patches, or a budget too small for one epoch.
    """
    strategy = strategy or tf.distribute.get_strategy()
    started = time.perf_counter()
    if not settings.fresh and checkpoints.newest_complete(settings.checkpoint_dir)[0]:
        recorded = (checkpoints.read_recipe(os.path.join(settings.checkpoint_dir, checkpoints.RECIPE_FILE))
                    or {}).get("epochs")
        if isinstance(recorded, int) and recorded > 0:
            say(f"--minutes {minutes:g}: continuing the run of {recorded} epochs that {settings.checkpoint_dir} "
                "records (--minutes sizes new runs; --fresh starts one)")
            return recorded
    batch_size = _check_inputs(settings, patches, strategy)
    run = build_run(settings, strategy, total_steps=1)
    step_function = compile_train_step(run, strategy, jit_compile=uses_xla(settings, strategy))
    rng, timings = np.random.default_rng([settings.seed, 0]), []
    for batch_data, batch_label in patches.batches(batch_size, rng):
        tick = time.perf_counter()
        float(step_function(split_batch(strategy, batch_data), split_batch(strategy, batch_label)))
        timings.append(time.perf_counter() - tick)
        if len(timings) > CALIBRATION_STEPS:
            break
    step_seconds = float(np.median(timings[1:] or timings))
    compile_seconds = timings[0] - step_seconds  # the real run's first step compiles again
    tick = time.perf_counter()
    evaluate_images(float32_model(run.model), test_images, settings.scale, padding="replicate")
    validation_seconds = time.perf_counter() - tick
    epoch_seconds = step_seconds * (patches.count // batch_size) + validation_seconds
    budget = 60 * minutes - (time.perf_counter() - started) - compile_seconds
    if budget < epoch_seconds:
        raise UserError(f"--minutes {minutes:g}: one epoch takes about {duration(epoch_seconds)} here; "
                        "give more minutes, or fewer patches")
    epochs = int(budget // epoch_seconds)
    say(f"--minutes {minutes:g}: {epochs} epochs fit ({epoch_seconds:.1f} s per epoch measured here: "
        f"{patches.count // batch_size} steps of {1000 * step_seconds:.0f} ms and a validation of "
        f"{validation_seconds:.1f} s)")
    return epochs


def float32_model(model):
    """`model`, or a float32 copy of it if it computes in another precision (validation is float32)."""
    if model.dtype_policy.compute_dtype == "float32":
        return model
    twin = SRCNN(model.arch)
    twin.set_weights(model.get_weights())
    return twin


def _start_run(settings, strategy, chief, steps_per_epoch, patch_count, say):
    """Prepares the run's folders, builds the run and restores its newest checkpoint.

    Returns:
        (TrainingRun, Checkpointer), the run at the restored step (0 for a new one).
    """
    if chief:
        run_folders.prepare_folder(settings.checkpoint_dir, "checkpoint")
        run_folders.prepare_folder(settings.log_dir, "log")
    run = build_run(settings, strategy, total_steps=steps_per_epoch * settings.epochs)
    checkpointer = Checkpointer(run, settings, chief)
    restored = checkpointer.restore(say)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        _check_workers_agree(strategy, int(run.step), settings.checkpoint_dir)
    how = describe_compute(settings, strategy)
    say(f"Continuing from step {int(run.step)} ({restored}), {how}" if restored else
        f"Starting a new {settings.arch} x{settings.scale} training: {patch_count} patches, "
        f"{steps_per_epoch} steps per epoch, {settings.epochs} epochs, {how}")
    return run, checkpointer


def _check_inputs(settings, patches, strategy):
    """Raises UserError for settings or patches that cannot train; returns the batch size."""
    if settings.optimizer not in OPTIMIZERS:
        raise UserError(f"--optimizer {settings.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
    if settings.precision not in TRAINING_PRECISIONS:
        raise UserError(f"--precision {settings.precision!r} is not one of {', '.join(TRAINING_PRECISIONS)}")
    margin = valid_margin(settings.arch)
    if patches.image_size - 2 * margin != patches.label_size:
        raise UserError(f"patches {patches.image_size}x{patches.image_size} with labels "
                        f"{patches.label_size}x{patches.label_size} do not fit a {settings.arch} network, "
                        f"which crops {margin} px per side")
    if patches.count == 0:
        raise UserError("no training patches: the images are smaller than the patch size")
    replicas = strategy.num_replicas_in_sync
    if settings.batch_size % replicas:
        raise UserError(f"--batch-size {settings.batch_size} does not split evenly over {replicas} replicas; "
                        f"pass a multiple of {replicas}")
    batch_size = min(settings.batch_size, patches.count - patches.count % replicas)  # fewer patches than a batch
    if batch_size == 0:
        raise UserError(f"{patches.count} training patches cannot be split over {replicas} replicas; "
                        "make more patches with step1_pre.py")
    return batch_size


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
                      dtype=training_precision(settings.precision))
        optimizer, multipliers = make_optimizer(settings, total_steps)
        optimizer.build(model.trainable_variables)  # slots must exist before a restore fills them
    # Host-side counters, outside the strategy: only the loop (not the replicas) updates them.
    step = tf.Variable(0, dtype=tf.int64, trainable=False)
    first_bad_step = tf.Variable(-1, dtype=tf.int64, trainable=False)
    epoch_losses = tf.Variable([0.0, 0.0], dtype=tf.float64, trainable=False)
    bundle = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step, epoch_losses=epoch_losses,
                                 config=checkpoints.Config(settings.scale, settings.arch))
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


def split_batch(strategy, batch):
    """A numpy global batch as the strategy's replicas take it: (B, ...) -> replicas x (B / replicas, ...)."""
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return batch
    parts = np.split(batch, replicas)
    return strategy.experimental_distribute_values_from_function(
        lambda context: parts[context.replica_id_in_sync_group])


class Checkpointer:
    """Saves and restores a run's bundle, and knows the last good checkpoint.

    The newest 5 checkpoints go to checkpoint_dir (`ckpt-<step>`), the one with the best
    validation PSNR to checkpoint_dir/best (`best-<step>`), each folder with the run's
    `recipe` in recipe.json. Every save first checks that
    the loss and weights are finite, so a diverged run never replaces a good checkpoint;
    only the chief writes (saving reads local copies, no collectives).

    Args:
        run: the TrainingRun whose bundle is saved.
        settings: a TrainSettings (checkpoint_dir, fresh, scale, arch).
        chief: whether this process writes.
    """

    def __init__(self, run, settings, chief):
        self.run, self.settings, self.chief = run, settings, chief
        self.best_dir = os.path.join(settings.checkpoint_dir, "best")
        if chief:
            for directory, name in ((settings.checkpoint_dir, "ckpt"), (self.best_dir, "best")):
                if settings.fresh:
                    _remove_checkpoints(directory, name)
                _remove_unfinished_saves(directory, name)
        self.latest = tf.train.CheckpointManager(run.bundle, settings.checkpoint_dir, max_to_keep=5,
                                                 checkpoint_name="ckpt")
        self.best = tf.train.CheckpointManager(run.bundle, self.best_dir, max_to_keep=1, checkpoint_name="best")
        self.last_good = None  # the newest checkpoint in checkpoint_dir known to be finite and complete

    def restore(self, say):
        """Restores the newest complete checkpoint (none with settings.fresh); returns its prefix or None."""
        if not self.settings.fresh:
            self.last_good = _restore(self.run, self.settings, say)
        return self.last_good

    def check_health(self):
        """Raises UserError, before anything is saved, once the loss or weights are not finite."""
        bad = int(self.run.first_bad_step.numpy())
        if bad < 0 and all(np.isfinite(variable.numpy()).all() for variable in self.run.model.trainable_variables):
            return
        where = f"at step {bad}" if bad >= 0 else f"by step {int(self.run.step)} (non-finite weights)"
        raise UserError(f"training stopped: the loss became non-finite {where}; the last good checkpoint is "
                        f"{self.last_good or 'none (nothing was saved)'}. Lower --learning-rate and rerun "
                        "(it resumes from there)")

    def save(self, best=False):
        """Saves the run at its current step into best/ or checkpoint_dir; returns the prefix.

        Returns None on the other workers.
        """
        step = int(self.run.step)
        if not best and self.last_good and checkpoints.checkpoint_number(self.last_good) == step:
            return self.last_good  # rewriting a recorded checkpoint in place is the one unsafe save
        self.check_health()
        if not self.chief:
            return None
        manager = self.best if best else self.latest
        try:
            saved = manager.save(checkpoint_number=step)
            checkpoints.write_recipe(manager.directory, recipe(self.settings))
        except (tf.errors.OpError, OSError) as error:
            raise UserError(f"{manager.directory}: cannot write a checkpoint ({tf_reason(error)}); pass another "
                            f"--checkpoint-dir (the last good one is {self.last_good})") from None
        if not best:
            self.last_good = saved
        return saved


def _summary_writers(log_dir, chief):
    """TensorBoard writers log_dir/train, /eval and /bicubic (no-ops except on the chief)."""
    try:
        return {name: tf.summary.create_file_writer(os.path.join(log_dir, name)) if chief
                else tf.summary.create_noop_writer() for name in ("train", "eval", "bicubic")}
    except tf.errors.OpError as error:
        raise UserError(f"{log_dir}: cannot write the TensorBoard events ({tf_reason(error)}); "
                        "pass another --log-dir") from None


def _flush(writers, log_dir):
    """Writes out the summaries the writers hold; UserError when the log folder cannot take them."""
    try:
        for writer in writers.values():
            writer.flush()
    except tf.errors.OpError as error:
        raise UserError(f"{log_dir}: cannot write the TensorBoard events ({tf_reason(error)}); "
                        "pass another --log-dir") from None


def _log_step(writer, step, loss, learning_rate):
    """The train/loss and learning_rate summaries of one step."""
    with writer.as_default(step=step):
        tf.summary.scalar("loss", loss)
        tf.summary.scalar("learning_rate", float(learning_rate))


def validate(model, test_images, settings, writers, *, epoch, step, loss, seconds):
    """Evaluates the model on the test images, writes the summaries and returns the history row.

    Args:
        model: the network being trained; evaluated in float32 with replicate padding, as
            step 3 evaluates its checkpoints.
        test_images: `srcnn.data.TestImage`s.
        settings: a TrainSettings (scale, image_every, epochs).
        writers: the "eval" and "bicubic" summary writers.
        epoch: the 0-based epoch just finished; step: the step reached.
        loss: the epoch's training loss; seconds: time since the run (re)started.

    Returns:
        dict with `history.FIELDS` (PSNRs are NaN without test images).
    """
    # In float32, so that the PSNR logged is the one step3_test.py gives the checkpoint.
    results = evaluate_images(float32_model(model), test_images, settings.scale, padding="replicate")
    psnr = float(np.mean([row.psnr for row in results])) if results else math.nan
    bicubic_psnr = float(np.mean([row.bicubic_psnr for row in results])) if results else math.nan
    with writers["eval"].as_default(step=step):
        tf.summary.scalar("psnr", psnr)
        if epoch % settings.image_every == 0 or epoch + 1 == settings.epochs:
            for row in results[:3]:
                tf.summary.image(f"srcnn/{row.name}", row.sr[None], max_outputs=1)
    with writers["bicubic"].as_default(step=step):
        tf.summary.scalar("psnr", bicubic_psnr)
    return {"epoch": epoch + 1, "step": step, "seconds": round(seconds, 2), "loss": loss, "psnr": psnr,
            "bicubic_psnr": bicubic_psnr}


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


def _restore(run, settings, say):
    """Restores the newest complete checkpoint in settings.checkpoint_dir into `run`; returns its prefix or None."""
    restored, skipped = checkpoints.newest_complete(settings.checkpoint_dir)
    for prefix, reason in skipped:
        say(f"Skipping {prefix}: incomplete or damaged ({reason})")
    if restored:
        checkpoints.check_config(restored, settings.scale, settings.arch, settings.optimizer)
        _check_resume(restored, settings, say)
        bundle = run.bundle
        if not tf.train.load_checkpoint(restored).has_tensor("epoch_losses/.ATTRIBUTES/VARIABLE_VALUE"):
            # Saved before the epoch's losses were: the rest of the bundle (its epoch's row has the losses since).
            bundle = tf.train.Checkpoint(model=run.model, optimizer=run.optimizer, step=run.step,
                                         config=run.bundle.config)
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


def _row_missing(path, step, steps_per_epoch, epochs):
    """True when `step` ends an epoch of the run whose history row is not in history.csv."""
    if not step or step % steps_per_epoch or step // steps_per_epoch > epochs:
        return False
    rows, _ = history.read(path)
    return all(row["step"] != step for row in rows)


# What a resumed run must share with the run it continues: another batch size makes
# other epochs of the steps taken (and another data order), so it is refused.
_FIXED_FOR_A_RUN = ("batch_size",)


def _check_resume(prefix, settings, say):
    """Refuses a resume with another batch size than recipe.json records; says what else changes.

    Raises:
        UserError: the batch size differs.
    """
    recorded = checkpoints.read_recipe(prefix) or {}
    wanted = recipe(settings)
    for key in _FIXED_FOR_A_RUN:
        if key in recorded and recorded[key] != wanted[key]:
            flag = "--" + key.replace("_", "-")
            raise UserError(f"{settings.checkpoint_dir}: this run trains with {flag} {printable(recorded[key])} "
                            f"(its recipe.json); pass {flag} {printable(recorded[key])} to continue it, or --fresh "
                            "or another --checkpoint-dir to start a new run")
    changed = [f"{key} {printable(recorded[key])} -> {printable(wanted[key])}" for key in wanted
               if key in recorded and recorded[key] != wanted[key]]
    if changed:
        say(f"Continuing {prefix} with other settings than its recipe.json: {', '.join(changed)} (from here on; "
            "recipe.json records the new ones; --fresh starts over)")


def _start_history(log_dir, step, fresh, best_dir):
    """With `fresh` deletes history.csv and the TensorBoard curves (after the inputs were checked,
    with the old checkpoints), else trims history.csv (see `_trim_history`); returns the best PSNR so far."""
    path = os.path.join(log_dir, history.FILE_NAME)
    if fresh:
        run_folders.remove_event_files(log_dir)
        if os.path.exists(path):
            os.remove(path)
    return _trim_history(path, step, best_dir)


def _trim_history(path, step, best_dir):
    """Cuts history.csv back to the rows up to `step` and returns the best validation PSNR.

    A killed run may have logged epochs after its last checkpoint; they are trained again,
    so their rows go. The best PSNR is that of the checkpoint in best/, whose row may be
    one of those (the checkpoint stays until beaten).
    """
    rows, clean = history.read(path)
    kept = [row for row in rows if row["step"] <= step]
    if kept != rows or not clean:
        history.write(path, kept)
    best, _ = checkpoints.newest_complete(best_dir)
    for row in reversed(rows if best else []):
        if row["step"] == checkpoints.checkpoint_number(best):
            return row["psnr"]
    return max((row["psnr"] for row in kept), default=-math.inf)
