"""Image conventions shared by every script: colour, modcrop, degradation, image files.

These follow the official SRCNN MATLAB code so that PSNR figures are comparable with the
paper: Y is MATLAB `rgb2ycbcr` (BT.601, Y in 16..235, rounded to 8 bits), the ground
truth is cropped to a multiple of the scale, and the network input is the ground truth
shrunk and re-enlarged with bicubic interpolation. `tf.image.resize(..., "bicubic",
antialias=True)` matches MATLAB `imresize` (Set5 bicubic x2/x3/x4 = 33.66/30.39/28.42 dB).

Images are float32 arrays in [0, 1] (value / 255) unless a name says otherwise:
`hr` ground truth, `lr` the shrunk image, `bicubic` the re-enlarged input, `sr` output.

The functions that build TensorFlow graphs (the bicubic enlargement, `degrade`) import it
when called: reading, converting and writing images does not load it, so commands can
plan their files before it loads.
"""

import os
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from srcnn.choices import DEFAULT_MAX_PIXELS  # Pillow's decompression-bomb threshold, as a hard limit
from srcnn.errors import ImageTooLarge, InputError, os_reason
from srcnn.files import atomic_path

# Still-image files that folders are searched for: the common ones this Pillow can read
# (a single file of any other format Pillow opens is read too).
IMAGE_EXTENSIONS = tuple(extension for extension in (
    ".bmp", ".png", ".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".gif", ".webp", ".ppm", ".pgm", ".pbm", ".pnm",
    ".tga", ".jp2", ".j2k", ".avif", ".heic", ".heif") if extension in Image.registered_extensions())
COLOUR_CONVENTION = "matlab-rgb2ycbcr-bt601"
RESIZE_CONVENTION = "tf-bicubic-antialias"

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
    from srcnn.startup import tf

    quantized = tf.raw_ops.QuantizeV2(input=values255, min_range=0.0, max_range=255.0, T=tf.quint8, mode="SCALED",
                                      round_mode="HALF_TO_EVEN", ensure_minimum_range=0.0).output
    return tf.bitcast(quantized, tf.uint8)


def modcrop(image, scale):
    """Crops height and width down to multiples of `scale` (top-left corner kept)."""
    height, width = image.shape[:2]
    return image[: height - height % scale, : width - width % scale]


def resize_bicubic(image, height, width):
    """Bicubic resize of a float (H, W, C) image as MATLAB `imresize` does it."""
    from srcnn.startup import tf

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
    from srcnn.startup import tf

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
    from srcnn.startup import tf

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
    from srcnn.startup import tf

    channels = images.shape[-1]
    taps = _enlarge_kernel(int(scale), channels)
    kernel = tf.constant(taps, tf.float32)  # one 2-D pass: faster than rows, then columns
    size = tf.shape(images)
    static = isinstance(image_sides, (tuple, list))
    sides = image_sides if static else tf.unstack(tf.cast(image_sides, tf.int32), num=4)
    reach = BICUBIC_REACH
    padding = [[0, 0], [reach * sides[0], reach * sides[1]], [reach * sides[2], reach * sides[3]], [0, 0]]
    enlarged = tf.nn.conv2d(tf.pad(images, padding), kernel, 1, "VALID")

    def divisor(axis, before, low, high, cumulative):
        # The renormalisation along `axis` at outputs low .. high - 1, from the kernel's
        # cumulative taps: output i weighs input i - reach * before + t with tap t, and only
        # inputs 0 .. size - 1 are in the image (the taps along the other axis sum to one).
        outputs = tf.range(low, high)
        first = tf.maximum(reach * before - outputs, 0)
        stop = tf.minimum(size[axis] + reach * before - outputs, _TAPS)
        divisors = tf.gather(cumulative, stop) - tf.gather(cumulative, first)
        return divisors[None, :, None] if axis == 1 else divisors[None, None]

    def divide_edges(enlarged, axis, before, after):
        # Only the outputs within the reach of a padded side have taps outside the image:
        # divide those strips in place rather than the whole tile (the others' taps sum to one).
        shape = tf.shape(enlarged)
        start = tf.minimum(reach * before, shape[axis])
        end = tf.maximum(shape[axis] - reach * after, start)
        cumulative = _cumulative_taps(taps, axis)
        for low, high in ((0, start), (end, shape[axis])):
            if axis == 1:
                strip = enlarged[:, low:high] / divisor(axis, before, low, high, cumulative)
                begin, stop = tf.stack([0, low, 0, 0]), tf.stack([shape[0], high, shape[2], shape[3]])
            else:
                strip = enlarged[:, :, low:high] / divisor(axis, before, low, high, cumulative)
                begin, stop = tf.stack([0, 0, low, 0]), tf.stack([shape[0], shape[1], high, shape[3]])
            enlarged = tf.raw_ops.TensorStridedSliceUpdate(input=enlarged, begin=begin, end=stop, strides=[1, 1, 1, 1],
                                                           value=strip)
        return enlarged

    for axis, before, after in ((1, sides[0], sides[1]), (2, sides[2], sides[3])):
        if static:  # exported graphs: TFLite has no in-place slice update, so the whole tile
            if before or after:
                enlarged = enlarged / divisor(axis, before, 0, tf.shape(enlarged)[axis], _cumulative_taps(taps, axis))
        else:
            enlarged = tf.cond(tf.logical_or(before > 0, after > 0),
                               lambda e=enlarged, a=axis, b=before, f=after: divide_edges(e, a, b, f),
                               lambda e=enlarged: e)
    return enlarged


