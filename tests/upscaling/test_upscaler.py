"""srcnn.Upscaler: the kinds of image it takes and gives back, its options, its errors (the CLI: tests/commands/test_srcnn_upscale.py)."""

import io

import numpy as np
import pytest
from PIL import Image

from srcnn import Upscaler
from srcnn.core import checkpoints
from srcnn.core import resampling
from srcnn.core.model import SRCNN
from srcnn.core.precision import resolve_precision
from srcnn.upscaling import engines

SCALE = 3


@pytest.fixture(scope="module")
def model():
    return SRCNN("9-1-5")  # random weights: shapes and plumbing, not quality


@pytest.fixture(scope="module")
def upscaler(model):
    return Upscaler(model, SCALE, precision="float32", tile=32)


@pytest.fixture
def rgba(smooth_rgb):
    alpha = np.linspace(0, 255, smooth_rgb.shape[1]).astype(np.uint8)[None].repeat(smooth_rgb.shape[0], 0)
    return np.dstack([smooth_rgb, alpha])


@pytest.mark.slow
def test_rgb_equals_the_step3_path(model, upscaler, smooth_rgb):
    expected, _ = engines.upscale(engines.ComposedSRCNN(model, SCALE, "replicate"), smooth_rgb, SCALE)
    sr = upscaler.upscale(smooth_rgb)
    assert sr.dtype == np.uint8 and sr.shape == (180, 144, 3)
    np.testing.assert_array_equal(sr, expected)
    untiled = Upscaler(model, SCALE, precision="float32", tile=512).upscale(smooth_rgb)
    assert np.abs(untiled.astype(int) - sr).max() <= 1  # tiles equal the whole image to float rounding


@pytest.mark.parametrize("channels", [None, 1, 2, 3, 4])
def test_numpy_layouts_come_back_the_same(upscaler, rgba, channels):
    grey = rgba[..., 1]
    image = {None: grey, 1: grey[..., None], 2: np.dstack([grey, rgba[..., 3]]), 3: rgba[..., :3], 4: rgba}[channels]
    sr = upscaler.upscale(image)
    assert sr.dtype == np.uint8 and sr.shape == (image.shape[0] * SCALE, image.shape[1] * SCALE) + image.shape[2:]
    if channels in (2, 4):  # alpha is enlarged bicubically, not by the network
        alpha = rgba[..., 3].astype(np.float32)[..., None] / 255
        bicubic = np.rint(np.clip(resampling.resize_bicubic(alpha, 180, 144)[..., 0], 0, 1) * 255)
        np.testing.assert_allclose(sr[..., -1], bicubic, atol=1)


def test_rgba_colour_equals_rgb(upscaler, rgba):
    np.testing.assert_array_equal(upscaler.upscale(rgba)[..., :3], upscaler.upscale(rgba[..., :3]))


@pytest.mark.parametrize("dtype, top", [(np.float32, 1), (np.float64, 1), (np.float32, 255), (np.float16, 255)])
def test_float_images_in_either_range_give_the_uint8_result_in_that_range(upscaler, smooth_rgb, dtype, top):
    image = (smooth_rgb * (top / 255)).astype(dtype)
    sr = upscaler.upscale(image)
    assert sr.dtype == dtype and sr.shape == (180, 144, 3)
    np.testing.assert_allclose(sr.astype(np.float64) * (255 / top), upscaler.upscale(smooth_rgb),
                               atol=0.5 if dtype == np.float16 else 1e-3)


@pytest.mark.slow
def test_value_range_overrides_the_guess(upscaler):
    dark = np.full((4, 5), 1.0, np.float32)  # 1 in [0, 255] is near black, 1 in [0, 1] white
    np.testing.assert_array_equal(upscaler.upscale(dark, value_range=255), upscaler.upscale(dark.astype(np.uint8)))
    np.testing.assert_array_equal(upscaler.upscale(dark) * np.float32(255),
                                  upscaler.upscale(np.full((4, 5), 255, np.uint8)))


