"""Checkpointing: periodic, best and interrupt saves, restore, and the resume checks."""

from srcnn.core.startup import tf  # first: keras imports TensorFlow, whose start-up messages this filters
import numpy as np
from srcnn.core import checkpoints
from srcnn.core.errors import CheckpointError, RunFolderError, SettingError, tf_reason
from srcnn.training.config import compare_with_recipe, keep_recorded, recipe
from srcnn.training.run_folder import RunFolder


class Checkpointer:
    """Saves and restores a run's bundle, and knows the last good checkpoint.

    The newest 5 checkpoints go to checkpoint_dir (`ckpt-<step>`), the one with the best
    validation PSNR to checkpoint_dir/best (`best-<step>`), each folder with the run's
    `recipe` in recipe.json (the folder's layout: `srcnn.training.run_folder`). Every save first checks that
    the loss and weights are finite, so a diverged run never replaces a good checkpoint;
    only the chief writes (saving reads local copies, no collectives).

    Args:
        run: the TrainingRun whose bundle is saved.
        settings: a TrainSettings (checkpoint_dir, fresh, scale, arch).
        chief: whether this process writes.
    """

    def __init__(self, run, settings, chief):
        self.run, self.settings, self.chief = run, settings, chief
        self.best_dir = RunFolder.of(settings).best_dir
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
        """Raises SettingError (the learning rate), before anything is saved, once the loss or weights
        are not finite."""
        bad = int(self.run.first_bad_step.numpy())
        if bad < 0 and all(np.isfinite(variable.numpy()).all() for variable in self.run.model.trainable_variables):
            return
        where = f"at step {bad}" if bad >= 0 else f"by step {int(self.run.step)} (non-finite weights)"
        raise SettingError(f"training stopped: the loss became non-finite {where}; the last good checkpoint is "
                           f"{self.last_good or 'none (nothing was saved)'}, where a lower learning rate resumes",
                           "learning_rate")

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
            raise RunFolderError(f"{manager.directory}: cannot write a checkpoint ({tf_reason(error)}; the last good "
                                 f"one is {self.last_good})", "checkpoint_dir") from None
        if not best:
            self.last_good = saved
        return saved


def _restore(run, settings, say):
    """Restores the newest complete checkpoint in settings.checkpoint_dir into `run`; returns its prefix or None."""
    restored, skipped = checkpoints.newest_complete(settings.checkpoint_dir)
    for prefix, reason in skipped:
        say(f"Skipping {prefix}: incomplete or damaged ({reason})")
    if restored:
        checkpoints.check_config(restored, settings.scale, settings.arch, settings.optimizer, settings.channels)
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
            raise CheckpointError(f"{restored}: does not restore into this training "
                                  f"({str(error).splitlines()[0]})") from None
    return restored


def _check_resume(prefix, settings, say):
    """Compares the settings with the recipe.json of the checkpoint a run continues, field by
    field (`srcnn.training.config.compare_with_recipe`), and says what changes.

    Raises:
        ResumeError: a setting the run fixes differs.
    """
    recorded = checkpoints.read_recipe(prefix) or {}
    changed = compare_with_recipe(recorded, settings, settings.checkpoint_dir)
    kept = keep_recorded(recorded, settings)
    if kept:
        say(f"Continuing {prefix}: {kept}")
    if changed:
        say(f"Continuing {prefix} with other settings than its recipe.json: {changed} (from here on; "
            "recipe.json records the new ones; a fresh start starts over)")
