"""The upscale engine: an image array enlarged, bicubic then SRCNN on Y, in tiles.

    sr, _ = upscale(TiledSRCNN(model), pixels, scale=3, with_bicubic=False)

`srcnn.Upscaler` is its front door (arrays, PIL images, files, videos); `srcnn.upscaling.jobs`
names and runs the files of the command line.

Each image is enlarged `scale` times with the bicubic of `srcnn.imaging`; the network
restores Y, Cb and Cr stay bicubic (as in evaluation), and an alpha channel is enlarged
bicubically and kept. Greyscale stays greyscale.

In float32 a 9-1-5 network upscales images of at least `composed.MIN_SIDE` pixels a side
on the small image's grid (`srcnn.upscaling.composed`, `TiledSRCNN.composed_network`), with the
same result to float rounding; what follows is the TensorFlow way, which bfloat16, small
images and 9-5-5 networks take.

Big images are done in tiles so that memory does not grow with the image: each output
tile is computed from a window that reaches `valid_margin(arch)` pixels (6 for 9-1-5)
further on every side inside the image. Window sides inside the image are filtered
VALID; sides on the image border are padded layer by layer as the whole-image network
pads them ("replicate" or "zero"). The tiles therefore reproduce
`model(bicubic, padding=...)` on the whole image, to float rounding.

Each tile is one TensorFlow call from crops of the small image to the 8-bit SRCNN tile
(and the bicubic one, for the command line's comparison PNG), so that neither the
network's activations nor the enlarged float planes ever cover the whole image; only the
uint8 results do. The small image's planes are made one band per row of tiles, while the
rows before run (`plane_bands`).

The conversion from Y, Cb, Cr to RGB is affine and Y weighs the same in R, G and B, so
each output plane is a part that Cb and Cr set (its "base") plus a gain times Y
(`colour.y_gains`), and bicubic enlargement commutes with both. So:
- Y alone is enlarged into pixels (`resampling.enlarge_phases` of a crop that reaches the
  window, filtered VALID where its sides are inside the image), for the network;
- the base planes are enlarged from a crop whose enlargement is the tile itself, and
  left in the enlargement's phase layout (no depth_to_space), where the restored Y's
  phases are added with their gains;
- the uint8 phases become pixels in numpy's copy into the output image (`put_phases`).
Tiles are then a multiple of `scale` on a side (`TiledSRCNN.upscale_tiles`).

`precision="bfloat16"` runs all three layers with bfloat16 inputs, weights and outputs
(float32 accumulation in oneDNN). The last layer's outputs are its kernel rows' partial
sums, added up in float32, so only those are rounded to bfloat16; a float32 last layer
would cost a cast of its whole input and a float32 convolution, over a third of the
network's time. bfloat16 is faster where the hardware computes it natively and costs a
little PSNR (benchmarks/upscale_speed.py measures both); elsewhere it is emulated and
slow, hence `default_precision`.
"""

import collections
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from srcnn.core.startup import tf  # TensorFlow with its start-up messages filtered (srcnn.core.startup)
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from srcnn.upscaling import composed
from srcnn.core import colour
from srcnn.core import resampling
from srcnn.core.choices import DEFAULT_TILE, INFERENCE_PRECISIONS
from srcnn.core.model import DEFAULT_PADDING, InferenceLayers, restore_y, valid_margin
from srcnn.core.precision import resolve_precision

# Tiles computed at once by `upscale` (threads; TensorFlow releases the GIL): each tile's
# copies and element-wise work overlap the others' convolutions. On 2 cores 4 ran faster
# than 2, and peak memory barely grew (TensorFlow reuses the buffers).
TILES_IN_FLIGHT = 4
# Tiles `upscale` submits ahead of the one it waits for: enough that the next row's
# planes are made while a row runs, few enough that bands and results do not pile up.
TILES_AHEAD = 2 * TILES_IN_FLIGHT
# Pixels per chunk of `low_resolution_planes`' colour conversion. Small enough that BLAS
# runs its 3 x 3 products on one thread (OpenBLAS: below 2**18 multiply-adds): its
# threads would otherwise spin for a while after each call, taking a core from the tiles.
# Same values either way.
PLANES_CHUNK_PIXELS = 16384


def default_precision():
    """The faster precision here: "bfloat16" on hardware that runs it natively, else "float32"."""
    return resolve_precision("auto")


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


