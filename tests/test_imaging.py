import numpy as np
import pytest
import tensorflow as tf

from srcnn import data, imaging, metrics
from srcnn.errors import UserError


def test_y_of_white_is_235_and_black_is_16():
    image = np.array([[[255, 255, 255], [0, 0, 0]]], dtype=np.uint8)
    y = imaging.rgb_to_ycbcr(image)[..., 0]
    assert y.tolist() == [[235.0, 16.0]]


def test_y_of_pure_colours_matches_matlab():
    # MATLAB: rgb2ycbcr(uint8([255 0 0; 0 255 0; 0 0 255])) -> Y 81, 145, 41
    image = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    assert imaging.rgb_to_ycbcr(image)[0, :, 0].tolist() == [81.0, 145.0, 41.0]


def test_ycbcr_round_trip_is_within_one_level(smooth_rgb):
    back = imaging.ycbcr_to_rgb(imaging.rgb_to_ycbcr(smooth_rgb))
    assert np.abs(back.astype(int) - smooth_rgb).max() <= 1


def test_greyscale_is_taken_as_y():
    grey = np.array([[0, 128, 255]], dtype=np.uint8)
    assert (imaging.luminance(grey)[..., 0] * 255).round().tolist() == [[0, 128, 255]]


def test_modcrop_keeps_top_left_multiple_of_scale(smooth_rgb):
    cropped = imaging.modcrop(smooth_rgb[:59, :47], 3)
    assert cropped.shape[:2] == (57, 45)
    assert np.array_equal(cropped, smooth_rgb[:57, :45])


def test_degrade_shapes_and_refuses_uncropped(smooth_rgb):
    hr = imaging.luminance(smooth_rgb)
    lr, bicubic = imaging.degrade(hr, 3)
    assert lr.shape == (20, 16, 1) and bicubic.shape == hr.shape
    with pytest.raises(ValueError):
        imaging.degrade(hr[:59], 3)


def test_load_image_reports_unreadable_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(UserError, match="broken.png"):
        imaging.load_image(str(bad))


@pytest.mark.parametrize("scale, expected", [(2, 33.66), (3, 30.39), (4, 28.42)])
def test_bicubic_set5_matches_published_figures(set5, scale, expected):
    images = [data.test_image(path, scale) for path in imaging.list_images(str(set5))]
    mean = np.mean([metrics.psnr(image.bicubic, image.hr, scale) for image in images])
    assert mean == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_enlarge_bicubic_equals_the_antialiased_resize_borders_included(scale):
    rng = np.random.default_rng(scale)
    for height, width in [(1, 1), (1, 2), (2, 3), (3, 3), (4, 5), (7, 6), (19, 23), (32, 17)]:
        images = rng.random((2, height, width, 3), dtype=np.float32)
        enlarged = imaging.enlarge_bicubic(tf.constant(images), scale).numpy()
        expected = tf.image.resize(images, (scale * height, scale * width), "bicubic", antialias=True).numpy()
        assert enlarged.shape == expected.shape
        np.testing.assert_allclose(enlarged, expected, atol=1e-5)


def test_enlarge_bicubic_takes_dynamic_sizes():
    enlarge = tf.function(lambda images: imaging.enlarge_bicubic(images, 3),
                          input_signature=[tf.TensorSpec((None, None, None, 1), tf.float32)])
    for height, width in [(5, 8), (11, 2)]:
        images = np.random.default_rng(height).random((1, height, width, 1), dtype=np.float32)
        expected = imaging.resize_bicubic(images[0], 3 * height, 3 * width)
        np.testing.assert_allclose(enlarge(tf.constant(images)).numpy()[0], expected, atol=1e-5)
