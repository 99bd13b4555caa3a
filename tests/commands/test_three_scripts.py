"""End to end: the three scripts' main() in an empty folder, as on a fresh clone."""

import csv

import pytest

import step1_pre
import step2_train
import step3_test


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_three_steps_on_a_fresh_clone(workdir, capsys):
    assert step1_pre.main([]) == 0
    out = capsys.readouterr().out
    assert "scikit-image sample photographs" in out
    assert (workdir / "h5" / "train.h5").exists() and (workdir / "h5" / "test.h5").exists()

    assert step2_train.main(["--epochs", "1", "--log-every", "10"]) == 0
    out = capsys.readouterr().out
    assert "Starting a new 9-1-5 x3 training" in out and "validation PSNR" in out
    assert any(name.endswith(".index") for name in (p.name for p in (workdir / "checkpoint" / "x3").iterdir()))

    assert step2_train.main(["--epochs", "2"]) == 0
    assert "Continuing from step" in capsys.readouterr().out

    assert step3_test.main([]) == 0
    out = capsys.readouterr().out
    assert "checkpoint/x3/ckpt-" in out and "mean" in out
    for name in ("chelsea", "camera"):
        for suffix in ("input", "label", "srcnn", "srcnn_color"):
            assert (workdir / "sample" / f"{name}_{suffix}.png").stat().st_size > 0
    with open(workdir / "sample" / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["image"] for row in rows] == ["camera", "chelsea", "mean"]
    assert all(20 < float(row["srcnn_psnr"]) < 50 for row in rows)


@pytest.mark.slow
def test_mismatched_h5_is_one_line_error(workdir, capsys):
    assert step1_pre.main(["--scale", "2"]) == 0
    capsys.readouterr()
    assert step2_train.main(["--scale", "3", "--epochs", "1"]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "made with scale=2, but 3 is asked for" in error


def test_missing_h5_tells_to_run_step1(workdir, capsys):
    assert step2_train.main([]) == 1
    assert "run step1_pre.py first" in capsys.readouterr().err
