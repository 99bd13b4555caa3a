"""A training run's folders, their layout, and the one run that may use them at a time.

    checkpoint_dir/            default checkpoint/x{scale}
        ckpt-<step>.*, checkpoint   the newest 5 checkpoints and their state file
        best/best-<step>.*          the best by validation PSNR
        recipe.json                 the run's config (`srcnn.training.config.recipe`), also in best/
        training.lock               held while a training runs
    log_dir/                   default logs/x{scale}, or checkpoint_dir/logs for another checkpoint_dir
        history.csv                 one row per epoch (`srcnn.training.history`)
        train/ eval/ bicubic/       TensorBoard events
        checkpoint_dir.txt          the checkpoint folder these logs belong to
        training.lock

`RunFolder.claim` holds both for one training: it refuses the shipped weights' folder, a
folder that cannot be written or has a file where the layout keeps a folder (or the
reverse), and a log folder another checkpoint folder owns; it locks both (an advisory
lock on training.lock holding the process id, dropped by the system even when the
process is killed). `train_on` claims them itself; a claim nested in one by the same
process (a script's around the library's) holds nothing more.
"""

import contextlib
import math
import os
import re
import stat

from srcnn.core import checkpoints, outputs
from srcnn.core.errors import CheckpointError, OutputError, RunFolderError, os_reason
from srcnn.core.files import ensure_writable_folder
from srcnn.core.model import DEFAULT_ARCH, normalise_arch
from srcnn.core.outputs import OutputKind, remove_outputs, rewriting
from srcnn.training import history

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, the folders are not locked
    fcntl = None

LOCK_NAME = "training.lock"
OWNER_NAME = "checkpoint_dir.txt"
EVENT_FOLDERS = ("train", "eval", "bicubic")
# What training keeps in its folders, as (relative path, is a folder).
CHECKPOINT_LAYOUT = (("checkpoint", False), ("best", True), (os.path.join("best", "checkpoint"), False))
LOG_LAYOUT = ((history.FILE_NAME, False), *((name, True) for name in EVENT_FOLDERS), (OWNER_NAME, False))
SETTING = {"checkpoint": "checkpoint_dir", "log": "log_dir"}
# What training writes and a fresh start deletes: found by these names, deleted only when of its kind.
CHECKPOINT_NAMES = re.compile(r"(ckpt|best)-\d+\.(index|data-\d+-of-\d+)")
UNFINISHED_SAVE_NAMES = re.compile(r"(ckpt|best)-\d+_temp")
SAVE_PART_NAMES = re.compile(r"part-\d+-of-\d+\.(index|data-\d+-of-\d+)(\.tempstate\d+)?")
EVENTS_PREFIX = "events.out.tfevents."
CHECKPOINT_FILE = OutputKind("checkpoint file", recognise=os.path.isfile)
CHECKPOINT_STATE = OutputKind("checkpoint state file", recognise=outputs.first_line_starts("model_checkpoint_path:"))
EVENTS_FILE = OutputKind("TensorBoard events file", recognise=os.path.isfile)
# A save killed while writing its shards leaves part-K-of-N.index / .data-… files, or TensorFlow's
# .tempstateNNN of one still being written.
UNFINISHED_SAVE = OutputKind("half-written checkpoint save", folder=True,
                             recognise=outputs.folder_of_files(SAVE_PART_NAMES))
LOCK_TEXT = re.compile(r"\d*\s*")  # what a training.lock holds: its holder's process id, or nothing yet
LOCK_FILE = OutputKind("training lock", recognise=outputs.text_matching(LOCK_TEXT))
_held = set()  # real paths of the folders this process has locked


def default_checkpoint_dir(scale):
    return f"checkpoint/x{scale}"


def default_log_dir(scale, checkpoint_dir=None):
    """logs/x{scale} beside the default checkpoint folder; inside any other, so that runs never share one."""
    return f"logs/x{scale}" if checkpoint_dir is None else os.path.join(checkpoint_dir, "logs")


def default_weights(scale, own_training=True, arch=None):
    """The weights a command uses when none are named: with `own_training` the newest
    checkpoint of the default run for `scale` (checkpoint/x{scale}) if there is one, else
    the shipped weights; for a named `arch`, its shipped weights.

    Raises:
        CheckpointError: none of these is there.
    """
    trained = default_checkpoint_dir(scale)
    if (own_training and arch is None and os.path.isdir(trained)
            and any(name.endswith(".index") for name in os.listdir(trained))):
        return checkpoints.resolve(trained)
    shipped = checkpoints.pretrained_path(scale, arch or DEFAULT_ARCH)
    if os.path.exists(shipped + ".index"):
        return shipped
    if arch is not None:
        raise CheckpointError(f"no shipped {normalise_arch(arch)} weights for x{scale} (shipped: "
                              f"{checkpoints.describe_shipped()})")
    raise CheckpointError(f"no weights for x{scale}: no training in {trained} and none shipped; "
                          "train some with step2_train.py")


