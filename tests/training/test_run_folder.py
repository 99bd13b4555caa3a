"""srcnn.training.run_folder: no training writes into another run's files (the library takes
the lock itself), and its errors are the last line naming the flag.

Each test names the case of issue 12 it covers.
"""

import csv
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

import step2_train
from srcnn.core import checkpoints
from srcnn.training import history as history_file, run_folder
from srcnn.training.run_folder import RunFolder
from srcnn.training.batches import PatchArrays
from srcnn.core.errors import RunFolderError, SettingError, SRCNNError, exit_on_user_error
from srcnn.core.model import SRCNN
from srcnn.training.config import TrainSettings
from srcnn.training.loop import train_on
from srcnn.training.update import make_optimizer

from tiny_data import Training, write_h5s


@pytest.fixture(scope="module")
def h5s(tmp_path_factory):
    return write_h5s(str(tmp_path_factory.mktemp("h5")), count=64)


@pytest.fixture
def flags(h5s):
    """Flags of a 4-step epoch on the tiny files; add --checkpoint-dir and --log-dir."""
    return ["--train-h5", h5s[0], "--test-h5", h5s[1], "--batch-size", "16", "--log-every", "2"]


def last_error(capsys):
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: ") and sum(line.startswith("error: ") for line in lines) == 1, lines
    return lines[-1]


def history(folder):
    with open(folder / "history.csv", newline="") as handle:
        return [row["epoch"] for row in csv.DictReader(handle)]


def checkpoint_files(folder):
    return sorted(name for name in os.listdir(folder) if name.startswith("ckpt-")) if folder.is_dir() else []


# --- case 1: a run never takes over another run's log folder -------------------------------------------

@pytest.mark.slow
def test_second_run_with_another_checkpoint_folder_keeps_the_first_runs_history(flags, tmp_path, capsys):
    logs = tmp_path / "L"
    assert step2_train.main([*flags, "--checkpoint-dir", str(tmp_path / "A"), "--log-dir", str(logs),
                             "--epochs", "2"]) == 0
    events = sorted(path.name for path in logs.rglob("events.out.tfevents.*"))
    capsys.readouterr()
    for extra in ([], ["--fresh"]):  # --fresh starts over in B, it does not give B A's logs
        assert step2_train.main([*flags, "--checkpoint-dir", str(tmp_path / "B"), "--log-dir", str(logs),
                                 "--epochs", "1", *extra]) == 1
        assert f"{logs}: holds the logs of the training in {tmp_path / 'A'}" in last_error(capsys)
    assert history(logs) == ["1", "2"]
    assert sorted(path.name for path in logs.rglob("events.out.tfevents.*")) == events
    assert checkpoint_files(tmp_path / "B") == []


@pytest.mark.slow
def test_checkpoint_dir_alone_gets_its_own_log_folder(flags, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for run in ("A", "B"):
        assert step2_train.main([*flags, "--checkpoint-dir", run, "--epochs", "1"]) == 0
        assert history(tmp_path / run / "logs") == ["1"]
    assert not (tmp_path / "logs").exists()


@pytest.mark.slow
def test_rerun_says_where_training_stands(flags, tmp_path, capsys):
    """Case 11: "already trained for N epochs" named --epochs, not what the folder holds."""
    run = [*flags, "--checkpoint-dir", str(tmp_path / "A"), "--epochs", "1"]
    assert step2_train.main(run) == 0
    capsys.readouterr()
    assert step2_train.main(run) == 0
    assert f"nothing to do: {tmp_path / 'A'} is at step 4, which completes --epochs 1" in capsys.readouterr().out


# --- case 4: one training per folder ----------------------------------------------------------------------

HOLDER = ("import fcntl, os, sys, time\n"
          "handle = open(os.path.join(sys.argv[1], 'training.lock'), 'a+')\n"
          "fcntl.flock(handle, fcntl.LOCK_EX); handle.write(f'{os.getpid()}\\n'); handle.flush()\n"
          "print('held', flush=True); time.sleep(120)\n")


@pytest.fixture
def held_elsewhere():
    """Locks a folder as another process's training does (`run_folder`'s advisory lock)."""
    holders = []

    def hold(folder):
        folder.mkdir(parents=True, exist_ok=True)
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True)
        holders.append(holder)
        assert holder.stdout.readline().strip() == "held"
        return holder.pid

    yield hold
    for holder in holders:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("shared", ["checkpoint", "log"])
