import numpy as np
import pytest
import tensorflow as tf

from srcnn.core import metrics
from srcnn.core import colour
from srcnn.core import image_files
from srcnn.core import resampling
from srcnn.training import test_set
from srcnn.core.errors import SRCNNError


def test_y_of_white_is_235_and_black_is_16():
    image = np.array([[[255, 255, 255], [0, 0, 0]]], dtype=np.uint8)
    y = colour.rgb_to_ycbcr(image)[..., 0]
    assert y.tolist() == [[235.0, 16.0]]


def test_y_of_pure_colours_matches_matlab():
    # MATLAB: rgb2ycbcr(uint8([255 0 0; 0 255 0; 0 0 255])) -> Y 81, 145, 41
    image = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    assert colour.rgb_to_ycbcr(image)[0, :, 0].tolist() == [81.0, 145.0, 41.0]


def test_ycbcr_round_trip_is_within_one_level(smooth_rgb):
    back = colour.ycbcr_to_rgb(colour.rgb_to_ycbcr(smooth_rgb))
    assert np.abs(back.astype(int) - smooth_rgb).max() <= 1


def test_greyscale_is_taken_as_y():
    grey = np.array([[0, 128, 255]], dtype=np.uint8)
    assert (colour.luminance(grey)[..., 0] * 255).round().tolist() == [[0, 128, 255]]


def test_modcrop_keeps_top_left_multiple_of_scale(smooth_rgb):
    cropped = resampling.modcrop(smooth_rgb[:59, :47], 3)
    assert cropped.shape[:2] == (57, 45)
    assert np.array_equal(cropped, smooth_rgb[:57, :45])


def test_degrade_shapes_and_refuses_uncropped(smooth_rgb):
    hr = colour.luminance(smooth_rgb)
    lr, bicubic = resampling.degrade(hr, 3)
    assert lr.shape == (20, 16, 1) and bicubic.shape == hr.shape
    with pytest.raises(ValueError):
        resampling.degrade(hr[:59], 3)


def test_load_image_reports_unreadable_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(SRCNNError, match="broken.png"):
        image_files.load_image(str(bad))


@pytest.mark.parametrize("scale, expected", [pytest.param(2, 33.66, marks=pytest.mark.slow), (3, 30.39),
                                             pytest.param(4, 28.42, marks=pytest.mark.slow)])
def test_bicubic_set5_matches_published_figures(set5, scale, expected):
    images = [test_set.test_image(path, scale) for path in image_files.list_images(str(set5))]
    mean = np.mean([metrics.psnr(image.bicubic, image.hr, scale) for image in images])
    assert mean == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_enlarge_bicubic_equals_the_antialiased_resize_borders_included(scale):
    rng = np.random.default_rng(scale)
    for height, width in [(1, 1), (1, 2), (2, 3), (3, 3), (4, 5), (7, 6), (19, 23), (32, 17)]:
        images = rng.random((2, height, width, 3), dtype=np.float32)
        enlarged = resampling.enlarge_bicubic(tf.constant(images), scale).numpy()
        expected = tf.image.resize(images, (scale * height, scale * width), "bicubic", antialias=True).numpy()
        assert enlarged.shape == expected.shape
        np.testing.assert_allclose(enlarged, expected, atol=1e-5)


def test_enlarge_bicubic_takes_dynamic_sizes():
    enlarge = tf.function(lambda images: resampling.enlarge_bicubic(images, 3),
                          input_signature=[tf.TensorSpec((None, None, None, 1), tf.float32)])
    for height, width in [(5, 8), (11, 2)]:
        images = np.random.default_rng(height).random((1, height, width, 1), dtype=np.float32)
        expected = resampling.resize_bicubic(images[0], 3 * height, 3 * width)
        np.testing.assert_allclose(enlarge(tf.constant(images)).numpy()[0], expected, atol=1e-5)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_enlarge_phases_of_a_crop_is_the_whole_enlargement_there(scale):
    """A crop filtered VALID where its sides are inside the image gives the whole image's
    enlargement of the pixels 2 in from those sides, in depth_to_space's layout."""
    images = np.random.default_rng(scale).random((1, 12, 15, 2), dtype=np.float32)
    whole = resampling.enlarge_bicubic(tf.constant(images), scale).numpy()
    for top, bottom, left, right in [(0, 12, 0, 15), (0, 7, 3, 15), (4, 12, 0, 9), (2, 10, 5, 13)]:
        sides = (int(top == 0), int(bottom == 12), int(left == 0), int(right == 15))
        first_row, first_column = top + 2 * (1 - sides[0]), left + 2 * (1 - sides[2])
        last_row, last_column = bottom - 2 * (1 - sides[1]), right - 2 * (1 - sides[3])
        crop = tf.constant(images[:, top:bottom, left:right])
        for image_sides in (sides, tf.constant(sides)):  # static and tensor sides
            phases = resampling.enlarge_phases(crop, scale, image_sides)
            enlarged = tf.nn.depth_to_space(phases, scale).numpy()
            expected = whole[:, scale * first_row:scale * last_row, scale * first_column:scale * last_column]
            assert enlarged.shape == expected.shape
            np.testing.assert_allclose(enlarged, expected, atol=1e-5)


@pytest.mark.parametrize("scale", [2, 3])
def test_phases_to_image_is_depth_to_space_and_image_to_phases_undoes_it(scale):
    phases = tf.constant(np.random.default_rng(0).random((1, 5, 7, scale * scale), dtype=np.float32))
    image = resampling.phases_to_image(phases, scale)
    np.testing.assert_array_equal(image.numpy(), tf.nn.depth_to_space(phases, scale).numpy())
    np.testing.assert_array_equal(resampling.image_to_phases(image, scale).numpy(), phases.numpy())


def test_an_output_plane_is_its_base_plus_its_gain_times_y():
    rgb = np.random.default_rng(1).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    unrounded_y = (rgb / 255.0) @ colour.YCBCR_MATRIX[0] + colour.YCBCR_OFFSET[0]
    np.testing.assert_allclose(colour.rgb_less_y(rgb) + colour.y_gains(3) * unrounded_y[..., None],
                               rgb.astype(np.float64), atol=2e-4)
    assert colour.y_gains(4).tolist() == [pytest.approx(colour.Y_TO_RGB_GAIN)] * 3 + [0.0]
    assert colour.y_gains(2).tolist() == [1.0, 0.0]