def phases_to_image(phases, scale):
    """(1, H, W, scale * scale) phases of one plane (`enlarge_phases`) -> (1, scale * H, scale * W, 1).

    `tf.nn.depth_to_space` as a reshape and a transpose, which oneDNN runs several times
    faster than TensorFlow's DepthToSpace kernel on the CPU.
    """
    from srcnn.startup import tf

    size = tf.shape(phases)
    blocks = tf.reshape(phases, tf.stack([size[1], size[2], scale, scale]))
    return tf.reshape(tf.transpose(blocks, (0, 2, 1, 3)), tf.stack([1, size[1] * scale, size[2] * scale, 1]))


def image_to_phases(image, scale):
    """Inverse of `phases_to_image`: (1, scale * H, scale * W, 1) -> (1, H, W, scale * scale)."""
    from srcnn.startup import tf

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


def list_files(directory, wanted, recursive=True, exclude=()):
    """Sorted paths of the files in `directory` (and its subfolders if recursive) whose name `wanted(name)` accepts.

    Folders in `exclude` (e.g. where a script writes its outputs) are left out with
    their subfolders, so outputs are never read back as inputs.
    """
    excluded = {os.path.realpath(folder) for folder in exclude}
    found = []
    for root, dirs, files in os.walk(directory):
        if os.path.realpath(root) in excluded:
            dirs[:] = []
            continue
        dirs.sort()
        found.extend(os.path.join(root, name) for name in sorted(files) if wanted(name))
        if not recursive:
            break
    return found


def list_images(directory, recursive=True, exclude=()):
    """Sorted paths of the image files under `directory`; see `list_files`."""
    return list_files(directory, lambda name: name.lower().endswith(IMAGE_EXTENSIONS), recursive, exclude)


# Pillow modes of 16-bit greyscale (16-bit PNG and TIFF).
_GREY16_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


@dataclass
class LoadedImage:
    """An image file's pixels as the scripts use them.

    pixels: uint8 (H, W, 3) RGB or (H, W) greyscale, EXIF-rotated.
    alpha: uint8 (H, W) transparency, or None when the file has none.
    icc_profile: the embedded colour profile (bytes) when it still describes `pixels`,
        else None (dropped when the colours were converted, e.g. from CMYK).
    """

    pixels: np.ndarray
    alpha: np.ndarray = None
    icc_profile: bytes = None


