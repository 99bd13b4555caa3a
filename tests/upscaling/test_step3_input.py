"""step3_test.py --input: photos upscaled with their orientation and colour profile, never overwritten silently."""

import pytest
import tensorflow as tf
from PIL import Image, ImageCms

import step3_test
from srcnn.core import checkpoints
from srcnn.core import image_files
from srcnn.core.model import SRCNN


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


@pytest.mark.slow
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


@pytest.mark.slow
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

