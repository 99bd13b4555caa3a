"""An upscaled MP4 says in its comment what made it, so a rerun skips it only for the same source and settings."""

import os

import pytest

from srcnn.commands import cli
from srcnn.upscaling import video
from test_video import make_clip


@pytest.mark.slow
def test_a_rerun_skips_a_video_only_for_its_own_source(tmp_path, random_x2_weights, capsys):
    for folder in ("a", "b"):
        os.makedirs(tmp_path / folder)
    first = make_clip(tmp_path / "a" / "clip.mp4", seconds=0.2, audio=False)
    other = make_clip(tmp_path / "b" / "clip.mp4", seconds=0.2, audio=False, pattern="testsrc")  # same name
    argv = ["-o", str(tmp_path / "out"), "--checkpoint", random_x2_weights]
    assert cli.upscale_main([first] + argv) == 0
    written = tmp_path / "out" / "clip_srcnn_x2.mp4"
    assert (video.read_note(str(written)) or "").startswith("srcnn ")
    made = written.read_bytes()
    capsys.readouterr()
    assert cli.upscale_main([first] + argv) == 0 and "skipped 1 already there" in capsys.readouterr().out
    assert cli.upscale_main([other] + argv) == 1  # same name, another source
    assert "was not made from" in capsys.readouterr().err and written.read_bytes() == made