def test_second_training_into_a_held_folder_stops_naming_the_first(flags, tmp_path, capsys, shared, held_elsewhere):
    mine = {"checkpoint": tmp_path / ("A" if shared == "checkpoint" else "B"),
            "log": tmp_path / ("L" if shared == "log" else "M")}
    other = held_elsewhere(mine[shared])
    assert step2_train.main([*flags, "--checkpoint-dir", str(mine["checkpoint"]), "--log-dir", str(mine["log"]),
                             "--epochs", "1"]) == 1
    error = last_error(capsys)
    assert f"{mine[shared]}: another training (process {other}) is using this {shared} folder" in error
    assert error.endswith(f"; pass another --{shared}-dir")
    assert checkpoint_files(mine["checkpoint"]) == []
    assert not (mine["log"] / "history.csv").exists()


def test_the_library_takes_the_lock_itself(tmp_path, held_elsewhere):
    """train_on called from Python refuses a folder another training holds, and holds its own."""
    patches = PatchArrays(np.zeros((16, 33, 33, 1), np.float32), np.zeros((16, 21, 21, 1), np.float32))
    settings = TrainSettings(checkpoint_dir=str(tmp_path / "A"), epochs=1, batch_size=16)
    other = held_elsewhere(tmp_path / "A")
    with pytest.raises(RunFolderError, match=f"another training \\(process {other}\\)") as refused:
        train_on(settings, patches, [])
    assert refused.value.setting == "checkpoint_dir" and "--" not in str(refused.value)
    assert checkpoint_files(tmp_path / "A") == []


def test_a_claim_locks_both_folders_and_a_nested_claim_adds_nothing(tmp_path):
    folder = RunFolder(str(tmp_path / "A"), str(tmp_path / "A" / "logs"))
    with folder.claim():
        locks = [tmp_path / "A" / run_folder.LOCK_NAME, tmp_path / "A" / "logs" / run_folder.LOCK_NAME]
        assert [lock.read_text() for lock in locks] == [f"{os.getpid()}\n"] * 2
        with folder.claim():  # the script's claim around the library's
            pass
        assert all(lock.exists() for lock in locks)
    assert not any(lock.exists() for lock in locks)


@pytest.mark.slow
def test_two_processes_on_one_checkpoint_folder(flags, tmp_path):
    folders = ["--checkpoint-dir", tmp_path / "A", "--log-dir", tmp_path / "L"]
    first = Training(*flags, *folders, "--epochs", "200", "--log-every", "1")
    try:
        assert first.wait_for(first.logged_steps), first.stop()[1]
        code, output = Training(*flags, *folders, "--epochs", "1").finish()
    finally:
        first.stop()
    assert code == 1, output
    assert output.splitlines()[-1] == (f"error: {tmp_path / 'A'}: another training (process {first.process.pid}) "
                                       "is using this checkpoint folder; wait for it to end or stop it; pass "
                                       "another --checkpoint-dir")


@pytest.mark.slow
def test_a_killed_trainings_lock_file_does_not_block(flags, tmp_path):
    (tmp_path / "A").mkdir()
    (tmp_path / "A" / run_folder.LOCK_NAME).write_text("99999999\n")  # left by a kill; nobody holds it
    assert step2_train.main([*flags, "--checkpoint-dir", str(tmp_path / "A"), "--epochs", "1"]) == 0
    assert not (tmp_path / "A" / run_folder.LOCK_NAME).exists()  # a run that ends removes its lock file


# --- case 10 and siblings: something in the way inside the folders --------------------------------------

