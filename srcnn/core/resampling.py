"""Resampling: modcrop, the bicubic degradation, and the bicubic enlargement as filters.

These follow the official SRCNN MATLAB code so that PSNR figures compare with the paper: the
ground truth is cropped to a multiple of the scale, and the network input is it shrunk and
re-enlarged with bicubic interpolation. `tf.image.resize(..., "bicubic", antialias=True)`
matches MATLAB `imresize` (Set5 bicubic x2/x3/x4 = 33.66/30.39/28.42 dB).

Images are float32 arrays in [0, 1] (value / 255) unless a name says otherwise:
`hr` ground truth, `lr` the shrunk image, `bicubic` the re-enlarged input, `sr` output.
TensorFlow is imported when a function that builds a graph is called, not with the module.
"""

import numpy as np


RESIZE_CONVENTION = "tf-bicubic-antialias"


def modcrop(image, scale):
    """Crops height and width down to multiples of `scale` (top-left corner kept)."""
    height, width = image.shape[:2]
    return image[: height - height % scale, : width - width % scale]


def resize_bicubic(image, height, width):
    """Bicubic resize of a float (H, W, C) image as MATLAB `imresize` does it."""
    from srcnn.core.startup import tf

    resized = tf.image.resize(image, (height, width), method="bicubic", antialias=True)
    return resized.numpy()


def _keys_cubic(distance):
    """The Keys cubic kernel (a = -0.5) that `tf.image.resize(..., "bicubic")` uses."""
    x = np.abs(distance)
    return np.where(x < 1, (1.5 * x - 2.5) * x * x + 1, np.where(x < 2, ((-0.5 * x + 2.5) * x - 4) * x + 2, 0.0))


# The bicubic taps reach 2 input pixels past the one an output pixel falls in: the kernel is
# 2 * BICUBIC_REACH + 1 = 5 wide, and a crop needs that margin for exact enlargement inside it.
BICUBIC_REACH = 2


_TAPS = 2 * BICUBIC_REACH + 1


def _enlarge_kernel(scale, channels):
    """The conv2d kernel of `enlarge_phases`: one 5 x 5 filter per output phase and channel.

    Output row scale * i + p samples the input at i + (p + 0.5) / scale - 0.5, so phase p
    weighs input rows i - 2 .. i + 2 with fixed weights, and likewise for columns; phase
    (p, q) is the product of the two. The kernel is block-diagonal over the channels and
    orders its outputs as `tf.nn.depth_to_space` reads them.

    Returns:
        float64 numpy (5, 5, C, scale * scale * C).
    """
    phase = np.arange(scale)[:, None]
    taps = _keys_cubic(np.arange(-BICUBIC_REACH, BICUBIC_REACH + 1)[None, :] + 0.5 - (phase + 0.5) / scale)
    kernel = np.zeros((_TAPS, _TAPS, channels, scale * scale * channels))
    for channel in range(channels):
        for p in range(scale):
            for q in range(scale):
                kernel[:, :, channel, (p * scale + q) * channels + channel] = np.outer(taps[p], taps[q])
    return kernel


def _cumulative_taps(kernel, axis):
    """(5 + 1, outputs) float32: row t sums the first t taps of each output's filter along
    `axis` (1: rows, 2: columns), those along the other axis (which sum to one) included."""
    from srcnn.core.startup import tf

    taps = kernel.sum(axis=(1, 2)) if axis == 1 else kernel.sum(axis=(0, 2))
    return tf.constant(np.concatenate([np.zeros((1, taps.shape[1])), np.cumsum(taps, axis=0)]), tf.float32)


def enlargement_matrix(length, scale):
    """(scale * length, length) float64: row y weighs the small pixels for enlarged pixel y,
    as `enlarge_bicubic` does (Keys cubic, taps outside the image dropped and the
    others renormalised)."""
    position = (np.arange(scale * length) + 0.5) / scale - 0.5
    weights = _keys_cubic(np.arange(length)[None, :] - position[:, None])
    return weights / weights.sum(axis=1, keepdims=True)


def enlarge_bicubic(images, scale):
    """`tf.image.resize(images, (scale * H, scale * W), "bicubic", antialias=True)`, from basic ops.

    Built only from pad, conv2d with a fixed kernel, range, gather, division and
    depth_to_space, which TFLite and ONNX both have (ScaleAndTranslate is in neither). Equal to the resize to
    float rounding (~1e-6), borders included (see `enlarge_phases`). Any size from 1 x 1
    up; H and W may be dynamic.

    Args:
        images: float32 (B, H, W, C), C known when traced.
        scale: integer factor >= 1.

    Returns:
        float32 (B, scale * H, scale * W, C).
    """
    from srcnn.core.startup import tf

    return tf.nn.depth_to_space(enlarge_phases(images, scale, (1, 1, 1, 1)), scale)


