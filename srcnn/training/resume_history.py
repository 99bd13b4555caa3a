"""history.csv on resume: started, or cut back to the restored step."""

import math
import os
from srcnn.core import checkpoints
from srcnn.training import history
from srcnn.training import run_folders


def _row_missing(path, step, steps_per_epoch, epochs):
    """True when `step` ends an epoch of the run whose history row is not in history.csv."""
    if not step or step % steps_per_epoch or step // steps_per_epoch > epochs:
        return False
    rows, _ = history.read(path)
    return all(row["step"] != step for row in rows)


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
