"""Limits a user meets when naming outputs or budgets: one line each, before any work is lost."""

import numpy as np
import pytest
from PIL import Image

from srcnn.core import image_files
from srcnn.core.errors import OutputError
from srcnn.upscaling.jobs import Naming
from srcnn.training.progress import duration


@pytest.mark.parametrize("suffix", ["{scale[0]}", "{scale.nope}", "{scale:>3000000000}", "{scale!r}", "{scale:x}",
                                    "{", "}", "{}", "{0}"])
def test_a_suffix_may_hold_only_a_bare_scale_in_braces(suffix):
    with pytest.raises(ValueError, match="only {scale} may stand in braces"):
        Naming(3, suffix)


@pytest.mark.parametrize("suffix, name", [("_x{scale}", "_x3"), ("", ""), ("{{x}}", "{x}")])
def test_a_suffix_with_the_scale_or_escaped_braces_is_taken(suffix, name):
    assert Naming(3, suffix).outputs("a.png", "out")[0].endswith(f"a{name}.png")


def test_webp_too_large_is_refused_before_writing(tmp_path):
    with pytest.raises(OutputError, match="WEBP holds at most 16383 pixels a side"):
        image_files.check_size_fits(str(tmp_path / "big.webp"), 100, 16384)
    image_files.check_size_fits(str(tmp_path / "big.png"), 100, 16384)  # PNG holds it


def test_the_upscaler_refuses_a_webp_it_cannot_write(tmp_path, random_x2_weights):
    from srcnn import Upscaler

    Image.fromarray(np.zeros((4, 8200, 3), np.uint8)).save(tmp_path / "wide.png")
    with pytest.raises(OutputError, match="wide.webp: WEBP holds at most 16383"):
        Upscaler.from_checkpoint(random_x2_weights).upscale_file(tmp_path / "wide.png", tmp_path / "wide.webp")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["wide.png"]


@pytest.mark.parametrize("minutes", ["1e300", "1e9", "10081"])
def test_step2_minutes_beyond_a_week_are_a_usage_error(minutes, capsys):
    import step2_train

    with pytest.raises(SystemExit) as exit:
        step2_train.parse_args(["--minutes", minutes])
    assert exit.value.code == 2 and "over a week" in capsys.readouterr().err


@pytest.mark.parametrize("seconds, said", [(0.004, "0.0 s"), (0.4, "0.4 s"), (45, "45 s"), (600, "10.0 min")])
def test_durations_under_ten_seconds_keep_a_decimal(seconds, said):
    assert duration(seconds) == said


def test_a_suffix_that_is_the_bicubic_images_is_refused_with_bicubic():
    with pytest.raises(ValueError, match="is the bicubic image's"):
        Naming(3, "_bicubic_x{scale}", bicubic=True)
    assert Naming(3, "_bicubic_x{scale}").outputs("a.png", "o")[0].endswith("a_bicubic_x3.png")  # alone, a name


@pytest.mark.parametrize("options, message", [({"padding": "bogus"}, "is not one of 'replicate', 'zero'"),
                                              ({"tile": 100.5}, "whole number of pixels"),
                                              ({"precision": "half"}, "precision 'half'")])
def test_upscaler_options_are_checked_with_the_right_choices(random_x2_weights, options, message):
    from srcnn import Upscaler

    with pytest.raises(ValueError, match=message):
        Upscaler.from_checkpoint(random_x2_weights, **options)


def test_pretrained_takes_numpy_integers():
    from srcnn import Upscaler

    assert Upscaler.pretrained(np.int64(2)).scale == 2


@pytest.mark.parametrize("max_pixels", [-5, 0, float("nan"), "100"])
def test_a_pixel_limit_that_is_no_limit_is_refused(tmp_path, max_pixels):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match="max_pixels"):
        image_files.read_image(str(tmp_path / "a.png"), max_pixels)


def test_a_pipe_or_a_folder_is_not_called_missing(tmp_path):
    import os
    from srcnn.core.errors import InputError

    os.mkfifo(tmp_path / "pipe.png")
    for name, said in (("pipe.png", "not a regular file"), (".", "a folder, not an image"), ("no.png", "no such")):
        with pytest.raises(InputError, match=said):
            image_files.read_image(str(tmp_path / name))
