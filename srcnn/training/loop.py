"""Training: MSE between the VALID network's output and the label patches.

The loop keeps one checkpoint bundle (see `srcnn.core.checkpoints`) with the optimizer state
and the step, saved every `save_every` steps, on Ctrl-C / SIGTERM and at the end by a
`CheckpointManager`, with the training `recipe` in recipe.json beside it; a rerun restores
the newest complete one and continues, so a killed run loses at most `save_every` steps.
A second manager keeps the best checkpoint by validation PSNR. TensorBoard summaries go
to `log_dir`/train (loss), /eval (PSNR, reconstructed images) and /bicubic (the bicubic
PSNR under the same tag, so the two curves overlay); `log_dir`/history.csv has one row
per epoch for scripts, cut back to the restored step on resume so replayed epochs are
not counted twice.

Batches come from `srcnn.training.batches.PatchArrays` (in memory) or `PatchStream` (from disk).
Under a `tf.distribute` strategy each global batch is split evenly across the replicas
and their gradients summed, which gives the single-device update. With several workers
(`MultiWorkerMirroredStrategy`) every worker draws the same global batches and feeds its
own replicas their share; all restore from the (shared) checkpoint folder, and only the
chief writes checkpoints, summaries and history.csv.
"""

import contextlib
import dataclasses
import itertools
import math
import sys
from srcnn.core.startup import tf  # first: keras imports TensorFlow, whose start-up messages this filters
import numpy as np
from srcnn.training import history
from srcnn.training.batches import PatchArrays
from srcnn.training.patches import random_dihedral
from srcnn.core.errors import SRCNNError, interrupts_held
from srcnn.training.checkpointing import Checkpointer
from srcnn.training.config import check_inputs
from srcnn.training.distribution import _check_workers_agree
from srcnn.training.execution import CHUNK_STEPS, chunk_function, one_device_execution
from srcnn.training.progress import Progress
from srcnn.training.run_folder import RunFolder
from srcnn.training.summaries import _flush, _log_step, _summary_writers, log_hparams, validate, validation_restorer
from srcnn.training.update import build_run, describe_compute


def train(settings, data, label, test_images, say=print, strategy=None, execution=None):
    """Trains (or resumes training) on patches held in memory; see `train_on`.

    Args:
        data, label: float32 (N, S, S, 1) patches and (N, S - 2m, S - 2m, 1) labels.
    """
    return train_on(settings, PatchArrays(data, label), test_images, say, strategy, execution)


def train_on(settings, patches, test_images, say=print, strategy=None, execution=None):
    """Trains (or resumes training) and returns the history rows.

    Args:
        settings: a TrainSettings.
        patches: a `srcnn.training.batches.PatchArrays` or `PatchStream`.
        test_images: `srcnn.training.test_set.TestImage`s for validation each epoch.
        say: where progress lines go.
        strategy: a `tf.distribute.Strategy` (see `make_strategy`); default one device.
        execution: on one device, how its steps run (`srcnn.training.execution.choose`); default
            settings.execution, or for "auto" `default_execution`.

    Returns:
        list of dicts with `history.FIELDS`, one per epoch trained in this call.

    Raises:
        SRCNNError: mismatched data or checkpoint, unusable or locked folders, or a non-finite
            loss (the checkpoints then stay as they were before it).
    """
    strategy = strategy or tf.distribute.get_strategy()
    batch_size = check_inputs(settings, patches, strategy)  # before any folder is made
    with RunFolder.of(settings).claim(strategy.extended.should_checkpoint):  # one training per folder
        return _Training(settings, batch_size, patches, test_images, say, strategy, execution).run()


