"""How an image is cut into tiles, fed to an engine and put back together; engines only compute tiles.

    boxes = [tile.box for tile in plan_tiles(height, width, tile=128, margin=(7, 8), equal_sizes=True)]

Both engines (`srcnn.upscaling.engines`) cut with `plan_tiles`, run `run_tiles` (a few tiles
at once on threads, their results written into the output as they come) and return each
tile as uint8 phases (`put_phases`): one output tile is `scale` x `scale` phase planes
of the small image's grid. Their inputs are the planes of `low_resolution_planes`: the
TensorFlow engine reads them from one `PlaneBand` per row of tiles, the composed engine
from each tile's own crop.
"""

import collections
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from srcnn.core.startup import tf  # TensorFlow with its start-up messages filtered (srcnn.core.startup)
from tqdm import tqdm

from srcnn.core import colour
from srcnn.core import resampling

# Pixels per chunk of `low_resolution_planes`' colour conversion: small enough that BLAS
# runs its 3 x 3 products on one thread (OpenBLAS: below 2**18 multiply-adds), whose
# threads would otherwise spin after each call, taking a core from the tiles.
PLANES_CHUNK_PIXELS = 16384


@dataclass
class Tile:
    """One tile and the window of the image it is computed from.

    Boxes are (top, bottom, left, right), bottom/right exclusive. `borders` is (top,
    bottom, left, right): 1 where the window side is an image border.
    """

    box: tuple
    window: tuple
    borders: tuple


def plan_tiles(height, width, tile, margin, equal_sizes=False):
    """The tiles covering a `height` x `width` image, row by row, with windows `margin` wider inside it.

    Args:
        tile: the largest tile side.
        margin: pixels the window reaches past the box: one number, or (before, after).
        equal_sizes: False cuts tiles of `tile` pixels and a shorter last one (the
            TensorFlow engine); True cuts each axis into equal parts of at most `tile`
            (the composed engine: no thin last row or column).
    """
    before, after = (margin, margin) if np.isscalar(margin) else margin
    rows, columns = (_cuts(side, tile, equal_sizes) for side in (height, width))
    tiles = []
    for top, bottom in rows:
        for left, right in columns:
            window = (max(0, top - before), min(height, bottom + after),
                      max(0, left - before), min(width, right + after))
            borders = (int(window[0] == 0), int(window[1] == height), int(window[2] == 0), int(window[3] == width))
            tiles.append(Tile((top, bottom, left, right), window, borders))
    return tiles


def _cuts(length, tile, equal_sizes):
    """(start, stop) of each part of an axis `length` pixels long (see `plan_tiles`)."""
    if equal_sizes:
        ends = np.linspace(0, length, -(-length // tile) + 1).round().astype(int)
        return [(int(start), int(stop)) for start, stop in zip(ends[:-1], ends[1:])]
    return [(start, min(start + tile, length)) for start in range(0, length, tile)]


def input_crop(box, scale, size):
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


@dataclass
class PlaneBand:
    """`low_resolution_planes` of input rows `first_row` onwards, as (1, rows, w, C) tensors."""

    y: tf.Tensor
    base: tf.Tensor
    first_row: int
    image_size: tuple  # (height, width) of the whole input


def plane_bands(pixels, alpha, tiles, scale):
    """Yields (tile, band) for output `tiles`: one `PlaneBand` per row of tiles, holding the
    input rows their crops reach (a few more than the tiles' own).

    Lazy, so that a row's planes are made while the rows before run, and freed after.
    """
    band, band_rows = None, None
    for tile in tiles:
        crop = input_crop(tile.window, scale, pixels.shape[:2])[0]  # the Y crop, which holds the base one
        if crop[:2] != band_rows:
            band_rows = crop[:2]
            rows = slice(*band_rows)
            y, base = low_resolution_planes(pixels[rows], None if alpha is None else alpha[rows])
            band = PlaneBand(tf.convert_to_tensor(y[None]), tf.convert_to_tensor(base[None]), band_rows[0],
                             pixels.shape[:2])
        yield tile, band


def plane_channels(pixels, alpha=None):
    """Planes of the output (and of base): 3 for RGB, 1 for grey, one more with alpha."""
    return (3 if pixels.ndim == 3 else 1) + (alpha is not None)


def low_resolution_planes(pixels, alpha=None):
    """The planes that are enlarged: float32 (h, w, 1) Y in [0, 1] and (h, w, C) base.

    Y is as `colour.rgb_to_ycbcr` rounds it. base is each output plane less its gain
    times Y (`colour.y_gains`), in [0, 255] units: what Cb and Cr add to R, G and B,
    zero for greyscale, then alpha when given.
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


def run_tiles(compute, inputs, boxes, scale, sr, bicubic, progress, threads):
    """Writes `compute(input)` of each of `inputs` into its output box of `boxes`, `threads` tiles at once.

    `compute` returns uint8 (sr, bicubic) phases (`put_phases`); bicubic is None where not
    wanted. Inputs are taken only 2 * `threads` ahead of the result waited for, so that
    bands and results do not pile up.
    """
    with ThreadPoolExecutor(threads) as pool:
        results = _submitted_ahead(pool, compute, inputs, 2 * threads)
        for box, (sr_tile, bicubic_tile) in tqdm(zip(boxes, results), total=len(boxes), unit="tile", leave=False,
                                                 disable=None if progress else True):
            put_phases(sr, box, sr_tile, scale)
            if bicubic is not None:
                put_phases(bicubic, box, bicubic_tile, scale)


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
    """Writes uint8 (rows, columns, scale * scale * C) phases of `box` into the (H, W, C) `output`."""
    top, bottom, left, right = box
    rows, columns = (bottom - top) // scale, (right - left) // scale
    # The depth_to_space of the phases, done by numpy's copy into the output. Each phase
    # row's scale * C bytes lie together on both sides: copied as one void item, not byte
    # by byte.
    item = np.dtype((np.void, phases.shape[-1] // scale))
    output[top:bottom, left:right].reshape(rows, scale, columns, -1).view(item)[..., 0] = \
        np.ascontiguousarray(phases).reshape(rows, columns, scale, -1).view(item)[..., 0].transpose(0, 2, 1)
