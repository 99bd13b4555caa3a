"""Image conventions shared by every script: colour, modcrop, degradation, image files.

These follow the official SRCNN MATLAB code so that PSNR figures are comparable with the
paper: Y is MATLAB `rgb2ycbcr` (BT.601, Y in 16..235, rounded to 8 bits), the ground
truth is cropped to a multiple of the scale, and the network input is the ground truth
shrunk and re-enlarged with bicubic interpolation. `tf.image.resize(..., "bicubic",
antialias=True)` matches MATLAB `imresize` (Set5 bicubic x2/x3/x4 = 33.66/30.39/28.42 dB).

Images are float32 arrays in [0, 1] (value / 255) unless a name says otherwise:
`hr` ground truth, `lr` the shrunk image, `bicubic` the re-enlarged input, `sr` output.
"""

import os

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps

from srcnn.errors import UserError

IMAGE_EXTENSIONS = (".bmp", ".png", ".jpg", ".jpeg", ".tif", ".tiff")
COLOUR_CONVENTION = "matlab-rgb2ycbcr-bt601"
RESIZE_CONVENTION = "tf-bicubic-antialias"

# MATLAB rgb2ycbcr: [Y, Cb, Cr] = OFFSET + MATRIX @ [R, G, B], with RGB in [0, 1]
# and YCbCr in [0, 255].
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])
_YCBCR_MATRIX = np.array([
    [65.481, 128.553, 24.966],
    [-37.797, -74.203, 112.0],
    [112.0, -93.786, -18.214],
])
_RGB_MATRIX = np.linalg.inv(_YCBCR_MATRIX)


def rgb_to_ycbcr(rgb):
    """MATLAB `rgb2ycbcr` for 8-bit RGB.

    Args:
        rgb: uint8 array (H, W, 3).

    Returns:
        float32 array (H, W, 3) of Y, Cb, Cr in [0, 255]. Y is rounded to integers as
        MATLAB does for uint8 input (the paper's ground truth); Cb and Cr are not, since
        they only colour the output.
    """
    rgb01 = np.asarray(rgb, dtype=np.float64) / 255.0
    ycbcr = rgb01 @ _YCBCR_MATRIX.T + _YCBCR_OFFSET
    ycbcr[..., 0] = np.round(ycbcr[..., 0])
    return ycbcr.astype(np.float32)


def ycbcr_to_rgb(ycbcr):
    """Inverse of `rgb_to_ycbcr`: float (H, W, 3) YCbCr in [0, 255] -> uint8 RGB."""
    rgb01 = (np.asarray(ycbcr, dtype=np.float64) - _YCBCR_OFFSET) @ _RGB_MATRIX.T
    return to_uint8(rgb01)


def to_uint8(image01):
    """Float image in [0, 1] -> uint8, rounded and clipped (how results are stored)."""
    return np.clip(np.round(np.asarray(image01, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def modcrop(image, scale):
    """Crops height and width down to multiples of `scale` (top-left corner kept)."""
    height, width = image.shape[:2]
    return image[: height - height % scale, : width - width % scale]


def resize_bicubic(image, height, width):
    """Bicubic resize of a float (H, W, C) image as MATLAB `imresize` does it."""
    resized = tf.image.resize(image, (height, width), method="bicubic", antialias=True)
    return resized.numpy()


def degrade(hr, scale):
    """Bicubic down by `scale`, then up again: the network's input.

    Args:
        hr: float32 (H, W, C), H and W multiples of `scale` (see `modcrop`).
        scale: integer upscaling factor.

    Returns:
        (lr, bicubic): float32 (H/scale, W/scale, C) and (H, W, C), not clipped, as the
        MATLAB code leaves them.
    """
    height, width = hr.shape[:2]
    if height % scale or width % scale:
        raise ValueError(f"image size {height}x{width} is not a multiple of scale {scale}; modcrop it first")
    lr = resize_bicubic(hr, height // scale, width // scale)
    return lr, resize_bicubic(lr, height, width)


def list_images(directory, recursive=True):
    """Sorted paths of the image files in `directory` (and its subfolders if recursive)."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        found.extend(os.path.join(root, name) for name in sorted(files)
                     if name.lower().endswith(IMAGE_EXTENSIONS))
        if not recursive:
            break
    return found


def load_image(path):
    """Reads an image file as uint8 (H, W, 3) RGB or (H, W) greyscale, EXIF-rotated.

    Raises:
        UserError: the file cannot be read as an image.
    """
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                # 16-bit or float greyscale: keep the top 8 bits' worth of range.
                array = np.asarray(image, dtype=np.float64)
                top = 65535.0 if array.max() > 255 else 255.0
                return to_uint8(array / top)
            if image.mode == "L":
                return np.asarray(image, dtype=np.uint8).copy()
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise UserError(f"{path}: cannot read as an image ({error})") from None


def luminance(image):
    """Y channel of a uint8 image in [0, 1], float32 (H, W, 1).

    Greyscale images are taken as Y directly, as the SRCNN MATLAB code does.
    """
    if image.ndim == 2:
        y255 = image.astype(np.float32)
    else:
        y255 = rgb_to_ycbcr(image)[..., 0]
    return (y255 / 255.0)[..., None]


def save_png(path, image):
    """Writes a uint8 (H, W), (H, W, 1) or (H, W, 3) image as PNG."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    Image.fromarray(image).save(path, format="PNG")
