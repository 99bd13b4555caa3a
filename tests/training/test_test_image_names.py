"""Test image names are text every file they go into can hold: HDF5, results.csv, sample PNG names."""

import csv
import os

import numpy as np
from PIL import Image

from srcnn.training import test_set
from srcnn.training.evaluate import ImageResult, write_samples


def test_a_file_name_that_is_not_utf8_gives_an_escaped_name(tmp_path):
    path = os.path.join(os.fsencode(tmp_path), b"caf\xe9.png")
    Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(path)
    image, = test_set.test_images([os.fsdecode(path)], 3)
    assert image.name == "caf\\xe9"
    image.name.encode("utf-8")  # what h5py and the CSV need


def test_results_and_samples_are_written_for_such_a_name(tmp_path):
    path = os.path.join(os.fsencode(tmp_path), b"caf\xe9.png")
    Image.fromarray(np.full((24, 24, 3), 90, np.uint8)).save(path)
    image, = test_set.test_images([os.fsdecode(path)], 3)
    result = ImageResult(image.name, 30.0, 31.0, float("nan"), float("nan"), image.bicubic)
    write_samples(str(tmp_path / "sample"), [image], [result])
    with open(tmp_path / "sample" / "results.csv", newline="", encoding="utf-8") as handle:
        assert [row["image"] for row in csv.DictReader(handle)][0] == "caf\\xe9"
