"""The folders a training writes, claimed by one run at a time.

A training writes checkpoints to its checkpoint folder and TensorBoard events and
history.csv to its log folder. Before it starts, `claim`
- refuses the shipped weights' folder, a folder that cannot be made or written, and a
  file standing where training keeps a folder (or a folder where it keeps a file);
- locks both folders: an advisory lock on `training.lock` in each, which holds the
  process id, so a second training into either stops with one line naming the first
  one's process; the operating system drops the lock with the process, even a killed
  one (whose file then stays, unlocked), and a run that ends removes the file;
- records in the log folder which checkpoint folder it belongs to (`checkpoint_dir.txt`),
  so a run with another checkpoint folder stops instead of cutting that run's
  history.csv back and mixing its TensorBoard curves.
"""

import contextlib
import glob
import os

from srcnn.core import checkpoints
from srcnn.training import history
from srcnn.core.errors import UserError, os_reason
from srcnn.core.files import atomic_path, ensure_writable_folder

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, the folders are not locked
    fcntl = None

LOCK_NAME = "training.lock"
OWNER_NAME = "checkpoint_dir.txt"
# What training keeps in its folders (see srcnn.train), as (relative path, is a folder).
CHECKPOINT_LAYOUT = (("checkpoint", False), ("best", True), (os.path.join("best", "checkpoint"), False))
LOG_LAYOUT = ((history.FILE_NAME, False), ("train", True), ("eval", True), ("bicubic", True), (OWNER_NAME, False))
EVENT_FOLDERS = ("train", "eval", "bicubic")


@contextlib.contextmanager
def claim(settings, chief=True):
    """Holds `settings.checkpoint_dir` and `settings.log_dir` for one training (see the module docstring).

    Args:
        settings: a `srcnn.train.TrainSettings`.
        chief: False on the other workers of a multi-worker run, which write nothing.

    Raises:
        UserError: a folder is the shipped weights', cannot be made or written, has
            something in the way, is locked by another training, or (the log folder)
            belongs to another checkpoint folder.
    """
    if not chief:
        yield
        return
    folders = {"checkpoint": settings.checkpoint_dir, "log": settings.log_dir}
    for what, folder in folders.items():
        prepare_folder(folder, what)
    for what, layout in (("checkpoint", CHECKPOINT_LAYOUT), ("log", LOG_LAYOUT)):
        _check_layout(folders[what], what, layout)
    with contextlib.ExitStack() as held:
        locked = set()
        for what, folder in folders.items():
            if os.path.realpath(folder) not in locked:  # one lock when both are one folder
                locked.add(os.path.realpath(folder))
                held.enter_context(_lock(folder, what))
        _claim_log_folder(settings)
        yield


def prepare_folder(folder, what):
    """Creates a checkpoint or log folder (`what`), refusing the shipped weights' folder and
    folders that cannot be written (`srcnn.core.files.ensure_writable_folder`).

    Raises:
        UserError: either, reported with the flag --{what}-dir to change.
    """
    if checkpoints.is_pretrained_location(folder):
        raise UserError(f"{folder}: holds the shipped weights, which training never overwrites; "
                        f"pass another --{what}-dir")
    ensure_writable_folder(folder, what, f"--{what}-dir")


def _check_layout(folder, what, layout):
    for name, is_folder in layout:
        path = os.path.join(folder, name)
        if os.path.exists(path) and os.path.isdir(path) != is_folder:
            found, wanted = ("a file", "folder") if is_folder else ("a folder", "file")
            raise UserError(f"{path}: {found} where training keeps its {name} {wanted}; move it away or pass "
                            f"another --{what}-dir")


@contextlib.contextmanager
def _lock(folder, what):
    """Holds `folder`/training.lock (holding this process id) while the block runs, then removes it."""
    path = os.path.join(folder, LOCK_NAME)
    while True:
        try:
            handle = open(path, "a+")
        except OSError as error:
            raise UserError(f"{folder}: the {what} folder is not writable ({os_reason(error)}); "
                            "pass another one") from None
        if not fcntl:
            break
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            other = handle.read().strip() or "unknown"
            handle.close()
            raise UserError(f"{folder}: another training (process {other}) is using this {what} folder; wait "
                            f"for it to end or stop it, or pass another --{what}-dir") from None
        # The holder removes the file when it ends: a lock on a file it has just removed holds nothing.
        if os.path.exists(path) and os.path.samestat(os.fstat(handle.fileno()), os.stat(path)):
            break
        handle.close()
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)  # while still locked, so that no other run locks the old file
        handle.close()


def remove_event_files(log_dir):
    """Deletes a log folder's TensorBoard curves (a training started over with --fresh)."""
    for folder in EVENT_FOLDERS:
        for events in glob.glob(os.path.join(glob.escape(log_dir), folder, "events.out.tfevents.*")):
            os.remove(events)


def log_owner(log_dir):
    """The checkpoint folder (a real path) a log folder records as its training's, or None."""
    try:
        with open(os.path.join(log_dir, OWNER_NAME)) as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def _claim_log_folder(settings):
    """Records the checkpoint folder in the log folder, or stops if the log folder is another run's."""
    path = os.path.join(settings.log_dir, OWNER_NAME)
    mine = os.path.realpath(settings.checkpoint_dir)
    owner = log_owner(settings.log_dir)
    if owner and owner != mine:
        raise UserError(f"{settings.log_dir}: holds the logs of the training in {owner}; pass another --log-dir "
                        f"(or delete {path} to give these logs to {settings.checkpoint_dir})")
    try:
        with atomic_path(path) as temporary, open(temporary, "w") as handle:
            handle.write(mine + "\n")
    except OSError as error:
        raise UserError(f"{path}: cannot write ({os_reason(error)}); pass another --log-dir") from None
