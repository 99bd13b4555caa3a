"""The shipped 9-5-5 weights: one PSNR through step 3, srcnn-upscale --arch, the API and export."""

import csv
import os

import numpy as np
import pytest

import step3_test
from srcnn import Upscaler
from srcnn.commands import cli
from srcnn.core import checkpoints, colour, image_files, resampling
from srcnn.core.metrics import psnr

from conftest import dataset

pytestmark = pytest.mark.slow  # Set5 four ways: about a minute


def set5_x3():
    """{name: (hr, lr)}: uint8 RGB ground truth (modcropped) and its x3 shrunk, rounded to uint8."""
    images = {}
    for path in image_files.list_images(dataset("Test", "Set5")):
        hr = resampling.modcrop(image_files.load_image(path), 3)
        lr = resampling.resize_bicubic(hr / np.float32(255), hr.shape[0] // 3, hr.shape[1] // 3)
        images[os.path.splitext(os.path.basename(path))[0]] = (hr, colour.to_uint8(lr))
    return images


def mean_psnr(results, images):
    return float(np.mean([psnr(colour.luminance(results[name]), colour.luminance(hr), 3)
                          for name, (hr, _) in images.items()]))


def test_every_path_gives_the_shipped_9_5_5_the_same_psnr(tmp_path, capsys):
    assert ("9-5-5", 3) in checkpoints.shipped_weights()
    weights = checkpoints.pretrained_path(3, "9-5-5")
    assert checkpoints.read_config(weights) == {"scale": 3, "arch": "9-5-5", "channels": "y"}
    # step 3, evaluating from the ground truth (its own bicubic in float)
    assert step3_test.main(["--arch", "9-5-5", "--test-dir", str(dataset("Test", "Set5")),
                            "--sample-dir", str(tmp_path / "samples")]) == 0
    assert f"weights: {weights} (9-5-5, x3)" in capsys.readouterr().out
    with open(tmp_path / "samples" / "results.csv") as handle:
        step3 = float(next(row for row in csv.DictReader(handle) if row["image"] == "mean")["srcnn_psnr"])
    # the API and srcnn-upscale --arch, from 8-bit low-resolution images, as a user has them
    images = set5_x3()
    upscaler = Upscaler.pretrained(3, arch="9-5-5", precision="float32")
    assert upscaler.arch == "9-5-5"
    api = {name: upscaler.upscale(lr) for name, (_, lr) in images.items()}
    folder = tmp_path / "small"
    folder.mkdir()
    for name, (_, lr) in images.items():
        image_files.save_png(str(folder / f"{name}.png"), lr)
    assert cli.upscale_main([str(folder), "--arch", "9-5-5", "--precision", "float32", "-o", str(tmp_path / "out")]) == 0
    command = {name: image_files.load_image(str(tmp_path / "out" / f"{name}_srcnn_x3.png")) for name in images}
    for name in images:
        np.testing.assert_array_equal(command[name], api[name])
    from srcnn.upscaling import batch  # srcnn-upscale-batch takes the same weights
    assert batch.main([str(folder / "baby_GT.png"), "--arch", "9-5-5", "--precision", "float32",
                       "-o", str(tmp_path / "batch")]) == 0
    np.testing.assert_array_equal(image_files.load_image(str(tmp_path / "batch" / "baby_GT_srcnn_x3.png")), api["baby_GT"])
    # an exported model, run by ONNX Runtime
    import onnxruntime
    exported = tmp_path / "srcnn_9-5-5_x3.onnx"
    assert cli.export_main(["--arch", "9-5-5", "--format", "onnx", "--output", str(exported)]) == 0
    session = onnxruntime.InferenceSession(str(exported))
    onnx = {name: session.run(None, {session.get_inputs()[0].name: lr[None]})[0][0] for name, (_, lr) in images.items()}
    figures = [step3, mean_psnr(api, images), mean_psnr(onnx, images)]
    assert max(figures) - min(figures) <= 0.05, figures
    assert step3 > 32.0  # trained: bicubic is 30.39


def test_weights_that_are_not_shipped_are_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"no shipped 9-3-5 weights for x3; shipped: 9-1-5 x2, x3, x4; 9-5-5 x3"):
        Upscaler.pretrained(3, arch="9-3-5")
    assert cli.upscale_main([str(dataset("Test", "Set5")), "--arch", "9-3-5", "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "no shipped 9-3-5 weights for x3 (shipped: 9-1-5 x2, x3, x4; 9-5-5 x3)" in error
    with pytest.raises(SystemExit):
        cli.upscale_main([str(dataset("Test", "Set5")), "--arch", "9-5-5", "--checkpoint", "checkpoint/pretrained/x3"])
    assert "--arch picks shipped weights" in capsys.readouterr().err
