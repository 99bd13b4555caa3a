"""Upscaling your own images (no ground truth): bicubic, then SRCNN on Y, in tiles.

    python step3_test.py --input my_photo.jpg     # -> output/my_photo_srcnn_x3.png, output/my_photo_bicubic_x3.png

Each image is enlarged `scale` times with the bicubic of `srcnn.imaging`; the network
restores Y, Cb and Cr stay bicubic (as in evaluation), and an alpha channel is enlarged
bicubically and kept. Greyscale stays greyscale.

Big images are done in tiles so that memory does not grow with the image: each output
tile is computed from a window that reaches `valid_margin(arch)` pixels (6 for 9-1-5)
further on every side inside the image. Window sides inside the image are filtered
VALID; sides on the image border are padded layer by layer as the whole-image network
pads them ("replicate" or "zero"). The tiles therefore reproduce
`model(bicubic, padding=...)` on the whole image, to float rounding. The bicubic input is
computed per window as well (`imaging.upscale_bicubic_window`), so neither the network's
activations nor the float planes ever cover the whole image; only the two uint8 results do.

`precision="bfloat16"` runs the first two layers with bfloat16 inputs, weights and
outputs (float32 accumulation in oneDNN); the last layer, whose output is the image, stays
float32. On this project's 2-core AVX512-BF16 CPU the network ran ~1.5x faster (8 -> 12
output MPix/s) for 0.01-0.02 dB less PSNR on Set5 x3 (benchmarks/upscale_speed.py
measures both). Without hardware support bfloat16 is emulated and slow, hence
`default_precision`.
"""

import os
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from srcnn import imaging
from srcnn.errors import UserError
from srcnn.evaluate import colour_output
from srcnn.files import ensure_writable_folder
from srcnn.model import bfloat16_is_native, valid_margin

PRECISIONS = ("float32", "bfloat16")
DEFAULT_TILE = 512  # output pixels per tile side: ~5 % recomputed overlap, ~0.1 GB of activations
# zlib level of the output PNGs: encoding a 12000x9000 photo takes ~20 s at 1 and ~70 s at
# Pillow's default 6, which saves only ~7 % of the size.
PNG_COMPRESS_LEVEL = 1


def default_precision():
    """The faster precision here: "bfloat16" on hardware that runs it natively, else "float32"."""
    return "bfloat16" if bfloat16_is_native() else "float32"


@dataclass
class Tile:
    """One output tile and the window of the input it is computed from.

    Boxes are (top, bottom, left, right) in output pixels, bottom/right exclusive.
    `borders` is (top, bottom, left, right): 1 where the window side is an image border.
    """

    box: tuple
    window: tuple
    borders: tuple


def plan_tiles(height, width, tile, margin):
    """The tiles covering a `height` x `width` image, with windows `margin` wider inside it."""
    tiles = []
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            window = (max(0, top - margin), min(height, bottom + margin),
                      max(0, left - margin), min(width, right + margin))
            borders = (int(window[0] == 0), int(window[1] == height), int(window[2] == 0), int(window[3] == width))
            tiles.append(Tile((top, bottom, left, right), window, borders))
    return tiles


def _edge_pad(features, amounts, padding):
    """Pads (1, H, W, C) by `amounts` = (top, bottom, left, right) rows/columns, per side."""
    def pad():
        top, bottom, left, right = amounts[0], amounts[1], amounts[2], amounts[3]
        if padding == "zero":
            return tf.pad(features, [[0, 0], [top, bottom], [left, right], [0, 0]])
        height, width = tf.shape(features)[1], tf.shape(features)[2]
        rows = tf.clip_by_value(tf.range(-top, height + bottom), 0, height - 1)
        columns = tf.clip_by_value(tf.range(-left, width + right), 0, width - 1)
        return tf.gather(tf.gather(features, rows, axis=1), columns, axis=2)

    # Most tiles lie inside the image: skip the copy there.
    return tf.cond(tf.reduce_any(amounts > 0), pad, lambda: features)