def read_image(path, max_pixels=DEFAULT_MAX_PIXELS):
    """Reads an image file: 8-bit RGB or greyscale pixels, alpha and colour profile.

    Conversions: 1-bit, 16-bit, 32-bit and float greyscale -> 8-bit greyscale; palette,
    CMYK (Pillow's conversion, no colour management), CIELAB (to sRGB) and 16-bit RGB ->
    8-bit RGB; an alpha channel (RGBA, greyscale + alpha, palette transparency) is
    returned apart. Animations and multi-page files are refused rather than cut to their
    first frame (a camera's multi-picture JPEG gives its main picture).

    Args:
        path: the file.
        max_pixels: larger images are refused before they are decoded.

    Raises:
        InputError: missing, empty, not an image, truncated or damaged, over `max_pixels`,
            an animation or several pages, or a colour mode that cannot be converted.
    """
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise InputError(f"{path}: empty file, not an image")
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # Pillow's own check would refuse other limits; ours is below.
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLarge(f"{path}: {width}x{height} is {width * height:,} pixels, over the limit of "
                                     f"{max_pixels:,} (a decompression bomb?)")
            frames = getattr(image, "n_frames", 1)
            if frames > 1 and image.format != "MPO":  # MPO: a photo and its previews or depth map
                raise InputError(f"{path}: {'an animation' if image.format != 'TIFF' else 'a multi-page file'} of "
                                 f"{frames} frames; only still images are read, save the frame you want as "
                                "an image of its own")
            return convert_pil_image(ImageOps.exif_transpose(image), path)
    except InputError:
        raise  # ours, above (it is a ValueError too)
    except Image.UnidentifiedImageError:
        raise InputError(f"{path}: not an image (or a format Pillow cannot read)") from None
    except OSError as error:
        if error.errno is None:  # Pillow's decoding errors carry no errno; the system's (permission...) do
            raise InputError(f"{path}: truncated or damaged image ({' '.join(str(error).split())})") from None
        raise InputError(f"{path}: cannot read ({os_reason(error)})") from None
    except (ValueError, SyntaxError, EOFError, struct.error) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise InputError(f"{path}: truncated or damaged image ({reason})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def convert_pil_image(image, path="image"):
    """A decoded Pillow image -> `LoadedImage` (see `read_image` for the conversions)."""
    icc_profile = image.info.get("icc_profile") or None
    mode = image.mode
    if mode in _GREY16_MODES or mode in ("I", "F"):
        array = np.asarray(image, dtype=np.float64)
        if not np.isfinite(array).all():
            raise InputError(f"{path}: has NaN or infinite pixel values; save it without them")
        if array.size and array.min() < 0:
            raise InputError(f"{path}: has negative pixel values (down to {array.min():g}); only images in "
                             "[0, 1] or [0, 255] or unsigned integers can be read")
        return LoadedImage(to_uint8(array / _white_level(image, array)), None, icc_profile)
    if mode not in _CONVERTIBLE_MODES:
        raise InputError(f"{path}: colour mode {mode} cannot be converted to RGB or greyscale; save it as 8-bit "
                         "RGB or greyscale")
    if mode in ("1", "L"):
        return LoadedImage(np.asarray(image.convert("L"), dtype=np.uint8).copy(), None, icc_profile)
    if mode in ("LA", "La"):
        grey_alpha = np.asarray(image.convert("LA"), dtype=np.uint8)
        return LoadedImage(grey_alpha[..., 0].copy(), grey_alpha[..., 1].copy(), icc_profile)
    has_alpha = mode in ("RGBA", "RGBa", "PA") or (mode == "P" and "transparency" in image.info)
    if mode not in ("RGB", "RGBA", "RGBa", "RGBX", "P", "PA"):
        icc_profile = None  # a CMYK or Lab profile no longer describes the RGB pixels
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.uint8)
        return LoadedImage(rgba[..., :3].copy(), rgba[..., 3].copy(), icc_profile)
    return LoadedImage(np.asarray(image.convert("RGB"), dtype=np.uint8).copy(), None, icc_profile)


# Modes Pillow converts to RGB / L / LA / RGBA itself (the others above are handled apart).
_CONVERTIBLE_MODES = ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "HSV", "LAB")


