"""PSNR and SSIM as the SRCNN papers report them.

Both compare 8-bit-rounded Y channels with `shave` pixels (the scale) cut from each
border, the output against the ground truth (never against the network's input).
"""

import numpy as np
import tensorflow as tf

from srcnn.imaging import to_uint8


def _shaved_uint8(image, shave):
    image = to_uint8(image)
    if image.ndim == 3:
        image = image[..., 0]
    if shave:
        image = image[shave:-shave, shave:-shave]
    return image


def psnr(image, hr, shave):
    """PSNR in dB of a [0, 1] Y image against the ground truth, both (H, W) or (H, W, 1).

    Returns inf for identical images.
    """
    difference = _shaved_uint8(image, shave).astype(np.float64) - _shaved_uint8(hr, shave)
    mse = np.mean(difference ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def ssim(image, hr, shave):
    """SSIM with an 11x11 Gaussian window (sigma 1.5) on the same crop as `psnr`."""
    image = _shaved_uint8(image, shave)[..., None].astype(np.float32)
    hr = _shaved_uint8(hr, shave)[..., None].astype(np.float32)
    return float(tf.image.ssim(image, hr, max_val=255.0, filter_size=11, filter_sigma=1.5))
