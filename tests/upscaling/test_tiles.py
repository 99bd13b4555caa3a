"""srcnn.upscaling.tiles: how an image is cut into tiles, and the planes the tiles read."""

import numpy as np
import pytest
import tensorflow as tf

from srcnn.core import colour
from srcnn.core.model import SRCNN
from srcnn.upscaling import tiles as tiling
from srcnn.upscaling.tensorflow_engine import TiledSRCNN
from srcnn.upscaling.tiles import plan_tiles


@pytest.fixture(scope="module")
def model():
    tf.keras.utils.set_random_seed(4)
    return SRCNN("9-1-5", padding="replicate")


def test_tiles_cover_the_image_once_with_margins_inside_it():
    tiles = plan_tiles(50, 23, 16, 6)
    covered = np.zeros((50, 23), int)
    for tile in tiles:
        top, bottom, left, right = tile.box
        covered[top:bottom, left:right] += 1
        assert tile.window == (max(0, top - 6), min(50, bottom + 6), max(0, left - 6), min(23, right + 6))
    assert (covered == 1).all() and len(tiles) == 4 * 2


def test_equal_sizes_cut_each_axis_into_near_equal_parts_with_uneven_margins():
    tiles = plan_tiles(41, 37, 13, (7, 8), equal_sizes=True)
    rows = sorted({tile.box[:2] for tile in tiles})
    assert rows == [(0, 10), (10, 20), (20, 31), (31, 41)] and len(tiles) == 4 * 3
    for tile in tiles:
        top, bottom, left, right = tile.box
        assert tile.window == (max(0, top - 7), min(41, bottom + 8), max(0, left - 7), min(37, right + 8))


def test_planes_made_in_chunks_are_the_whole_image_conversion(monkeypatch):
    # 100 pixels a chunk on 48 columns: chunks of 2 rows, the 59 rows' last one short.
    monkeypatch.setattr(tiling, "PLANES_CHUNK_PIXELS", 100)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (59, 48, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (59, 48), dtype=np.uint8)
    y, base = tiling.low_resolution_planes(rgb, alpha)
    assert np.array_equal(y[..., 0], colour.rgb_to_ycbcr(rgb)[..., 0] / np.float32(255.0))
    assert np.array_equal(base[..., :3], colour.rgb_less_y(rgb)) and np.array_equal(base[..., 3], alpha)


@pytest.mark.parametrize("scale, tile", [(2, 7), (3, 24), (4, 512)])
def test_each_row_of_tiles_gets_a_band_holding_its_crops(model, smooth_rgb, scale, tile):
    network = TiledSRCNN(model, tile=tile)
    tiles = network.upscale_tiles(60, 48, scale)
    y_whole, base_whole = tiling.low_resolution_planes(smooth_rgb)
    bands = list(tiling.plane_bands(smooth_rgb, None, tiles, scale))
    assert [tile for tile, _ in bands] == tiles
    rows_of_tiles = {tile.box[0] for tile in tiles}
    assert len({id(band) for _, band in bands}) == len(rows_of_tiles)  # one band per row of tiles
    for tile, band in bands:
        first, rows = band.first_row, band.y.shape[1]
        for box in (tile.window, tile.box):
            crop = tiling.input_crop(box, scale, (60, 48))[0]
            assert first <= crop[0] and crop[1] <= first + rows
        assert np.array_equal(band.y[0].numpy(), y_whole[first:first + rows])
        assert np.array_equal(band.base[0].numpy(), base_whole[first:first + rows])
