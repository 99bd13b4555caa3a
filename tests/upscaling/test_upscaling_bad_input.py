"""Issue 18's upscaling side, rule by rule: values checked where they enter (the API and the
flags alike), nothing written that the command does not own, messages that say the true cause."""

import io
import os

import numpy as np
import pytest
from PIL import Image

from srcnn import Upscaler
from srcnn.commands import cli
from srcnn.core import image_files
from srcnn.core.errors import CheckpointError, InputError, OutputError


@pytest.fixture(scope="module")
def weights(random_x2_weights):
    return random_x2_weights


@pytest.fixture(scope="module")
def upscaler(weights):
    return Upscaler.from_checkpoint(weights, precision="float32")


# --- values are checked where they enter: the API and the flags share one check ------------

@pytest.mark.parametrize("crf", [99, -1, 18.5, "18", True, None])
def test_crf_out_of_range_is_refused_by_the_api(upscaler, tmp_path, crf):
    (tmp_path / "clip.mp4").write_bytes(b"")
    with pytest.raises(ValueError, match="crf"):
        upscaler.upscale_video(tmp_path / "clip.mp4", tmp_path / "out.mp4", crf=crf)
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("crf", ["99", "-1", "18.5", "x"])
def test_crf_out_of_range_is_a_usage_error(crf, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.upscale_main(["clip.mp4", "--crf", crf])
    assert stop.value.code == 2 and "--crf" in capsys.readouterr().err


@pytest.mark.parametrize("scale", ["3/../x2", 3.0, True, 5, "3", None])
def test_pretrained_takes_only_the_shipped_scales(scale):
    with pytest.raises(ValueError, match="no shipped weights"):
        Upscaler.pretrained(scale)


def float_image(values):
    return Image.fromarray(np.asarray(values, np.float32))


def animated_gif():
    buffer = io.BytesIO()
    frames = [Image.new("RGB", (8, 8), colour) for colour in ("red", "blue", "green")]
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    buffer.seek(0)
    return Image.open(buffer)


def truncated_png(smooth_rgb):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)).save(buffer, format="PNG")
    return Image.open(io.BytesIO(buffer.getvalue()[:2000]))  # opened lazily: the pixels are read on use