class TiledSRCNN:
    """SRCNN inference over tiles, equal to `model(bicubic, padding=padding)` on the whole image.

    Args:
        model: a `srcnn.model.SRCNN` (its current weights are copied).
        padding: "replicate" (the MATLAB demo's borders) or "zero".
        precision: "float32" or "bfloat16" (see the module docstring).
        tile: output tile side in pixels.
    """

    def __init__(self, model, padding="replicate", precision="float32", tile=DEFAULT_TILE):
        if padding not in ("replicate", "zero"):
            raise ValueError(f"padding {padding!r} is not 'replicate' or 'zero'")
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}")
        if tile < 1:
            raise ValueError(f"tile {tile} is not a positive number of pixels")
        self.padding, self.precision, self.tile = padding, precision, int(tile)
        self.margin = valid_margin(model.arch)
        self._dtype = tf.bfloat16 if precision == "bfloat16" else tf.float32
        layers = (model.conv1, model.conv2, model.conv3)
        self._hidden = [(tf.cast(layer.kernel, self._dtype), tf.cast(layer.bias, self._dtype),
                         layer.kernel_size[0] // 2) for layer in layers[:2]]
        # The last layer (f x f, C -> 1) as a 1 x f conv to f maps, map i = kernel row i,
        # summed with row shifts: oneDNN is slow with one output map, this is ~3x faster.
        self._last_kernel = tf.transpose(layers[2].kernel, (3, 1, 2, 0))  # (1, f, C, f)
        self._last_bias = layers[2].bias[0]
        self._last_half = layers[2].kernel_size[0] // 2
        self._run = tf.function(self._forward, input_signature=[
            tf.TensorSpec((1, None, None, 1), tf.float32), tf.TensorSpec((4,), tf.int32)])

    def _forward(self, window, borders):
        """(1, h, w, 1) window -> (1, h', w', 1): each side shrinks by the margin unless a border."""
        features = tf.cast(window, self._dtype)
        for kernel, bias, half in self._hidden:
            if half:
                features = _edge_pad(features, half * borders, self.padding)
            features = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(features, kernel, 1, "VALID"), bias))
        # The last layer in float32: its output is the image. Padding columns before the
        # 1 x f conv and rows after it is the same as padding its input.
        half = self._last_half
        features = _edge_pad(tf.cast(features, tf.float32), half * borders * [0, 0, 1, 1], self.padding)
        rows = _edge_pad(tf.nn.conv2d(features, self._last_kernel, 1, "VALID"), half * borders * [1, 1, 0, 0],
                         self.padding)
        height = tf.shape(rows)[1] - 2 * half
        restored = self._last_bias
        for row in range(2 * half + 1):
            restored += rows[:, row:row + height, :, row:row + 1]
        return restored

    def tiles(self, height, width):
        """The tiles of an image of this output size (see `plan_tiles`)."""
        return plan_tiles(height, width, self.tile, self.margin)

    def restore_tile(self, window_y, tile):
        """Restored Y of `tile.box`, clipped to [0, 1], from the bicubic Y of `tile.window`.

        Args:
            window_y: float32 (h, w, 1) bicubic Y over `tile.window`.
            tile: a `Tile` of `tiles()`.

        Returns:
            float32 (tile height, tile width, 1).
        """
        restored = self._run(tf.convert_to_tensor(window_y[None], tf.float32),
                             tf.constant(tile.borders, tf.int32))[0].numpy()
        top, bottom, left, right = tile.box
        first_row = tile.window[0] + (0 if tile.borders[0] else self.margin)
        first_column = tile.window[2] + (0 if tile.borders[2] else self.margin)
        rows = slice(top - first_row, bottom - first_row)
        columns = slice(left - first_column, right - first_column)
        return np.clip(restored[rows, columns], 0.0, 1.0)

    def restore_y(self, bicubic, progress=False):
        """Restored Y of a whole (H, W, 1) bicubic Y image, clipped to [0, 1], tile by tile."""
        height, width = bicubic.shape[:2]
        sr = np.empty((height, width, 1), np.float32)
        for tile in tqdm(self.tiles(height, width), unit="tile", leave=False, disable=None if progress else True):
            top, bottom, left, right = tile.box
            window_top, window_bottom, window_left, window_right = tile.window
            window = bicubic[window_top:window_bottom, window_left:window_right]
            sr[top:bottom, left:right] = self.restore_tile(window, tile)
        return sr


def low_resolution_planes(pixels, alpha=None):
    """The planes that are enlarged: float32 (h, w, C) in [0, 1].

    C is Y, Cb, Cr for RGB (Y as `imaging.rgb_to_ycbcr` rounds it) or Y for greyscale,
    then alpha when given.
    """
    channels = (3 if pixels.ndim == 3 else 1) + (alpha is not None)
    planes = np.empty(pixels.shape[:2] + (channels,), np.float32)
    for top in range(0, pixels.shape[0], 256):  # in bands: the float64 conversion stays small
        rows = slice(top, top + 256)
        if pixels.ndim == 3:
            planes[rows, :, :3] = imaging.rgb_to_ycbcr(pixels[rows]) / 255.0
        else:
            planes[rows, :, 0] = pixels[rows] / np.float32(255.0)
        if alpha is not None:
            planes[rows, :, -1] = alpha[rows] / np.float32(255.0)
    return planes


