"""TensorBoard summaries and the per-epoch validation."""

import math
import os
from srcnn.core.startup import tf  # first: keras imports TensorFlow, whose start-up messages this filters
import numpy as np
from srcnn.core.errors import RunFolderError, tf_reason
from srcnn.training.evaluate import compiled_restorer, evaluate_images
from srcnn.training.update import float32_model


def _summary_writers(log_dir, chief):
    """TensorBoard writers log_dir/train, /eval and /bicubic (no-ops except on the chief)."""
    try:
        return {name: tf.summary.create_file_writer(os.path.join(log_dir, name)) if chief
                else tf.summary.create_noop_writer() for name in ("train", "eval", "bicubic")}
    except tf.errors.OpError as error:
        raise RunFolderError(f"{log_dir}: cannot write the TensorBoard events ({tf_reason(error)})",
                             "log_dir") from None


# The settings a run's row shows on TensorBoard's HParams dashboard (its metrics: eval/psnr, train/loss).
HPARAMS = ("arch", "channels", "scale", "optimizer", "learning_rate", "initialization", "epochs", "batch_size",
           "precision", "augment", "seed")


def log_hparams(log_dir, settings):
    """Records the run's settings in `log_dir` as one HParams session, so TensorBoard pointed at
    a folder of several runs tables them beside their PSNR (the dashboard reads eval/psnr from
    the session's subfolders)."""
    from tensorboard.plugins.hparams import api as hparams_api
    values = {name: value if isinstance(value, (bool, int, float, str)) else str(value)
              for name, value in ((name, getattr(settings, name, None)) for name in HPARAMS) if value is not None}
    try:
        writer = tf.summary.create_file_writer(log_dir)
        with writer.as_default():
            hparams_api.hparams(values, trial_id=os.path.basename(os.path.abspath(settings.checkpoint_dir)))
        writer.close()
    except tf.errors.OpError as error:
        raise RunFolderError(f"{log_dir}: cannot write the TensorBoard events ({tf_reason(error)})",
                             "log_dir") from None


def _flush(writers, log_dir):
    """Writes out the summaries the writers hold; RunFolderError when the log folder cannot take them."""
    try:
        for writer in writers.values():
            writer.flush()
    except tf.errors.OpError as error:
        raise RunFolderError(f"{log_dir}: cannot write the TensorBoard events ({tf_reason(error)})",
                             "log_dir") from None


def _log_step(writer, step, loss, learning_rate):
    """The train/loss and learning_rate summaries of one step."""
    with writer.as_default(step=step):
        tf.summary.scalar("loss", loss)
        tf.summary.scalar("learning_rate", float(learning_rate))


def validation_restorer(model, test_images, scale):
    """() -> the restored test images, in float32 with replicate padding as step 3 evaluates
    checkpoints, from the current weights of `model` (a float32 twin's, under mixed precision)."""
    twin = float32_model(model)
    restore = compiled_restorer(twin, test_images, padding="replicate", scale=scale)
    if twin is model:
        return restore

    def refreshed():
        twin.set_weights(model.get_weights())
        return restore()

    return refreshed


def validate(restore, test_images, settings, writers, *, epoch, step, loss, seconds):
    """Evaluates the model on the test images, writes the summaries and returns the history row.

    Args:
        restore: `validation_restorer` of the network being trained.
        test_images: `srcnn.training.test_set.TestImage`s.
        settings: a TrainSettings (scale, image_every, epochs).
        writers: the "eval" and "bicubic" summary writers.
        epoch: the 0-based epoch just finished; step: the step reached.
        loss: the epoch's training loss; seconds: time since the run (re)started.

    Returns:
        dict with `history.FIELDS` (PSNRs are NaN without test images).
    """
    # In float32, so that the PSNR logged is the one step3_test.py gives the checkpoint.
    results = evaluate_images(None, test_images, settings.scale, restored=restore())
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
