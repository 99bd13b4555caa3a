"""srcnn-upscale and srcnn-export as a user meets them: positional inputs, short flags, names,
reruns that skip, typed library errors turned into one line, --help without TensorFlow."""

import ast
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from srcnn import Upscaler
from srcnn.core import checkpoints
from srcnn.commands import cli
from srcnn.upscaling import export
from srcnn.core.errors import CheckpointError, InputError, OutputError, OutputExistsError, SRCNNError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def weights(random_x2_weights):
    return random_x2_weights


@pytest.fixture
def photos(tmp_path, smooth_rgb):
    (tmp_path / "album" / "trip").mkdir(parents=True)
    Image.fromarray(smooth_rgb).save(tmp_path / "photo.png")
    Image.fromarray(smooth_rgb).save(tmp_path / "album" / "beach.jpg", quality=95)
    Image.fromarray(smooth_rgb[:30]).save(tmp_path / "album" / "trip" / "sea.webp", lossless=True)
    return tmp_path


def names(folder):
    return sorted(os.path.relpath(os.path.join(root, name), folder) for root, _, files in os.walk(folder)
                  for name in files)


@pytest.mark.slow
def test_positional_inputs_and_short_flags(photos, weights, capsys):
    out = photos / "out"
    assert cli.upscale_main([str(photos / "photo.png"), str(photos / "album"), "-o", str(out), "-s", "2",
                             "--checkpoint", weights]) == 0
    assert names(out) == ["beach_srcnn_x2.png", "photo_srcnn_x2.png", os.path.join("trip", "sea_srcnn_x2.png")]
    with Image.open(out / "photo_srcnn_x2.png") as image:
        assert image.size == (96, 120)
    assert "upscaled 3 of 3 images x2" in capsys.readouterr().out


@pytest.mark.slow
def test_the_input_flag_still_works_and_is_the_same(photos, weights):
    assert cli.upscale_main(["-i", str(photos / "photo.png"), "-o", str(photos / "a"), "--checkpoint", weights]) == 0
    assert cli.upscale_main([str(photos / "photo.png"), "-o", str(photos / "b"), "--checkpoint", weights]) == 0
    assert (photos / "a" / "photo_srcnn_x2.png").read_bytes() == (photos / "b" / "photo_srcnn_x2.png").read_bytes()


@pytest.mark.slow
def test_a_rerun_skips_what_is_there_without_loading_the_weights(photos, weights, capsys, monkeypatch):
    argv = [str(photos / "album"), "-o", str(photos / "out"), "--checkpoint", weights]
    assert cli.upscale_main(argv) == 0
    written = (photos / "out" / "beach_srcnn_x2.png").stat().st_mtime_ns
    capsys.readouterr()

    def no_loading(*args, **kwargs):
        raise AssertionError("the weights were loaded for nothing")

    monkeypatch.setattr(Upscaler, "from_checkpoint", no_loading)
    assert cli.upscale_main(argv) == 0
    captured = capsys.readouterr()
    assert "upscaled 0 of 2 images x2" in captured.out and "skipped 2 already there" in captured.out
    assert captured.err == "" and (photos / "out" / "beach_srcnn_x2.png").stat().st_mtime_ns == written
    monkeypatch.undo()
    (photos / "out" / "beach_srcnn_x2.png").unlink()  # one missing: only it is redone
    assert cli.upscale_main(argv) == 0
    assert "upscaled 1 of 2 images x2" in capsys.readouterr().out
    assert cli.upscale_main(argv + ["--overwrite"]) == 0
    assert "upscaled 2 of 2 images x2" in capsys.readouterr().out


@pytest.mark.slow
def test_bicubic_only_on_request(photos, weights):
    assert cli.upscale_main([str(photos / "photo.png"), "-o", str(photos / "out"), "--checkpoint", weights]) == 0
    assert names(photos / "out") == ["photo_srcnn_x2.png"]
    assert cli.upscale_main([str(photos / "photo.png"), "-o", str(photos / "out"), "--checkpoint", weights,
                             "--bicubic"]) == 0  # the SRCNN image is kept, the bicubic one added
    assert names(photos / "out") == ["photo_bicubic_x2.png", "photo_srcnn_x2.png"]


@pytest.mark.slow
def test_ext_and_suffix(photos, weights, smooth_rgb):
    out = photos / "out"
    assert cli.upscale_main([str(photos / "album"), "-o", str(out), "--checkpoint", weights, "--ext", "same",
                             "--suffix", "_big{scale}"]) == 0
    assert names(out) == ["beach_big2.jpg", os.path.join("trip", "sea_big2.webp")]
    with Image.open(out / "beach_big2.jpg") as image:
        assert image.format == "JPEG" and image.size == (96, 120)
    rgba = np.dstack([smooth_rgb, np.full(smooth_rgb.shape[:2], 128, np.uint8)])
    Image.fromarray(rgba).save(photos / "logo.png")
    assert cli.upscale_main([str(photos / "logo.png"), "-o", str(out), "--checkpoint", weights, "--ext", "jpg"]) == 0
    with Image.open(out / "logo_srcnn_x2.jpg") as image:
        assert image.format == "JPEG" and image.mode == "RGB"  # JPEG has no alpha