@pytest.mark.parametrize("where, name, kind, fresh", [
    ("checkpoint", "checkpoint", "folder", False),
    ("checkpoint", "checkpoint", "folder", True),  # was an IsADirectoryError traceback
    ("checkpoint", "best", "file", False),
    ("log", "history.csv", "folder", False),
    ("log", "eval", "file", True),
])
def test_something_in_the_way_inside_a_run_folder(flags, tmp_path, capsys, where, name, kind, fresh):
    folder = tmp_path / where
    folder.mkdir()
    (folder / name).mkdir() if kind == "folder" else (folder / name).write_text("mine")
    assert step2_train.main([*flags, "--checkpoint-dir", str(tmp_path / "checkpoint"), "--log-dir",
                             str(tmp_path / "log"), "--epochs", "1", *(["--fresh"] if fresh else [])]) == 1
    wanted = "file" if kind == "folder" else "folder"
    assert f"{folder / name}: a {kind} where training keeps its {name} {wanted}" in last_error(capsys)
    assert checkpoint_files(tmp_path / "checkpoint") == []


# --- case 11: messages that named the wrong thing ----------------------------------------------------------

def test_a_file_where_the_checkpoint_folder_goes_is_named(flags, tmp_path, capsys):
    (tmp_path / "A").write_text("in the way")
    assert step2_train.main([*flags, "--checkpoint-dir", str(tmp_path / "A"), "--epochs", "1"]) == 1
    error = last_error(capsys)
    assert "cannot create the checkpoint folder (a file of that name is in the way)" in error
    assert "File exists" not in error


def test_log_dir_among_the_shipped_weights_names_log_dir(flags, tmp_path, capsys):
    assert step2_train.main([*flags, "--checkpoint-dir", str(tmp_path / "A"), "--log-dir",
                             checkpoints.PRETRAINED_DIR + "/x3", "--epochs", "1"]) == 1
    assert last_error(capsys).endswith("pass another --log-dir")


def adam_checkpoint(folder):
    """A training checkpoint with Adam's state, as an adam run leaves it."""
    model = SRCNN()
    optimizer, _ = make_optimizer(TrainSettings(optimizer="adam"), 10)
    optimizer.build(model.trainable_variables)
    bundle = tf.train.Checkpoint(model=model, optimizer=optimizer, step=tf.Variable(4, dtype=tf.int64),
                                 config=checkpoints.Config(3, "9-1-5"))
    return tf.train.CheckpointManager(bundle, str(folder), max_to_keep=5, checkpoint_name="ckpt").save(4)


@pytest.mark.slow
def test_resuming_adam_with_sgd_says_so_as_the_last_line(flags, tmp_path):
    prefix = adam_checkpoint(tmp_path / "A")
    assert checkpoints.trained_optimizer(prefix) == "adam"
    # A child process: TensorFlow's warnings about an unfinished restore came at exit, after the error.
    code, output = Training(*flags, "--checkpoint-dir", tmp_path / "A", "--epochs", "2", "--optimizer",
                            "sgd").finish()
    assert code == 1
    assert output.splitlines()[-1] == (f"error: {prefix}: trained with optimizer adam, not sgd; pass --optimizer "
                                       "adam to continue it, or --fresh or another --checkpoint-dir to start a new run")


def test_error_is_printed_after_what_its_traceback_held(capsys):
    """The mechanism behind warnings after the error: objects freed with the exception log as they go."""
    class LogsWhenDeleted:
        def __del__(self):
            print("WARNING: deleted with unrestored values", file=sys.stderr)

    @exit_on_user_error
    def main(argv=None):
        held = [LogsWhenDeleted()]
        held.append(held)  # a cycle: only the garbage collector frees it
        raise SRCNNError("the real problem")

    assert main() == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["WARNING: deleted with unrestored values", "error: the real problem"]


