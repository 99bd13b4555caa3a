"""Issue 18, rule 4: an interrupted then resumed training gives the same weights and history rows
as an uninterrupted one, with augmentation on, wherever the interrupt falls; a resume with
another batch size is refused, and a clamped batch size is recorded as used."""

import json

import numpy as np
import pytest
import tensorflow as tf

import step2_train
from srcnn.core import checkpoints
from srcnn.training import history
from srcnn.training import hdf5
from srcnn.training import loop, summaries
from srcnn.training.batches import PatchArrays
from srcnn.training.config import TrainSettings
from srcnn.training.loop import train_on

from tiny_data import write_h5s

EPOCHS, STEPS_PER_EPOCH = 3, 4  # 64 patches, batch 16

pytestmark = pytest.mark.slow  # every test trains


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    train_h5, test_h5 = write_h5s(str(tmp_path_factory.mktemp("h5")), count=64)
    patches, labels, _ = hdf5.read_train_h5(train_h5, {})
    test_images, _ = hdf5.read_test_h5(test_h5)
    return train_h5, test_h5, patches, labels, test_images


class StopAfter(PatchArrays):
    """Patches that raise KeyboardInterrupt (as Ctrl-C would) before the `stop_at`-th batch of this run."""

    def __init__(self, patches, labels, stop_at):
        super().__init__(patches, labels)
        self.left = stop_at

    def batches(self, batch_size, rng, skip=0):
        inner = super().batches(batch_size, rng, skip)

        def generate():
            for batch in inner:
                if self.left == 0:
                    raise KeyboardInterrupt
                self.left -= 1
                yield batch

        return generate()


def settings(folder):
    return TrainSettings(epochs=EPOCHS, batch_size=16, augment=True, save_every=3, log_every=1,
                         checkpoint_dir=str(folder / "checkpoint"), log_dir=str(folder / "logs"), precision="float32")


def outcome(folder):
    """The final weights and the history rows, less the wall-clock seconds."""
    reader = tf.train.load_checkpoint(str(folder / "checkpoint" / f"ckpt-{EPOCHS * STEPS_PER_EPOCH}"))
    weights = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map() if name.startswith("model/")}
    rows, clean = history.read(str(folder / "logs" / history.FILE_NAME))
    assert clean
    return weights, [{key: value for key, value in row.items() if key != "seconds"} for row in rows]


@pytest.fixture(scope="module")
def uninterrupted(tiny, tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted")
    _, _, patches, labels, test_images = tiny
    train_on(settings(folder), PatchArrays(patches, labels), test_images, say=lambda line: None)
    return outcome(folder)


def assert_same(resumed, uninterrupted):
    weights, rows = resumed
    assert rows == uninterrupted[1]
    assert weights.keys() == uninterrupted[0].keys()
    for name, value in weights.items():
        np.testing.assert_array_equal(value, uninterrupted[0][name], err_msg=name)


@pytest.mark.parametrize("stop_at", [5, STEPS_PER_EPOCH * 2])  # mid-epoch (between saves); at an epoch's end
def test_interrupted_mid_epoch_then_resumed_is_the_uninterrupted_run(tiny, uninterrupted, tmp_path, stop_at):
    """The skipped batches' augmentation draws were not replayed: another run."""
    _, _, patches, labels, test_images = tiny
    with pytest.raises(KeyboardInterrupt):
        train_on(settings(tmp_path), StopAfter(patches, labels, stop_at), test_images, say=lambda line: None)
    train_on(settings(tmp_path), PatchArrays(patches, labels), test_images, say=lambda line: None)
    assert_same(outcome(tmp_path), uninterrupted)


def test_interrupted_while_validating_then_resumed_keeps_that_epochs_row(tiny, uninterrupted, tmp_path,
                                                                         monkeypatch):
    """The epoch's row was lost for good: the resumed run started at the next epoch."""
    _, _, patches, labels, test_images = tiny
    validate = summaries.validate

    def interrupted_in_epoch_2(*args, epoch, **kwargs):
        if epoch == 1:
            raise KeyboardInterrupt
        return validate(*args, epoch=epoch, **kwargs)

    monkeypatch.setattr(loop, "validate", interrupted_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train_on(settings(tmp_path), PatchArrays(patches, labels), test_images, say=lambda line: None)
    monkeypatch.setattr(loop, "validate", validate)
    train_on(settings(tmp_path), PatchArrays(patches, labels), test_images, say=lambda line: None)
    assert_same(outcome(tmp_path), uninterrupted)


def test_resume_with_another_batch_size_is_refused(tiny, tmp_path, capsys):
    """It counted epochs 1, 2, 9, 10 and rewrote recipe.json."""
    train_h5, test_h5, *_ = tiny
    flags = ["--train-h5", train_h5, "--test-h5", test_h5, "--checkpoint-dir", str(tmp_path / "c"), "--epochs"]
    assert step2_train.main([*flags, "1", "--batch-size", "16"]) == 0
    recipe = (tmp_path / "c" / checkpoints.RECIPE_FILE).read_text()
    capsys.readouterr()
    for other in ("8",):
        assert step2_train.main([*flags, "2", "--batch-size", other]) == 1
        error = capsys.readouterr().err.strip()
        assert error == (f"error: {tmp_path / 'c'}: this run trains with batch size 16 (its recipe.json); pass "
                         "--batch-size 16 to continue it, or --fresh or another --checkpoint-dir to start a new run")
    assert (tmp_path / "c" / checkpoints.RECIPE_FILE).read_text() == recipe
    assert step2_train.main([*flags, "2", "--batch-size", "16", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "with other settings than its recipe.json: epochs 1 -> 2, seed 0 -> 3" in out
    rows, _ = history.read(str(tmp_path / "c" / "logs" / history.FILE_NAME))
    assert [row["epoch"] for row in rows] == [1, 2] and [row["step"] for row in rows] == [4, 8]


def test_a_clamped_batch_size_is_recorded_as_used(tiny, tmp_path, capsys):
    train_h5, test_h5, *_ = tiny
    assert step2_train.main(["--train-h5", train_h5, "--test-h5", test_h5, "--checkpoint-dir", str(tmp_path / "c"),
                             "--epochs", "1", "--batch-size", "100"]) == 0
    assert "batch size 100: only 64 patches, so batches of 64" in capsys.readouterr().out
    assert json.loads((tmp_path / "c" / checkpoints.RECIPE_FILE).read_text())["batch_size"] == 64
