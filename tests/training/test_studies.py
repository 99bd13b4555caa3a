"""The paper's studies: which runs, what is left and how long, resuming, and docs/paper.md."""

import json
import os

import numpy as np
import pytest
from PIL import Image

import paper_studies
from srcnn.core.errors import OutputError
from srcnn.commands import paper, studies
from srcnn.commands.studies import Run, StudyFolder

from tiny_data import photo_folders


def forward_macs(arch_layers, side=33):
    """Multiply-adds of one VALID forward pass, layer by layer: (size, maps in, maps out)."""
    total = 0
    for size, maps_in, maps_out in arch_layers:
        side -= size - 1
        total += side * side * size * size * maps_in * maps_out
    return total


def test_runs_are_named_sized_and_costed_from_their_description():
    assert Run("9-1-5").name == "9-1-5_x3" and Run("9-5-5", 2).name == "9-5-5_x2"
    assert Run("9-1-5", 4, shipped=True).name == "9-1-5_x4_shipped"
    assert Run("9-1-5").label_size == 21 and Run("9-5-5").label_size == 17 and Run("9-5-1-5").label_size == 17
    assert Run("9-1-5").macs_per_patch() == 3 * forward_macs([(9, 1, 64), (1, 64, 32), (5, 32, 1)])
    assert Run("9x128-1x64-5").macs_per_patch() == 3 * forward_macs([(9, 1, 128), (1, 128, 64), (5, 64, 1)])
    assert Run("9-3-1-5").macs_per_patch() == 3 * forward_macs([(9, 1, 64), (3, 64, 32), (1, 32, 16), (5, 16, 1)])


def test_a_run_shared_by_studies_is_planned_once_in_the_order_asked():
    runs = studies.planned_runs(["filter-sizes", "filter-numbers"])
    names = [run.name for run in runs]
    assert names == ["9-1-5_x3", "9-3-5_x3", "9-5-5_x3", "11-1-7_x3", "9x128-1x64-5_x3", "9x32-1x16-5_x3"]
    every = studies.planned_runs(studies.STUDY_KEYS)
    assert len(every) == len(set(every)) and set(runs) < set(every)


def write_result(folder, run, minutes, psnr=32.0, epochs=None):
    os.makedirs(folder.run_dir(run), exist_ok=True)
    result = {"run": run.name, "arch": run.arch, "scale": run.scale, "channels": run.channels, "shipped": run.shipped,
              "epochs": epochs or folder.epochs, "train_minutes": minutes, "macs_per_patch": run.macs_per_patch(),
              "seconds_per_image": 0.05, "engine": "x", "cpu": "test CPU, 2 cores",
              "Set5": {"srcnn_psnr": psnr, "bicubic_psnr": 30.39}, "Set14": {"srcnn_psnr": psnr - 3, "bicubic_psnr": 27.5}}
    with open(folder.result_path(run), "w") as handle:
        json.dump(result, handle)
    return result


