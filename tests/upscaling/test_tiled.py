"""Upscaling without ground truth: tiles equal the whole-image network, colour, alpha, CLI."""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageCms

import step3_test
from srcnn.core import checkpoints
from srcnn.core import metrics
from srcnn.core import colour
from srcnn.core import image_files
from srcnn.core import resampling
from srcnn.training import test_set
from srcnn.core.model import SRCNN
from srcnn.upscaling import tiled as upscale_module
from srcnn.upscaling.tiled import INFERENCE_PRECISIONS, TiledSRCNN, default_precision, plan_tiles, upscale


@pytest.fixture(scope="module")
def model():
    tf.keras.utils.set_random_seed(4)
    return SRCNN("9-1-5", padding="replicate")


@pytest.fixture(scope="module")
def weights(tmp_path_factory, model):
    """A x3 checkpoint of untrained weights (the tests check plumbing, not quality)."""
    prefix = str(tmp_path_factory.mktemp("weights") / "x3" / "srcnn")
    checkpoints.export_weights(model, 3, prefix)
    return prefix


def whole_image(model, bicubic, padding):
    """The reference: the network on the whole image at once, clipped as results are."""
    return np.clip(model(tf.constant(bicubic[None]), padding=padding)[0].numpy(), 0.0, 1.0)


def test_tiles_cover_the_image_once_with_margins_inside_it():
    tiles = plan_tiles(50, 23, 16, 6)
    covered = np.zeros((50, 23), int)
    for tile in tiles:
        top, bottom, left, right = tile.box
        covered[top:bottom, left:right] += 1
        assert tile.window == (max(0, top - 6), min(50, bottom + 6), max(0, left - 6), min(23, right + 6))
    assert (covered == 1).all() and len(tiles) == 4 * 2


@pytest.mark.parametrize("arch", ["9-1-5", "9-5-5"])
@pytest.mark.parametrize("padding", ["replicate", "zero"])
@pytest.mark.parametrize("tile", [5, 16, 40, 512])
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


def test_default_precision_is_one_of_the_two():
    assert default_precision() in ("float32", "bfloat16")


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


def test_planes_made_in_chunks_are_the_whole_image_conversion(monkeypatch):
    # 100 pixels a chunk on 48 columns: chunks of 2 rows, the 59 rows' last one short.
    monkeypatch.setattr(upscale_module, "PLANES_CHUNK_PIXELS", 100)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (59, 48, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (59, 48), dtype=np.uint8)
    y, base = upscale_module.low_resolution_planes(rgb, alpha)
    assert np.array_equal(y[..., 0], colour.rgb_to_ycbcr(rgb)[..., 0] / np.float32(255.0))
    assert np.array_equal(base[..., :3], colour.rgb_less_y(rgb)) and np.array_equal(base[..., 3], alpha)


@pytest.mark.parametrize("scale, tile", [(2, 7), (3, 24), (4, 512)])
def test_each_row_of_tiles_gets_a_band_holding_its_crops(model, smooth_rgb, scale, tile):
    network = TiledSRCNN(model, tile=tile)
    tiles = network.upscale_tiles(60, 48, scale)
    y_whole, base_whole = upscale_module.low_resolution_planes(smooth_rgb)
    bands = list(upscale_module.plane_bands(smooth_rgb, None, tiles, scale))
    assert [tile for tile, _ in bands] == tiles
    rows_of_tiles = {tile.box[0] for tile in tiles}
    assert len({id(band) for _, band in bands}) == len(rows_of_tiles)  # one band per row of tiles
    for tile, band in bands:
        first, rows = band.first_row, band.y.shape[1]
        for box in (tile.window, tile.box):
            crop = upscale_module._input_crop(box, scale, (60, 48))[0]
            assert first <= crop[0] and crop[1] <= first + rows
        assert np.array_equal(band.y[0].numpy(), y_whole[first:first + rows])
        assert np.array_equal(band.base[0].numpy(), base_whole[first:first + rows])


