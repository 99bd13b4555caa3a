"""The scripts' output starts with their own lines: TensorFlow's start-up messages are filtered."""

import os
import subprocess
import sys

import numpy as np
import pytest

from srcnn.core import image_files
from srcnn.core.startup import without_startup_noise

from conftest import ROOT
from tiny_data import HANG_GUARD, write_h5s

# What TensorFlow 2.21 prints on a CPU-only machine with the CUDA wheel, before our fix.
TENSORFLOW_STARTUP = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1795856222.191360    7955 port.cc:153] oneDNN custom operations are on. You may see slightly \
different numerical results due to floating-point round-off errors from different computation orders. \
To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.
I0000 00:00:1795856222.191972    7955 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
E0000 00:00:1795856242.690009    7955 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: \
Failed call to cuInit: UNKNOWN ERROR (303)
"""
REAL_PROBLEM = "E0000 00:00:1795856222.2 7955 some_kernel.cc:12] something the user must see\n"


def test_known_startup_lines_are_dropped_and_others_kept():
    assert without_startup_noise(TENSORFLOW_STARTUP) == ""
    assert without_startup_noise(TENSORFLOW_STARTUP + REAL_PROBLEM) == REAL_PROBLEM
    # cuInit failing where TensorFlow found a driver is a real problem: kept.
    cuinit = TENSORFLOW_STARTUP.splitlines(keepends=True)[-1]
    assert without_startup_noise(cuinit) == cuinit


def test_the_filter_works_on_the_file_descriptor_and_keeps_unexpected_lines(tmp_path):
    # A stand-in tensorflow that writes as the C++ libraries do (to fd 2, not sys.stderr).
    fake = tmp_path / "tensorflow"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "import os, sys, types\n"
        f"os.write(2, {TENSORFLOW_STARTUP.encode()!r})\n"
        "print('a Python warning while importing', file=sys.stderr)\n"
        "config = types.SimpleNamespace(list_physical_devices=lambda kind: os.write(2, b'probe\\n'))\n")
    script = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
              "from srcnn.core.startup import import_tensorflow_quietly; import_tensorflow_quietly()\n"
              "print('first line of our own')\n")
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path), str(ROOT)], capture_output=True,
                          text=True, env=env, timeout=HANG_GUARD)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "first line of our own\n"
    assert done.stderr == "a Python warning while importing\nprobe\n"
    verbose = subprocess.run([sys.executable, "-c", script, str(tmp_path), str(ROOT)], capture_output=True,
                             text=True, env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"}, timeout=HANG_GUARD)
    assert "oneDNN custom operations are on" in verbose.stderr  # asked for every line: nothing filtered


def first_line(script, *flags):
    """The first line of a script's stdout + stderr, run as a user would (TensorFlow really loaded)."""
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, script, *map(str, flags)], cwd=ROOT, env=env, timeout=HANG_GUARD,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert done.returncode == 0, done.stdout
    return done.stdout.splitlines()[0]


@pytest.mark.slow
def test_scripts_output_starts_with_their_own_lines(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rows, columns = np.mgrid[0:48, 0:48]
    image_files.save_png(str(folder / "gradient.png"), np.stack([rows * 5, columns * 5, rows + columns], -1).astype(np.uint8))
    line = first_line("step1_pre.py", "--train-dir", folder, "--test-dir", folder, "--h5-dir", tmp_path / "h5")
    assert line == f"training: 1 images from {folder}"

    train_h5, test_h5 = write_h5s(str(tmp_path / "tiny"), count=64)
    line = first_line("step2_train.py", "--train-h5", train_h5, "--test-h5", test_h5, "--epochs", 1,
                      "--checkpoint-dir", tmp_path / "checkpoint", "--log-dir", tmp_path / "logs")
    assert line.startswith("Starting a new 9-1-5 x3 training"), line

    line = first_line("step3_test.py", "--test-h5", test_h5, "--checkpoint", tmp_path / "checkpoint",
                      "--sample-dir", tmp_path / "sample")
    assert line.startswith("weights: "), line