class _Training:
    """One call of `train_on`, by phase: set up (here), then `run`: each epoch's steps
    (`train_epoch`) and its validation (`end_epoch`), a save on interrupt and at the end."""

    def __init__(self, settings, batch_size, patches, test_images, say, strategy, execution):
        # Build the run, restore its newest checkpoint.
        if batch_size != settings.batch_size:
            say(f"batch size {settings.batch_size}: only {patches.count} patches, so batches of {batch_size}")
            settings = dataclasses.replace(settings, batch_size=batch_size)  # what recipe.json records
        self.execution = one_device_execution(settings, strategy, execution)
        if self.execution:
            settings = dataclasses.replace(settings, execution=self.execution.name)  # recipe.json: how steps ran
        self.settings, self.patches, self.test_images, self.strategy = settings, patches, test_images, strategy
        self.chief = strategy.extended.should_checkpoint  # false only on the other workers: they read, the chief writes
        self.steps_per_epoch = patches.count // batch_size
        self.folder = RunFolder.of(settings)
        self.run_state, self.checkpointer = _start_run(settings, strategy, self.chief, self.steps_per_epoch,
                                                       patches.count, say, self.execution)
        self.best_psnr = self.folder.trim_history(int(self.run_state.step)) if self.chief else math.inf
        self.run_steps = chunk_function(self.run_state, strategy, self.execution, settings.batch_size)
        self.restore_test_images = validation_restorer(self.run_state.model, test_images, settings.scale)
        self.writers = _summary_writers(settings.log_dir, self.chief)
        if self.chief:
            log_hparams(settings.log_dir, settings)
        self.rows, self.progress = [], Progress(settings, int(self.run_state.step), self.steps_per_epoch, say)

    def run(self):
        run, checkpointer, progress = self.run_state, self.checkpointer, self.progress
        try:
            # A run stopped while validating its last epoch saved that epoch's end, but not its row.
            if self.chief and run.epoch_losses[1] and self.folder.row_missing(int(run.step), self.steps_per_epoch,
                                                                              self.settings.epochs):
                self.end_epoch(int(run.step) // self.steps_per_epoch - 1)
            for epoch in range(int(run.step) // self.steps_per_epoch, self.settings.epochs):
                self.train_epoch(epoch)
                self.end_epoch(epoch)
        except KeyboardInterrupt as interrupt:
            # Interrupt (Ctrl-C, or SIGTERM as `srcnn.core.errors.Terminated`): save, then stop, saying what was saved.
            progress.close()
            saved = checkpointer.save()
            raise type(interrupt)(f"saved {saved}; rerun to continue" if self.chief else "the chief saves") from None
        finally:
            progress.close()
            # A full log folder shows here; when something else stopped the run, that is what to report.
            with contextlib.suppress(SRCNNError) if sys.exc_info()[0] else contextlib.nullcontext():
                _flush(self.writers, self.settings.log_dir)
        if int(run.step):
            checkpointer.save()
        return self.rows

    def train_epoch(self, epoch):
        """The epoch's steps, from where a resumed run stopped, a chunk of steps per call."""
        settings, run, steps_per_epoch = self.settings, self.run_state, self.steps_per_epoch
        # Data: the epoch's order is drawn from (seed, epoch), so a resumed epoch replays
        # it and skips the steps already taken.
        rng = np.random.default_rng([settings.seed, epoch])
        step = int(run.step)
        if step == epoch * steps_per_epoch:
            run.epoch_losses.assign([0.0, 0.0])
        batches = self.patches.batches(settings.batch_size, rng, step - epoch * steps_per_epoch)
        self.progress.start_epoch(epoch)
        end = (epoch + 1) * steps_per_epoch
        while step < end:
            # A chunk ends at the epoch's end and at each checkpoint.
            count = min(CHUNK_STEPS, end - step, settings.save_every - step % settings.save_every)
            chunk = list(itertools.islice(batches, count))
            if not chunk:
                break
            # Step: the same random flip/rotation of data and label, drawn from (seed, step), so
            # a resumed run draws what the uninterrupted one would.
            if settings.augment:
                chunk = [random_dihedral(np.random.default_rng([settings.seed, epoch, step + index]), *batch)
                         for index, batch in enumerate(chunk)]
            # A Ctrl-C or SIGTERM takes effect between chunks, with their lines and saves whole.
            with interrupts_held():
                losses = self.run_steps([data for data, _ in chunk], [label for _, label in chunk])
                self.checkpointer.check_health()
                self.log_losses(epoch, step, losses)
                step += len(chunk)
                self.progress.steps_done(step, len(chunk))
                # Save: the kill-safe checkpoint.
                if step % settings.save_every == 0:
                    self.checkpointer.save()

    def log_losses(self, epoch, first_step, losses):
        """The losses of every log_every-th step in a chunk: the epoch's mean, TensorBoard and the bar.

        Also an epoch's last step when none of its steps was logged (epochs shorter than log_every).
        """
        settings, run = self.settings, self.run_state
        for step, value in enumerate(losses, start=first_step + 1):
            if step % settings.log_every == 0 or (step % self.steps_per_epoch == 0 and not run.epoch_losses[1]):
                run.epoch_losses.assign_add([float(value), 1.0])
            if step % settings.log_every == 0:
                _log_step(self.writers["train"], step, float(value), run.optimizer.learning_rate)
                self.progress.loss(epoch, step, float(value))

    def end_epoch(self, epoch):
        """Validate: PSNR on the test images, one history row, and the best checkpoint.

        Like a chunk of steps, this runs whole before a Ctrl-C or SIGTERM takes effect.
        """
        self.checkpointer.check_health()
        loss_sum, loss_count = self.run_state.epoch_losses.numpy()
        with interrupts_held():
            row = validate(self.restore_test_images, self.test_images, self.settings, self.writers, epoch=epoch,
                           step=int(self.run_state.step), loss=loss_sum / loss_count,
                           seconds=self.progress.clock.seconds())
            self.rows.append(row)
            if self.chief:
                history.append(self.folder.history_path, row)
            self.progress.epoch_done(row)
            if row["psnr"] > self.best_psnr:
                self.best_psnr = row["psnr"]
                self.checkpointer.save(best=True)


def _start_run(settings, strategy, chief, steps_per_epoch, patch_count, say, execution=None):
    """Clears the run's folders for a fresh start, builds the run and restores its newest checkpoint.

    Returns:
        (TrainingRun, Checkpointer), the run at the restored step (0 for a new one).
    """
    if chief:
        folder = RunFolder.of(settings)
        if settings.fresh:
            folder.start_over()  # only now that the inputs were checked
        folder.remove_unfinished_saves()
    run = build_run(settings, strategy, total_steps=steps_per_epoch * settings.epochs)
    checkpointer = Checkpointer(run, settings, chief)
    restored = checkpointer.restore(say)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        _check_workers_agree(strategy, int(run.step), settings.checkpoint_dir)
    how = describe_compute(settings, strategy, execution)
    say(f"Continuing from step {int(run.step)} ({restored}), {how}" if restored else
        f"Starting a new {settings.arch} x{settings.scale} training: {patch_count} patches, "
        f"{steps_per_epoch} steps per epoch, {settings.epochs} epochs, {how}")
    return run, checkpointer
