"""Test images: modcropped ground truth and its bicubic, with names fit for tables."""

import os
from dataclasses import dataclass
import numpy as np
from srcnn.core import colour
from srcnn.core import image_files
from srcnn.core import resampling
from srcnn.core.choices import DEFAULT_MAX_PIXELS
from srcnn.core.errors import InputError, printable
from srcnn.core.metrics import SSIM_WINDOW


@dataclass
class TestImage:
    """One evaluation image: ground truth, network input and the colour to put back."""

    name: str
    hr: np.ndarray  # (H, W, 1) ground-truth Y
    bicubic: np.ndarray  # (H, W, 1) bicubic Y, the network input
    bicubic_cbcr: np.ndarray = None  # (H, W, 2), None for greyscale
    hr_rgb: np.ndarray = None  # (H, W, 3) ground-truth RGB in [0, 1]; None for greyscale (and old test.h5 files)

    def network_input(self, channels, scale):
        """(H, W, C) bicubic input of a `channels` network ("y": `bicubic`), made as step 1 makes
        training patches: the ground truth in those planes, bicubic down `scale` times and up."""
        if channels == "y":
            return self.bicubic
        return resampling.degrade(self.ground_truth(channels), scale)[1]

    def ground_truth(self, channels):
        """(H, W, C) ground truth in a `channels` network's planes.

        Raises:
            InputError: a colour image without its RGB (a test.h5 of an earlier release).
        """
        if channels == "y":
            return self.hr
        if self.hr_rgb is None and self.bicubic_cbcr is not None:
            raise InputError(f"test image {printable(self.name)} has no RGB ground truth (its test.h5 is from an "
                             "earlier release); rerun step1_pre.py")
        pixels = colour.to_uint8(self.hr_rgb if self.hr_rgb is not None else self.hr[..., 0])
        return colour.network_channels(pixels, channels)


def smallest_test_side(scale):
    """The smallest test image side: SSIM's 11x11 window must fit once `scale` px are shaved per border."""
    return SSIM_WINDOW + 2 * scale


def test_image(path, scale, max_pixels=DEFAULT_MAX_PIXELS):
    """A `TestImage` from an image file: ground truth Y, its bicubic input and colour.

    Raises:
        InputError: unreadable, or smaller than `smallest_test_side(scale)` after the modcrop.
    """
    image = resampling.modcrop(image_files.read_image(path, max_pixels).pixels, scale)
    height, width = image.shape[:2]
    if min(height, width) < smallest_test_side(scale):
        raise InputError(f"{printable(path)}: {width}x{height} after cropping to a multiple of {scale} is too small to test "
                        f"x{scale} on (PSNR/SSIM need at least {smallest_test_side(scale)} px a side); "
                        "leave it out of the test folder")
    hr = colour.luminance(image)
    _, bicubic = resampling.degrade(hr, scale)
    cbcr = rgb = None
    if image.ndim == 3:
        cbcr_hr = colour.rgb_to_ycbcr(image)[..., 1:] / 255.0
        cbcr = resampling.degrade(cbcr_hr, scale)[1]
        rgb = (image[..., :3] / 255.0).astype(np.float32)
    return TestImage(image_name(path), hr, bicubic, cbcr, rgb)


def test_images(paths, scale, max_pixels=DEFAULT_MAX_PIXELS):
    """`TestImage`s from image files, whose names (file names without extension) must differ.

    Raises:
        InputError: two files give the same name (a.png and a.jpg, or sub/a.png), or
            `test_image` refuses one.
    """
    by_name = {}
    for path in paths:
        name = image_name(path)
        check_test_name(name, path)
        if name in by_name:
            raise InputError(f"{printable(by_name[name])} and {printable(path)} would both be test image "
                            f"'{printable(name)}' (results and sample "
                            "PNGs are named after it); rename or remove one")
        by_name[name] = path
    return [test_image(path, scale, max_pixels) for path in paths]


RESERVED_NAMES = ("mean",)  # the summary row of results.csv and the tables


def image_name(path):
    """A test image's name: its file name without extension, as text that UTF-8 can hold (a
    file name's bytes that are not UTF-8 are written as backslash escapes: HDF5, CSV, HTML)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return os.fsencode(stem).decode("utf-8", "backslashreplace")


def check_test_name(name, where):
    """Raises InputError for a test image name that would be confused with a summary row.

    Args:
        name: the image name (a file name without extension, or a test.h5 group).
        where: the file it comes from, for the message.
    """
    if name.lower() in RESERVED_NAMES:
        raise InputError(f"{printable(where)}: a test image named '{printable(name)}' would read as the "
                        f"{name.lower()} row of the results; rename it")
