"""Training that survives real use: kills, Ctrl-C, bad files and bad state, through step2_train."""

import csv
import hashlib
import os
import random
import signal
import time

import h5py
import numpy as np
import pytest
import tensorflow as tf

import step2_train
from srcnn.core import checkpoints
from srcnn.training import hdf5
from srcnn.core.model import SRCNN

from tiny_data import Training, write_h5s

SAVE_EVERY = 8
STEPS_PER_EPOCH = 32  # 512 patches, batch 16


@pytest.fixture(scope="module")
def h5s(tmp_path_factory):
    return write_h5s(str(tmp_path_factory.mktemp("h5")))


@pytest.fixture
def run(h5s, tmp_path):
    """Flags for a tiny run into tmp_path; call with extra flags, or .main(...) in process."""
    train_h5, test_h5 = h5s

    class Run:
        checkpoint_dir = tmp_path / "checkpoint"
        log_dir = tmp_path / "logs"

        def flags(self, *extra, train=train_h5, test=test_h5):
            return ["--train-h5", str(train), "--test-h5", str(test), "--checkpoint-dir", str(self.checkpoint_dir),
                    "--log-dir", str(self.log_dir), "--batch-size", "16", "--save-every", str(SAVE_EVERY),
                    "--log-every", "4", *map(str, extra)]

        def main(self, *extra, **files):
            return step2_train.main(self.flags(*extra, **files))

    return Run()


def one_line_error(capsys):
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    return error


def folder_digest(folder):
    """A hash of every file's name and bytes under `folder` (to show nothing was touched)."""
    digest = hashlib.sha256()
    for root, _, names in sorted(os.walk(folder)):
        for name in sorted(names):
            path = os.path.join(root, name)
            digest.update(path.encode())
            with open(path, "rb") as handle:
                digest.update(handle.read())
    return digest.hexdigest()


def history(log_dir):
    with open(log_dir / "history.csv", newline="") as handle:
        return list(csv.DictReader(handle))


# --- bad files: one line, nothing written ----------------------------------------------------------

