"""The shipped weights reach the paper's figures through step3_test.py's own code path."""

import csv

import pytest

import step3_test
from srcnn.core.checkpoints import pretrained_path, read_config

from conftest import dataset

pytestmark = pytest.mark.slow  # Set5 and Set14 through step3_test.py: about 40 s

# SRCNN 9-1-5 on the 91 images (ECCV 2014): Set5 x2/x3/x4 and Set14 x3.
TARGETS = [("Set5", 2, 36.34), ("Set5", 3, 32.39), ("Set5", 4, 30.09), ("Set14", 3, 29.00)]


@pytest.mark.parametrize("test_set, scale, paper", TARGETS)
def test_shipped_weights_reach_the_paper(tmp_path, capsys, test_set, scale, paper):
    folder = dataset("Test", test_set)
    weights = pretrained_path(scale)
    assert read_config(weights) == {"scale": scale, "arch": "9-1-5", "channels": "y"}
    assert step3_test.main(["--test-dir", str(folder), "--scale", str(scale), "--checkpoint", weights,
                            "--sample-dir", str(tmp_path)]) == 0
    weights_line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("weights:"))
    assert weights_line.startswith(f"weights: {weights} ")
    epochs = {2: 300, 3: 400, 4: 300}[scale]  # from each training.log
    assert f"recipe: adam (learning rate 0.001), {epochs} epochs of batch 128, augmented, float32" in weights_line
    with open(tmp_path / "results.csv") as handle:
        mean = next(row for row in csv.DictReader(handle) if row["image"] == "mean")
    assert float(mean["srcnn_psnr"]) >= paper
    assert float(mean["bicubic_psnr"]) < paper - 1.0  # really measured against the ground truth