@pytest.mark.parametrize("mode, expected_mode", [("L", "L"), ("RGB", "RGB"), ("RGBA", "RGBA"), ("LA", "LA"),
                                                ("P", "RGB"), ("CMYK", "RGB")])
def test_pil_images_come_back_as_pil(upscaler, rgba, mode, expected_mode):
    image = Image.fromarray(rgba, "RGBA").convert(mode)
    image.info["icc_profile"] = b"profile" if mode != "CMYK" else None
    sr = upscaler.upscale(image)
    assert isinstance(sr, Image.Image) and sr.mode == expected_mode and sr.size == (144, 180)
    if mode in ("L", "RGB", "RGBA"):
        np.testing.assert_array_equal(np.asarray(sr), upscaler.upscale(np.asarray(image)))
        assert sr.info.get("icc_profile") == b"profile"


def test_pil_exif_orientation_is_applied(upscaler, smooth_rgb):
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated a quarter turn: 48 wide, 60 high becomes 60 wide, 48 high
    buffer = io.BytesIO()
    Image.fromarray(smooth_rgb).save(buffer, format="PNG", exif=exif)
    buffer.seek(0)
    assert upscaler.upscale(Image.open(buffer)).size == (180, 144)


@pytest.mark.parametrize("image, error, words", [
    (np.full((4, 4), 300.0, np.float32), ValueError, "outside [0, 1] or [0, 255]"),
    (np.full((4, 4), -0.5, np.float32), ValueError, "outside [0, 1] or [0, 255]"),
    (np.full((4, 4), np.nan, np.float32), ValueError, "NaN"),
    (np.zeros((0, 4, 3), np.uint8), ValueError, "zero size"),
    (np.zeros((4, 0), np.uint8), ValueError, "zero size"),
    (np.zeros((4, 4, 5), np.uint8), ValueError, "5 channels"),
    (np.zeros((1, 4, 4, 3), np.uint8), ValueError, "shape (1, 4, 4, 3)"),
    (np.zeros((4, 4, 3), np.int64), TypeError, "dtype int64"),
    (np.zeros((4, 4, 3), np.uint16), TypeError, "dtype uint16"),
    (np.zeros((4, 4), bool), TypeError, "dtype bool"),
    ([[0, 1], [2, 3]], TypeError, "a list"),
    (Image.new("RGB", (0, 3)), ValueError, "0x3"),
])
def test_bad_input_raises_one_clear_error(upscaler, image, error, words):
    with pytest.raises(error) as raised:
        upscaler.upscale(image)
    assert words in str(raised.value)


def test_value_range_is_checked(upscaler):
    with pytest.raises(ValueError, match=r"outside \[0, 1\] \(value_range=1\)"):
        upscaler.upscale(np.full((3, 3), 2.0), value_range=1)
    with pytest.raises(ValueError, match="value_range 100"):
        upscaler.upscale(np.full((3, 3), 2.0), value_range=100)


def test_options_reach_the_network(model):
    upscaler = Upscaler(model, 2, padding="zero", precision="bfloat16", tile=64)
    assert (upscaler.scale, upscaler.padding, upscaler.precision, upscaler.tile) == (2, "zero", "bfloat16", 64)
    assert Upscaler(model, 2).precision == resolve_precision("auto")
    with pytest.raises(ValueError, match="precision 'half'"):
        Upscaler(model, 2, precision="half")


@pytest.mark.slow
def test_pretrained_weights_load_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    upscaler = Upscaler.pretrained(scale=2, precision="float32")
    assert upscaler.scale == 2 and upscaler.checkpoint == checkpoints.pretrained_path(2)
    assert upscaler.upscale(np.zeros((3, 4, 3), np.uint8)).shape == (6, 8, 3)
    with pytest.raises(ValueError, match="scale 5"):
        Upscaler.pretrained(scale=5)


def test_from_checkpoint_reads_a_folder(tmp_path, model):
    checkpoints.export_weights(model, 4, str(tmp_path / "mine" / "srcnn"))
    upscaler = Upscaler.from_checkpoint(tmp_path / "mine")
    assert upscaler.scale == 4 and upscaler.checkpoint == str(tmp_path / "mine" / "srcnn")