@pytest.mark.parametrize("make, message", [
    (lambda rgb: float_image([[0.5, np.nan], [0.2, 0.1]]), "NaN or infinite"),
    (lambda rgb: float_image([[0.5, np.inf], [0.2, 0.1]]), "NaN or infinite"),
    (lambda rgb: float_image([[0.5, -0.25], [0.2, 0.1]]), "negative pixel values"),
    (lambda rgb: animated_gif(), "animation or multi-page file of 3 frames"),
    (truncated_png, "truncated or damaged"),
])
def test_pil_images_that_cannot_be_upscaled_faithfully(upscaler, smooth_rgb, make, message):
    with pytest.raises(ValueError, match=message) as error:
        upscaler.upscale(make(smooth_rgb))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("values, message", [
    ([[0.5, np.nan], [0.2, 0.1]], "NaN or infinite"),
    ([[0.5, -3.0], [0.2, 0.1]], "negative pixel values (down to -3)"),
])
def test_float_tiff_files_with_nan_or_negative_values_are_refused(tmp_path, weights, capsys, values, message):
    float_image(values).save(tmp_path / "scan.tif")
    assert cli.upscale_main([str(tmp_path / "scan.tif"), "-o", str(tmp_path / "out"), "--checkpoint", weights]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and message in error and len(error.splitlines()) == 1
    assert not (tmp_path / "out" / "scan_srcnn_x2.png").exists()


def test_checkpoint_files_name_their_checkpoint(weights, tmp_path, smooth_rgb):
    Image.fromarray(smooth_rgb).save(tmp_path / "photo.png")
    for path in (weights + ".index", weights + ".data-00000-of-00001"):
        assert Upscaler.from_checkpoint(path).checkpoint == weights
        assert cli.upscale_main([str(tmp_path / "photo.png"), "-o", str(tmp_path / "out"), "--checkpoint", path,
                                 "--overwrite"]) == 0
    with pytest.raises(CheckpointError):
        Upscaler.from_checkpoint(os.path.join(os.path.dirname(tmp_path), "nowhere", "srcnn.index"))


# --- a command writes only what it names and owns ---------------------------------------------

def test_an_image_is_never_written_over_itself(upscaler, tmp_path, smooth_rgb):
    Image.fromarray(smooth_rgb).save(tmp_path / "photo.png")
    before = (tmp_path / "photo.png").read_bytes()
    os.symlink(tmp_path / "photo.png", tmp_path / "link.png")
    for destination, why in (("photo.png", "is an input of this run"), ("link.png", "is a link")):
        with pytest.raises(OutputError, match=why):
            upscaler.upscale_file(tmp_path / "photo.png", tmp_path / destination, overwrite=True)
    assert (tmp_path / "photo.png").read_bytes() == before


@pytest.mark.parametrize("destination, error, message", [
    ("clip.mp4", OutputError, "is an input of this run"),
    ("clip.avi", ValueError, "name it .mp4 or .m4v"),
])
def test_a_video_is_never_written_over_itself_nor_as_mp4_named_otherwise(upscaler, tmp_path, destination, error,
                                                                         message):
    (tmp_path / "clip.mp4").write_bytes(b"my holiday")
    with pytest.raises(error, match=message):
        upscaler.upscale_video(tmp_path / "clip.mp4", tmp_path / destination, overwrite=True)
    assert (tmp_path / "clip.mp4").read_bytes() == b"my holiday" and not (tmp_path / "clip.avi").exists()


@pytest.mark.parametrize("model_format, existing, message", [
    ("tflite", "model", "already exists"),
    ("tflite", "folder", "a folder is there, where the TFLite model file goes"),
    ("tflite", "file", "is there and is not a TFLite model"),
    ("savedmodel", "file", "a file is there, where the SavedModel folder goes"),
    ("savedmodel", "folder", "is there and is not a SavedModel"),
])
def test_export_replaces_only_a_model_of_its_format(tmp_path, model_format, existing, message):
    from srcnn.upscaling import export

    target = tmp_path / "model"
    if existing in ("file", "model"):
        target.write_bytes(b"mine" if existing == "file" else b"mineTFL3")
    else:
        target.mkdir()
        (target / "notes.txt").write_text("mine")
    overwrite = message != "already exists"
    with pytest.raises((OutputError, FileExistsError), match=message):
        export.export(None, model_format, str(target), overwrite=overwrite)  # refused before anything is built
    kept = target.read_bytes()[:4] if existing in ("file", "model") else (target / "notes.txt").read_text().encode()
    assert kept == b"mine"


# --- messages say the true cause ------------------------------------------------------------

def test_an_unreadable_image_is_not_called_damaged(tmp_path, smooth_rgb, monkeypatch):
    Image.fromarray(smooth_rgb).save(tmp_path / "photo.png")

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(image_files.Image, "open", refused)
    with pytest.raises(InputError, match=r"photo.png: cannot read \(permission denied\)"):
        image_files.read_image(str(tmp_path / "photo.png"))


def test_a_name_too_long_is_not_a_full_disk(tmp_path, weights, smooth_rgb, capsys):
    Image.fromarray(smooth_rgb).save(tmp_path / "photo.png")
    assert cli.upscale_main([str(tmp_path / "photo.png"), "-o", str(tmp_path / "out"), "--checkpoint", weights,
                             "--suffix", "_" + "x" * 300]) == 1
    error = capsys.readouterr().err.strip()
    assert "file name is too long" in error and "space" not in error and error.endswith("pass another --output")


# --- Ctrl-C and SIGTERM: one line, a known status, nothing half-written -----------------------

def test_ctrl_c_in_srcnn_upscale_is_one_line(tmp_path, weights, smooth_rgb, capsys, monkeypatch):
    from srcnn.upscaling import jobs

    Image.fromarray(smooth_rgb).save(tmp_path / "photo.png")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(jobs, "run_job", interrupted)
    assert cli.upscale_main([str(tmp_path / "photo.png"), "-o", str(tmp_path / "out"), "--checkpoint", weights]) == 130
    assert capsys.readouterr().err.strip().splitlines() == [
        "interrupted; every file written is whole; rerun the same command to do the rest"]


@pytest.mark.slow
def test_sigterm_during_a_video_leaves_no_temporary(tmp_path, weights):
    import signal
    import subprocess
    import sys
    import time

    from test_video import make_clip

    clip = make_clip(tmp_path / "clip.mp4", size="320x240", seconds=3, audio=False)
    out = tmp_path / "out"
    script = ("import sys; from srcnn.commands import cli; sys.exit(cli.upscale_main(sys.argv[1:]))")
    process = subprocess.Popen([sys.executable, "-c", script, clip, "-o", str(out), "--checkpoint", weights],
                               cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (out.exists() and any(".srcnn-tmp-" in name for name in os.listdir(out))):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143
    assert stderr.strip().splitlines()[-1] == ("interrupted by SIGTERM; every file written is whole; "
                                               "rerun the same command to do the rest")
    assert "Traceback" not in stderr and os.listdir(out) == []


# --- names from files are data ------------------------------------------------------------------

def test_escape_sequences_in_names_are_printed_as_text(tmp_path, weights, smooth_rgb, capsys):
    name = "red\x1b[31mcolour\x07.png"
    Image.fromarray(smooth_rgb).save(tmp_path / name)
    (tmp_path / "bad\x1b[2Jnotes.png").write_text("not an image")
    assert cli.upscale_main([str(tmp_path), "-o", str(tmp_path / "out"), "--checkpoint", weights]) == 1
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out + captured.err and "\x07" not in captured.out
    assert "red\\x1b[31mcolour\\x07.png ->" in captured.out and "bad\\x1b[2Jnotes.png: not an image" in captured.err
    assert (tmp_path / "out" / "red\x1b[31mcolour\x07_srcnn_x2.png").exists()  # the file keeps its real name


def test_batch_failures_never_reach_a_spreadsheet_as_formulas():
    from srcnn.upscaling import batch

    line = batch.failure_line("=HYPERLINK(\"http://x\")", "-not an image")
    assert line.startswith("\"'=HYPERLINK") and ",'-not an image" in line


def test_a_full_disk_during_savedmodel_export_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    from srcnn.upscaling import export
    from srcnn.core.startup import tf

    def full_disk(module, path):
        os.makedirs(os.path.join(path, "variables"))
        raise tf.errors.ResourceExhaustedError(None, None, f"{path}/variables/variables.data: No space left on device")

    monkeypatch.setattr(export, "save_savedmodel", full_disk)
    assert cli.export_main(["--scale", "2", "--format", "savedmodel", "-o", str(tmp_path / "model")]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "no space left on the device" in error and len(error.splitlines()) == 1
    assert os.listdir(tmp_path) == []
