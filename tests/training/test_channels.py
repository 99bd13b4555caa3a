"""Networks of three planes (--channels rgb / ycbcr, the paper's colour study), from step 1 to step 3."""

import csv

import h5py
import numpy as np
import pytest
from PIL import Image

import step1_pre
import step2_train
import step3_test
from srcnn.commands import cli
from srcnn.core import checkpoints, colour
from srcnn.core.errors import CheckpointError
from srcnn.core.model import SRCNN, training_output
from srcnn.training import hdf5
from srcnn.upscaling.upscaler import Upscaler

from tiny_data import photo_folders


def random_rgb(seed=0, shape=(24, 30, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_the_planes_of_each_choice_convert_back_to_y_and_rgb():
    image = random_rgb()
    y = colour.luminance(image)
    ycbcr = colour.network_channels(image, "ycbcr")
    rgb = colour.network_channels(image, "rgb")
    assert ycbcr.shape == rgb.shape == image.shape and ycbcr.dtype == rgb.dtype == np.float32
    np.testing.assert_array_equal(colour.y_of_channels(ycbcr, "ycbcr"), y)
    # Y from RGB planes is not rounded; luminance's is, as MATLAB rounds it for uint8 images.
    np.testing.assert_allclose(colour.y_of_channels(rgb, "rgb"), y, atol=0.5 / 255 + 1e-6)
    np.testing.assert_allclose(colour.rgb_of_channels(rgb, "rgb"), image / 255.0, atol=1e-7)
    np.testing.assert_allclose(colour.rgb_of_channels(ycbcr, "ycbcr"), image / 255.0, atol=0.6 / 255)
    grey = image[..., 0]
    np.testing.assert_array_equal(colour.network_channels(grey, "rgb"), np.repeat(grey[..., None] / 255.0, 3, -1)
                                  .astype(np.float32))


@pytest.mark.parametrize("channels", ["rgb", "ycbcr"])
def test_an_untrained_colour_network_gives_its_input_back_and_trains_as_keras_computes(channels):
    model = SRCNN("9-1-5", initialization="identity", channels=channels)
    images = np.random.default_rng(1).random((2, 33, 33, 3), dtype=np.float32)
    np.testing.assert_allclose(model(images, padding="valid").numpy(), images[:, 6:-6, 6:-6], atol=1e-6)
    trained = SRCNN("9x16-3x8-5", channels=channels)  # He init: every weight counts
    np.testing.assert_allclose(training_output(trained, images).numpy(), trained(images, padding="valid").numpy(),
                               atol=1e-5)
    assert trained.conv3.kernel.shape == (5, 5, 8, 3) and trained.conv1.kernel.shape == (9, 9, 3, 16)


def test_a_checkpoint_records_its_channels_and_a_y_checkpoint_stays_as_before(tmp_path):
    rgb = SRCNN("9-1-5", channels="rgb")
    prefix = checkpoints.export_weights(rgb, 3, str(tmp_path / "rgb" / "srcnn"))
    model, config = checkpoints.load_model(prefix)
    assert config == {"scale": 3, "arch": "9-1-5", "channels": "rgb"} and model.channels == "rgb"
    np.testing.assert_array_equal(model.conv3.kernel.numpy(), rgb.conv3.kernel.numpy())
    y_prefix = checkpoints.export_weights(SRCNN("9-1-5"), 2, str(tmp_path / "y" / "srcnn"))
    assert checkpoints.CHANNELS_KEY not in dict(checkpoints.tf.train.list_variables(y_prefix))
    assert checkpoints.read_config(y_prefix)["channels"] == "y"
    with pytest.raises(CheckpointError, match="restores RGB planes"):
        Upscaler.from_checkpoint(prefix)


def colour_sets(root):
    """Train/ and Test/ of small crops of scikit-image's photographs (colour)."""
    photo_folders(str(root), {"Train": [(0, slice(0, 100), slice(0, 130)), (1, slice(50, 150), slice(80, 200))],
                              "Test": [(1, slice(0, 60), slice(0, 66))]})


@pytest.mark.slow
def test_rgb_training_runs_end_to_end_and_step3_reports_rgb_psnr(tmp_path, capsys):
    colour_sets(tmp_path)
    h5_dir, run = tmp_path / "h5", tmp_path / "run"
    assert step1_pre.main(["--train-dir", str(tmp_path / "Train"), "--test-dir", str(tmp_path / "Test"),
                           "--h5-dir", str(h5_dir), "--channels", "rgb"]) == 0
    with h5py.File(h5_dir / "train.h5") as h5:
        assert h5.attrs["channels"] == "rgb" and h5["data"].shape[1:] == (33, 33, 3) and h5["label"].shape[1:] == (21, 21, 3)
    flags = ["--train-h5", str(h5_dir / "train.h5"), "--test-h5", str(h5_dir / "test.h5"), "--checkpoint-dir", str(run),
             "--epochs", "1"]
    capsys.readouterr()
    assert step2_train.main(flags) == 1  # a Y training on RGB patches
    assert "made with channels=rgb, but y is asked for" in capsys.readouterr().err
    assert step2_train.main([*flags, "--channels", "rgb"]) == 0
    assert checkpoints.read_config(checkpoints.resolve(str(run)))["channels"] == "rgb"
    assert step2_train.main([*flags, "--channels", "ycbcr", "--epochs", "2"]) == 1  # the run's planes are fixed
    assert "channels" in capsys.readouterr().err
    samples = tmp_path / "samples"
    assert step3_test.main(["--checkpoint", str(run), "--test-dir", str(tmp_path / "Test"),
                            "--sample-dir", str(samples)]) == 0
    assert "(9-1-5, RGB, x3)" in capsys.readouterr().out
    with open(samples / "results.csv", newline="") as handle:
        mean = [row for row in csv.DictReader(handle) if row["image"] == "mean"][0]
    assert 15 < float(mean["srcnn_rgb_psnr"]) < 60 and 15 < float(mean["bicubic_rgb_psnr"]) < 60
    # the sample page shows the network's own colour output, and says so
    assert "restores all three planes, so its version is its own colour output" in (samples / "index.html").read_text()
    with Image.open(samples / "image0_srcnn_color.png") as own, Image.open(samples / "image0_input_color.png") as bicubic:
        own_cbcr = colour.rgb_to_ycbcr(np.asarray(own))[..., 1:]
        assert np.abs(own_cbcr - colour.rgb_to_ycbcr(np.asarray(bicubic))[..., 1:]).max() > 1  # not the bicubic Cb/Cr
    assert cli.upscale_main([str(tmp_path / "Test" / "image0.png"), "--checkpoint", str(run),
                             "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "restores RGB planes" in error and not (tmp_path / "out").exists()
    from srcnn.upscaling import batch
    assert batch.main([str(tmp_path / "Test" / "image0.png"), "--checkpoint", str(run), "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "restores RGB planes" in error and not (tmp_path / "out").exists()


def test_a_colour_network_refuses_a_test_h5_without_rgb_ground_truth(tmp_path):
    colour_sets(tmp_path)
    from srcnn.training import test_set
    image = test_set.test_image(str(tmp_path / "Test" / "image0.png"), 3)
    path = str(tmp_path / "test.h5")
    hdf5.write_test_h5(path, [test_set.TestImage(image.name, image.hr, image.bicubic, image.bicubic_cbcr)],
                       scale=3, source="earlier release")
    loaded = hdf5.read_test_h5(path)[0][0]
    assert loaded.hr_rgb is None
    with pytest.raises(Exception, match="has no RGB ground truth .* rerun step1_pre.py"):
        loaded.network_input("rgb", 3)
    np.testing.assert_array_equal(hdf5.read_test_h5(path)[0][0].network_input("y", 3), image.bicubic)