def history_of(weights_prefix, scale):
    """The history.csv of the training that made the weights, or None.

    The one beside the weights (the shipped ones have theirs), else that of the log folder
    of their checkpoint folder (default_log_dir's two places) if it records that checkpoint
    folder as its training's (`log_owner`): never another run's.
    """
    folder = os.path.dirname(weights_prefix)
    if os.path.basename(folder) == "best":  # checkpoint/x3/best/best-N: the run is checkpoint/x3
        folder = os.path.dirname(folder)
    beside = os.path.join(folder, history.FILE_NAME)
    if os.path.isfile(beside):
        return beside
    for log_dir in (default_log_dir(scale), default_log_dir(scale, folder)):
        path = os.path.join(log_dir, history.FILE_NAME)
        if os.path.isfile(path) and log_owner(log_dir) == os.path.realpath(folder):
            return path
    return None


def log_owner(log_dir):
    """The checkpoint folder (a real path) a log folder records as its training's, or None."""
    try:
        with open(os.path.join(log_dir, OWNER_NAME)) as handle:
            return handle.read().strip() or None
    except OSError:
        return None


class RunFolder:
    """The checkpoint and log folders of one training run (see the module docstring)."""

    def __init__(self, checkpoint_dir, log_dir):
        self.checkpoint_dir, self.log_dir = checkpoint_dir, log_dir
        self.best_dir = os.path.join(checkpoint_dir, "best")
        self.history_path = os.path.join(log_dir, history.FILE_NAME)

    @classmethod
    def of(cls, settings):
        """The run folder of a `TrainSettings`."""
        return cls(settings.checkpoint_dir, settings.log_dir)

    def folders(self):
        return {"checkpoint": self.checkpoint_dir, "log": self.log_dir}

    def prepare(self):
        """Creates both folders, refusing the shipped weights' and ones that cannot be written.

        Raises:
            RunFolderError: either, with the setting ("checkpoint_dir" or "log_dir") to change.
        """
        for what, folder in self.folders().items():
            if checkpoints.is_pretrained_location(folder):
                raise RunFolderError(f"{folder}: holds the shipped weights, which training never overwrites",
                                     SETTING[what])
            try:
                ensure_writable_folder(folder, what)
            except OutputError as error:
                raise RunFolderError(str(error), SETTING[what]) from None

    @contextlib.contextmanager
    def claim(self, chief=True):
        """Holds both folders for one training while the block runs (see the module docstring).

        Args:
            chief: False on the other workers of a multi-worker run, which write nothing.

        Raises:
            RunFolderError: a folder is the shipped weights', cannot be made or written, has
                something in the way, is locked by another training, or (the log folder)
                belongs to another checkpoint folder.
        """
        real = {os.path.realpath(folder) for folder in self.folders().values()}
        if not chief or real <= _held:
            yield
            return
        self.prepare()
        for what, layout in (("checkpoint", CHECKPOINT_LAYOUT), ("log", LOG_LAYOUT)):
            _check_layout(self.folders()[what], what, layout)
        with contextlib.ExitStack() as held:
            for what, folder in self.folders().items():
                if os.path.realpath(folder) not in _held:  # one lock when both are one folder
                    held.enter_context(_lock(folder, what))
            self._claim_log_folder()
            yield

    def _claim_log_folder(self):
        """Records the checkpoint folder in the log folder, or stops if the log folder is another run's."""
        path = os.path.join(self.log_dir, OWNER_NAME)
        mine, owner = os.path.realpath(self.checkpoint_dir), log_owner(self.log_dir)
        if owner and owner != mine:
            raise RunFolderError(f"{self.log_dir}: holds the logs of the training in {owner} (delete {path} to give "
                                 f"these logs to {self.checkpoint_dir})", "log_dir")
        try:
            with rewriting(path) as temporary, open(temporary, "w") as handle:
                handle.write(mine + "\n")
        except OSError as error:
            raise RunFolderError(f"{path}: cannot write ({os_reason(error)})", "log_dir") from None

    def start_over(self):
        """Deletes the run's checkpoints (best/ too), history.csv and TensorBoard events (a fresh start).

        Only what training writes, found by its names, each deleted if of its kind: anything
        else in the folders stays, and a link or a foreign file under one of those names stops
        the start (`OutputError`) before anything is deleted.
        """
        found = [(os.path.join(self.log_dir, folder, name), EVENTS_FILE) for folder in EVENT_FOLDERS
                 for name in _names(os.path.join(self.log_dir, folder)) if name.startswith(EVENTS_PREFIX)]
        for directory in (self.checkpoint_dir, self.best_dir):
            found += [(os.path.join(directory, name), CHECKPOINT_FILE) for name in _names(directory)
                      if CHECKPOINT_NAMES.fullmatch(name)]
            found.append((os.path.join(directory, "checkpoint"), CHECKPOINT_STATE))
        remove_outputs(found + [(self.history_path, history.HISTORY)] + self._unfinished_saves())

    def remove_unfinished_saves(self):
        """Deletes the `name-N_temp` folders a save killed while writing its shards leaves behind."""
        remove_outputs(self._unfinished_saves())

    def _unfinished_saves(self):
        return [(os.path.join(directory, name), UNFINISHED_SAVE) for directory in (self.checkpoint_dir, self.best_dir)
                for name in _names(directory) if UNFINISHED_SAVE_NAMES.fullmatch(name)]

    def trim_history(self, step):
        """Cuts history.csv back to the rows up to `step` and returns the best validation PSNR.

        A killed run may have logged epochs after its last checkpoint; they are trained again,
        so their rows go. The best PSNR is that of the checkpoint in best/, whose row may be
        one of those (the checkpoint stays until beaten).
        """
        rows, clean = history.read(self.history_path)
        kept = [row for row in rows if row["step"] <= step]
        if kept != rows or not clean:
            history.write(self.history_path, kept)
        best, _ = checkpoints.newest_complete(self.best_dir)
        for row in reversed(rows if best else []):
            if row["step"] == checkpoints.checkpoint_number(best):
                return row["psnr"]
        return max((row["psnr"] for row in kept), default=-math.inf)

    def row_missing(self, step, steps_per_epoch, epochs):
        """True when `step` ends an epoch of the run whose history row is not in history.csv."""
        if not step or step % steps_per_epoch or step // steps_per_epoch > epochs:
            return False
        rows, _ = history.read(self.history_path)
        return all(row["step"] != step for row in rows)