class TileGeometry(NamedTuple):
    """Where one tile of `TiledSRCNN.upscale_tile` lies, in each frame it is computed in.

    Each field is (top, bottom, left, right); boxes are bottom/right exclusive, sides 1
    where that side is the whole image's.
    """

    y_crop: tuple  # the crop of the small image's Y, in rows of the band and columns of the image
    base_crop: tuple  # the crop of the base planes, likewise
    y_sides: tuple  # which sides of the Y crop are the image's
    base_sides: tuple  # which sides of the base crop are the image's
    window: tuple  # the network's window, in pixels of the Y crop's enlargement
    box: tuple  # the tile, in pixels of the Y crop's enlargement
    box_in_base: tuple  # the tile, in small pixels of the base crop's enlargement (phase layout)
    borders: tuple  # which sides of the window are the image's (padded, not filtered VALID)
    box_in_output: tuple  # the tile, in pixels of the network's output on the window


def _shift(box, rows, columns):
    """A (top, bottom, left, right) box moved up by `rows` and left by `columns`."""
    return (box[0] - rows, box[1] - rows, box[2] - columns, box[3] - columns)


class TiledSRCNN:
    """SRCNN inference over tiles, equal to `model(bicubic, padding=padding)` on the whole image.

    Args:
        model: a `srcnn.core.model.SRCNN` (its current weights are copied).
        padding: "replicate" (the MATLAB demo's borders) or "zero".
        precision: "float32" or "bfloat16" (see the module docstring).
        tile: output tile side in pixels (`upscale` rounds it down to a multiple of the
            scale, at least the scale; see `upscale_tiles`).
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
        self.model = model
        self._composed = {}  # scale -> `composed.ComposedSRCNN`, made on first use
        self._dtype = tf.bfloat16 if precision == "bfloat16" else tf.float32
        self._layers = InferenceLayers(model, lambda weights: tf.cast(weights, self._dtype))
        # Concrete functions, traced on first use (`restore_tile`, `tile_function`): a call
        # skips tf.function's matching of the arguments to the signature.
        self._restore = None
        self._tile_functions = {}  # (scale, channels, with_bicubic) -> the traced `_upscale_tile`

    def composed_network(self, scale, size):
        """The `composed.ComposedSRCNN` that upscales a small image of `size` (height, width), or
        None where the TensorFlow tiles do: bfloat16, a conv2 wider than 1 x 1, or a small image."""
        if self.precision != "float32" or not composed.supported(self.model) or min(size) < composed.MIN_SIDE:
            return None
        if scale not in self._composed:
            self._composed[scale] = composed.ComposedSRCNN(self.model, scale, self.padding)
        return self._composed[scale]

    def _restored_box(self, window, borders, box_in_output):
        """Restored Y, clipped to [0, 1], of `box_in_output` (top, bottom, left, right) of the
        network's output on `window`, whose sides `borders` says (see `_box_in_output`)."""
        restored = restore_y(window, self._layers, borders, self.padding, self._dtype)
        box = box_in_output
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
        side = tf.TensorSpec((4,), tf.int32)
        if self._restore is None:
            self._restore = tf.function(self._restored_box, input_signature=[
                tf.TensorSpec((1, None, None, 1), tf.float32), side, side]).get_concrete_function()
        return self._restore(tf.convert_to_tensor(window_y[None], tf.float32), tf.constant(tile.borders, tf.int32),
                             tf.constant(self._box_in_output(tile), tf.int32))[0].numpy()

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

    def _upscale_tile(self, y, base, geometry, scale, with_bicubic):
        """One tile of `upscale`: `low_resolution_planes` -> uint8 (sr, bicubic) phases of the box.

        The output planes are base + gain * Y (`colour.y_gains`), added up in the
        enlargement's phase layout (`resampling.enlarge_phases`) over the box, which the base
        crop's enlargement covers; only Y is enlarged into pixels, for the network.
        bicubic is an empty tensor unless `with_bicubic`. `geometry` is a `TileGeometry`.
        """
        y_crop, base_crop, window, box = geometry.y_crop, geometry.base_crop, geometry.window, geometry.box
        y = y[:, y_crop[0]:y_crop[1], y_crop[2]:y_crop[3]]
        y_phases = resampling.enlarge_phases(y, scale, geometry.y_sides)
        # The network casts its input to its precision anyway: casting the phases first
        # moves half the bytes through the depth-to-space in bfloat16.
        network_y = y_phases if with_bicubic else tf.cast(y_phases, self._dtype)
        enlarged_y = resampling.phases_to_image(network_y, scale)
        restored = self._restored_box(enlarged_y[:, window[0]:window[1], window[2]:window[3]], geometry.borders,
                                      geometry.box_in_output)
        # The base crop enlarges to the box, or past it where the crop reaches an image side
        # that the box stops short of (within 2 input pixels): cut to the box.
        base = base[:, base_crop[0]:base_crop[1], base_crop[2]:base_crop[3]]
        base_box = geometry.box_in_base
        base_phases = resampling.enlarge_phases(base, scale, geometry.base_sides)[:, base_box[0]:base_box[1],
                                                                               base_box[2]:base_box[3]]
        gains = self._gain_matrix(scale, base.shape[-1])

        def planes(y01):  # uint8 phases of the output planes for this Y (in [0, 1]) over the box
            y_phases = tf.reshape(resampling.image_to_phases(y01, scale), (-1, scale * scale))
            # A matrix product, not a 1x1 convolution, which oneDNN runs slower here.
            return colour.quantize_uint8(base_phases[0] + tf.reshape(y_phases @ gains, tf.shape(base_phases)[1:]))

        bicubic = planes(enlarged_y[:, box[0]:box[1], box[2]:box[3]]) if with_bicubic else tf.zeros((0,), tf.uint8)
        return planes(restored), bicubic

    @staticmethod
    def _gain_matrix(scale, channels):
        """(s * s, s * s * C) matrix: Y's phase k (in [0, 1]) -> phase k of every output plane,
        times its gain in 8-bit units (`colour.y_gains`)."""
        return tf.constant(np.kron(np.eye(scale * scale, dtype=np.float32), 255.0 * colour.y_gains(channels)[None]))

    def tile_function(self, scale, channels, with_bicubic):
        """The traced `_upscale_tile` for these arguments (traced once, on the first call)."""
        key = (scale, channels, with_bicubic)
        if key not in self._tile_functions:
            self._tile_functions[key] = tf.function(
                lambda y, base, geometry: self._upscale_tile(y, base, geometry, scale, with_bicubic),
                input_signature=[tf.TensorSpec((1, None, None, 1), tf.float32),
                                 tf.TensorSpec((1, None, None, channels), tf.float32),
                                 TileGeometry(*[tf.TensorSpec((4,), tf.int32)] * len(TileGeometry._fields))]
            ).get_concrete_function()
        return self._tile_functions[key]

    def upscale_tiles(self, height, width, scale):
        """The tiles of `upscale` for a `height` x `width` input: sides a multiple of `scale`,
        so that every box starts on a whole input pixel."""
        return plan_tiles(height * scale, width * scale, max(scale, self.tile - self.tile % scale), self.margin)

    def upscale_tile(self, band, scale, tile, with_bicubic=True):
        """uint8 (sr, bicubic) phases of `tile.box` of the `scale` times enlargement.

        Args:
            band: the `PlaneBand` of the tile's row (see `plane_bands`).
            scale: integer factor.
            tile: one of `upscale_tiles`.
            with_bicubic: False gives None for bicubic, and saves its work.

        Returns:
            uint8 (box height / scale, box width / scale, scale * scale * C) arrays, in the
            layout of `resampling.enlarge_phases` (see `put_phases`).
        """
        upscale_crop = self.tile_function(scale, band.base.shape[-1], with_bicubic)
        y_crop, y_sides, y_first = _input_crop(tile.window, scale, band.image_size)
        if not band.first_row <= y_crop[0] < y_crop[1] <= band.first_row + band.y.shape[1]:
            raise ValueError(f"the band of input rows {band.first_row} onwards ({band.y.shape[1]} rows) does not "
                             f"hold rows {y_crop[0]}-{y_crop[1] - 1} that tile {tile.box} needs")
        base_crop, base_sides, base_first = _input_crop(tile.box, scale, band.image_size)
        box_in_base = np.array(_shift(tile.box, *base_first)) // scale
        geometry = TileGeometry(
            y_crop=_shift(y_crop, band.first_row, 0), base_crop=_shift(base_crop, band.first_row, 0), y_sides=y_sides,
            base_sides=base_sides, window=_shift(tile.window, *y_first), box=_shift(tile.box, *y_first),
            box_in_base=box_in_base, borders=tile.borders, box_in_output=self._box_in_output(tile))
        sr, bicubic = upscale_crop(band.y, band.base, TileGeometry(*(tf.constant(side, tf.int32) for side in geometry)))
        return sr.numpy(), bicubic.numpy() if with_bicubic else None


