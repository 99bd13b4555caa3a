"""srcnn.upscaling.composed_engine: the float32 upscale on the small image's grid equals the whole-image network."""

import numpy as np
import pytest
import tensorflow as tf

from srcnn.core import checkpoints
from srcnn.core import colour
from srcnn.core import resampling
from srcnn.core.model import SRCNN
from srcnn.upscaling import composed_engine as composed
from srcnn.upscaling.engines import upscale
from srcnn.upscaling.tensorflow_engine import TiledSRCNN


def textured_grey(height, width, seed=0):
    """uint8 greyscale with gradients, an edge and noise: every filter tap matters."""
    rows, columns = np.mgrid[0:height, 0:width]
    image = 30 + rows * 3 + columns * 2 + np.random.default_rng(seed).normal(0, 25, (height, width))
    image[height // 3:height // 2, width // 4:] = 220
    return np.clip(image, 0, 255).astype(np.uint8)


def whole_image_reference(model, grey, scale, padding):
    """uint8 (sr, bicubic): the network on the whole bicubic image (tf.image.resize) at once."""
    bicubic = resampling.resize_bicubic(grey[..., None] / np.float32(255.0), grey.shape[0] * scale, grey.shape[1] * scale)
    restored = np.clip(model(tf.constant(bicubic[None]), padding=padding)[0].numpy(), 0.0, 1.0)
    return colour.to_uint8(restored[..., 0]), colour.to_uint8(bicubic[..., 0])


def assert_same_to_rounding(actual, expected):
    difference = np.abs(actual.astype(int) - expected.astype(int))
    assert difference.max() <= 1 and (difference > 0).mean() < 0.001


@pytest.mark.parametrize("scale", [pytest.param(2, marks=pytest.mark.slow), 3, pytest.param(4, marks=pytest.mark.slow)])
@pytest.mark.parametrize("padding", ["replicate", "zero"])
@pytest.mark.parametrize("backend", ["numpy", "onnxruntime"])
def test_composed_upscale_equals_the_whole_image_network(monkeypatch, scale, padding, backend):
    if backend == "onnxruntime":
        pytest.importorskip("onnxruntime")
    # Tiles of 13 small pixels on a 41 x 37 image: tiles end next to the sides' own
    # filters and inside them, and the last tiles are narrow.
    monkeypatch.setattr(composed, "TILE_PIXELS", 13)
    model, _ = checkpoints.load_model(checkpoints.pretrained_path(scale))
    grey = textured_grey(41, 37, seed=scale)
    sr, bicubic = upscale(composed.ComposedSRCNN(model, scale, padding, backend), grey, scale)
    expected_sr, expected_bicubic = whole_image_reference(model, grey, scale, padding)
    assert sr.shape == expected_sr.shape == (41 * scale, 37 * scale)
    assert_same_to_rounding(sr, expected_sr)
    assert_same_to_rounding(bicubic, expected_bicubic)


def test_the_sides_need_their_own_filters():
    # Without them (every pixel filtered as the interior ones) the borders come out wrong:
    # this is what the side classes are for.
    model, _ = checkpoints.load_model(checkpoints.pretrained_path(3))
    grey = textured_grey(40, 40)
    engine = composed.ComposedSRCNN(model, 3, "replicate", "numpy")
    interior = engine.axis.interior
    engine.conv1[:] = engine.conv1[interior, interior]
    sr, _ = upscale(engine, grey, 3)
    expected, _ = whole_image_reference(model, grey, 3, "replicate")
    edges = np.abs(sr.astype(int) - expected)
    assert edges[:6].max() > 1 and edges[10:-10, 10:-10].max() <= 1


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_enlargement_matrix_is_tensorflows_bicubic(scale):
    length = 9
    resized = resampling.resize_bicubic(np.eye(length, dtype=np.float32)[:, :, None], scale * length, length)
    np.testing.assert_allclose(resampling.enlargement_matrix(length, scale), resized[:, :, 0], atol=1e-6)


@pytest.mark.slow
def test_colour_and_alpha_equal_the_tensorflow_engine(monkeypatch, smooth_rgb):
    monkeypatch.setattr(composed, "TILE_PIXELS", 16)
    scale = 2
    model, _ = checkpoints.load_model(checkpoints.pretrained_path(scale))
    alpha = np.tile(np.linspace(0, 255, 48).astype(np.uint8), (60, 1))
    fast = composed.ComposedSRCNN(model, scale, "replicate")
    slow = TiledSRCNN(model, "replicate", "float32")
    for pixels, extra in ((smooth_rgb, None), (smooth_rgb, alpha), (smooth_rgb[..., 0], alpha)):
        for ours, theirs in zip(upscale(fast, pixels, scale, extra), upscale(slow, pixels, scale, extra)):
            assert ours.shape == theirs.shape
            assert_same_to_rounding(ours, theirs)


def test_what_it_refuses():
    tf.keras.utils.set_random_seed(0)
    model = SRCNN("9-1-5")
    with pytest.raises(ValueError, match="backend"):
        composed.ComposedSRCNN(model, 3, "replicate", backend="gpu")
    with pytest.raises(ValueError, match="1 x 1 conv2"):
        composed.ComposedSRCNN(SRCNN("9-5-5"), 3, "replicate")
    engine = composed.ComposedSRCNN(model, 3, "replicate", "numpy")
    with pytest.raises(ValueError, match="at least 32 pixels"):  # the side filters would overlap
        upscale(engine, np.zeros((composed.MIN_SIDE - 1, 100), np.uint8), 3)
    with pytest.raises(ValueError, match="for x3"):
        upscale(engine, np.zeros((40, 40), np.uint8), 2)


@pytest.mark.slow
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_tile_convolutions_equal_the_products(scale):
    # ONNX Runtime's per-phase convolutions, each phase's conv1 cut to the taps where its
    # filter is not zero, give the tap maps of numpy's products over the whole window.
    pytest.importorskip("onnxruntime")
    model, _ = checkpoints.load_model(checkpoints.pretrained_path(scale))
    fast = composed.ComposedSRCNN(model, scale, "replicate", "onnxruntime")
    slow = composed.ComposedSRCNN(model, scale, "replicate", "numpy")
    window, taps3 = fast.axis.taps, fast.last_size ** 2
    dense = scale ** 2 * (window ** 2 * fast.maps1 + fast.maps1 * fast.maps2 + fast.maps2 * taps3)
    assert fast._tile_tap_maps.multiply_adds < dense
    padded = np.random.default_rng(scale).random((23 + window, 31 + window), dtype=np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (window, window))
    ours, theirs = fast._interior_tap_maps(padded, windows), slow._interior_tap_maps(padded, windows)
    assert ours.shape == (scale ** 2, 32, 24 * 32) and theirs.shape == (scale ** 2, taps3, 24 * 32)
    np.testing.assert_allclose(ours[:, :taps3], theirs, rtol=1e-4, atol=1e-5)
    assert not ours[:, taps3:].any()  # the taps that pad conv3's to whole blocks of 8


@pytest.mark.parametrize("gains", [[2.5, 2.5, 2.5], [2.5, 2.5, 2.5, 0], [1.0], [1.0, 0]])
def test_rounding_to_uint8_is_rint_then_clip(gains):
    # RGB, RGBA, grey, grey + alpha (`colour.y_gains`); halves round to even, as np.rint.
    gains = np.float32(gains)
    rng = np.random.default_rng(len(gains))
    planes = rng.uniform(-40, 300, (9, 6 * 5, len(gains))).astype(np.float32)
    y = rng.random((9, 6 * 5), dtype=np.float32)
    planes[0, :7, 0], y[0, :7] = [0.5, 1.5, 2.5, 254.5, -0.5, 255.5, -0.49], 0
    expected = np.clip(np.rint(planes + y[..., None] * gains), 0, 255).astype(np.uint8)
    expected = expected.reshape(9, 6, 5, -1).transpose(1, 2, 0, 3).reshape(6, 5, -1)  # put_phases' layout
    np.testing.assert_array_equal(composed._quantize(planes, y, gains, 6, 5), expected)
