import numpy as np
import pytest

from skimage.metrics import structural_similarity

from srcnn.core import metrics


def test_psnr_of_known_error():
    hr = np.full((10, 10, 1), 100 / 255, np.float32)
    sr = hr + 10 / 255  # every pixel 10 levels off -> MSE 100
    assert metrics.psnr(sr, hr, scale=3) == pytest.approx(10 * np.log10(255 ** 2 / 100))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_psnr_leaves_out_a_border_as_wide_as_the_scale(scale):
    hr = np.full((24, 24), 0.5, np.float32)
    for side in (np.s_[:scale], np.s_[-scale:], np.s_[:, :scale], np.s_[:, -scale:]):
        sr = hr.copy()
        sr[side] = 0.0
        assert metrics.psnr(sr, hr, scale) == float("inf")
    sr = hr.copy()
    sr[scale] = 0.0  # the first row inside the border counts
    assert metrics.psnr(sr, hr, scale) < 20
    assert metrics.ssim(sr, hr, scale) < 1


def test_psnr_rounds_to_8_bits():
    hr = np.full((4, 4), 100 / 255, np.float32)
    assert metrics.psnr(hr + 0.4 / 255, hr, scale=1) == float("inf")


def test_ssim_is_one_for_identical_images():
    hr = np.random.default_rng(0).uniform(0.2, 0.8, (40, 40, 1)).astype(np.float32)
    assert metrics.ssim(hr, hr, scale=2) == pytest.approx(1.0)


def test_ssim_matches_scikit_image_gaussian_ssim():
    rng = np.random.default_rng(0)
    hr = rng.uniform(0.2, 0.8, (40, 40, 1)).astype(np.float32)
    noisy = np.clip(hr + rng.normal(0, 0.05, hr.shape), 0, 1)
    crop = (slice(2, -2), slice(2, -2), 0)
    expected = structural_similarity(
        np.round(noisy * 255)[crop], np.round(hr * 255)[crop], data_range=255, gaussian_weights=True,
        sigma=1.5, use_sample_covariance=False)
    assert metrics.ssim(noisy, hr, scale=2) == pytest.approx(expected, abs=2e-3)
    assert expected < 0.99


def test_scale_zero_compares_the_whole_image():
    hr = np.full((8, 8), 0.5, np.float32)
    image = hr.copy()
    image[0, 0] = 0.6  # only in the border
    assert np.isfinite(metrics.psnr(image, hr, 0)) and metrics.psnr(image, hr, 1) == float("inf")