@dataclass
class PlaneBand:
    """`low_resolution_planes` of input rows `first_row` onwards, as (1, rows, w, C) tensors."""

    y: tf.Tensor
    base: tf.Tensor
    first_row: int
    image_size: tuple  # (height, width) of the whole input


def plane_bands(pixels, alpha, tiles, scale):
    """Yields (tile, band) for `upscale_tiles`: one `PlaneBand` per row of tiles, holding the
    input rows its crops reach (a few more than the tiles' own).

    Made lazily: `upscale` makes a row's planes while the rows before run, rather than
    the whole image's before any tile, and a band is freed once its tiles are done.
    """
    band, band_rows = None, None
    for tile in tiles:
        crop = _input_crop(tile.window, scale, pixels.shape[:2])[0]  # the Y crop, which holds the base one
        if crop[:2] != band_rows:
            band_rows = crop[:2]
            rows = slice(*band_rows)
            y, base = low_resolution_planes(pixels[rows], None if alpha is None else alpha[rows])
            band = PlaneBand(tf.convert_to_tensor(y[None]), tf.convert_to_tensor(base[None]), band_rows[0],
                             pixels.shape[:2])
        yield tile, band


def _input_crop(box, scale, size):
    """The crop of a `size` input whose `resampling.enlarge_phases` covers `box` (output pixels).

    Returns:
        (crop, image_sides, first): crop (top, bottom, left, right) in input pixels, 1
        where its side is the image's, and the first output row and column it enlarges to.
    """
    top, bottom, left, right = box
    reach = resampling.BICUBIC_REACH
    crop = (max(0, top // scale - reach), min(size[0], -(-bottom // scale) + reach),
            max(0, left // scale - reach), min(size[1], -(-right // scale) + reach))
    image_sides = (int(crop[0] == 0), int(crop[1] == size[0]), int(crop[2] == 0), int(crop[3] == size[1]))
    first = ((crop[0] + reach * (1 - image_sides[0])) * scale, (crop[2] + reach * (1 - image_sides[2])) * scale)
    return crop, image_sides, first


def _submitted_ahead(pool, function, items, ahead):
    """`pool.map(function, items)` that takes items only `ahead` of the result waited for
    (map takes them all at once)."""
    pending = collections.deque()
    for item in items:
        pending.append(pool.submit(function, item))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def put_phases(output, box, phases, scale):
    """Writes uint8 phases (`TiledSRCNN.upscale_tile`) of `box` into the (H, W, C) `output`."""
    top, bottom, left, right = box
    rows, columns = (bottom - top) // scale, (right - left) // scale
    # The depth_to_space of the phases, done by numpy's copy into the output. Each phase
    # row's scale * C bytes lie together on both sides: copied as one void item, not byte
    # by byte.
    item = np.dtype((np.void, phases.shape[-1] // scale))
    output[top:bottom, left:right].reshape(rows, scale, columns, -1).view(item)[..., 0] = \
        np.ascontiguousarray(phases).reshape(rows, columns, scale, -1).view(item)[..., 0].transpose(0, 2, 1)


def plane_channels(pixels, alpha=None):
    """Planes of the output (and of base): 3 for RGB, 1 for grey, one more with alpha."""
    return (3 if pixels.ndim == 3 else 1) + (alpha is not None)


def low_resolution_planes(pixels, alpha=None):
    """The planes that are enlarged: float32 (h, w, 1) Y in [0, 1] and (h, w, C) base.

    Y is as `colour.rgb_to_ycbcr` rounds it. base is each output plane less its gain
    times Y (`colour.y_gains`), in [0, 255] units: for RGB images what Cb and Cr add to
    R, G and B (`colour.rgb_to_ycbcr` and back, unclipped, less the gain times Y; so
    only Cb and Cr are in it), zero for greyscale, then alpha when given.
    """
    channels = plane_channels(pixels, alpha)
    chunk_rows = max(1, PLANES_CHUNK_PIXELS // pixels.shape[1])
    y = np.empty(pixels.shape[:2] + (1,), np.float32)
    base = np.zeros(pixels.shape[:2] + (channels,), np.float32)
    for top in range(0, pixels.shape[0], chunk_rows):
        rows = slice(top, top + chunk_rows)
        if pixels.ndim == 3:
            y[rows] = colour.rgb_to_ycbcr(pixels[rows])[..., :1]
            base[rows, :, :3] = colour.rgb_less_y(pixels[rows])
        else:
            y[rows, :, 0] = pixels[rows]
        if alpha is not None:
            base[rows, :, -1] = alpha[rows]
    y /= np.float32(255.0)
    return y, base


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
    height, width = pixels.shape[0] * scale, pixels.shape[1] * scale
    channels = plane_channels(pixels, alpha)
    sr = np.empty((height, width, channels), np.uint8)
    bicubic = np.empty((height, width, channels), np.uint8) if with_bicubic else None
    engine = network.composed_network(scale, pixels.shape[:2])
    if engine is None:
        _upscale_in_tensorflow(network, pixels, scale, alpha, progress, sr, bicubic)
    else:
        _upscale_composed(engine, pixels, alpha, progress, sr, bicubic)
    if channels == 1:
        return sr[..., 0], None if bicubic is None else bicubic[..., 0]
    return sr, bicubic


def _upscale_in_tensorflow(network, pixels, scale, alpha, progress, sr, bicubic):
    """`upscale` by `TiledSRCNN.upscale_tile`, into `sr` and `bicubic` (None: not wanted)."""
    tiles = network.upscale_tiles(*pixels.shape[:2], scale)
    with_bicubic = bicubic is not None

    def one_tile(tile_and_band):
        tile, band = tile_and_band
        return network.upscale_tile(band, scale, tile, with_bicubic)

    network.tile_function(scale, sr.shape[-1], with_bicubic)  # traced once, before the threads
    with ThreadPoolExecutor(TILES_IN_FLIGHT) as pool:
        results = _submitted_ahead(pool, one_tile, plane_bands(pixels, alpha, tiles, scale), TILES_AHEAD)
        _put_tiles([tile.box for tile in tiles], results, scale, sr, bicubic, progress)


def composed_threads():
    """Tiles `composed.ComposedSRCNN` runs at once: one per core (on 2 cores, 2-7 % faster
    than one more than the cores in each of 4 interleaved rounds, 4 MPix x3)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _upscale_composed(engine, pixels, alpha, progress, sr, bicubic):
    """`upscale` by `composed.ComposedSRCNN`, into `sr` and `bicubic` (None: not wanted).

    A tile per thread, with BLAS held to one thread per call: its own threads would compete
    with the tiles'.
    """
    size, scale = pixels.shape[:2], engine.scale
    gains = np.float32(255.0) * colour.y_gains(sr.shape[-1])
    # Tiles of at most TILE_PIXELS a side, of equal sizes: no thin last row or column of tiles.
    rows, columns = (np.linspace(0, side, -(-side // composed.TILE_PIXELS) + 1).round().astype(int) for side in size)
    boxes = [(int(top), int(bottom), int(left), int(right))
             for top, bottom in zip(rows[:-1], rows[1:]) for left, right in zip(columns[:-1], columns[1:])]

    def one_tile(box):
        crop = engine.crop(box, size)
        rows, columns = slice(crop[0], crop[1]), slice(crop[2], crop[3])
        y, base = low_resolution_planes(pixels[rows, columns], None if alpha is None else alpha[rows, columns])
        return engine.upscale_tile(y, base, box, size, gains, bicubic is not None)

    workers = composed_threads()
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
        results = _submitted_ahead(pool, one_tile, boxes, 2 * workers)
        _put_tiles([tuple(scale * side for side in box) for box in boxes], results, scale, sr, bicubic, progress)


def _put_tiles(boxes, results, scale, sr, bicubic, progress):
    """Writes each (sr, bicubic) result of phases (`put_phases`) into its output box, as they come."""
    for box, (sr_tile, bicubic_tile) in tqdm(zip(boxes, results), total=len(boxes), unit="tile", leave=False,
                                             disable=None if progress else True):
        put_phases(sr, box, sr_tile, scale)
        if bicubic is not None:
            put_phases(bicubic, box, bicubic_tile, scale)