def test_odd_batch_names_the_flag_and_few_patches_are_split_evenly():
    patches = PatchArrays(np.zeros((67, 33, 33, 1), np.float32), np.zeros((67, 21, 21, 1), np.float32))
    two_replicas = SimpleNamespace(num_replicas_in_sync=2)
    with pytest.raises(SettingError, match="batch size 3 does not split evenly over 2 replicas") as refused:
        train_on(TrainSettings(batch_size=3), patches, [], strategy=two_replicas)
    assert refused.value.setting == "batch_size"
    with pytest.raises(SRCNNError, match="1 training patches cannot be split over 2 replicas"):
        train_on(TrainSettings(batch_size=128), PatchArrays(patches.data[:1], patches.label[:1]), [],
                 strategy=two_replicas)


@pytest.mark.slow
def test_mirrored_training_with_fewer_patches_than_a_batch(tmp_path):
    """Case 11: 67 patches and --batch-size 128 on 2 replicas was refused, asking for a multiple of 2."""
    train_h5, test_h5 = write_h5s(str(tmp_path / "h5"), count=67)
    code, output = Training("--train-h5", train_h5, "--test-h5", test_h5, "--strategy", "mirrored", "--replicas",
                            "2", "--checkpoint-dir", tmp_path / "A", "--epochs", "1", "--batch-size", "128").finish()
    assert code == 0, output
    assert "finished: epoch 1, step 1" in output


# --- case 3: the learning rate given is the one used --------------------------------------------------------

@pytest.mark.parametrize("learning_rate", [0.0, -0.01, float("nan"), float("inf")])
def test_settings_refuse_a_learning_rate_no_training_can_use(learning_rate):
    with pytest.raises(SettingError, match="must be a finite number above 0"):
        TrainSettings(learning_rate=learning_rate)


@pytest.mark.parametrize("name", ["epochs", "batch_size", "save_every", "log_every"])
def test_settings_refuse_counts_below_one(name):
    with pytest.raises(SettingError, match=f"{name} 0: must be a positive integer") as refused:
        TrainSettings(**{name: 0})
    assert refused.value.setting == name


def test_given_learning_rate_is_used():
    optimizer, _ = make_optimizer(TrainSettings(optimizer="sgd", learning_rate=5e-4), 10)
    assert float(optimizer.learning_rate) == pytest.approx(5e-4)



def test_default_weights_are_your_training_then_the_shipped_ones(tmp_path, monkeypatch):
    """One policy for step3_test.py and srcnn-upscale (which never looks for your own training)."""
    import step3_test
    from srcnn.commands import cli

    monkeypatch.chdir(tmp_path)
    shipped = checkpoints.pretrained_path(3)
    assert run_folder.default_weights(3) == step3_test.choose_weights(None, 3) == shipped
    trained = checkpoints.export_weights(SRCNN(), 3, str(tmp_path / "checkpoint" / "x3" / "ckpt-4"))
    assert run_folder.default_weights(3) == step3_test.choose_weights(None, 3) == os.path.relpath(trained)
    assert run_folder.default_weights(3, own_training=False) == cli.weights_for(None, None)[0] == shipped
    with pytest.raises(checkpoints.WrongScale):
        checkpoints.check_scale(run_folder.default_weights(3), 2)


def test_fresh_start_clears_the_layout_and_keeps_the_rest(tmp_path):
    folder = RunFolder(str(tmp_path / "c"), str(tmp_path / "c" / "logs"))
    kept = [tmp_path / "c" / "notes.txt", tmp_path / "c" / "logs" / "train" / "mine.txt"]
    gone = [tmp_path / "c" / "ckpt-4.index", tmp_path / "c" / "checkpoint", tmp_path / "c" / "best" / "best-4.index",
            tmp_path / "c" / "logs" / "history.csv", tmp_path / "c" / "logs" / "eval" / "events.out.tfevents.1"]
    for path in kept + gone:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text({"checkpoint": 'model_checkpoint_path: "ckpt-4"\n',
                         "history.csv": ",".join(history_file.FIELDS) + "\n"}.get(path.name, "x"))
    folder.start_over()
    assert [path.exists() for path in kept + gone] == [True] * len(kept) + [False] * len(gone)
