"""Checkpointing: periodic, best and interrupt saves, restore, and the resume checks."""

import os
import shutil
from srcnn.core.startup import tf  # first: keras imports TensorFlow, whose start-up messages this filters
import numpy as np
from srcnn.core import checkpoints
from srcnn.core.errors import UserError, printable, tf_reason
from srcnn.training.config import recipe


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