def _names(folder):
    try:
        return sorted(os.listdir(folder))
    except OSError:  # not there (yet)
        return []


def _check_layout(folder, what, layout):
    for name, is_folder in layout:
        path = os.path.join(folder, name)
        if os.path.exists(path) and os.path.isdir(path) != is_folder:
            found, wanted = ("a file", "folder") if is_folder else ("a folder", "file")
            raise RunFolderError(f"{path}: {found} where training keeps its {name} {wanted}; move it away",
                                 SETTING[what])


@contextlib.contextmanager
def _lock(folder, what):
    """Holds `folder`/training.lock (holding this process id) while the block runs, then removes it."""
    path = os.path.join(folder, LOCK_NAME)
    while True:
        handle = _open_lock(path, folder, what)
        if not fcntl:
            break
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            other = handle.read().strip() or "unknown"
            handle.close()
            raise RunFolderError(f"{folder}: another training (process {other}) is using this {what} folder; wait "
                                 "for it to end or stop it", SETTING[what]) from None
        # The holder removes the file when it ends: a lock on a file it has just removed holds nothing.
        if os.path.exists(path) and os.path.samestat(os.fstat(handle.fileno()), os.stat(path)):
            break
        handle.close()
    real = os.path.realpath(folder)
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        _held.add(real)
        yield
    finally:
        _held.discard(real)
        # Only the file this run holds, and while still locked, so that no other run locks it.
        with contextlib.suppress(OSError, OutputError):
            if os.path.samestat(os.fstat(handle.fileno()), os.lstat(path)):
                remove_outputs([(path, LOCK_FILE)])
        handle.close()


def _open_lock(path, folder, what):
    """training.lock, opened to read and write, created if missing: never through a link, nor a
    file that is not a lock (a process id, or nothing)."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as error:
        if os.path.islink(path) or os.path.isdir(path):
            raise RunFolderError(f"{path}: is {'a link' if os.path.islink(path) else 'a folder'} where training "
                                 "keeps its lock; it is kept (move it away)", SETTING[what]) from None
        raise RunFolderError(f"{folder}: the {what} folder is not writable ({os_reason(error)})",
                             SETTING[what]) from None
    handle = os.fdopen(descriptor, "r+", encoding="ascii", errors="replace")
    if not stat.S_ISREG(os.fstat(descriptor).st_mode) or not LOCK_FILE.recognise(path):
        handle.close()
        raise RunFolderError(f"{path}: is there and is not a training lock; it is kept (move it away)",
                             SETTING[what])
    return handle
