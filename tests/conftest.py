"""Shared test fixtures: where the standard data sets are, and small synthetic images."""

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Trainings look up how steps run fastest in a per-machine cache (srcnn.training.execution): the
# tests' own, never the user's.
os.environ["SRCNN_CACHE"] = tempfile.mkdtemp(prefix="srcnn-tests-cache-")

# The repository's own copy (Train/, Test/Set5, Test/Set14); SRCNN_DATASETS may point elsewhere.
DATASETS = Path(os.environ.get("SRCNN_DATASETS", ROOT))


def dataset(*parts):
    """Path of a standard data set folder; it ships with the repository, so it must be there."""
    path = DATASETS.joinpath(*parts)
    assert path.is_dir(), f"{path} is missing: the data sets ship in Train/ and Test/ (or set SRCNN_DATASETS)"
    return path


def set5_shrunk(scale):
    """{name: (hr, lr)}: Set5's uint8 RGB ground truth (modcropped) and its `scale` shrunk, rounded to uint8,
    as a user's small images are."""
    from srcnn.core import colour, image_files, resampling

    images = {}
    for path in image_files.list_images(dataset("Test", "Set5")):
        hr = resampling.modcrop(image_files.load_image(path), scale)
        lr = resampling.resize_bicubic(hr / np.float32(255), hr.shape[0] // scale, hr.shape[1] // scale)
        images[os.path.splitext(os.path.basename(path))[0]] = (hr, colour.to_uint8(lr))
    return images


def mean_y_psnr(results, images, scale):
    """Mean Y PSNR of `results` ({name: uint8 RGB}) against `set5_shrunk`'s ground truth, `scale` shaved."""
    from srcnn.core import colour
    from srcnn.core.metrics import psnr

    return float(np.mean([psnr(colour.luminance(results[name]), colour.luminance(hr), scale)
                          for name, (hr, _) in images.items()]))


@pytest.fixture
def set5():
    return dataset("Test", "Set5")


@pytest.fixture
def train_images():
    return dataset("Train")


@pytest.fixture
def smooth_rgb():
    """A 60x48 uint8 RGB image with smooth gradients and an edge."""
    rows, columns = np.mgrid[0:60, 0:48]
    image = np.stack([rows * 4, columns * 5, (rows + columns) * 2], axis=-1)
    image[20:40, 10:30] = 200
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def random_x2_weights(tmp_path_factory):
    """A 9-1-5 x2 checkpoint of random weights: for file names and plumbing, not quality."""
    from srcnn.core import checkpoints
    from srcnn.core.model import SRCNN

    prefix = str(tmp_path_factory.mktemp("weights") / "x2" / "srcnn")
    checkpoints.export_weights(SRCNN("9-1-5"), 2, prefix)
    return prefix
