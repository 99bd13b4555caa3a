import numpy as np
import pytest

from srcnn.core import image_files
from srcnn.training import hdf5
from srcnn.training.patches import training_patches
from srcnn.training import test_set
from srcnn.core.errors import DataFileError, RunFolderError
from srcnn.training.config import TrainSettings
from srcnn.training.loop import train


@pytest.mark.slow
def test_short_training_on_real_images_beats_bicubic(tmp_path, train_images, set5):
    patches, labels = training_patches(image_files.list_images(str(train_images)), scale=3)
    # 4,096 of the 91 images' 21,884 patches, drawn from all of them: 128 steps reach about +0.7 dB.
    chosen = np.sort(np.random.default_rng(0).permutation(len(patches))[:4096])
    held_out = [test_set.test_image(path, 3) for path in image_files.list_images(str(set5))]
    settings = TrainSettings(epochs=2, batch_size=64, checkpoint_dir=str(tmp_path / "checkpoint"),
                             log_dir=str(tmp_path / "logs"), log_every=10, save_every=10_000)
    history = train(settings, patches[chosen], labels[chosen], held_out, say=lambda line: None)
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["psnr"] > history[-1]["bicubic_psnr"] + 0.3  # Set5 was never trained on


def test_training_never_writes_into_the_shipped_weights(tmp_path):
    from srcnn.core.checkpoints import PRETRAINED_DIR
    settings = TrainSettings(epochs=1, checkpoint_dir=f"{PRETRAINED_DIR}/x3", log_dir=str(tmp_path))
    with pytest.raises(RunFolderError, match="shipped weights"):
        train(settings, np.zeros((4, 33, 33, 1), np.float32), np.zeros((4, 21, 21, 1), np.float32), [])


def test_patch_size_must_fit_the_architecture(tmp_path):
    settings = TrainSettings(arch="9-5-5", checkpoint_dir=str(tmp_path / "c"), log_dir=str(tmp_path / "l"))
    with pytest.raises(DataFileError, match=r"do not fit a 9-5-5 network, which crops 8 px per side: make patches "
                                            r"with 17x17 labels for it \(step 1's label size\)"):
        train(settings, np.zeros((4, 33, 33, 1), np.float32), np.zeros((4, 21, 21, 1), np.float32), [])


@pytest.mark.slow
def test_mixed_bfloat16_training_keeps_float32_weights_that_load_for_testing(tmp_path):
    from srcnn.core import checkpoints
    from srcnn.training.execution import default_execution
    from tiny_data import write_h5s

    train_h5, test_h5 = write_h5s(str(tmp_path / "h5"), count=256)
    patches, labels, _ = hdf5.read_train_h5(train_h5, {"scale": 3})
    images, _ = hdf5.read_test_h5(test_h5)
    settings = TrainSettings(epochs=2, precision="mixed_bfloat16", checkpoint_dir=str(tmp_path / "checkpoint"),
                             log_dir=str(tmp_path / "logs"), log_every=1, batch_size=32)
    history = train(settings, patches, labels, images, say=lambda line: None)
    assert history[-1]["loss"] < history[0]["loss"]
    prefix = checkpoints.resolve(str(tmp_path / "checkpoint"))
    model, config = checkpoints.load_model(prefix)
    assert all(variable.dtype == "float32" for variable in model.trainable_variables)
    # The recipe beside the newest and the best checkpoint, with the defaults resolved.
    # The whole config, resolved: what decides the weights, and the rest (folders, logging).
    weights = {"scale": 3, "arch": "9-1-5", "channels": "y", "optimizer": "adam", "learning_rate": 0.001,
               "initialization": "identity", "epochs": 2,
               "batch_size": 32, "seed": 0, "augment": True, "precision": "mixed_bfloat16"}
    expected = {**weights, "checkpoint_dir": str(tmp_path / "checkpoint"), "log_dir": str(tmp_path / "logs"),
                "log_every": 1, "save_every": 500, "train_h5": "h5/train.h5", "test_h5": "h5/test.h5",
                "image_size": 33, "minutes": None, "strategy": "default", "replicas": None, "stream": None,
                "shuffle_buffer": 16384, "print_steps": False, "image_every": 10,
                "execution": default_execution("mixed_bfloat16")}
    assert checkpoints.read_recipe(prefix) == expected
    assert checkpoints.read_recipe(checkpoints.resolve(str(tmp_path / "checkpoint" / "best"))) == expected
    assert model(images[0].bicubic[None]).dtype == "float32"
    # The PSNR logged while training is the one the checkpoint gives in float32 (as step 3 runs it).
    from srcnn.training.evaluate import evaluate_images
    assert evaluate_images(model, images, 3)[0].psnr == pytest.approx(history[-1]["psnr"], abs=1e-9)


def test_patches_that_do_not_fit_the_network_are_refused_before_any_folder(tmp_path, capsys):
    import step2_train
    from tiny_data import write_h5s
    train_h5, test_h5 = write_h5s(str(tmp_path / "h5"), count=32)  # labels of 21: 9-1-5's
    assert step2_train.main(["--arch", "9-5-5", "--train-h5", train_h5, "--test-h5", test_h5,
                             "--checkpoint-dir", str(tmp_path / "run"), "--epochs", "1"]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "do not fit a 9-5-5 network" in error
    assert not (tmp_path / "run").exists()
