"""Colour: MATLAB's rgb2ycbcr (BT.601, Y in 16-235) and back, and 8-bit rounding."""

import numpy as np


COLOUR_CONVENTION = "matlab-rgb2ycbcr-bt601"


# MATLAB rgb2ycbcr: [Y, Cb, Cr] = OFFSET + MATRIX @ [R, G, B], with RGB in [0, 1]
# and YCbCr in [0, 255].
YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])


YCBCR_MATRIX = np.array([
    [65.481, 128.553, 24.966],
    [-37.797, -74.203, 112.0],
    [112.0, -93.786, -18.214],
])


RGB_MATRIX = np.linalg.inv(YCBCR_MATRIX)


# How much R, G and B (in [0, 1]) move per unit of Y (in [0, 1]): 255 / 219 for all three,
# so a restored Y changes an RGB image by adding the same amount to each channel.
Y_TO_RGB_GAIN = float(255.0 * RGB_MATRIX[0, 0])


# 8-bit R, G, B less Y_TO_RGB_GAIN times Y: what Cb and Cr add to them, affine in 8-bit RGB.
_RGB_LESS_Y_MATRIX = (RGB_MATRIX[:, 1:] @ YCBCR_MATRIX[1:]).T.astype(np.float32)


_RGB_LESS_Y_OFFSET = np.float32(-YCBCR_OFFSET[0] * Y_TO_RGB_GAIN)


def rgb_to_ycbcr(rgb):
    """MATLAB `rgb2ycbcr` for 8-bit RGB.

    Args:
        rgb: uint8 array (H, W, 3).

    Returns:
        float32 array (H, W, 3) of Y, Cb, Cr in [0, 255]. Y is rounded to integers as
        MATLAB does for uint8 input (the paper's ground truth); Cb and Cr are not, since
        they only colour the output.
    """
    rgb01 = np.asarray(rgb, dtype=np.float64).reshape(-1, 3) / 255.0
    # Planar (3, N): numpy is several times slower on a last axis of 3 (same values either way).
    ycbcr = YCBCR_MATRIX @ rgb01.T
    ycbcr += YCBCR_OFFSET[:, None]
    np.round(ycbcr[0], out=ycbcr[0])
    return ycbcr.T.astype(np.float32).reshape(np.shape(rgb))


def ycbcr_to_rgb(ycbcr):
    """Inverse of `rgb_to_ycbcr`: float (H, W, 3) YCbCr in [0, 255] -> uint8 RGB."""
    return to_uint8(ycbcr_to_rgb01(np.asarray(ycbcr, dtype=np.float64)))


def ycbcr_to_rgb01(ycbcr):
    """Float (..., 3) YCbCr in [0, 255] -> RGB in [0, 1] of the same float type, not clipped.

    Affine, so it commutes with any interpolation whose weights sum to one (bicubic).
    """
    dtype = ycbcr.dtype
    planar = ycbcr.reshape(-1, 3).T - YCBCR_OFFSET.astype(dtype)[:, None]  # planar, as in rgb_to_ycbcr
    return (RGB_MATRIX.astype(dtype) @ planar).T.reshape(ycbcr.shape)


def rgb_less_y(rgb):
    """uint8 (..., 3) RGB -> float32 R, G, B (8-bit units) less `Y_TO_RGB_GAIN` times the
    unrounded Y of `rgb_to_ycbcr`: the part of the colour that Cb and Cr set."""
    flat = np.asarray(rgb).reshape(-1, 3) @ _RGB_LESS_Y_MATRIX
    flat += _RGB_LESS_Y_OFFSET
    return flat.reshape(np.shape(rgb))


def colour_output(sr, bicubic_cbcr):
    """uint8 RGB from restored Y and bicubic CbCr (all [0, 1]); Y alone for greyscale."""
    if bicubic_cbcr is None:
        return to_uint8(sr[..., 0])
    return ycbcr_to_rgb(np.concatenate([sr, bicubic_cbcr], axis=-1) * 255.0)


def y_gains(channels):
    """How much each output plane moves per unit of Y (both in 8-bit units), for an image of
    `channels` planes: RGB (3) or RGBA (4), greyscale (1) or greyscale + alpha (2).

    Output plane = its Y-free part + gain * Y: the conversion from Y, Cb, Cr is affine and
    Y weighs the same in R, G and B, so a restored Y enters every colour plane alike; a
    grey plane is Y itself; alpha does not depend on Y.
    """
    gains = np.zeros(channels, np.float32)
    gains[:3 if channels >= 3 else 1] = Y_TO_RGB_GAIN if channels >= 3 else 1.0
    return gains


def to_uint8(image01):
    """Float image in [0, 1] -> uint8, rounded and clipped (how results are stored)."""
    scaled = np.asarray(image01, dtype=np.float64) * 255.0
    np.rint(scaled, out=scaled)  # in place: big images are converted tile by tile, often
    np.clip(scaled, 0, 255, out=scaled)
    return scaled.astype(np.uint8)


def quantize_uint8(values255):
    """`to_uint8(values255 / 255)` in one TensorFlow op: float in [0, 255] -> uint8, rounded half to even, clipped."""
    from srcnn.core.startup import tf

    quantized = tf.raw_ops.QuantizeV2(input=values255, min_range=0.0, max_range=255.0, T=tf.quint8, mode="SCALED",
                                      round_mode="HALF_TO_EVEN", ensure_minimum_range=0.0).output
    return tf.bitcast(quantized, tf.uint8)


def luminance(image):
    """Y channel of a uint8 image in [0, 1], float32 (H, W, 1).

    Greyscale images are taken as Y directly, as the SRCNN MATLAB code does.
    """
    if image.ndim == 2:
        y255 = image.astype(np.float32)
    else:
        y255 = rgb_to_ycbcr(image)[..., 0]
    return (y255 / 255.0)[..., None]


# What a network sees and restores (`--channels`): Y alone (the paper's default), or all three
# planes as RGB or as YCbCr (the paper's colour study, TPAMI 2016 Section 4.5), each in [0, 1].
CHANNEL_COUNTS = {"y": 1, "rgb": 3, "ycbcr": 3}
CHANNEL_NAMES = {"y": "Y", "rgb": "RGB", "ycbcr": "YCbCr"}  # as messages write them


def network_channels(image, channels):
    """uint8 (H, W) grey or (H, W, 3) RGB -> float32 (H, W, C) in [0, 1] as a `channels` network takes it.

    "y" is `luminance`; "rgb" and "ycbcr" take a grey image as RGB with three equal planes.
    """
    if channels == "y":
        return luminance(image)
    rgb = np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image[..., :3]
    if channels == "rgb":
        return (rgb.astype(np.float32) / 255.0).astype(np.float32)
    return (rgb_to_ycbcr(rgb) / 255.0).astype(np.float32)


def y_of_channels(values, channels):
    """(..., C) network planes in [0, 1] -> (..., 1) Y in [0, 1] (Y of MATLAB's rgb2ycbcr)."""
    if channels == "y":
        return values
    if channels == "ycbcr":
        return values[..., :1]
    return ((np.asarray(values, np.float64) @ YCBCR_MATRIX[0] + YCBCR_OFFSET[0]) / 255.0)[..., None].astype(np.float32)


def rgb_of_channels(values, channels):
    """(..., 3) network planes in [0, 1] ("rgb" or "ycbcr") -> RGB in [0, 1], not clipped."""
    if channels == "rgb":
        return values
    return ycbcr_to_rgb01(np.asarray(values, np.float64) * 255.0).astype(np.float32)
