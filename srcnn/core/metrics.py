"""PSNR and SSIM as the SRCNN papers report them.

Both compare 8-bit-rounded Y channels, the output against the ground truth (never against
the network's input), leaving out a border as wide as the scale factor: the callers pass
the scale and the border is decided here, once.
"""

import numpy as np
from srcnn.core.startup import tf  # TensorFlow with its start-up messages filtered (srcnn.core.startup)

from srcnn.core.colour import to_uint8

SSIM_WINDOW = 11  # the Gaussian window's side (sigma 1.5), as in Wang et al. and the SR papers


def _shaved_uint8(image, scale):
    """The 8-bit (H - 2 scale, W - 2 scale) centre of a [0, 1] (H, W) or (H, W, 1) Y image."""
    image = to_uint8(image)
    if image.ndim == 3:
        image = image[..., 0]
    height, width = image.shape
    return image[scale:height - scale, scale:width - scale]  # not [scale:-scale]: scale 0 keeps all


def rgb_psnr(image, hr, scale):
    """PSNR in dB over R, G and B of a [0, 1] (H, W, 3) image against the ground truth, 8-bit
    rounded, `scale` pixels shaved at each border (the paper's RGB column, TPAMI 2016 Table 5)."""
    height, width = np.shape(hr)[:2]
    window = (slice(scale, height - scale), slice(scale, width - scale))
    difference = to_uint8(image)[window].astype(np.float64) - to_uint8(hr)[window]
    mse = np.mean(difference ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def psnr(image, hr, scale):
    """PSNR in dB of a [0, 1] Y image against the ground truth, both (H, W) or (H, W, 1).

    Args:
        image: the restored (or bicubic) Y.
        hr: the ground-truth Y, same size.
        scale: the upscaling factor; that many pixels are left out at each border.

    Returns:
        the PSNR; inf for identical images.
    """
    difference = _shaved_uint8(image, scale).astype(np.float64) - _shaved_uint8(hr, scale)
    mse = np.mean(difference ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def ssim(image, hr, scale):
    """SSIM with an 11x11 Gaussian window (`SSIM_WINDOW`, sigma 1.5) on the same crop as `psnr`."""
    image = _shaved_uint8(image, scale)[..., None].astype(np.float32)
    hr = _shaved_uint8(hr, scale)[..., None].astype(np.float32)
    return float(tf.image.ssim(image, hr, max_val=255.0, filter_size=SSIM_WINDOW, filter_sigma=1.5))
