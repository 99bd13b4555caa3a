"""srcnn-upscale-batch on Beam's local runner: srcnn-upscale's outputs pixel for pixel, bad files
listed with reasons and never failing the job, reruns that skip, flags answered without TensorFlow."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from srcnn.upscaling import batch, batch_inputs
from srcnn.commands import cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def weights(random_x2_weights):
    return random_x2_weights


@pytest.fixture
def album(tmp_path):
    """40 small images (RGB, greyscale, RGBA; some in a subfolder), a truncated PNG and a .jpg of text."""
    folder = tmp_path / "album"
    (folder / "trip").mkdir(parents=True)
    rng = np.random.default_rng(20)
    for index in range(40):
        pixels = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        image = (Image.fromarray(pixels[..., 0]) if index % 10 == 3
                 else Image.fromarray(np.dstack([pixels, pixels[..., :1]])) if index % 10 == 7
                 else Image.fromarray(pixels))
        image.save(folder / ("trip" if index % 4 == 0 else "") / f"image{index:02d}.png")
    whole = (folder / "image01.png").read_bytes()
    (folder / "truncated.png").write_bytes(whole[:len(whole) // 2])
    (folder / "notes.jpg").write_text("not a picture")
    return folder


def images_below(folder):
    """{path relative to folder: (mode, pixels)} of the images below `folder`."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            if name.endswith(".png"):
                with Image.open(os.path.join(root, name)) as image:
                    found[os.path.relpath(os.path.join(root, name), folder)] = (image.mode, np.asarray(image))
    return found


@pytest.mark.slow
def test_outputs_equal_srcnn_upscale_bad_files_are_listed_and_a_rerun_skips(album, weights, tmp_path, capsys):
    pytest.importorskip("apache_beam")  # the only test here that runs the pipeline
    out, failures = tmp_path / "batch", tmp_path / "batch" / "failures.csv"
    argv = [str(album), "-o", str(out), "--checkpoint", weights]
    assert batch.main(argv + ["--workers", "2"]) == 1  # local runner, two worker processes
    assert "upscaled 40 of 42 images x2" in capsys.readouterr().out

    assert cli.upscale_main([str(album), "-o", str(tmp_path / "cli"), "--checkpoint", weights]) == 1
    expected = images_below(tmp_path / "cli")
    written = images_below(out)
    assert len(expected) == 40 and sorted(written) == sorted(expected)
    assert os.path.join("trip", "image00_srcnn_x2.png") in written
    for name, (mode, pixels) in expected.items():
        assert written[name][0] == mode and np.array_equal(written[name][1], pixels), name

    with open(failures, newline="") as file:
        rows = list(csv.DictReader(file))
    reasons = {row["path"]: row["reason"] for row in rows}
    assert sorted(reasons) == [str(album / "notes.jpg"), str(album / "truncated.png")]
    assert "not an image" in reasons[str(album / "notes.jpg")]
    assert "truncated" in reasons[str(album / "truncated.png")]
    assert all("\n" not in reason and str(album) not in reason for reason in reasons.values())

    stamp = (out / "image01_srcnn_x2.png").stat().st_mtime_ns
    assert batch.main(argv + ["--workers", "1"]) == 1  # the bad files still fail
    summary = capsys.readouterr().out
    assert "upscaled 0 of 42 images x2" in summary and "skipped 40 already there" in summary
    assert "2 failed" in summary and (out / "image01_srcnn_x2.png").stat().st_mtime_ns == stamp
    assert not [name for name in os.listdir(out) if name.startswith(".")]  # no listing or temporaries left


def test_videos_and_clashing_names_are_refused_before_the_pipeline(album, tmp_path):
    (album / "clip.mp4").write_bytes(b"")
    (album / "image01.webp").write_bytes(b"")  # image01_srcnn_x2.png is image01.png's
    args, _ = batch_inputs.parse_args([str(album / "clip.mp4"), str(album / "image01.png"), str(album / "image01.webp"),
                                "-o", str(tmp_path / "out")])
    planned, refused = batch.plan(args, 2)
    assert [job.source for job in planned] == [str(album / "image01.png")]
    assert refused[0][0] == str(album / "image01.webp") and "also" in refused[0][1]
    assert refused[1:] == [(str(album / "clip.mp4"), batch.VIDEO_REASON)]


@pytest.mark.slow
def test_patterns_are_expanded_and_beam_options_pass_through(album, tmp_path):
    args, pipeline_args = batch_inputs.parse_args([str(album / "trip" / "*.png"), "-o", str(tmp_path),
                                            "--runner", "FlinkRunner", "--flink_master", "host:8081"])
    assert pipeline_args == ["--runner", "FlinkRunner", "--flink_master", "host:8081"]
    assert args.failures == os.path.join(str(tmp_path), "failures.csv")
    planned, refused = batch.plan(args, 2)
    assert len(planned) == 10 and not refused
    assert {os.path.dirname(job.sr_path) for job in planned} == {str(tmp_path)}  # as the shell's list would be


@pytest.mark.slow
def test_a_pattern_that_matches_nothing_is_one_line(tmp_path, capsys):
    assert batch.main([str(tmp_path / "*.png"), "-o", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / '*.png'}: matches no file or folder"


@pytest.mark.slow
def test_help_and_bad_flags_load_neither_tensorflow_nor_beam():
    probe = ("import sys; from srcnn.upscaling import batch\n"
             "for argv in (['--help'], ['x.png', '--ext', 'gif']):\n"
             "    try: batch.main(argv)\n"
             "    except SystemExit as exit: print('exit', exit.code)\n"
             "print(sorted({'tensorflow', 'apache_beam'} & set(sys.modules)))")
    finished = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "usage: srcnn-upscale-batch" in finished.stdout and "--workers" in finished.stdout
    assert finished.stdout.strip().splitlines()[-3:] == ["exit 0", "exit 2", "[]"]