def _white_level(image, array):
    """The value that is white in a greyscale image of more than 8 bits (Pillow modes I;16*, I, F)."""
    if image.mode in _GREY16_MODES:
        return 65535.0
    bits = getattr(image, "tag_v2", {}).get(258)  # a TIFF's BitsPerSample: the range it was stored with
    bits = bits[0] if isinstance(bits, tuple) else bits
    if image.mode == "I" and bits in (8, 16, 32):
        return 2.0**bits - 1
    peak = float(array.max()) if array.size else 0.0
    if image.mode == "F" and peak <= 1.0:
        return 1.0  # float images are most often stored in [0, 1]
    return 255.0 if peak <= 255 else 65535.0 if peak <= 65535 else 2.0**32 - 1


def load_image(path):
    """Reads an image file as uint8 (H, W, 3) RGB or (H, W) greyscale, EXIF-rotated.

    Alpha is dropped; see `read_image` for the conversions and the pixel limit.

    Raises:
        InputError: the file cannot be read as an image.
    """
    return read_image(path).pixels


def luminance(image):
    """Y channel of a uint8 image in [0, 1], float32 (H, W, 1).

    Greyscale images are taken as Y directly, as the SRCNN MATLAB code does.
    """
    if image.ndim == 2:
        y255 = image.astype(np.float32)
    else:
        y255 = rgb_to_ycbcr(image)[..., 0]
    return (y255 / 255.0)[..., None]


def save_png(path, image, icc_profile=None, compress_level=6):
    """Writes a uint8 (H, W), (H, W, 1), (H, W, 2) grey+alpha, (H, W, 3) or (H, W, 4) image as PNG.

    The file is written under a temporary name and renamed when complete, so an
    interrupted run never leaves a half-written PNG. `compress_level` is zlib's (0-9);
    Pillow's default 6 is ~3.5x slower than 1 on photographs for ~7 % smaller files.
    """
    save_image(path, image, icc_profile, compress_level=compress_level)


# How `save_image` writes each kind of file, by extension (upscaled images are big):
# PNG at zlib level 1, several times faster than Pillow's 6 for files a little bigger;
# JPEG and WebP at quality 95, JPEG without chroma subsampling; TIFF uncompressed.
SAVE_OPTIONS = {
    ".png": ("PNG", {"compress_level": 1}),
    ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".webp": ("WEBP", {"quality": 95}),
    ".tif": ("TIFF", {}),
    ".tiff": ("TIFF", {}),
}
# Formats without an alpha channel: `save_image` writes their colour alone.
_NO_ALPHA = ("JPEG",)


def save_image(path, image, icc_profile=None, **options):
    """Writes a uint8 (H, W), (H, W, 1), (H, W, 2) grey+alpha, (H, W, 3) or (H, W, 4) image,
    in the format its extension names (`write_image`), under a temporary name renamed to
    `path` when complete.

    Raises:
        ValueError: an extension not in `SAVE_OPTIONS`.
        OSError: the file cannot be written.
    """
    extension = os.path.splitext(path)[1]
    _image_format(extension, path)  # refused with the real name, before anything is written
    with atomic_path(path) as temporary:
        write_image(temporary, image, extension, icc_profile, **options)


def _image_format(extension, path):
    if extension.lower() not in SAVE_OPTIONS:
        raise ValueError(f"{path}: cannot write {extension or 'a file without extension'}; "
                         f"name it {', '.join(SAVE_OPTIONS)}")
    return SAVE_OPTIONS[extension.lower()]


def write_image(target, image, extension, icc_profile=None, **options):
    """Writes `image` (as `save_image` takes it) to the path or file `target`, in the format
    of `extension` (".png", ".jpg"...: `SAVE_OPTIONS`, which `options` override).

    JPEG has no alpha: an alpha channel is left out of it.
    """
    image_format, defaults = _image_format(extension, target)
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image_format in _NO_ALPHA and image.ndim == 3 and image.shape[-1] in (2, 4):
        image = image[..., :-1] if image.shape[-1] == 4 else image[..., 0]
    Image.fromarray(image).save(target, format=image_format, icc_profile=icc_profile, **{**defaults, **options})
