"""Image files: listing, reading (EXIF rotation, ICC profiles, bit depths, a pixel limit) and writing.

Reading and writing do not load TensorFlow, so commands can plan their files before it loads.
"""

import numbers
import os
import struct
from dataclasses import dataclass
import numpy as np
from PIL import Image, ImageOps, PngImagePlugin
from srcnn.core.choices import DEFAULT_MAX_PIXELS  # Pillow's decompression-bomb threshold, as a hard limit
from srcnn.core.errors import ImageTooLarge, InputError, OutputError, os_reason, printable
from srcnn.core.outputs import KINDS, rewriting
from srcnn.core.colour import to_uint8


# Still-image files that folders are searched for: the common ones this Pillow can read
# (a single file of any other format Pillow opens is read too).
IMAGE_EXTENSIONS = tuple(extension for extension in (
    ".bmp", ".png", ".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".gif", ".webp", ".ppm", ".pgm", ".pbm", ".pnm",
    ".tga", ".jp2", ".j2k", ".avif", ".heic", ".heif") if extension in Image.registered_extensions())


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
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, numbers.Real) or not max_pixels >= 1:
        raise ValueError(f"max_pixels {max_pixels!r}: must be a number of pixels, 1 or more")  # nan too
    if not os.path.isfile(path):
        raise InputError(f"{path}: " + ("no such file" if not os.path.exists(path) else "a folder, not an image"
                                        if os.path.isdir(path) else "not a regular file (a pipe or a device)"))
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
    with rewriting(path, KINDS["image"]) as temporary:  # a sample or page figure, rewritten on each run
        write_image(temporary, image, extension, icc_profile, **options)


NOTE_KEY = "srcnn"  # the PNG text chunk of `write_image`'s note

# The largest side each format can hold (WebP's is 14 bits); the others hold any image this tool makes.
MAX_SIDES = {"WEBP": 16383, "JPEG": 65535}


def check_size_fits(path, height, width):
    """Raises OutputError if an image of height x width cannot be written in `path`'s format."""
    image_format, _ = _image_format(os.path.splitext(path)[1], path)
    largest = MAX_SIDES.get(image_format)
    if largest and max(height, width) > largest:
        raise OutputError(f"{printable(path)}: {image_format} holds at most {largest} pixels a side, and this "
                          f"image is {width}x{height}; write it as png or tif")


def _image_format(extension, path):
    if extension.lower() not in SAVE_OPTIONS:
        raise ValueError(f"{path}: cannot write {extension or 'a file without extension'}; "
                         f"name it {', '.join(SAVE_OPTIONS)}")
    return SAVE_OPTIONS[extension.lower()]


def _note_options(image_format, note):
    """Save options that store the text `note` in the file's own metadata."""
    if note is None:
        return {}
    if image_format == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text(NOTE_KEY, note)
        return {"pnginfo": info}
    return {"JPEG": {"comment": note}, "WEBP": {"xmp": note.encode()}, "TIFF": {"description": note}}[image_format]


def read_note(path):
    """The note `write_image` stored in an image file, or None (another file, or none stored)."""
    try:
        with Image.open(path) as image:
            found = (image.info.get(NOTE_KEY) if image.format == "PNG" else image.info.get("comment")
                     if image.format == "JPEG" else image.info.get("xmp") if image.format == "WEBP"
                     else getattr(image, "tag_v2", {}).get(270) if image.format == "TIFF" else None)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return found.decode(errors="replace") if isinstance(found, bytes) else found


def write_image(target, image, extension, icc_profile=None, note=None, **options):
    """Writes `image` (as `save_image` takes it) to the path or file `target`, in the format
    of `extension` (".png", ".jpg"...: `SAVE_OPTIONS`, which `options` override), with the
    text `note` in its metadata if given (`read_note`).

    JPEG has no alpha: an alpha channel is left out of it.
    """
    image_format, defaults = _image_format(extension, target)
    options = {**_note_options(image_format, note), **options}
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image_format in _NO_ALPHA and image.ndim == 3 and image.shape[-1] in (2, 4):
        image = image[..., :-1] if image.shape[-1] == 4 else image[..., 0]
    Image.fromarray(image).save(target, format=image_format, icc_profile=icc_profile, **{**defaults, **options})
