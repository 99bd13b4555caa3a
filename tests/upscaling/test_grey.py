"""Greyscale images are upscaled as the grey RGB image they show: the network sees the Y (16-235)
it was trained on, so black stays black and grey equals the RGB path's R = G = B."""

import numpy as np
import pytest

from srcnn import Upscaler


@pytest.fixture(scope="module")
def upscaler():
    return Upscaler.pretrained(2, precision="float32")


@pytest.mark.parametrize("level", [0, 16, 128, 235, 255])
def test_a_flat_grey_image_keeps_its_level(upscaler, level):
    assert np.all(upscaler.upscale(np.full((36, 40), level, np.uint8)) == level)


def test_grey_is_the_rgb_paths_grey(upscaler, smooth_rgb):
    grey = smooth_rgb[..., 1]
    as_rgb = upscaler.upscale(np.repeat(grey[..., None], 3, axis=-1))
    assert np.array_equal(as_rgb[..., 0], as_rgb[..., 2])  # R = G = B
    np.testing.assert_array_equal(upscaler.upscale(grey), as_rgb[..., 0])


def test_grey_with_alpha_keeps_both_planes(upscaler, smooth_rgb):
    grey_alpha = np.dstack([smooth_rgb[..., 0], smooth_rgb[..., 2]])
    sr = upscaler.upscale(grey_alpha)
    assert sr.shape == (120, 96, 2)
    np.testing.assert_array_equal(sr[..., 0], upscaler.upscale(smooth_rgb[..., 0]))