def upscale(network, pixels, scale, alpha=None, progress=False):
    """Enlarges an image `scale` times: SRCNN and, for comparison, bicubic.

    Args:
        network: a `TiledSRCNN`.
        pixels: uint8 (h, w, 3) RGB or (h, w) greyscale.
        scale: integer factor.
        alpha: uint8 (h, w) or None; enlarged bicubically into both results.
        progress: show a progress bar over the tiles.

    Returns:
        (sr, bicubic): uint8 (h * scale, w * scale[, C]) with C = 3 (RGB), 4 (RGBA), or
        2 (greyscale + alpha); 2-D for greyscale without alpha.
    """
    colour = pixels.ndim == 3
    planes = low_resolution_planes(pixels, alpha)
    height, width = pixels.shape[0] * scale, pixels.shape[1] * scale
    channels = (3 if colour else 1) + (alpha is not None)
    sr = np.empty((height, width, channels), np.uint8)
    bicubic = np.empty((height, width, channels), np.uint8)
    for tile in tqdm(network.tiles(height, width), unit="tile", leave=False, disable=None if progress else True):
        window_top, window_bottom, window_left, window_right = tile.window
        window = imaging.upscale_bicubic_window(planes, scale, window_top, window_bottom, window_left, window_right)
        restored = network.restore_tile(window[..., :1], tile)
        top, bottom, left, right = tile.box
        inside = window[top - window_top:bottom - window_top, left - window_left:right - window_left]
        if colour:
            sr[top:bottom, left:right, :3] = colour_output(restored, inside[..., 1:3])
            bicubic[top:bottom, left:right, :3] = imaging.ycbcr_to_rgb(inside[..., :3] * 255.0)
        else:
            sr[top:bottom, left:right, :1] = imaging.to_uint8(restored)
            bicubic[top:bottom, left:right, :1] = imaging.to_uint8(inside[..., :1])
        if alpha is not None:
            sr[top:bottom, left:right, -1] = bicubic[top:bottom, left:right, -1] = imaging.to_uint8(inside[..., -1])
    if channels == 1:
        return sr[..., 0], bicubic[..., 0]
    return sr, bicubic


@dataclass
class Job:
    """One image to upscale and the two PNGs it becomes."""

    source: str
    sr_path: str
    bicubic_path: str


def plan_jobs(input_path, output_dir, scale):
    """The images under `input_path` (a file or a folder) and their output PNGs.

    Outputs are `<stem>_srcnn_x{scale}.png` and `<stem>_bicubic_x{scale}.png` in
    `output_dir`, in the same subfolder as the image below a folder input.

    Returns:
        (jobs, clashes): `Job`s, and one message per image whose outputs another image
        of the list already takes (e.g. photo.jpg and photo.png).

    Raises:
        UserError: `input_path` is missing or a folder without images.
    """
    if os.path.isdir(input_path):
        sources = imaging.list_images(input_path)
        if not sources:
            raise UserError(f"{input_path}: no images ({'/'.join(imaging.IMAGE_EXTENSIONS)}) in this folder "
                            "or its subfolders; pass an image or another folder")
        folders = [os.path.relpath(os.path.dirname(source), input_path) for source in sources]
    elif os.path.exists(input_path):
        sources, folders = [input_path], [os.curdir]
    else:
        raise UserError(f"{input_path}: no such file or folder; pass an image or a folder of images with --input")
    jobs, clashes, taken = [], [], {}
    for source, folder in zip(sources, folders):
        stem = os.path.join(output_dir, folder, os.path.splitext(os.path.basename(source))[0])
        job = Job(source, os.path.normpath(f"{stem}_srcnn_x{scale}.png"),
                  os.path.normpath(f"{stem}_bicubic_x{scale}.png"))
        if job.sr_path in taken:
            clashes.append(f"{source}: its output {job.sr_path} is also {taken[job.sr_path]}'s; "
                           "rename one of them or upscale them separately")
            continue
        taken[job.sr_path] = source
        jobs.append(job)
    return jobs, clashes


def prepare_output(output_dir):
    """Creates the output folder and checks that it can be written.

    Raises:
        UserError: it cannot be created or written.
    """
    ensure_writable_folder(output_dir, "output", "--output")


def upscale_file(network, scale, job, overwrite=False, max_pixels=imaging.DEFAULT_MAX_PIXELS, progress=False):
    """Reads `job.source`, upscales it and writes `job.sr_path` and `job.bicubic_path`.

    Raises:
        UserError: an output exists (and not `overwrite`), the image cannot be read, or
            the PNGs cannot be written.
    """
    if not overwrite:
        for path in (job.sr_path, job.bicubic_path):
            if os.path.exists(path):
                raise UserError(f"{path}: already exists; pass --overwrite to replace it, or another --output")
    image = imaging.read_image(job.source, max_pixels)
    sr, bicubic = upscale(network, image.pixels, scale, image.alpha, progress)
    try:
        os.makedirs(os.path.dirname(job.sr_path) or os.curdir, exist_ok=True)
        imaging.save_png(job.sr_path, sr, image.icc_profile, PNG_COMPRESS_LEVEL)
        imaging.save_png(job.bicubic_path, bicubic, image.icc_profile, PNG_COMPRESS_LEVEL)
    except OSError as error:
        raise UserError(f"{job.sr_path}: cannot write ({error.strerror or error}); "
                        "free some space or pass another --output") from None
