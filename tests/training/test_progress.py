"""What training tells the person watching it, and --minutes; the identity initialisation."""

import re

import numpy as np
import pytest
import tensorflow as tf

import step2_train
from srcnn.core.model import SRCNN
from srcnn.training.config import TrainSettings
from srcnn.training.progress import Progress, RunClock, duration
from srcnn.training import execution as executions
from srcnn.training.execution import Execution
from srcnn.training.update import describe_compute

from tiny_data import write_h5s


@pytest.fixture(scope="module")
def h5s(tmp_path_factory):
    return write_h5s(str(tmp_path_factory.mktemp("h5")), count=256)


@pytest.mark.slow
def test_the_run_says_how_it_computes_what_to_expect_and_each_epochs_own_time(h5s, tmp_path, capsys):
    train_h5, test_h5 = h5s
    assert step2_train.main(["--train-h5", train_h5, "--test-h5", test_h5, "--epochs", "2", "--batch-size", "8",
                             "--precision", "float32", "--checkpoint-dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "32 steps per epoch, 2 epochs, float32, conv1 forward on TensorFlow's kernel, the rest under XLA" in out
    assert re.search(r"Expected: [\d.]+ s per epoch here \(from 32 steps\), about [\d.]+ s for the 2 of 2 epochs to go",
                     out)
    first, second = re.findall(r"epoch (\d)/2: loss [\d.]+, validation PSNR [\d.]+ dB \(bicubic [\d.]+ dB\), "
                               r"([\d.]+) s \((.*)\)", out)
    assert "left" in first[2] and second[2].endswith("in all")
    assert "step: [" not in out  # no loss lines unless --log-every asks for them


@pytest.mark.slow
def test_log_every_prints_loss_lines(h5s, tmp_path, capsys):
    train_h5, test_h5 = h5s
    assert step2_train.main(["--train-h5", train_h5, "--test-h5", test_h5, "--epochs", "1", "--batch-size", "32",
                             "--log-every", "4", "--checkpoint-dir", str(tmp_path / "c")]) == 0
    assert len(re.findall(r"step: \[\d+\] time: \[[\d.]+\] loss: \[", capsys.readouterr().out)) == 2


@pytest.mark.slow
def test_minutes_sizes_the_run_to_the_time_measured_here(h5s, tmp_path, capsys):
    train_h5, test_h5 = h5s
    flags = ["--train-h5", train_h5, "--test-h5", test_h5, "--batch-size", "32", "--checkpoint-dir", str(tmp_path / "c")]
    assert step2_train.main([*flags, "--minutes", "0.25"]) == 0
    out = capsys.readouterr().out
    fitted = re.search(r"0.25 minutes: (\d+) epochs fit \(([\d.]+) s per epoch measured here", out)
    epochs, epoch_seconds = int(fitted.group(1)), float(fitted.group(2))
    assert epochs >= 1 and epochs * epoch_seconds <= 15
    assert f"finished: epoch {epochs}," in out
    # A rerun keeps the run's own length (its schedule spans it), whatever the budget.
    assert step2_train.main([*flags, "--minutes", "5"]) == 0
    out = capsys.readouterr().out
    assert f"continuing the run of {epochs} epochs" in out and "nothing to do" in out


@pytest.mark.slow
def test_minutes_too_short_for_one_epoch_and_with_epochs(h5s, tmp_path, capsys):
    train_h5, test_h5 = h5s
    flags = ["--train-h5", train_h5, "--test-h5", test_h5, "--checkpoint-dir", str(tmp_path / "c")]
    assert step2_train.main([*flags, "--minutes", "0.0001"]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "one epoch takes about" in error
    with pytest.raises(SystemExit):
        step2_train.main([*flags, "--minutes", "1", "--epochs", "3"])
    assert "--epochs or --minutes, not both" in capsys.readouterr().err


def test_the_start_line_says_the_precision_and_the_execution(monkeypatch):
    monkeypatch.setattr(executions, "core_count", lambda: 2)
    one = tf.distribute.get_strategy()
    assert describe_compute(TrainSettings(precision="float32"), one, Execution("xla-per-core")) == \
        "float32, XLA, each batch as 2 parts of 8 side by side"
    assert describe_compute(TrainSettings(precision="mixed_bfloat16"), one) == "mixed_bfloat16"


def test_durations_read_as_people_say_them():
    assert [duration(seconds) for seconds in (4.2, 45, 300, 7200)] == ["4.2 s", "45 s", "5.0 min", "2.0 h"]


@pytest.mark.parametrize("arch", ["9-1-5", "9-5-5"])
def test_the_identity_initialisation_gives_its_input_back(arch):
    tf.keras.utils.set_random_seed(3)
    model = SRCNN(arch, initialization="identity")
    images = np.random.default_rng(0).random((2, 33, 33, 1), dtype=np.float32)
    margin = (33 - model(images).shape[1]) // 2
    np.testing.assert_array_equal(model(images).numpy(), images[:, margin:-margin, margin:-margin])
    # Only one path is fixed: the other maps start as He's.
    assert np.std(model.conv1.kernel.numpy()[..., 1:]) > 0.05


def test_the_expected_time_is_said_once_when_steps_come_in_chunks():
    lines = []
    progress = Progress(TrainSettings(epochs=4), first_step=0, steps_per_epoch=100, say=lines.append)
    for step in range(25, 401, 25):
        progress.steps_done(step, 25)
    progress.close()
    expected = [line for line in lines if line.startswith("Expected:")]
    assert len(expected) == 1
    # Timed from the end of the first chunk (step 25, which compiles) to the first past TIMED_STEPS more.
    timed = -(-RunClock.TIMED_STEPS // 25) * 25
    assert f"from {timed} steps" in expected[0] and "for the 4 of 4 epochs to go" in expected[0]
