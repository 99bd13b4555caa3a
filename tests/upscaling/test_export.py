"""srcnn-export: SavedModel, TFLite and ONNX, each run in its own process with only its runtime.

The input is Set5 x3 as a user has it: uint8 RGB shrunk with the project's MATLAB-style
bicubic. `Upscaler.upscale` must reach the paper (32.39 dB on Y) on it, and each exported
format must stay within 0.05 dB of it and give nearly the same pixels.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from srcnn import Upscaler
from srcnn.commands import cli
from srcnn.core import colour
from srcnn.core import resampling
from srcnn.core.model import SRCNN
from srcnn.core.precision import resolve_precision
from srcnn.core.startup import tf
from srcnn.upscaling.export import DeployableSRCNN

from conftest import ROOT, mean_y_psnr, set5_shrunk

SCALE = 3
PAPER = 32.39  # SRCNN 9-1-5, 91 images, Set5 x3
RUNNER = ROOT / "tools" / "run_exported_model.py"
# Any H and W, down to one pixel: the dynamic-shape paths (TFLite re-plans per shape).
SMALL = {"one_pixel": np.array([[[200, 30, 90]]], np.uint8),
         "strip": np.random.default_rng(0).integers(0, 256, (2, 7, 3), dtype=np.uint8)}
OUTPUTS = {"savedmodel": "srcnn_x3_savedmodel", "tflite": "srcnn_x3.tflite", "onnx": "srcnn_x3.onnx"}


@pytest.fixture(scope="module")
def set5_x3():
    return set5_shrunk(SCALE)


def inputs(set5_x3):
    return {**{name: lr for name, (_, lr) in set5_x3.items()}, **SMALL}


def mean_psnr(results, set5_x3):
    return mean_y_psnr(results, set5_x3, SCALE)


@pytest.fixture(scope="module")
def upscaled(set5_x3):
    """Upscaler.upscale on Set5 x3, float32 and the default precision: {precision: {name: sr}}.

    (bfloat16 is the default only where the hardware runs it natively; emulated it is slow.)
    """
    results = {}
    for precision in dict.fromkeys(("float32", resolve_precision("auto"))):
        upscaler = Upscaler.pretrained(SCALE, precision=precision)
        results[precision] = {name: upscaler.upscale(lr) for name, lr in inputs(set5_x3).items()}
    return results


@pytest.fixture(scope="module")
def exported(tmp_path_factory, set5_x3):
    """The three formats written by srcnn-export, and Set5 x3 as the runner's inputs.npz."""
    folder = tmp_path_factory.mktemp("exported")
    for model_format, name in OUTPUTS.items():
        assert cli.export_main(["--scale", str(SCALE), "--format", model_format,
                                "--output", str(folder / name)]) == 0
    np.savez(folder / "inputs.npz", **inputs(set5_x3))
    return folder


def run_elsewhere(model, folder):
    """Runs the model through tools/run_exported_model.py in a fresh, isolated process.

    `-I` leaves out PYTHONPATH, user site-packages and the script's folder; the cwd is
    the export folder, not the repository; the runner blocks importing srcnn (and, for
    ONNX and TFLite, TensorFlow and Keras).
    """
    outputs = folder / (os.path.basename(model) + ".out.npz")
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    finished = subprocess.run([sys.executable, "-I", str(RUNNER), str(model), str(folder / "inputs.npz"),
                               str(outputs)], cwd=folder, env=environment, capture_output=True, text=True,
                              timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    with np.load(outputs) as results:
        return {name: results[name] for name in results.files if name not in ("seconds", "names")}


@pytest.mark.slow
def test_upscaler_reaches_the_paper_on_set5(upscaled, set5_x3):
    for precision, results in upscaled.items():
        assert mean_psnr(results, set5_x3) >= PAPER, precision
    bicubic = {name: colour.to_uint8(resampling.resize_bicubic(lr / np.float32(255), *hr.shape[:2]))
               for name, (hr, lr) in set5_x3.items()}
    assert mean_psnr(bicubic, set5_x3) < PAPER - 1.5  # measured against the ground truth


@pytest.mark.slow
@pytest.mark.parametrize("model_format", list(OUTPUTS))
def test_exported_model_matches_the_upscaler_in_its_own_runtime(exported, upscaled, set5_x3, model_format):
    results = run_elsewhere(exported / OUTPUTS[model_format], exported)
    assert set(results) == set(inputs(set5_x3))
    for name, lr in inputs(set5_x3).items():
        assert results[name].dtype == np.uint8 and results[name].shape == (lr.shape[0] * 3, lr.shape[1] * 3, 3)
        # the same computation as the float32 Upscaler, up to float rounding
        difference = np.abs(results[name].astype(int) - upscaled["float32"][name])
        assert difference.max() <= 2 and np.mean(difference > 0) < 0.01, (name, difference.max())
    for precision in upscaled:
        assert abs(mean_psnr(results, set5_x3) - mean_psnr(upscaled[precision], set5_x3)) <= 0.05


@pytest.mark.slow
def test_runner_refuses_what_a_consumer_lacks(exported):
    """The runner's import block works: a script that imports TensorFlow under it fails."""
    probe = (f"import runpy; runner = runpy.run_path({str(RUNNER)!r}, run_name='probe'); "
             "runner['block_imports'](runner['BLOCKED']['onnx']); import tensorflow")
    finished = subprocess.run([sys.executable, "-I", "-c", probe], cwd=exported, capture_output=True, text=True,
                              timeout=120)
    assert finished.returncode != 0 and "ModuleNotFoundError" in finished.stderr


def noisy_identity(arch):
    """A network of random weights near the identity: every tap matters, and the output is an image."""
    tf.keras.utils.set_random_seed(5)
    model = SRCNN(arch, initialization="identity")
    for variable in model.trainable_variables:
        variable.assign(variable + tf.random.normal(variable.shape, stddev=0.02))
    return model


@pytest.mark.parametrize("arch", ["9-1-1-5", "9x32-1x16-5"])
def test_the_exported_graph_follows_any_network(smooth_rgb, arch):
    model = noisy_identity(arch)
    expected = Upscaler(model, 2, precision="float32").upscale(smooth_rgb)
    got = DeployableSRCNN(model, 2)(tf.constant(smooth_rgb[None]))["sr"][0].numpy()
    difference = np.abs(got.astype(int) - expected)
    assert got.shape == expected.shape and difference.max() <= 1 and (difference > 0).mean() < 0.001


@pytest.mark.slow
def test_a_four_layer_network_exports_to_tflite(tmp_path, smooth_rgb):
    model = noisy_identity("9-1-1-5")
    path = Upscaler(model, 2, precision="float32").export(tmp_path / "four.tflite", "tflite")
    interpreter = tf.lite.Interpreter(model_path=str(path))
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], (1,) + smooth_rgb.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], smooth_rgb[None])
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
    expected = Upscaler(model, 2, precision="float32").upscale(smooth_rgb)
    assert got.shape == expected.shape and np.abs(got.astype(int) - expected).max() <= 1


