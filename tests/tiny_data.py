"""Small real training and validation files for the tests that run step2_train.

Patches come from one of scikit-image's sample photographs (installed with it), so the
loss really falls; the validation image is a 96x96 crop, so an epoch's evaluation is quick.
"""

import hashlib
import os
import subprocess
import sys
import threading
import time

import numpy as np

from srcnn.training import hdf5
from srcnn.training.patches import sample_image_paths, training_patches
from srcnn.training import test_set

from conftest import ROOT

SCRIPT = "import sys, step2_train; sys.exit(step2_train.main(sys.argv[1:]))"
# A shell that starts pytest in the background (`pytest &`, CI runners) makes its children
# ignore SIGINT, and Python keeps an ignored SIGINT ignored: give the child Ctrl-C back.
CTRL_C_RESTORED = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
# Waits end when what they wait for happens (or the process ends); this bound only stops
# a hung child from hanging the test run, and is far above any wait on a busy CPU.
HANG_GUARD = 900


def write_h5s(folder, count=512, scale=3):
    """Writes folder/train.h5 (`count` patches) and folder/test.h5; returns their paths."""
    os.makedirs(folder, exist_ok=True)
    path = sample_image_paths(["coffee.png"])
    patches, labels = training_patches(path, scale)
    chosen = np.sort(np.random.default_rng(0).permutation(len(patches))[:count])
    train_h5, test_h5 = os.path.join(folder, "train.h5"), os.path.join(folder, "test.h5")
    hdf5.write_train_h5(train_h5, patches[chosen], labels[chosen], scale=scale, image_size=33, label_size=21,
                        stride=14, augment=False, source="coffee.png")
    image = test_set.test_image(sample_image_paths(["chelsea.png"])[0], scale)
    crop = test_set.TestImage(image.name, image.hr[:96, :96], image.bicubic[:96, :96], image.bicubic_cbcr[:96, :96])
    hdf5.write_test_h5(test_h5, [crop], scale=scale, source="chelsea.png")
    return train_h5, test_h5


class Training:
    """step2_train.main in a child process, its output collected line by line as it comes."""

    def __init__(self, *flags, script=SCRIPT, env=None):
        self.lines = []
        self.process = subprocess.Popen([sys.executable, "-u", "-c", CTRL_C_RESTORED + script, *map(str, flags)], cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        env={**os.environ, **(env or {})})
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, condition, timeout=HANG_GUARD):
        """Polls `condition()` until true; False if the process ended (or hung past `timeout`) first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            if self.process.poll() is not None:
                self._reader.join(5)
                return condition()
            time.sleep(0.002)
        return False

    def logged_steps(self):
        """The steps of the 'Epoch: [..] step: [N]' lines so far."""
        return [int(line.split("step: [")[1].split("]")[0]) for line in list(self.lines) if "step: [" in line]

    def finish(self, timeout=HANG_GUARD):
        """Waits for the exit; returns (exit code, whole output)."""
        code = self.process.wait(timeout)
        self._reader.join(10)
        return code, "\n".join(self.lines)

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        return self.finish()


def photo_folders(root, crops):
    """Writes crops of scikit-image's coffee (0) and chelsea (1) photographs as PNGs:
    `crops` is {folder: [(photo, rows slice, columns slice)]}, image0.png, image1.png, ... in each."""
    from PIL import Image
    photos = [np.asarray(Image.open(path).convert("RGB")) for path in sample_image_paths(["coffee.png", "chelsea.png"])]
    for folder, wanted in crops.items():
        os.makedirs(os.path.join(root, folder))
        for index, (photo, rows, columns) in enumerate(wanted):
            Image.fromarray(np.ascontiguousarray(photos[photo][rows, columns])).save(
                os.path.join(root, folder, f"image{index}.png"))


def snapshot(root):
    """{relative path: what is there}, links not followed."""
    found = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = os.path.join(folder, name)
            key = os.path.relpath(path, root)
            if os.path.islink(path):
                found[key] = ("link", os.readlink(path))
                folders[:] = [other for other in folders if other != name]
            elif os.path.isdir(path):
                found[key] = ("folder",)
            else:
                with open(path, "rb") as handle:
                    found[key] = ("file", hashlib.sha256(handle.read()).hexdigest())
    return found
