"""The TensorFlow engine: SRCNN on Y in tiles, equal to the whole-image network to float rounding.

    sr, _ = engines.upscale(TiledSRCNN(model, precision="bfloat16"), pixels, scale=3)

It takes what the composed engine does not (`srcnn.upscaling.engines.select_engine`):
bfloat16, small images, and every network but the three-layer ones with a 1 x 1 conv2
(9-5-5, 9-1-1-5, ...).

Each output tile is computed from a window `valid_margin(arch)` pixels (6 for 9-1-5)
wider inside the image: window sides inside the image are filtered VALID, sides on the
image border padded layer by layer as the whole-image network pads them ("replicate" or
"zero"), so the tiles reproduce `model(bicubic, padding=...)` on the whole image.

A tile is one TensorFlow call from crops of the small image's planes
(`tiles.low_resolution_planes`, one band per row of tiles) to its uint8 phases, so that
neither the activations nor the enlarged float planes ever cover the whole image. The
output planes are base + gain * Y (`colour.y_gains`) and bicubic enlargement commutes
with both: only Y is enlarged into pixels, for the network; the base planes stay in the
enlargement's phase layout, where the restored Y's phases are added with their gains.
Tiles are therefore a multiple of `scale` on a side (`TiledSRCNN.upscale_tiles`).

bfloat16 runs every layer with bfloat16 inputs, weights and outputs (float32
accumulation in oneDNN); only the last layer's partial sums are rounded to bfloat16, as a
float32 last layer would cost over a third of the network's time. It is faster only where
the hardware computes it natively (`srcnn.core.precision`).
"""

from typing import NamedTuple

import numpy as np
from srcnn.core.startup import tf  # TensorFlow with its start-up messages filtered (srcnn.core.startup)
from tqdm import tqdm

from srcnn.core import colour
from srcnn.core import resampling
from srcnn.core.choices import DEFAULT_TILE, INFERENCE_PRECISIONS
from srcnn.core.model import DEFAULT_PADDING, InferenceLayers, restore_y, valid_margin
from srcnn.upscaling import tiles as tiling

# Tiles computed at once (threads; TensorFlow releases the GIL), so that each tile's copies
# and element-wise work overlap the others' convolutions. On 2 cores 4 ran faster than 2,
# and peak memory barely grew (TensorFlow reuses the buffers).
TILES_IN_FLIGHT = 4


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


class TiledSRCNN:
    """SRCNN inference over tiles, equal to `model(bicubic, padding=padding)` on the whole image.

    Args:
        model: a `srcnn.core.model.SRCNN` (its current weights are copied).
        padding: "replicate" (the MATLAB demo's borders) or "zero".
        precision: "float32" or "bfloat16" (see the module docstring).
        tile: output tile side in pixels (`upscale_into` rounds it down to a multiple of the
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
        self._dtype = tf.bfloat16 if precision == "bfloat16" else tf.float32
        self._layers = InferenceLayers(model, lambda weights: tf.cast(weights, self._dtype))
        # Concrete functions, traced on first use (`restore_tile`, `tile_function`): a call
        # skips tf.function's matching of the arguments to the signature.
        self._restore = None
        self._tile_functions = {}  # (scale, channels, with_bicubic) -> the traced `_upscale_tile`

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
        """The tiles of an image of this output size (see `tiles.plan_tiles`)."""
        return tiling.plan_tiles(height, width, self.tile, self.margin)

    def restore_tile(self, window_y, tile):
        """Restored Y of `tile.box`, clipped to [0, 1], from the bicubic Y of `tile.window`.

        Args:
            window_y: float32 (h, w, 1) bicubic Y over `tile.window`.
            tile: a `tiles.Tile` of `tiles()`.

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
        """The tiles of `upscale_into` for a `height` x `width` input: sides a multiple of `scale`,
        so that every box starts on a whole input pixel."""
        return tiling.plan_tiles(height * scale, width * scale, max(scale, self.tile - self.tile % scale), self.margin)

    def upscale_tile(self, band, scale, tile, with_bicubic=True):
        """uint8 (sr, bicubic) phases of `tile.box` of the `scale` times enlargement.

        Args:
            band: the `tiles.PlaneBand` of the tile's row (see `tiles.plane_bands`).
            scale: integer factor.
            tile: one of `upscale_tiles`.
            with_bicubic: False gives None for bicubic, and saves its work.

        Returns:
            uint8 (box height / scale, box width / scale, scale * scale * C) arrays, in the
            layout of `resampling.enlarge_phases` (see `tiles.put_phases`).
        """
        upscale_crop = self.tile_function(scale, band.base.shape[-1], with_bicubic)
        y_crop, y_sides, y_first = tiling.input_crop(tile.window, scale, band.image_size)
        if not band.first_row <= y_crop[0] < y_crop[1] <= band.first_row + band.y.shape[1]:
            raise ValueError(f"the band of input rows {band.first_row} onwards ({band.y.shape[1]} rows) does not "
                             f"hold rows {y_crop[0]}-{y_crop[1] - 1} that tile {tile.box} needs")
        base_crop, base_sides, base_first = tiling.input_crop(tile.box, scale, band.image_size)
        box_in_base = np.array(_shift(tile.box, *base_first)) // scale
        geometry = TileGeometry(
            y_crop=_shift(y_crop, band.first_row, 0), base_crop=_shift(base_crop, band.first_row, 0), y_sides=y_sides,
            base_sides=base_sides, window=_shift(tile.window, *y_first), box=_shift(tile.box, *y_first),
            box_in_base=box_in_base, borders=tile.borders, box_in_output=self._box_in_output(tile))
        sr, bicubic = upscale_crop(band.y, band.base, TileGeometry(*(tf.constant(side, tf.int32) for side in geometry)))
        return sr.numpy(), bicubic.numpy() if with_bicubic else None

    def upscale_into(self, pixels, scale, alpha, sr, bicubic, progress=False):
        """Writes the `scale` times upscale of `pixels` (and `alpha`) into uint8 `sr` and `bicubic`
        (None: not wanted), a tile per thread (see `srcnn.upscaling.engines.upscale`)."""
        tiles = self.upscale_tiles(*pixels.shape[:2], scale)
        with_bicubic = bicubic is not None

        def one_tile(tile_and_band):
            tile, band = tile_and_band
            return self.upscale_tile(band, scale, tile, with_bicubic)

        self.tile_function(scale, sr.shape[-1], with_bicubic)  # traced once, before the threads
        tiling.run_tiles(one_tile, tiling.plane_bands(pixels, alpha, tiles, scale), [tile.box for tile in tiles],
                         scale, sr, bicubic, progress, TILES_IN_FLIGHT)


def _shift(box, rows, columns):
    """A (top, bottom, left, right) box moved up by `rows` and left by `columns`."""
    return (box[0] - rows, box[1] - rows, box[2] - columns, box[3] - columns)