def test_truncated_train_h5(run, h5s, tmp_path, capsys):
    truncated = tmp_path / "train.h5"
    content = open(h5s[0], "rb").read()
    truncated.write_bytes(content[:len(content) // 2])
    assert run.main("--epochs", "1", train=truncated) == 1
    assert f"{truncated}: not a readable HDF5 file (truncated" in one_line_error(capsys)
    assert not run.checkpoint_dir.exists() and not run.log_dir.exists()


def test_train_h5_of_another_kind(run, tmp_path, capsys):
    other = tmp_path / "train.h5"
    other.write_text("epoch,step\n1,2\n")
    assert run.main("--epochs", "1", train=other) == 1
    assert "not a readable HDF5 file" in one_line_error(capsys)
    assert not run.checkpoint_dir.exists()


@pytest.mark.parametrize("missing", ["data", "label"])
def test_train_h5_without_data_or_label(run, h5s, tmp_path, capsys, missing):
    damaged = tmp_path / "train.h5"
    damaged.write_bytes(open(h5s[0], "rb").read())
    with h5py.File(damaged, "a") as h5:
        del h5[missing]
    assert run.main("--epochs", "1", train=damaged) == 1
    assert f"{damaged}: has no {missing}" in one_line_error(capsys)


@pytest.mark.parametrize("attribute, value, message", [
    ("scale", 2, "made with scale=2, but 3 is asked for"),
    ("image_size", 25, "made with image_size=25, but 33 is asked for"),
])
def test_train_h5_made_for_other_settings(run, h5s, tmp_path, capsys, attribute, value, message):
    other = tmp_path / "train.h5"
    other.write_bytes(open(h5s[0], "rb").read())
    with h5py.File(other, "a") as h5:
        h5.attrs[attribute] = value
    assert run.main("--epochs", "1", train=other) == 1
    assert message in one_line_error(capsys)
    assert not run.checkpoint_dir.exists()


def test_train_h5_whose_patches_do_not_match_their_labels(run, tmp_path, capsys):
    odd = tmp_path / "train.h5"
    with h5py.File(odd, "w") as h5:
        h5.create_dataset("data", data=np.zeros((8, 33, 33, 1), np.float32))
        h5.create_dataset("label", data=np.zeros((7, 21, 21, 1), np.float32))
        h5.attrs.update({**hdf5.convention_attributes(), "scale": 3, "image_size": 33})
    for stream in ("--no-stream", "--stream"):
        assert run.main("--epochs", "1", stream, train=odd) == 1
        assert "8 patches but 7 labels" in one_line_error(capsys)


# --- bad checkpoint state ----------------------------------------------------------------------------

@pytest.mark.parametrize("scale, arch, message", [
    (3, "9-5-5", "a 9-5-5 network, not 9-1-5; pass --arch 9-5-5 to continue it"),
    (2, "9-1-5", "trained for x2, but x3 is asked for; pass --scale 2 to continue it"),
])
def test_checkpoint_of_another_network_is_refused_and_kept(run, capsys, scale, arch, message):
    bundle = tf.train.Checkpoint(model=SRCNN(arch), config=checkpoints.Config(scale, arch))
    tf.train.CheckpointManager(bundle, str(run.checkpoint_dir), max_to_keep=5).save(checkpoint_number=40)
    before = folder_digest(run.checkpoint_dir)
    assert run.main("--epochs", "1") == 1
    assert message in one_line_error(capsys)
    assert folder_digest(run.checkpoint_dir) == before


def test_checkpoint_without_training_state_is_refused(run, capsys):
    checkpoints.export_weights(SRCNN(), 3, str(run.checkpoint_dir / "ckpt-40"))  # weights only, no optimizer
    before = folder_digest(run.checkpoint_dir)
    assert run.main("--epochs", "1") == 1
    assert "ckpt-40: does not restore into this training" in one_line_error(capsys)
    assert folder_digest(run.checkpoint_dir) == before


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["data cut short", "index cut short", "index missing"])
def test_resume_skips_a_half_written_checkpoint(run, capsys, damage):
    # The state file names ckpt-32 (as after an in-place rewrite of it was killed);
    # the run must go back to ckpt-24, the newest complete one.
    assert run.main("--epochs", "1") == 0
    prefix = run.checkpoint_dir / "ckpt-32"
    assert tf.train.latest_checkpoint(str(run.checkpoint_dir)) == str(prefix)
    data_file, index_file = f"{prefix}.data-00000-of-00001", f"{prefix}.index"
    if damage == "index missing":
        os.remove(index_file)
    else:
        path = data_file if damage.startswith("data") else index_file
        os.truncate(path, os.path.getsize(path) // 2)
    assert checkpoints.resolve(str(run.checkpoint_dir)).endswith("ckpt-24")  # what step3 would load
    capsys.readouterr()
    assert run.main("--epochs", "2") == 0
    out = capsys.readouterr().out
    assert f"Continuing from step 24 ({run.checkpoint_dir / 'ckpt-24'})" in out
    assert f"Skipping {prefix}: incomplete or damaged" in out
    assert checkpoints.why_unreadable(str(prefix)) is None  # step 32 was trained and saved again
    assert [row["epoch"] for row in history(run.log_dir)] == ["1", "2"]  # epoch 1 (step 32) not counted twice


@pytest.mark.slow
def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(run, capsys):
    assert run.main("--epochs", "1") == 0
    good = folder_digest(run.checkpoint_dir), history(run.log_dir)
    capsys.readouterr()
    assert run.main("--epochs", "3", "--learning-rate", "1e9") == 1
    error = one_line_error(capsys)
    step = int(error.split("non-finite at step ")[1].split(";")[0])
    assert 32 < step <= 36 and f"the last good checkpoint is {run.checkpoint_dir / 'ckpt-32'}" in error
    assert (folder_digest(run.checkpoint_dir), history(run.log_dir)) == good


@pytest.mark.parametrize("which", ["checkpoint", "log"])
def test_folder_that_cannot_be_created(run, tmp_path, capsys, which):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    flag = f"--{which}-dir"
    assert run.main("--epochs", "1", flag, blocker / "x3") == 1
    assert f"{blocker / 'x3'}: cannot create the {which} folder" in one_line_error(capsys)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.parametrize("which", ["checkpoint", "log"])
def test_folder_that_is_not_writable(run, tmp_path, capsys, which):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    assert run.main("--epochs", "1", f"--{which}-dir", locked) == 1
    assert f"{locked}: the {which} folder is not writable" in one_line_error(capsys)


# --- interruptions --------------------------------------------------------------------------------

def complete_checkpoints(folder):
    """{step: prefix} of the checkpoints in `folder` that read back whole."""
    found = {}
    for name in os.listdir(folder) if folder.is_dir() else []:
        if name.endswith(".index"):
            prefix = str(folder / name[:-len(".index")])
            if checkpoints.why_unreadable(prefix) is None:
                found[checkpoints.checkpoint_number(prefix)] = prefix
    return found


def saving(folder):
    """True while a checkpoint or its state file is being written (their temporary names exist)."""
    try:
        return any("_temp" in name or "srcnn-tmp" in name for name in os.listdir(folder))
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_six_kills_in_a_row_then_training_finishes_cleanly(run):
    """SIGKILL at random steps, mid-save and right after an epoch's history row, each twice."""
    # Six rounds move the run at most about 140 steps on: 8 epochs (256 steps) outlast them.
    epochs, save_every = 8, 12  # saves at 12, 24, 36: an epoch (32 steps) ends between two
    flags = run.flags("--epochs", epochs, "--log-every", 1, "--save-every", save_every)
    chance = random.Random(5)
    kills_mid_save = 0
    resumed_from = []
    for round_number in range(6):
        expected = max(complete_checkpoints(run.checkpoint_dir), default=None)
        training = Training(*flags)
        assert training.wait_for(training.logged_steps), training.stop()[1]
        started = "\n".join(training.lines)
        if expected is None:
            assert "Starting a new" in started
        else:
            assert f"Continuing from step {expected} " in started
            resumed_from.append(expected)
        first = training.logged_steps()[-1]
        kind = round_number % 3
        if kind == 0:  # a random moment: mid-step, mid-save or mid-evaluation
            target = first + chance.randint(1, 12)
            training.wait_for(lambda: training.logged_steps()[-1] >= target)
            time.sleep(chance.uniform(0, 0.05))
        elif kind == 1:  # while a checkpoint is being written: two saves' chances to catch one
            past_two_saves = (first // save_every + 2) * save_every
            seen = {"saving": False}

            def saving_or_missed():
                seen["saving"] = saving(run.checkpoint_dir)
                return seen["saving"] or training.logged_steps()[-1] > past_two_saves

            training.wait_for(saving_or_missed)
            kills_mid_save += seen["saving"]
        else:  # just after an epoch was logged to history.csv, before the next checkpoint
            csv_path = run.log_dir / "history.csv"
            size = csv_path.stat().st_size if csv_path.exists() else 0
            training.wait_for(lambda: csv_path.exists() and csv_path.stat().st_size > size)
        last_step = training.logged_steps()[-1]
        code, output = training.stop()
        assert code == -signal.SIGKILL, output  # it was still training
        newest = max(complete_checkpoints(run.checkpoint_dir), default=0)
        assert newest >= last_step - save_every, f"round {round_number}: lost more than {save_every} steps"
        recorded = checkpoints.checkpoint_number(tf.train.latest_checkpoint(str(run.checkpoint_dir)) or "none")
        print(f"kill {round_number + 1} ({('random', 'mid-save', 'after history row')[kind]}): last logged step "
              f"{last_step}, newest complete checkpoint {newest} (state file: {recorded}), "
              f"save in progress: {saving(run.checkpoint_dir)}")
    assert kills_mid_save >= 1 and resumed_from

    code, output = Training(*flags).finish()
    assert code == 0, output
    assert f"finished: epoch {epochs}, step {epochs * STEPS_PER_EPOCH}" in output
    rows = history(run.log_dir)
    assert [int(row["epoch"]) for row in rows] == list(range(1, epochs + 1))
    assert [int(row["step"]) for row in rows] == [STEPS_PER_EPOCH * epoch for epoch in range(1, epochs + 1)]
    for folder in (run.checkpoint_dir, run.checkpoint_dir / "best"):
        indexes = [name for name in os.listdir(folder) if name.endswith(".index")]
        assert indexes and len(complete_checkpoints(folder)) == len(indexes)  # nothing half-written is left
        assert not saving(folder)


@pytest.mark.slow
def test_ctrl_c_and_sigterm_save_before_exiting(run):
    flags = run.flags("--epochs", 20, "--log-every", 1, "--save-every", 1000)
    for number, stop in enumerate((signal.SIGINT, signal.SIGTERM)):
        training = Training(*flags)
        assert training.wait_for(lambda: len(training.logged_steps()) > 5), training.stop()[1]
        if number:
            assert f"Continuing from step {saved_step} " in "\n".join(training.lines)
        last_step = training.logged_steps()[-1]
        training.process.send_signal(stop)
        code, output = training.finish()
        assert code == (130, 143)[number] and "Traceback" not in output, output
        said = ("interrupted; saved ", "interrupted by SIGTERM; saved ")[number]
        saved_line = [line for line in output.splitlines() if line.startswith(said)]
        assert saved_line and saved_line[0].endswith("; rerun to continue") and output.endswith(saved_line[0]), output
        saved = saved_line[0].split(said)[1].split(";")[0]
        saved_step = checkpoints.checkpoint_number(saved)
        assert saved_step >= last_step and checkpoints.why_unreadable(saved) is None