def enlarge_phases(images, scale, image_sides):
    """The bicubic enlargement of `enlarge_bicubic` before its depth_to_space, of a crop.

    Where a crop side is the image's, the resize drops the kernel taps that fall outside
    the image and renormalises the others: the zero-padded filter divided by the sum of
    the taps left in the image. Where it is inside the image, the crop is filtered VALID: its
    outer `BICUBIC_REACH` input pixels there only feed the taps of the pixels within.

    Args:
        images: float32 (B, H, W, C), C known when traced.
        scale: integer factor >= 1.
        image_sides: (top, bottom, left, right), 1 where the crop side is the image's, as
            Python ints (no conditionals in the graph) or an int32 tensor.

    Returns:
        float32 (B, H', W', scale * scale * C), output pixel (scale * i + p, scale * j + q)
        in map (p * scale + q) * C + c of pixel (i, j) (as `tf.nn.depth_to_space` reads
        them), with H' = H - 2 BICUBIC_REACH (1 - top) - 2 BICUBIC_REACH (1 - bottom) and W'
        likewise.
    """
    from srcnn.core.startup import tf

    channels = images.shape[-1]
    taps = _enlarge_kernel(int(scale), channels)
    kernel = tf.constant(taps, tf.float32)  # one 2-D pass: faster than rows, then columns
    size = tf.shape(images)
    static = isinstance(image_sides, (tuple, list))
    sides = image_sides if static else tf.unstack(tf.cast(image_sides, tf.int32), num=4)
    reach = BICUBIC_REACH
    padding = [[0, 0], [reach * sides[0], reach * sides[1]], [reach * sides[2], reach * sides[3]], [0, 0]]
    enlarged = tf.nn.conv2d(tf.pad(images, padding), kernel, 1, "VALID")

    for axis, before, after in ((1, sides[0], sides[1]), (2, sides[2], sides[3])):
        if static:  # exported graphs: TFLite has no in-place slice update, so the whole tile
            if before or after:
                enlarged = enlarged / _edge_divisor(size, axis, before, 0, tf.shape(enlarged)[axis],
                                                    _cumulative_taps(taps, axis))
        else:
            enlarged = tf.cond(tf.logical_or(before > 0, after > 0),
                               lambda e=enlarged, a=axis, b=before, f=after: _divide_edges(e, size, taps, a, b, f),
                               lambda e=enlarged: e)
    return enlarged


def _edge_divisor(size, axis, before, low, high, cumulative):
    # The renormalisation along `axis` at outputs low .. high - 1 of `enlarge_phases`, from the
    # kernel's cumulative taps: output i weighs input i - reach * before + t with tap t, and only
    # inputs 0 .. size - 1 are in the image (the taps along the other axis sum to one).
    from srcnn.core.startup import tf

    reach = BICUBIC_REACH
    outputs = tf.range(low, high)
    first = tf.maximum(reach * before - outputs, 0)
    stop = tf.minimum(size[axis] + reach * before - outputs, _TAPS)
    divisors = tf.gather(cumulative, stop) - tf.gather(cumulative, first)
    return divisors[None, :, None] if axis == 1 else divisors[None, None]


def _divide_edges(enlarged, size, taps, axis, before, after):
    # Only the outputs within the reach of a padded side have taps outside the image:
    # divide those strips in place rather than the whole tile (the others' taps sum to one).
    from srcnn.core.startup import tf

    reach = BICUBIC_REACH
    shape = tf.shape(enlarged)
    start = tf.minimum(reach * before, shape[axis])
    end = tf.maximum(shape[axis] - reach * after, start)
    cumulative = _cumulative_taps(taps, axis)
    for low, high in ((0, start), (end, shape[axis])):
        if axis == 1:
            strip = enlarged[:, low:high] / _edge_divisor(size, axis, before, low, high, cumulative)
            begin, stop = tf.stack([0, low, 0, 0]), tf.stack([shape[0], high, shape[2], shape[3]])
        else:
            strip = enlarged[:, :, low:high] / _edge_divisor(size, axis, before, low, high, cumulative)
            begin, stop = tf.stack([0, 0, low, 0]), tf.stack([shape[0], shape[1], high, shape[3]])
        enlarged = tf.raw_ops.TensorStridedSliceUpdate(input=enlarged, begin=begin, end=stop, strides=[1, 1, 1, 1],
                                                       value=strip)
    return enlarged


def phases_to_image(phases, scale):
    """(1, H, W, scale * scale) phases of one plane (`enlarge_phases`) -> (1, scale * H, scale * W, 1).

    `tf.nn.depth_to_space` as a reshape and a transpose, which oneDNN runs several times
    faster than TensorFlow's DepthToSpace kernel on the CPU.
    """
    from srcnn.core.startup import tf

    size = tf.shape(phases)
    blocks = tf.reshape(phases, tf.stack([size[1], size[2], scale, scale]))
    return tf.reshape(tf.transpose(blocks, (0, 2, 1, 3)), tf.stack([1, size[1] * scale, size[2] * scale, 1]))


def image_to_phases(image, scale):
    """Inverse of `phases_to_image`: (1, scale * H, scale * W, 1) -> (1, H, W, scale * scale)."""
    from srcnn.core.startup import tf

    size = tf.shape(image)
    height, width = size[1] // scale, size[2] // scale
    blocks = tf.reshape(image, tf.stack([height, scale, width, scale]))
    return tf.reshape(tf.transpose(blocks, (0, 2, 1, 3)), tf.stack([1, height, width, scale * scale]))


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
