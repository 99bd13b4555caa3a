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
`model(bicubic, padding=...)` on the whole image, to float rounding.

Each tile is one TensorFlow call from a crop of the small image to the 8-bit SRCNN tile
(and the bicubic one, for the command line's comparison PNG):
`imaging.enlarge_bicubic` of the crop (which equals the whole image's resize inside it),
the network on Y, and the colour merge, so that neither the network's activations nor
the enlarged float planes ever cover the whole image; only the two uint8 results do.
Colour is enlarged as RGB (converted from Y, Cb, Cr on the small image): the conversion
is affine, so this equals converting the enlarged Y, Cb, Cr, and the restored Y then
enters as a change of Y (`imaging.merge_kernels`).

`precision="bfloat16"` runs all three layers with bfloat16 inputs, weights and outputs
(float32 accumulation in oneDNN). The last layer's outputs are its kernel rows' partial
sums, added up in float32, so only those are rounded to bfloat16; a float32 last layer
would cost a cast of its whole input and a float32 convolution, over a third of the
network's time. bfloat16 is faster where the hardware computes it natively and costs a
little PSNR (benchmarks/upscale_speed.py measures both); elsewhere it is emulated and
slow, hence `default_precision`.
"""

import itertools
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from srcnn import imaging, video
from srcnn.errors import UserError
from srcnn.files import ensure_writable_folder
from srcnn.model import DEFAULT_PADDING, bfloat16_is_native, pad_edges, row_maps_kernel, sum_row_maps, valid_margin

# Inference precisions of the tiled network (training has its own, `srcnn.train.PRECISIONS`).
INFERENCE_PRECISIONS = ("float32", "bfloat16")
DEFAULT_TILE = 512  # output pixels per tile side: ~5 % recomputed overlap, ~0.1 GB of activations
# zlib level of the output PNGs: encoding a 12000x9000 photo takes ~20 s at 1 and ~70 s at
# Pillow's default 6, which saves only ~7 % of the size.
PNG_COMPRESS_LEVEL = 1
# Tiles computed at once by `upscale` (threads; TensorFlow releases the GIL).
TILES_IN_FLIGHT = 2
# Bicubic taps reach 2 small-image pixels past the one an output pixel falls in.
_BICUBIC_REACH = 2


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


def _shift(box, rows, columns):
    """A (top, bottom, left, right) box moved up by `rows` and left by `columns`."""
    return (box[0] - rows, box[1] - rows, box[2] - columns, box[3] - columns)


class TiledSRCNN:
    """SRCNN inference over tiles, equal to `model(bicubic, padding=padding)` on the whole image.

    Args:
        model: a `srcnn.model.SRCNN` (its current weights are copied).
        padding: "replicate" (the MATLAB demo's borders) or "zero".
        precision: "float32" or "bfloat16" (see the module docstring).
        tile: output tile side in pixels.
    """

    def __init__(self, model, padding=DEFAULT_PADDING, precision="float32", tile=DEFAULT_TILE):
        if padding not in ("replicate", "zero"):
            raise ValueError(f"padding {padding!r} is not 'replicate' or 'zero'")
        if precision not in INFERENCE_PRECISIONS:
            raise ValueError(f"precision {precision!r} is not one of {INFERENCE_PRECISIONS}")
        if tile < 1:
            raise ValueError(f"tile {tile} is not a positive number of pixels")
        self.padding, self.precision, self.tile = padding, precision, int(tile)
        self.margin = valid_margin(model.arch)
        self._dtype = tf.bfloat16 if precision == "bfloat16" else tf.float32
        layers = (model.conv1, model.conv2, model.conv3)
        self._hidden = [(tf.cast(layer.kernel, self._dtype), tf.cast(layer.bias, self._dtype),
                         layer.kernel_size[0] // 2) for layer in layers[:2]]
        self._last_kernel = tf.cast(row_maps_kernel(layers[2].kernel), self._dtype)
        self._last_bias = layers[2].bias[0]
        self._last_half = layers[2].kernel_size[0] // 2
        self._restore = tf.function(self._restored_box, input_signature=[
            tf.TensorSpec((1, None, None, 1), tf.float32), tf.TensorSpec((2, 4), tf.int32)])
        self._tile_functions = {}  # (scale, channels, with_bicubic) -> the tf.function of `_upscale_tile`

    def _network(self, window, borders):
        """(1, h, w, 1) window -> (1, h', w', 1): each side shrinks by the margin unless a border."""
        features = tf.cast(window, self._dtype)
        for kernel, bias, half in self._hidden:
            if half:
                features = pad_edges(features, half * borders, self.padding)
            features = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(features, kernel, 1, "VALID"), bias))
        # The last layer's row maps are added in float32: its output is the image. Padding
        # columns before the 1 x f conv and rows after it is the same as padding its input.
        half = self._last_half
        features = pad_edges(features, half * borders * [0, 0, 1, 1], self.padding)
        rows = tf.cast(tf.nn.conv2d(features, self._last_kernel, 1, "VALID"), tf.float32)
        return sum_row_maps(pad_edges(rows, half * borders * [1, 1, 0, 0], self.padding), self._last_bias)

    def _restored_box(self, window, geometry):
        """Restored Y, clipped to [0, 1], of box geometry[1] of the network's output on `window`.

        geometry[0] holds the window's `borders`, geometry[1] the box (top, bottom, left,
        right) relative to the network's output (see `_box_in_output`).
        """
        restored = self._network(window, geometry[0])
        box = geometry[1]
        return tf.clip_by_value(restored[:, box[0]:box[1], box[2]:box[3]], 0.0, 1.0)

    def _box_in_output(self, tile):
        """`tile.box` relative to the network's output on `tile.window`."""
        first_row = tile.window[0] + (0 if tile.borders[0] else self.margin)
        first_column = tile.window[2] + (0 if tile.borders[2] else self.margin)
        return _shift(tile.box, first_row, first_column)

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
        geometry = tf.constant([tile.borders, self._box_in_output(tile)], tf.int32)
        return self._restore(tf.convert_to_tensor(window_y[None], tf.float32), geometry)[0].numpy()

    def restore_y_in_tiles(self, bicubic, progress=False):
        """Restored Y of a whole (H, W, 1) bicubic Y image, clipped to [0, 1], tile by tile."""
        height, width = bicubic.shape[:2]
        sr = np.empty((height, width, 1), np.float32)
        for tile in tqdm(self.tiles(height, width), unit="tile", leave=False, disable=None if progress else True):
            top, bottom, left, right = tile.box
            window_top, window_bottom, window_left, window_right = tile.window
            window = bicubic[window_top:window_bottom, window_left:window_right]
            sr[top:bottom, left:right] = self.restore_tile(window, tile)
        return sr

    def _upscale_tile(self, planes, geometry, scale, with_bicubic):
        """One tile of `upscale`: a crop of `low_resolution_planes` -> uint8 (sr, bicubic) of the box.

        Planes come out as [R, G, B, alpha...] for RGB (Y is dropped) or [Y, alpha...] for
        greyscale; bicubic is an empty tensor unless `with_bicubic`. geometry rows: the
        window and the box relative to the crop's enlargement, 1 where a crop side is an
        image side, the window's borders, the box relative to the network's output
        (`upscale_tile`).
        """
        window, box, image_sides = geometry[0], geometry[1], geometry[2]
        # Where the crop's sides are inside the image, the enlargement there is cut off with the
        # window: renormalising it would be wasted.
        renormalise = (tf.reduce_any(image_sides[:2] > 0), tf.reduce_any(image_sides[2:] > 0))
        enlarged = imaging.enlarge_bicubic(planes, scale, renormalise)  # in [0, 255]
        window_y = enlarged[:, window[0]:window[1], window[2]:window[3], :1]
        restored = self._restored_box(window_y / 255.0, geometry[3:])
        bicubic_y = window_y[:, box[0] - window[0]:box[1] - window[0], box[2] - window[2]:box[3] - window[2]]
        select, gains = imaging.merge_kernels(planes.shape[-1])
        bicubic = tf.nn.conv2d(enlarged[:, box[0]:box[1], box[2]:box[3]], select, 1, "VALID")
        sr = bicubic + tf.nn.conv2d(restored * 255.0 - bicubic_y, gains, 1, "VALID")
        return imaging.quantize_uint8(sr[0]), (imaging.quantize_uint8(bicubic[0]) if with_bicubic
                                               else tf.zeros((0,), tf.uint8))

    def _tile_function(self, scale, channels, with_bicubic):
        """The tf.function of `_upscale_tile` for these arguments (made once)."""
        key = (scale, channels, with_bicubic)
        if key not in self._tile_functions:
            self._tile_functions[key] = tf.function(
                lambda crop, geometry: self._upscale_tile(crop, geometry, scale, with_bicubic),
                input_signature=[tf.TensorSpec((1, None, None, channels), tf.float32), tf.TensorSpec((5, 4), tf.int32)])
        return self._tile_functions[key]

    def upscale_tile(self, planes, scale, tile, with_bicubic=True):
        """uint8 (sr, bicubic) of `tile.box` of the `scale` times enlargement of `planes`.

        Args:
            planes: float32 (h, w, C) `low_resolution_planes` of the whole image.
            scale: integer factor.
            tile: a `Tile` of `tiles(h * scale, w * scale)`.
            with_bicubic: False gives None for bicubic, and saves its work.
        """
        upscale_crop = self._tile_function(scale, planes.shape[-1], with_bicubic)
        top, bottom, left, right = tile.window
        # The crop reaches far enough that the enlargement is exact over the window.
        crop = (max(0, top // scale - _BICUBIC_REACH), min(planes.shape[0], -(-bottom // scale) + _BICUBIC_REACH),
                max(0, left // scale - _BICUBIC_REACH), min(planes.shape[1], -(-right // scale) + _BICUBIC_REACH))
        image_sides = (crop[0] == 0, crop[1] == planes.shape[0], crop[2] == 0, crop[3] == planes.shape[1])
        geometry = np.array([_shift(tile.window, crop[0] * scale, crop[2] * scale),
                             _shift(tile.box, crop[0] * scale, crop[2] * scale), image_sides,
                             tile.borders, self._box_in_output(tile)], np.int32)
        sr, bicubic = upscale_crop(tf.convert_to_tensor(planes[None, crop[0]:crop[1], crop[2]:crop[3]]), geometry)
        return sr.numpy(), bicubic.numpy() if with_bicubic else None


def low_resolution_planes(pixels, alpha=None):
    """The planes that are enlarged: float32 (h, w, C) in [0, 255] (8-bit units).

    C is Y (as `imaging.rgb_to_ycbcr` rounds it), then for RGB images R, G, B converted
    back from Y, Cb, Cr (not clipped; they differ from the pixels by Y's rounding), then
    alpha when given. Y alone stands for a greyscale image.
    """
    channels = (4 if pixels.ndim == 3 else 1) + (alpha is not None)
    planes = np.empty(pixels.shape[:2] + (channels,), np.float32)
    for top in range(0, pixels.shape[0], 256):  # in bands: the float64 conversion stays small
        rows = slice(top, top + 256)
        if pixels.ndim == 3:
            ycbcr = imaging.rgb_to_ycbcr(pixels[rows])
            planes[rows, :, 0] = ycbcr[..., 0]
            planes[rows, :, 1:4] = imaging.ycbcr_to_rgb01(ycbcr) * np.float32(255.0)
        else:
            planes[rows, :, 0] = pixels[rows]
        if alpha is not None:
            planes[rows, :, -1] = alpha[rows]
    return planes


def upscale(network, pixels, scale, alpha=None, progress=False, with_bicubic=True):
    """Enlarges an image `scale` times: SRCNN and, for comparison, bicubic.

    Args:
        network: a `TiledSRCNN`.
        pixels: uint8 (h, w, 3) RGB or (h, w) greyscale.
        scale: integer factor.
        alpha: uint8 (h, w) or None; enlarged bicubically into both results.
        progress: show a progress bar over the tiles.
        with_bicubic: False returns None for bicubic, and saves its work.

    Returns:
        (sr, bicubic): uint8 (h * scale, w * scale[, C]) with C = 3 (RGB), 4 (RGBA), or
        2 (greyscale + alpha); 2-D for greyscale without alpha.
    """
    planes = low_resolution_planes(pixels, alpha)
    height, width = pixels.shape[0] * scale, pixels.shape[1] * scale
    channels = (3 if pixels.ndim == 3 else 1) + (alpha is not None)
    sr = np.empty((height, width, channels), np.uint8)
    bicubic = np.empty((height, width, channels), np.uint8) if with_bicubic else None
    tiles = network.tiles(height, width)

    def one_tile(tile):
        return network.upscale_tile(planes, scale, tile, with_bicubic)

    first = one_tile(tiles[0])  # traces the tile function once, before the threads
    # Two tiles at a time: one tile's copies and element-wise work overlap the other's convolutions.
    with ThreadPoolExecutor(TILES_IN_FLIGHT) as pool:
        results = itertools.chain([first], pool.map(one_tile, tiles[1:]))
        for tile, (sr_tile, bicubic_tile) in tqdm(zip(tiles, results), total=len(tiles), unit="tile",
                                                  leave=False, disable=None if progress else True):
            top, bottom, left, right = tile.box
            sr[top:bottom, left:right] = sr_tile
            if with_bicubic:
                bicubic[top:bottom, left:right] = bicubic_tile
    if channels == 1:
        return sr[..., 0], None if bicubic is None else bicubic[..., 0]
    return sr, bicubic


# The names `plan_jobs` gives outputs: never taken as inputs from a folder they are written to.
OUTPUT_NAME = re.compile(r"_(srcnn|bicubic)_x\d+\.(png|mp4)$", re.IGNORECASE)


@dataclass
class Job:
    """One image to upscale and the two PNGs it becomes; a video becomes one MP4 (no bicubic)."""

    source: str
    sr_path: str
    bicubic_path: str


def plan_jobs(input_path, output_dir, scale):
    """The images and videos under `input_path` (a file or a folder) and their outputs.

    Outputs are `<stem>_srcnn_x{scale}.png` and `<stem>_bicubic_x{scale}.png` in
    `output_dir`, in the same subfolder as the image below a folder input; a video
    (`video.is_video`) gives `<stem>_srcnn_x{scale}.mp4` alone. Outputs are never read
    back: an `output_dir` inside the input folder is left out of it, and one that is the
    input folder leaves out the files named like outputs.

    Returns:
        (jobs, clashes): `Job`s, and one message per image whose outputs another image
        of the list already takes (e.g. photo.jpg and photo.png).

    Raises:
        UserError: `input_path` is missing or a folder without images.
    """
    if os.path.isdir(input_path):
        same_folder = os.path.realpath(output_dir) == os.path.realpath(input_path)
        exclude = () if same_folder else (output_dir,)
        sources = [source for source in imaging.list_images(input_path, exclude=exclude)
                   + video.list_videos(input_path, exclude=exclude)
                   if not (same_folder and OUTPUT_NAME.search(os.path.basename(source)))]
        if not sources:
            raise UserError(f"{input_path}: no images or videos in this folder or its subfolders (besides earlier "
                            "outputs); pass an image, a video or another folder")
        folders = [os.path.relpath(os.path.dirname(source), input_path) for source in sources]
    elif os.path.exists(input_path):
        sources, folders = [input_path], [os.curdir]
    else:
        raise UserError(f"{input_path}: no such file or folder; pass an image or a folder of images with --input")
    jobs, clashes, taken = [], [], {}
    for source, folder in zip(sources, folders):
        stem = os.path.join(output_dir, folder, os.path.splitext(os.path.basename(source))[0])
        if video.is_video(source):
            job = Job(source, os.path.normpath(f"{stem}_srcnn_x{scale}.mp4"), None)
        else:
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
