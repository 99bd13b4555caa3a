"""Shared test fixtures: where the standard data sets are, and small synthetic images."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# ../shared/datasets beside the checkout (CI has it too); SRCNN_DATASETS overrides.
DATASETS = Path(os.environ.get("SRCNN_DATASETS", ROOT.parent / "shared" / "datasets"))


def dataset(*parts):
    """Path of a standard data set folder; the test is skipped where it is absent."""
    path = DATASETS.joinpath(*parts)
    if not path.is_dir():
        pytest.skip(f"{path} not present")
    return path


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