@pytest.mark.parametrize("argv, message", [
    ([], "pass at least one image"),
    (["photo.png", "--suffix", "_{size}"], "--suffix"),
    (["photo.png", "--suffix", "a/b"], "path separator"),
    (["photo.png", "--ext", "gif"], "invalid choice"),
    (["photo.png", "-s", "5"], "invalid choice"),
])
def test_bad_flags_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.upscale_main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_help_and_bad_flags_answer_without_tensorflow():
    probe = ("import sys\nfrom srcnn.commands import cli\n"
             "for argv in (['--help'], ['--bogus'], []):\n"
             "    try:\n        cli.upscale_main(argv)\n    except SystemExit:\n        pass\n"
             "print('tensorflow loaded:', 'tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "usage: srcnn-upscale" in result.stdout and "tensorflow loaded: False" in result.stdout


def test_the_package_imports_have_no_cycle():
    """Imports among srcnn's modules form no cycle, those inside functions included (video's
    import of the engine inside a function was the cycle)."""
    modules = {}  # dotted name -> path, e.g. "srcnn.upscaling.engines"
    for folder, _, names in os.walk(os.path.join(ROOT, "srcnn")):
        for name in names:
            if name.endswith(".py") and name != "__init__.py":
                path = os.path.join(folder, name)
                modules[os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")] = path
    graph = {}
    for module, path in modules.items():
        imported = set()
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("srcnn"):
                imported |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
        graph[module] = imported & modules.keys()
    assert graph["srcnn.upscaling.upscaler"] and graph["srcnn.commands.cli"]  # the scan sees imports

    def visit(module, path):
        assert module not in path, f"import cycle: {' -> '.join(path + [module])}"
        for other in graph[module]:
            visit(other, path + [module])

    for module in modules:
        visit(module, [])


def test_library_errors_are_typed_and_name_no_flags(tmp_path, weights, smooth_rgb):
    errors = []
    with pytest.raises(CheckpointError) as error:
        Upscaler.from_checkpoint(tmp_path / "nothing")
    errors.append(error.value)
    with pytest.raises(CheckpointError) as error:
        Upscaler.from_checkpoint(weights, scale=3)
    errors.append(error.value)
    upscaler = Upscaler.from_checkpoint(weights, precision="float32")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(InputError) as error:
        upscaler.upscale_file(tmp_path / "notes.png", tmp_path / "out.png")
    errors.append(error.value)
    Image.fromarray(smooth_rgb).save(tmp_path / "photo.png")
    (tmp_path / "taken.png").write_bytes(b"mine")
    with pytest.raises(OutputExistsError) as error:
        upscaler.upscale_file(tmp_path / "photo.png", tmp_path / "taken.png")
    errors.append(error.value)
    assert (tmp_path / "taken.png").read_bytes() == b"mine"
    for error in errors:
        assert isinstance(error, SRCNNError) and "--" not in str(error) and "\n" not in str(error), error


def test_the_command_adds_the_flag_that_fixes_it(tmp_path, photos, capsys):
    assert cli.upscale_main([str(photos / "photo.png"), "--checkpoint", str(tmp_path / "nothing")]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and error.endswith("pass another --checkpoint (a checkpoint prefix or folder)")


def test_upscale_file_writes_both_or_neither(tmp_path, weights, smooth_rgb):
    upscaler = Upscaler.from_checkpoint(weights, precision="float32")
    Image.fromarray(smooth_rgb).save(tmp_path / "photo.png")
    (tmp_path / "blocked.png").mkdir()  # a folder where the bicubic PNG goes
    with pytest.raises(OutputError, match="blocked.png: a folder is there, where the image file goes"):
        upscaler.upscale_file(tmp_path / "photo.png", tmp_path / "sr.png", tmp_path / "blocked.png", overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["blocked.png", "photo.png"]  # no SRCNN PNG, no temporary
    upscaler.upscale_file(tmp_path / "photo.png", tmp_path / "sr.png", tmp_path / "bicubic.png")
    with Image.open(tmp_path / "sr.png") as image:
        np.testing.assert_array_equal(np.asarray(image), upscaler.upscale(smooth_rgb))


def test_cli_says_plainly_which_weights(photos, capsys):
    assert cli.upscale_main([str(photos / "photo.png"), "-o", str(photos / "out"), "-s", "2"]) == 0
    assert f"weights: the shipped x2 weights (9-1-5, x2, {checkpoints.pretrained_path(2)})" in capsys.readouterr().out


@pytest.mark.slow
def test_export_never_replaces_what_it_did_not_write(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"a photo")
    for extra in ([], ["--overwrite"]):
        assert cli.export_main(["--scale", "2", "--format", "savedmodel", "-o", str(folder)] + extra) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    # never "pass --overwrite" for what it would not replace anyway
    assert all("is there and is not a SavedModel; it is kept" in error and "--overwrite" not in error
               for error in errors) and len(errors) == 2
    assert os.listdir(folder) == ["holiday.jpg"]
    with pytest.raises(OutputError, match="a file is there, where the SavedModel folder goes"):
        export.export(None, "savedmodel", str(folder / "holiday.jpg"), overwrite=True)
    assert os.listdir(folder) == ["holiday.jpg"]


def test_an_input_whose_name_starts_with_a_dash(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-x.png").write_bytes(b"a photo")
    assert cli.parse_upscale_args(["-o", "out", "--", "-x.png"]).inputs == [os.path.join(os.curdir, "-x.png")]
    with pytest.raises(SystemExit):
        cli.parse_upscale_args(["-x.png"])
    assert "-x.png: a file whose name starts with - reads as a flag; write ./-x.png" in capsys.readouterr().err