def test_a_band_without_the_tiles_rows_is_refused(model, smooth_rgb):
    network = TiledSRCNN(model, tile=24)
    tiles = network.upscale_tiles(60, 48, 3)
    bands = list(upscale_module.plane_bands(smooth_rgb, None, tiles, 3))
    first_band, last_tile = bands[0][1], tiles[-1]
    with pytest.raises(ValueError, match="does not hold rows"):
        network.upscale_tile(first_band, 3, last_tile, with_bicubic=False)


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


def test_exif_orientation_is_respected(tmp_path, smooth_rgb):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees clockwise
    Image.fromarray(smooth_rgb).save(path, exif=exif.tobytes())
    loaded = image_files.read_image(str(path))
    assert loaded.pixels.shape == (48, 60, 3) and loaded.alpha is None


def test_colour_profile_is_carried_to_the_outputs(tmp_path, weights, smooth_rgb):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(smooth_rgb).save(tmp_path / "tagged.png", icc_profile=profile)
    assert step3_test.main(["--input", str(tmp_path / "tagged.png"), "--checkpoint", weights,
                            "--output", str(tmp_path / "out")]) == 0
    with Image.open(tmp_path / "out" / "tagged_srcnn_x3.png") as image:
        assert image.info.get("icc_profile") == profile


def test_cli_upscales_a_photo_and_never_overwrites_silently(tmp_path, weights, smooth_rgb, capsys):
    Image.fromarray(smooth_rgb).save(tmp_path / "photo.jpg", quality=95)
    argv = ["--input", str(tmp_path / "photo.jpg"), "--checkpoint", weights, "--output", str(tmp_path / "out"),
            "--bicubic"]
    assert step3_test.main(argv) == 0
    out = capsys.readouterr().out
    assert "x3" in out and "upscaled 1 of 1 images" in out
    for kind in ("srcnn", "bicubic"):
        with Image.open(tmp_path / "out" / f"photo_{kind}_x3.png") as image:
            assert image.size == (144, 180) and image.mode == "RGB"
    written = (tmp_path / "out" / "photo_srcnn_x3.png").stat().st_mtime_ns

    assert step3_test.main(argv) == 0  # a rerun skips the photo, without loading the weights
    captured = capsys.readouterr()
    assert "skipped 1 already there (--overwrite redoes them)" in captured.out and "weights:" not in captured.out
    assert (tmp_path / "out" / "photo_srcnn_x3.png").stat().st_mtime_ns == written

    assert step3_test.main(argv + ["--overwrite", "--precision", "float32", "--tile", "50"]) == 0


def test_cli_scale_defaults_to_the_checkpoints_and_must_match_it(tmp_path, model, smooth_rgb, capsys):
    prefix = str(tmp_path / "x2" / "srcnn")
    checkpoints.export_weights(model, 2, prefix)
    Image.fromarray(smooth_rgb).save(tmp_path / "photo.png")
    argv = ["--input", str(tmp_path / "photo.png"), "--checkpoint", prefix, "--output", str(tmp_path / "out")]
    assert step3_test.main(argv) == 0
    assert (tmp_path / "out" / "photo_srcnn_x2.png").exists()
    assert step3_test.main(argv + ["--scale", "3"]) == 1
    assert "trained for x2, but --scale is 3" in capsys.readouterr().err


def test_cli_keeps_subfolders_and_reports_name_clashes(tmp_path, weights, smooth_rgb, capsys):
    (tmp_path / "in" / "trip").mkdir(parents=True)
    Image.fromarray(smooth_rgb).save(tmp_path / "in" / "trip" / "a.png")
    Image.fromarray(smooth_rgb).save(tmp_path / "in" / "trip" / "a.jpg")
    Image.fromarray(smooth_rgb).save(tmp_path / "in" / "b.bmp")
    assert step3_test.main(["--input", str(tmp_path / "in"), "--checkpoint", weights,
                            "--output", str(tmp_path / "out")]) == 1
    assert (tmp_path / "out" / "b_srcnn_x3.png").exists()
    assert (tmp_path / "out" / "trip" / "a_srcnn_x3.png").exists()
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "a.png: its output" in error and "rename one" in error
