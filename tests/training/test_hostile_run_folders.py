"""A harness of hostile run folders: a training's start (`--fresh` or not) deletes nothing but its own outputs.

Each example fills a checkpoint folder and its log folder with what training writes and with
what a user might keep there under training's names or beside them (notes, links to files and
folders outside, folders, empty files, foreign content), then claims the run folder and starts
the run as `step2_train` does (`RunFolder.claim`, then `start_over` with --fresh, and
`remove_unfinished_saves`). It checks:
- outside the run folder, nothing changes;
- a refusal is one line naming the path (a link, a folder, a foreign file or lock under
  training's names) and then nothing in the run folder was deleted;
- otherwise exactly training's own outputs are gone (with --fresh: checkpoints, their state
  files, unfinished saves, history.csv, TensorBoard events; without: unfinished saves), and
  everything else is as it was.
"""

import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from srcnn.core.errors import SRCNNError
from srcnn.training import history
from srcnn.training.run_folder import LOCK_NAME, OWNER_NAME, RunFolder

from tiny_data import snapshot

QUICK, LONG = 5, 600  # examples: the quick subset, and the slow one (CI)

# Where training keeps what, relative to the checkpoint folder "ck" (its log folder is ck/logs).
FOLDERS = ("ck", "ck/best", "ck/logs", "ck/logs/train", "ck/logs/eval", "ck/logs/bicubic")
NAMES = ("ckpt-4.index", "ckpt-4.data-00000-of-00001", "best-8.index", "best-8.data-00000-of-00001", "checkpoint",
         "ckpt-12_temp", "best-3_temp", "history.csv", "events.out.tfevents.17.host", LOCK_NAME,
         # a user's, beside them
         "ckpt-notes.txt", "ckpt-4", "ckpt-4.index.bak", "ckpt-x_temp", "events.txt", "notes.txt", "recipe.json")
THINGS = ("ours", "empty file", "user file", "link to a file", "link to a folder", "user folder", "empty folder")
USER_TEXT = b"my notes, not training's, in Latin-1: caf\xe9"


def own_kind(folder, name):
    """What training writes at folder/name: 'file' (any content), 'state', 'history', 'save', 'lock', or None."""
    if name == LOCK_NAME and folder in ("ck", "ck/logs"):
        return "lock"
    if folder in ("ck", "ck/best"):
        if re.fullmatch(r"(ckpt|best)-\d+\.(index|data-\d+-of-\d+)", name):
            return "file"
        if re.fullmatch(r"(ckpt|best)-\d+_temp", name):
            return "save"
        if name == "checkpoint":
            return "state"
    if folder == "ck/logs" and name == "history.csv":
        return "history"
    if folder.startswith("ck/logs/") and name.startswith("events.out.tfevents."):
        return "file"
    return None


def accepted(kind, thing):
    """Whether training may take `thing` under a name of its `kind` (else it refuses, deleting nothing)."""
    if thing.startswith("link"):
        return False
    if kind == "save":
        return thing in ("ours", "empty folder")
    if thing.endswith("folder"):
        return False
    return thing in ("ours", "empty file") or (kind == "file" and thing == "user file")


def ours(kind):
    return {"state": b'model_checkpoint_path: "ckpt-4"\nall_model_checkpoint_paths: "ckpt-4"\n',
            "history": (",".join(history.FIELDS) + "\n").encode(), "lock": b"99999999\n"}.get(kind, b"\x00tensor bytes")


def build(root, entries):
    outside = os.path.join(root, "outside")
    os.makedirs(os.path.join(outside, "folder"))
    with open(os.path.join(outside, "user.txt"), "wb") as handle:
        handle.write(USER_TEXT)
    for folder in FOLDERS:
        os.makedirs(os.path.join(root, folder), exist_ok=True)
    for (folder, name), thing in entries.items():
        path, kind = os.path.join(root, folder, name), own_kind(folder, name)
        if thing == "link to a file":
            os.symlink(os.path.join(outside, "user.txt"), path)
        elif thing == "link to a folder":
            os.symlink(os.path.join(outside, "folder"), path)
        elif thing.endswith("folder"):
            os.makedirs(path)
            if thing == "user folder":
                with open(os.path.join(path, "mine.txt"), "wb") as handle:
                    handle.write(USER_TEXT)
        elif kind == "save" and thing == "ours":
            os.makedirs(path)
            for part in ("part-00000-of-00001.index", "part-00000-of-00001.data-00000-of-00001.tempstate2890731"):
                with open(os.path.join(path, part), "wb") as handle:
                    handle.write(b"shard")
        else:
            with open(path, "wb") as handle:
                handle.write({"empty file": b"", "user file": USER_TEXT}.get(thing, ours(kind)))