def write_history(path, epochs, seconds_per_epoch=10.0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write("epoch,step,seconds,loss,psnr,bicubic_psnr\n")
        for epoch in range(1, epochs + 1):
            handle.write(f"{epoch},{epoch * 100},{epoch * seconds_per_epoch},0.001,{31 + epoch / 100},30.39\n")


def test_the_estimate_follows_the_measured_rate_and_what_is_done(tmp_path):
    folder = StudyFolder(str(tmp_path), "Train", "Test", epochs=10)
    small, large, partial = Run("9-1-5"), Run("9-5-5"), Run("9-3-5")
    write_result(folder, small, minutes=5.0)
    write_history(os.path.join(folder.run_dir(partial), "logs", "history.csv"), epochs=4)
    estimates = studies.estimated_seconds(folder, [small, large, partial])
    rate = small.macs_per_patch() * studies.PATCHES_GUESS * 10 / 300  # the done run's multiply-adds a second
    assert estimates[large] - 60 == pytest.approx(large.macs_per_patch() * studies.PATCHES_GUESS * 10 / rate)
    assert estimates[partial] - 60 == pytest.approx(0.6 * partial.macs_per_patch() * studies.PATCHES_GUESS * 10 / rate)
    lines = studies.plan(folder, [small, large, partial])
    assert lines[0].startswith("  done  9-1-5_x3: Set5 32.00 dB")
    assert "4/10 epochs done" in lines[2] and lines[-1].startswith("2 of 3 runs left, about ")


def test_a_rerun_skips_complete_runs_and_continues_with_the_rest(tmp_path, monkeypatch):
    folder = StudyFolder(str(tmp_path), "Train", "Test")
    runs = studies.planned_runs(["filter-numbers"])
    write_result(folder, runs[0], minutes=20.0)
    completed, published, said = [], [], []
    monkeypatch.setattr(studies, "complete_run", lambda folder, run, say: completed.append(run))
    studies.run_studies(folder, runs, say=said.append, done=published.append)
    assert completed == published == runs[1:]
    assert said[0].startswith("run 2/3: 9-1-5_x3 (about ") and "2 runs left" in said[0]


RESULTS = {"9x128-1x64-5_x3": 32.40, "9-1-5_x3": 32.30, "9x32-1x16-5_x3": 32.10}


def results_of(figures):
    return {name: {"Set5": {"srcnn_psnr": value}, "Set14": {"srcnn_psnr": value - 3}} for name, value in figures.items()}


def test_the_verdict_says_whether_the_paper_holds_with_the_numbers():
    holds = paper.verdict("filter-numbers", results_of(RESULTS))
    assert "It holds here: 9x128-1x64-5 32.40 > 9-1-5 32.30; 9-1-5 32.30 > 9x32-1x16-5 32.10 dB" in holds
    reversed_figures = dict(zip(RESULTS, sorted(RESULTS.values())))
    assert "does not hold here" in paper.verdict("filter-numbers", results_of(reversed_figures))
    partly = paper.verdict("filter-numbers", results_of({"9-1-5_x3": 32.3, "9x32-1x16-5_x3": 32.4}))
    assert "holds here for" not in partly and "does not hold here" in partly and "(1 pair not measured yet)" in partly
    assert paper.verdict("depth", {}).endswith("Not measured here yet.")


def docs_with(tmp_path, figures):
    root = tmp_path / "repo"
    for name, value in figures.items():
        folder = root / paper.RUNS_FOLDER / name
        folder.mkdir(parents=True)
        arch = name.split("_x")[0]
        (folder / "result.json").write_text(json.dumps(
            {"run": name, "epochs": 44, "macs_per_patch": 1, "train_minutes": 12.5, "seconds_per_image": 0.04,
             "cpu": "test CPU, 2 cores",
             "Set5": {"srcnn_psnr": value}, "Set14": {"srcnn_psnr": value - 3.0}, "arch": arch}))
        write_history(str(folder / "history.csv"), epochs=3)
    return root


def test_the_page_tables_our_figures_beside_the_papers_and_draws_the_curves(tmp_path):
    root = docs_with(tmp_path, RESULTS)
    path = paper.write_page(str(root), epochs=44)
    text = open(path).read()
    assert "| `9x128-1x64-5` | 32.60 (ImageNet; [T] Table 1) | 32.40 | 29.40 | 0.60 | 40 | 12.5 |" in text
    assert "| `9-3-5` | 32.66 (ImageNet; [T] 4.3.2) | — | — | — | — | not run yet |" in text
    assert "Compute: 38 min of training for 3 runs on test CPU, 2 cores." in text
    with Image.open(root / "docs" / "paper" / "filter-numbers.png") as image:
        assert image.size[0] > 300 and np.asarray(image.convert("L")).std() > 0
    assert "](paper/filter-numbers.png)" in text and "](paper/depth.png)" in text  # 9-1-5 is in both
    narrow_only = paper.write_page(str(docs_with(tmp_path / "other", {"9x32-1x16-5_x3": 32.1})), epochs=44)
    assert "paper/depth.png" not in open(narrow_only).read()  # none of its runs is done


def test_the_page_is_not_written_through_a_link(tmp_path):
    root = docs_with(tmp_path, {"9-1-5_x3": 32.3})
    elsewhere = tmp_path / "someone_elses.md"
    elsewhere.write_text("mine")
    (root / "docs" / "paper.md").symlink_to(elsewhere)
    with pytest.raises(OutputError):
        paper.write_page(str(root), epochs=44)
    assert elsewhere.read_text() == "mine"


def small_image_sets(root):
    """Train/ (two photographs' crops) and Test/Set5, Test/Set14 (one crop each)."""
    photo_folders(str(root), {"Train": [(0, slice(0, 120), slice(0, 150)), (1, slice(40, 160), slice(60, 200))],
                              "Test/Set5": [(1, slice(0, 72), slice(0, 72))],
                              "Test/Set14": [(0, slice(60, 132), slice(90, 162))]})


@pytest.mark.slow
def test_a_study_runs_end_to_end_and_a_rerun_trains_nothing(tmp_path, capsys):
    small_image_sets(tmp_path)
    flags = ["--study", "filter-numbers", "--epochs", "1", "--runs-dir", str(tmp_path / "runs"),
             "--train-dir", str(tmp_path / "Train"), "--test-root", str(tmp_path / "Test"), "--docs-root", str(tmp_path)]
    assert paper_studies.main(flags) == 0
    for name in RESULTS:
        result = json.loads((tmp_path / paper.RUNS_FOLDER / name / "result.json").read_text())
        assert result["epochs"] == 1 and result["Set5"]["srcnn_psnr"] > 10 and result["seconds_per_image"] > 0
        assert result["commands"][0].startswith("python step1_pre.py --train-dir ") and result["commands"][1].startswith(f"python step2_train.py --arch {result['arch']} --scale 3 --epochs 1")
    text = (tmp_path / "docs" / "paper.md").read_text()
    assert text.count("not run yet") == 3 + 5 + 2  # filter sizes, depth and colour, less the 9-1-5 done
    capsys.readouterr()
    assert paper_studies.main(flags) == 0 and "run " not in capsys.readouterr().out
    assert paper_studies.main([*flags[:4], "--runs-dir", str(tmp_path / "runs"), "--plan"]) == 0
    assert capsys.readouterr().out.strip().endswith("all 3 runs done")


def test_the_colour_verdict_compares_rgb_psnr_where_the_paper_does():
    figures = {"9-1-5_x3": {"Set5": {"srcnn_psnr": 32.4, "srcnn_rgb_psnr": 30.0}},
               "9-1-5_x3_ycbcr": {"Set5": {"srcnn_psnr": 31.0, "srcnn_rgb_psnr": 29.0}},
               "9-1-5_x3_rgb": {"Set5": {"srcnn_psnr": 32.3, "srcnn_rgb_psnr": 30.2}}}
    text = paper.verdict("colour", figures)
    assert "It holds here: 9-1-5 32.40 > 9-1-5 ycbcr 31.00; 9-1-5 rgb (RGB) 30.20 > 9-1-5 (RGB) 30.00 dB" in text
    figures["9-1-5_x3"]["Set5"]["srcnn_rgb_psnr"] = 30.5
    assert "holds here for 1 of 2 pairs" in paper.verdict("colour", figures)
    del figures["9-1-5_x3"]["Set5"]["srcnn_rgb_psnr"]  # a result from before RGB PSNR was measured
    assert "(1 pair not measured yet)" in paper.verdict("colour", figures)


def test_training_time_survives_resumes_and_pauses():
    # seconds count from each process's start: a resume after epoch 3, a 1,000 s pause in epoch 5
    rows = [{"seconds": seconds} for seconds in (10.0, 20.0, 30.0, 12.0, 1022.0, 1032.0)]
    assert studies.epoch_seconds(rows) == [10.0, 10.0, 10.0, 12.0, 1010.0, 10.0]
    assert studies.steady_minutes(rows) == pytest.approx(6 * 10.0 / 60)
    assert studies.steady_minutes([]) is None


def test_a_study_keeps_its_budget_and_its_runs_folder_is_checked(tmp_path, capsys):
    folder = StudyFolder(str(tmp_path / "runs"), "Train", "Test", epochs=44)
    write_result(folder, Run("9-1-5"), minutes=7.0)  # no history.csv: --page still tables it
    flags = ["--runs-dir", str(tmp_path / "runs"), "--docs-root", str(tmp_path / "docs_root")]
    assert paper_studies.main([*flags, "--plan", "--epochs", "3"]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "trained for 44 epochs, but the budget is 3; pass --epochs 44" in error
    assert paper_studies.main([*flags, "--page"]) == 0
    assert (tmp_path / "docs_root" / paper.RUNS_FOLDER / "9-1-5_x3" / "result.json").is_file()
    assert not (tmp_path / "docs_root" / paper.RUNS_FOLDER / "9-1-5_x3" / "history.csv").exists()
    (tmp_path / "a_file").write_text("mine")
    assert paper_studies.main(["--runs-dir", str(tmp_path / "a_file"), "--plan"]) == 1
    assert "a_file: not a folder" in capsys.readouterr().err
    assert paper_studies.main(["--runs-dir", str(tmp_path / "runs"), "--train-dir", str(tmp_path / "none")]) == 1
    assert "none: no such folder of images" in capsys.readouterr().err


def test_a_colour_run_completes_without_an_upscale_timing_and_is_tabled(tmp_path, monkeypatch):
    folder = StudyFolder(str(tmp_path / "runs"), "Train", "Test")
    run = Run("9-1-5", channels="rgb")
    monkeypatch.setattr(studies, "_call", lambda arguments, what: None)  # the three scripts
    monkeypatch.setattr(studies, "read_means", lambda path: {"srcnn_psnr": 32.3, "srcnn_rgb_psnr": 30.1})
    monkeypatch.setattr(studies, "training_minutes", lambda folder, run: (5.0, 6.0))
    monkeypatch.setattr(studies, "seconds_per_image", lambda *arguments: pytest.fail("upscaling takes Y networks"))
    result = studies.complete_run(folder, run, say=lambda line: None)
    assert result["seconds_per_image"] is None and folder.result(run)["channels"] == "rgb"
    assert [command.split()[1] for command in result["commands"]] == ["step1_pre.py", "step2_train.py",
                                                                    "step3_test.py", "step3_test.py"]
    assert "--channels rgb" in result["commands"][0] and "--channels rgb" in result["commands"][1]
    paper.copy_results(folder, [run], str(tmp_path))
    text = open(paper.write_page(str(tmp_path), epochs=44)).read()
    assert "| `9-1-5` RGB | 32.33 (91 images; [T] Table 5) | 32.30 | 32.30 | 36.44 | 30.10 | — | — | 5.0 |" in text
