import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from srcnn.core import checkpoints
from srcnn.core.errors import CheckpointError, ResumeError
from srcnn.core.model import SRCNN

from conftest import ROOT
from tiny_data import HANG_GUARD


@pytest.mark.slow
def test_restore_in_a_fresh_process_gives_identical_output(tmp_path):
    model = SRCNN("9-1-5")
    prefix = str(tmp_path / "weights" / "srcnn")
    checkpoints.export_weights(model, 3, prefix)
    images = np.random.default_rng(0).random((1, 30, 26, 1)).astype(np.float32)
    np.save(tmp_path / "input.npy", images)
    expected = model(images, padding="replicate").numpy()
    script = (
        "import numpy as np; from srcnn.core import checkpoints;"
        f"model, config = checkpoints.load_model({prefix!r});"
        f"np.save({str(tmp_path / 'output.npy')!r}, model(np.load({str(tmp_path / 'input.npy')!r})).numpy());"
        "print(config)")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0, result.stderr
    assert "'scale': 3" in result.stdout and "'arch': '9-1-5'" in result.stdout
    assert np.array_equal(np.load(tmp_path / "output.npy"), expected)


def test_config_is_checked(tmp_path):
    prefix = str(tmp_path / "srcnn")
    checkpoints.export_weights(SRCNN("9-5-5"), 2, prefix)
    assert checkpoints.read_config(prefix) == {"scale": 2, "arch": "9-5-5", "channels": "y"}
    with pytest.raises(ResumeError, match="9-5-5 network, not 9-1-5") as refused:
        checkpoints.check_config(prefix, 2, "9-1-5")
    assert (refused.value.setting, refused.value.recorded) == ("arch", "9-5-5")
    with pytest.raises(checkpoints.WrongScale, match="trained for x2, but x3 is asked for") as refused:
        checkpoints.check_config(prefix, 3, "9-5-5")
    assert (refused.value.recorded, refused.value.wanted) == (2, 3)


@pytest.mark.parametrize("arch, name", [("9-1-1-5", "9-1-1-5"), ("9x32-1x16-5", "9x32-1x16-5"),
                                        ("9x64-1x32-5", "9-1-5")])
def test_a_network_of_any_depth_and_widths_comes_back_as_saved(tmp_path, arch, name):
    model = SRCNN(arch)
    prefix = checkpoints.export_weights(model, 2, str(tmp_path / "srcnn"))
    assert checkpoints.read_config(prefix) == {"scale": 2, "arch": name, "channels": "y"}
    loaded, _ = checkpoints.load_model(prefix)
    assert loaded.arch == name and len(loaded.get_weights()) == len(model.get_weights())
    for got, saved in zip(loaded.get_weights(), model.get_weights()):
        assert np.array_equal(got, saved)
    assert checkpoints.check_config(prefix, 2, arch)["arch"] == name  # the name it was given by


@pytest.mark.parametrize("filters, said", [("9-1-1-5", "9-1-5"), ("9x32-1x16-5", "9-1-5"), ("9-1-5", "9-1-1-5")])
def test_a_config_that_does_not_match_the_weights_is_refused(tmp_path, filters, said):
    bundle = tf.train.Checkpoint(model=SRCNN(filters), config=checkpoints.Config(3, said))
    prefix = bundle.write(str(tmp_path / "srcnn"))
    with pytest.raises(CheckpointError, match=f"config says {said}, but its filters are {filters}; the file is damaged"):
        checkpoints.read_config(prefix)


def test_the_scale_check_is_one_function(tmp_path):
    prefix = str(tmp_path / "srcnn")
    checkpoints.export_weights(SRCNN(), 2, prefix)
    assert checkpoints.check_scale(prefix, 2)["scale"] == checkpoints.check_scale(prefix, None)["scale"] == 2
    with pytest.raises(CheckpointError, match="trained for x2, but x4 is asked for"):
        checkpoints.check_scale(prefix, 4)


def test_resolve_finds_latest_in_a_folder_and_refuses_empty(tmp_path):
    bundle = tf.train.Checkpoint(model=SRCNN(), config=checkpoints.Config(3, "9-1-5"))
    manager = tf.train.CheckpointManager(bundle, str(tmp_path / "run"), max_to_keep=2)
    manager.save(checkpoint_number=5)
    manager.save(checkpoint_number=9)
    assert checkpoints.resolve(str(tmp_path / "run")).endswith("ckpt-9")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        checkpoints.resolve(str(tmp_path))


def test_a_non_srcnn_checkpoint_is_refused(tmp_path):
    prefix = tf.train.Checkpoint(other=tf.Variable(1.0)).write(str(tmp_path / "other"))
    with pytest.raises(CheckpointError, match="not a readable SRCNN checkpoint"):
        checkpoints.load_model(prefix)


def test_recipe_travels_with_exported_weights(tmp_path, capsys):
    import importlib.util

    recipe = {"scale": 3, "arch": "9-1-5", "optimizer": "sgd", "learning_rate": 1e-4, "epochs": 7,
              "batch_size": 64, "seed": 1, "augment": False, "precision": "float32"}
    source = checkpoints.export_weights(SRCNN(), 3, str(tmp_path / "run" / "ckpt-7"), recipe=recipe)
    assert checkpoints.read_recipe(source) == recipe
    assert checkpoints.describe_recipe(source) == ("sgd (learning rate 0.0001), 7 epochs of batch 64, "
                                                   "not augmented, float32, seed 1")
    spec = importlib.util.spec_from_file_location("export_weights", ROOT / "tools" / "export_weights.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main([str(tmp_path / "run"), str(tmp_path / "shipped" / "srcnn")]) == 0
    assert checkpoints.read_recipe(str(tmp_path / "shipped" / "srcnn")) == recipe
    assert "recipe: sgd (learning rate 0.0001), 7 epochs" in capsys.readouterr().out


def test_weights_without_or_with_a_damaged_recipe_still_load(tmp_path):
    prefix = checkpoints.export_weights(SRCNN(), 3, str(tmp_path / "srcnn"))
    assert checkpoints.read_recipe(prefix) is None
    assert checkpoints.describe_recipe(prefix) == "no recipe.json beside the weights"
    (tmp_path / "recipe.json").write_text("{not json")
    assert checkpoints.describe_recipe(prefix) == "no recipe.json beside the weights"
    checkpoints.load_model(prefix)
