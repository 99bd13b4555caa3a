"""srcnn.upscaling.tensorflow_engine: the TensorFlow tiles equal the whole-image network; colour, alpha, bfloat16."""

import os

import numpy as np
import pytest
import tensorflow as tf

from srcnn.core import checkpoints
from srcnn.core import colour
from srcnn.core import image_files
from srcnn.core import metrics
from srcnn.core import resampling
from srcnn.core.choices import INFERENCE_PRECISIONS
from srcnn.core.model import SRCNN
from srcnn.training import test_set
from srcnn.upscaling import tiles as tiling
from srcnn.upscaling.engines import upscale
from srcnn.upscaling.tensorflow_engine import TiledSRCNN


@pytest.fixture(scope="module")
def model():
    tf.keras.utils.set_random_seed(4)
    return SRCNN("9-1-5", padding="replicate")


def whole_image(model, bicubic, padding):
    """The reference: the network on the whole image at once, clipped as results are."""
    return np.clip(model(tf.constant(bicubic[None]), padding=padding)[0].numpy(), 0.0, 1.0)


@pytest.mark.parametrize("arch", ["9-1-5", pytest.param("9-5-5", marks=pytest.mark.slow)])
@pytest.mark.parametrize("padding", ["replicate", "zero"])
@pytest.mark.parametrize("tile", [5] + [pytest.param(tile, marks=pytest.mark.slow) for tile in (16, 40, 512)])
def test_tiled_network_equals_the_whole_image(arch, padding, tile):
    # 5 < margin: windows then end inside another tile's border band; 512: one tile.
    tf.keras.utils.set_random_seed(1)
    model = SRCNN(arch)
    bicubic = np.random.default_rng(0).random((47, 38, 1), dtype=np.float32)
    tiled = TiledSRCNN(model, padding=padding, tile=tile).restore_y_in_tiles(bicubic)
    np.testing.assert_allclose(tiled, whole_image(model, bicubic, padding), atol=2e-5)


def test_bfloat16_stays_close_to_float32(model):
    bicubic = np.random.default_rng(2).random((40, 40, 1), dtype=np.float32)
    low = TiledSRCNN(model, precision="bfloat16", tile=16).restore_y_in_tiles(bicubic)
    difference = np.abs(low - whole_image(model, bicubic, "replicate"))
    assert difference.max() < 0.05 and difference.mean() < 0.005


@pytest.mark.slow
def test_bfloat16_costs_under_005_db_on_set5_with_the_shipped_weights(set5):
    prefix = checkpoints.pretrained_path(3)
    if not os.path.exists(prefix + ".index"):
        pytest.skip(f"{prefix} not shipped yet")
    model, _ = checkpoints.load_model(prefix)
    images = [test_set.test_image(path, 3) for path in image_files.list_images(str(set5))]
    psnr = {precision: np.mean([metrics.psnr(TiledSRCNN(model, precision=precision).restore_y_in_tiles(image.bicubic),
                                             image.hr, 3) for image in images])
            for precision in INFERENCE_PRECISIONS}
    assert psnr["float32"] - psnr["bfloat16"] < 0.05


@pytest.mark.slow
@pytest.mark.parametrize("scale, tile", [(2, 7), (3, 24), (3, 512), (4, 13)])
@pytest.mark.parametrize("size", [(60, 48), (58, 41)])
def test_colour_upscale_is_srcnn_on_y_and_bicubic_cbcr(model, smooth_rgb, scale, tile, size):
    # tile 7 < 2 * margin: windows reach into other tiles' border bands; 512: one tile.
    # 58 x 41: the last tiles are 1 or 2 input pixels wide, so the crops of the tiles
    # before them reach the image side while the tiles do not.
    rgb = np.ascontiguousarray(smooth_rgb[:size[0], :size[1]])
    height, width = size[0] * scale, size[1] * scale
    sr, bicubic = upscale(TiledSRCNN(model, precision="float32", tile=tile), rgb, scale)
    assert sr.shape == bicubic.shape == (height, width, 3) and sr.dtype == np.uint8
    ycbcr = resampling.resize_bicubic(colour.rgb_to_ycbcr(rgb) / 255.0, height, width)
    expected = colour.colour_output(whole_image(model, ycbcr[..., :1], "replicate"), ycbcr[..., 1:])
    assert np.abs(sr.astype(int) - expected).max() <= 1 and (sr != expected).mean() < 0.001
    expected = colour.ycbcr_to_rgb(ycbcr * 255.0)
    assert np.abs(bicubic.astype(int) - expected).max() <= 1 and (bicubic != expected).mean() < 0.001


@pytest.mark.slow
def test_a_band_without_the_tiles_rows_is_refused(model, smooth_rgb):
    network = TiledSRCNN(model, tile=24)
    tiles = network.upscale_tiles(60, 48, 3)
    bands = list(tiling.plane_bands(smooth_rgb, None, tiles, 3))
    first_band, last_tile = bands[0][1], tiles[-1]
    with pytest.raises(ValueError, match="does not hold rows"):
        network.upscale_tile(first_band, 3, last_tile, with_bicubic=False)


@pytest.mark.slow
def test_greyscale_stays_greyscale_and_alpha_is_kept(model, smooth_rgb):
    network = TiledSRCNN(model, precision="float32", tile=32)
    grey = smooth_rgb[..., 0]
    sr, bicubic = upscale(network, grey, 2)
    assert sr.shape == bicubic.shape == (120, 96)
    alpha = np.tile(np.linspace(0, 255, 48).astype(np.uint8), (60, 1))
    sr, bicubic = upscale(network, smooth_rgb, 2, alpha)
    assert sr.shape == (120, 96, 4)
    expected_alpha = colour.to_uint8(resampling.resize_bicubic(alpha[..., None] / 255.0, 120, 96))[..., 0]
    assert np.abs(sr[..., 3].astype(int) - expected_alpha).max() <= 1
    assert np.array_equal(sr[..., 3], bicubic[..., 3])
    sr, _ = upscale(network, grey, 2, alpha)
    assert sr.shape == (120, 96, 2)