def test_export_refuses_a_scale_other_than_the_checkpoints(capsys, tmp_path):
    from srcnn.core import checkpoints

    assert cli.export_main(["--checkpoint", checkpoints.pretrained_path(2), "--scale", "3", "--format", "onnx",
                            "--output", str(tmp_path / "m.onnx")]) == 1
    assert "trained for x2, but --scale is 3" in capsys.readouterr().err


def test_runner_reports_a_missing_model_or_inputs_in_one_line(tmp_path):
    for args, message in (([str(tmp_path / "nowhere.onnx"), "in.npz", "out.npz"], "nowhere.onnx: no such file"),
                          ([str(tmp_path / "sm"), str(tmp_path / "in.npz"), "out.npz"], "in.npz: no such file"),
                          ([str(tmp_path / "empty"), str(tmp_path / "in.npz"), "out.npz"], "without saved_model.pb")):
        for folder in ("sm", "empty"):
            (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / "sm" / "saved_model.pb").write_bytes(b"")
        finished = subprocess.run([sys.executable, str(RUNNER), *args], capture_output=True, text=True, timeout=120)
        assert finished.returncode != 0 and message in finished.stderr
        assert "Traceback" not in finished.stderr and len(finished.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_runner_reports_an_input_that_is_not_one_rgb_image_in_one_line(tmp_path, exported):
    for name, array in (("batched", np.zeros((1, 4, 5, 3), np.uint8)), ("floats", np.zeros((4, 5, 3)))):
        np.savez(tmp_path / "in.npz", **{name: array})
        finished = subprocess.run([sys.executable, str(RUNNER), str(exported / OUTPUTS["onnx"]), str(tmp_path / "in.npz"),
                                   str(tmp_path / "out.npz")], capture_output=True, text=True, timeout=300)
        assert finished.returncode != 0 and f"array '{name}' is" in finished.stderr
        assert "Traceback" not in finished.stderr and len(finished.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_runner_takes_an_image_and_writes_one(exported, upscaled, set5_x3):
    name, lr = next(iter(inputs(set5_x3).items()))
    Image.fromarray(lr).save(exported / "photo.png")
    (exported / "notes.png").write_text("not an image")
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    for source, code in (("photo.png", 0), ("notes.png", 1)):
        finished = subprocess.run([sys.executable, "-I", str(RUNNER), str(exported / OUTPUTS["onnx"]),
                                   str(exported / source), str(exported / "big.png")], cwd=exported,
                                  env=environment, capture_output=True, text=True, timeout=300)
        assert finished.returncode == code, finished.stderr[-2000:]
    assert "notes.png: not an image Pillow can read" in finished.stderr and "Traceback" not in finished.stderr
    with Image.open(exported / "big.png") as image:
        difference = np.abs(np.asarray(image).astype(int) - upscaled["float32"][name])
    assert difference.max() <= 2 and np.mean(difference > 0) < 0.01