def start(root, fresh):
    """The run folder's part of a training's start, as `srcnn.training.loop` does it; the error or None."""
    folder = RunFolder(os.path.join(root, "ck"), os.path.join(root, "ck", "logs"))
    try:
        with folder.claim():
            if fresh:
                folder.start_over()
            folder.remove_unfinished_saves()
    except SRCNNError as error:
        return error
    return None


entries = st.dictionaries(st.tuples(st.sampled_from(FOLDERS), st.sampled_from(NAMES)), st.sampled_from(THINGS),
                          max_size=12)


def examples(count):
    return settings(max_examples=count, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def expected_deletions(entries, fresh):
    """(what the start deletes, what it refuses), in the order the start meets them: the layout,
    then the checkpoint folder's lock and the log folder's, then --fresh and the unfinished saves.
    A refusal stops there: a lock taken before it was already released, and so deleted."""
    def refusals(places, kinds):
        return [os.path.join(*place) for place in places if own_kind(*place) in kinds
                and not accepted(own_kind(*place), entries[place])]

    layout = [os.path.join(*place) for place, thing in entries.items()
              if own_kind(*place) in ("state", "history") and thing.endswith("folder")]
    if layout:  # the layout's files (state files, history.csv) are never folders, even without --fresh
        return set(), set(layout)
    deleted = set()
    for lock in (("ck", LOCK_NAME), ("ck/logs", LOCK_NAME)):
        if lock in entries:
            if refusals([lock], ("lock",)):
                return deleted, {os.path.join(*lock)}
            deleted.add(os.path.join(*lock))
    kinds = ("file", "state", "history", "save") if fresh else ("save",)
    refused = refusals(entries, kinds)
    if refused:
        return deleted, set(refused)
    return deleted | {os.path.join(*place) for place in entries if own_kind(*place) in kinds}, set()


def check_start(tmp_path_factory, entries, fresh):
    root = str(tmp_path_factory.mktemp("home"))
    build(root, entries)
    before = snapshot(root)
    error = start(root, fresh)
    after = snapshot(root)
    deleted, refused = expected_deletions(entries, fresh)
    assert (error is not None) == bool(refused), (error, refused)
    if error is not None:
        message = str(error)
        assert "\n" not in message and any(path in message for path in refused), (message, refused)
    for path, there in before.items():
        if path in deleted or any(path.startswith(gone + os.sep) for gone in deleted):
            assert path not in after, path  # training's own: gone
        else:
            assert after.get(path) == there, path  # not training's, or refused: as it was
    made = set(after) - set(before)
    assert made <= {os.path.join("ck", "logs", OWNER_NAME)}, made


@pytest.mark.slow
@examples(LONG)
@given(entries=entries, fresh=st.booleans())
def test_a_start_deletes_nothing_but_its_own(tmp_path_factory, entries, fresh):
    check_start(tmp_path_factory, entries, fresh)


@examples(QUICK)
@given(entries=entries, fresh=st.booleans())
def test_a_start_deletes_nothing_but_its_own_quick(tmp_path_factory, entries, fresh):
    check_start(tmp_path_factory, entries, fresh)


@pytest.mark.parametrize("thing", ["link to a file", "user file"])
def test_a_fresh_start_refuses_a_foreign_state_file_and_deletes_nothing(tmp_path_factory, thing):
    check_start(tmp_path_factory, {("ck", "checkpoint"): thing, ("ck", "ckpt-4.index"): "ours",
                                   ("ck/logs/train", "events.out.tfevents.1"): "ours"}, fresh=True)
