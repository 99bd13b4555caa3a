"""The commands write nothing but their own outputs: the cases of issue 26 (D1-D5) that once
destroyed a user's file, each now refused in one line with the file kept."""

import os
import threading

import numpy as np
import pytest
from PIL import Image

from srcnn.commands import cli
from srcnn.upscaling import export


@pytest.fixture(scope="module")
def weights(random_x2_weights):
    return random_x2_weights


def save(path, shape, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(path)
    return path.read_bytes()


def last_error(capsys):
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert errors, "no error line"
    return errors[-1]


def test_d3_an_output_named_like_another_input_is_refused(tmp_path, weights, capsys):
    folder = tmp_path / "ow"
    photo = save(folder / "a.png", (120, 160, 3))
    save(folder / "a.jpg", (1, 1, 3))
    for extra in ([], ["--overwrite"]):
        code = cli.upscale_main([str(folder), "-o", str(folder), "--suffix", "", "--checkpoint", weights] + extra)
        assert code == 1
        errors = capsys.readouterr().err
        assert "would replace the input" in errors and "--overwrite" not in errors, errors
    assert (folder / "a.png").read_bytes() == photo and sorted(os.listdir(folder)) == ["a.jpg", "a.png"]


@pytest.mark.parametrize("output, existing, why", [
    ("notes.txt", b"my notes", "is there and is not an ONNX model"),
    ("photo.png", None, "is there and is not an ONNX model"),
    ("ck/srcnn.index", None, "is an input of this run"),
])
def test_d4_export_never_replaces_a_file_that_is_not_its_model(tmp_path, weights, capsys, monkeypatch, output,
                                                               existing, why):
    monkeypatch.setattr(export, "onnx_bytes", lambda module: b"\x08\x07ai.onnx model")  # the write path, not tf2onnx
    checkpoint = tmp_path / "ck"
    checkpoint.mkdir()
    for name in os.listdir(os.path.dirname(weights)):
        (checkpoint / name).write_bytes((open(os.path.join(os.path.dirname(weights), name), "rb")).read())
    if existing is not None:
        (tmp_path / output).write_bytes(existing)
    elif output == "photo.png":
        save(tmp_path / output, (8, 8, 3))
    before = {name: (tmp_path / name).read_bytes() for name in ("photo.png", "notes.txt", "ck/srcnn.index")
              if (tmp_path / name).exists()}
    code = cli.export_main(["--checkpoint", str(checkpoint / "srcnn"), "--format", "onnx", "-o", str(tmp_path / output),
                            "--overwrite"])
    assert code == 1 and why in last_error(capsys)
    assert {name: (tmp_path / name).read_bytes() for name in before} == before


def test_d4_a_folder_path_for_a_file_model_writes_no_file(tmp_path, capsys):
    assert cli.export_main(["-s", "2", "--format", "onnx", "-o", str(tmp_path / "newdir") + os.sep]) == 1
    assert "names a folder" in last_error(capsys) and not (tmp_path / "newdir").exists()


def test_d5_of_two_runs_on_one_output_one_wins_and_the_other_says_so(tmp_path, weights, capsys):
    save(tmp_path / "m.png", (40, 48, 3))
    results, start = [], threading.Barrier(2)

    def run(padding):
        start.wait()
        results.append(cli.upscale_main([str(tmp_path / "m.png"), "-o", str(tmp_path / "out"), "--checkpoint", weights,
                                         "--padding", padding]))

    threads = [threading.Thread(target=run, args=(padding,)) for padding in ("replicate", "zero")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) in ([0, 0], [0, 1])  # both 0 only if one finished before the other began
    names = os.listdir(tmp_path / "out")
    assert names == ["m_srcnn_x2.png"], names  # one whole output, no temporary left
    if sorted(results) == [0, 1]:  # refused when it looked, or when it came to rename: never both written
        error = capsys.readouterr().err
        assert "already exists" in error or "appeared while this run wrote it" in error, error


def test_d5_two_writers_one_name_the_second_loses(tmp_path, weights, smooth_rgb):
    from srcnn import Upscaler
    from srcnn.core.errors import OutputExistsError
    from srcnn.core.outputs import KINDS, Outputs

    Image.fromarray(smooth_rgb).save(tmp_path / "photo.png")
    upscaler = Upscaler.from_checkpoint(weights)
    late = Outputs()
    with pytest.raises(OutputExistsError, match="appeared while this run wrote it"):
        with late.writing(str(tmp_path / "sr.png"), KINDS["image"]) as temporary:
            upscaler.upscale_file(tmp_path / "photo.png", tmp_path / "sr.png")  # the other run, done first
            Image.fromarray(smooth_rgb).save(temporary)
    with Image.open(tmp_path / "sr.png") as image:
        np.testing.assert_array_equal(np.asarray(image), upscaler.upscale(smooth_rgb))


@pytest.mark.slow
def test_d1_d2_batch_failures_never_replace_an_input_nor_another_file(tmp_path, weights, capsys):
    pytest.importorskip("apache_beam")
    from srcnn.upscaling import batch

    folder = tmp_path / "finput"
    first = save(folder / "a.png", (20, 24, 3))
    save(folder / "sub" / "c.png", (20, 24, 3), seed=1)
    cases = [(folder, folder, "is an input of this run"), (folder, folder / "sub", "a folder is there"),
             (folder / "sub", folder / "a.png", "is there and is not a failures CSV")]
    for inputs, failures, why in cases:
        code = batch.main([str(inputs), "-o", str(tmp_path / "out"), "--failures", str(failures),
                           "--checkpoint", weights])
        error = last_error(capsys)
        assert code == 1 and why in error, error
        assert error.endswith("pass another --failures")
    assert (folder / "a.png").read_bytes() == first and (folder / "sub" / "c.png").is_file()
    assert not any("srcnn-tmp" in name for name in os.listdir(tmp_path / "out")) if (tmp_path / "out").exists() else True


@pytest.mark.slow
def test_w4_a_rerun_skips_only_what_this_input_made(tmp_path, weights, capsys):
    save(tmp_path / "jpg" / "normal.jpg", (20, 24, 3), seed=1)
    save(tmp_path / "png" / "normal.png", (20, 24, 3), seed=2)
    out = str(tmp_path / "out")
    argv = ["-o", out, "--checkpoint", weights]
    assert cli.upscale_main([str(tmp_path / "jpg" / "normal.jpg")] + argv) == 0
    made = (tmp_path / "out" / "normal_srcnn_x2.png").read_bytes()
    capsys.readouterr()
    assert cli.upscale_main([str(tmp_path / "jpg" / "normal.jpg")] + argv) == 0  # the same input: skipped
    assert "skipped 1 already there" in capsys.readouterr().out
    assert cli.upscale_main([str(tmp_path / "png" / "normal.png")] + argv) == 1  # another input, same name
    assert "was not made from" in last_error(capsys)
    assert (tmp_path / "out" / "normal_srcnn_x2.png").read_bytes() == made
    assert cli.upscale_main([str(tmp_path / "png" / "normal.png")] + argv + ["--padding", "zero"]) == 1  # settings
    capsys.readouterr()
    assert cli.upscale_main([str(tmp_path / "png" / "normal.png")] + argv + ["--overwrite"]) == 0
    assert (tmp_path / "out" / "normal_srcnn_x2.png").read_bytes() != made
