"""Hostile runs of paper_studies.py --page and --plan: they change nothing but docs/paper.md and its files.

The user's folder holds notes, earlier pages, links where the page's files go, a folder where a
file goes and the reverse, and runs folders that are files or missing; --plan writes nothing,
--page writes only docs/paper.md, docs/paper/<study>.png and docs/paper/runs/<run>/ (or refuses).
The curves are drawn by a stand-in (matplotlib is not what is tested), through the same write path.
"""

import json
import os
import shutil
import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import paper_studies
from srcnn.commands import paper, studies
from srcnn.core import outputs

from test_hostile_runs import examples, run_quietly, snapshot

QUICK, LONG = 4, 200
DOCS_STATES = ("plain", "earlier_page", "page_link", "page_folder", "paper_file", "runs_link", "result_link",
               "figure_link", "figure_folder")
ROOTS = (".", "sub", "notes.txt", "link_root", "missing/deeper")
RUNS = ("runs", "missing", "notes.txt", "link_runs")


def write(path, content):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as handle:
        handle.write(content)


def build_home(root, state, docs_root):
    write(os.path.join(root, "notes.txt"), "my notes")
    write(os.path.join(root, "elsewhere", "mine.txt"), "mine")
    os.symlink("elsewhere", os.path.join(root, "link_root"))
    os.symlink("runs", os.path.join(root, "link_runs"))
    result = {"run": "9-1-5_x3", "epochs": 2, "train_minutes": 7.0, "macs_per_patch": 14618400,
              "seconds_per_image": 0.04, "cpu": "test CPU",
              "Set5": {"srcnn_psnr": 32.5}, "Set14": {"srcnn_psnr": 29.1}}
    write(os.path.join(root, "runs", "9-1-5_x3", "result.json"), json.dumps(result))
    write(os.path.join(root, "runs", "9-1-5_x3", "logs", "history.csv"),
          "epoch,step,seconds,loss,psnr,bicubic_psnr\n1,10,5.0,0.01,31.0,30.4\n2,20,10.0,0.01,31.5,30.4\n")
    write(os.path.join(root, "runs", "9-5-5_x3", "result.json"), "not JSON")  # a run whose result is damaged
    docs = os.path.join(root, docs_root, "docs")
    if not os.path.isdir(os.path.join(root, docs_root)) or os.path.islink(os.path.join(root, docs_root)):
        return
    if state == "earlier_page":
        write(os.path.join(docs, "paper.md"), "an earlier page")
    elif state == "page_link":
        os.makedirs(docs)
        os.symlink(os.path.join(root, "notes.txt"), os.path.join(docs, "paper.md"))
    elif state == "page_folder":
        write(os.path.join(docs, "paper.md", "inside.txt"), "a folder where the page goes")
    elif state == "paper_file":
        write(os.path.join(docs, "paper"), "a file where the figures go")
    elif state == "runs_link":
        os.makedirs(os.path.join(docs, "paper"))
        os.symlink(os.path.join(root, "elsewhere"), os.path.join(docs, "paper", "runs"))
    elif state == "result_link":
        os.makedirs(os.path.join(docs, "paper", "runs", "9-1-5_x3"))
        os.symlink(os.path.join(root, "notes.txt"), os.path.join(docs, "paper", "runs", "9-1-5_x3", "result.json"))
    elif state == "figure_link":
        os.makedirs(os.path.join(docs, "paper"))
        os.symlink(os.path.join(root, "notes.txt"), os.path.join(docs, "paper", "depth.png"))
    elif state == "figure_folder":
        write(os.path.join(docs, "paper", "depth.png", "inside.txt"), "a folder where a figure goes")


def declared_outputs(docs_root):
    """What --page may write, relative to the home."""
    docs = os.path.normpath(os.path.join(docs_root, "docs"))
    declared = {os.path.join(docs, "paper.md")}
    declared |= {os.path.join(docs, "paper", f"{study.key}.png") for study in studies.STUDIES}
    for run in studies.planned_runs(studies.STUDY_KEYS):
        declared |= {os.path.join(docs, "paper", "runs", run.name, name) for name in ("result.json", "history.csv")}
    return declared


def stand_in_curves(study, results, docs_root, path):
    drawn = any(paper.history_rows(docs_root, run.name) for run in study.runs if run.name in results)
    if drawn:
        with outputs.rewriting(path, paper.FIGURE) as temporary:
            Image.new("RGB", (4, 4)).save(temporary, format="PNG")
    return drawn


def check(root, before, declared, status, errors):
    assert status in (0, 1, 2), (status, errors)
    assert "Traceback" not in errors, errors
    assert len(errors.strip().splitlines()) <= 1 or status == 2, errors  # one line (argparse: its usage)
    after = snapshot(root)
    for key, was in before.items():
        if key not in declared:
            assert after.get(key) == was, f"{key!r} changed: {was} -> {after.get(key)}; {errors}"
    for key in set(after) - set(before):
        assert outputs.TEMPORARY_MARK not in key, f"left behind: {key!r}"
        above = any(path.startswith(key + os.sep) for path in declared)  # a folder made for an output
        assert key in declared or (after[key] == ("folder",) and above), f"not declared: {key!r}"
    for key in declared:
        if key in after and after[key] != before.get(key):
            assert after[key][0] == "file", f"{key!r} is {after[key]}"
            path = os.path.join(root, key)
            if key.endswith(".md"):
                assert open(path).read().startswith("# The paper's studies"), key
            elif key.endswith(".json"):
                json.load(open(path))
            elif key.endswith(".png"):
                Image.open(path).load()


hostile_runs = st.fixed_dictionaries({
    "state": st.sampled_from(DOCS_STATES),
    "docs_root": st.sampled_from(ROOTS),
    "runs_dir": st.sampled_from(RUNS),
    "mode": st.sampled_from(["--page", "--plan"]),
    "study": st.sampled_from([[], ["--study", "depth"], ["--study", "nonsense"]]),
    "relative": st.booleans(),
})


def studies_property(flags, monkeypatch):
    monkeypatch.setattr(paper, "plot_curves", stand_in_curves)
    root = tempfile.mkdtemp(prefix="hostile-studies-")
    previous = os.getcwd()
    try:
        os.makedirs(os.path.join(root, "sub"))
        build_home(root, flags["state"], flags["docs_root"])
        os.chdir(root)
        place = (lambda name: name) if flags["relative"] else (lambda name: os.path.join(root, name))
        argv = [flags["mode"], "--docs-root", place(flags["docs_root"]), "--runs-dir", place(flags["runs_dir"]),
                *flags["study"]]
        declared = declared_outputs(flags["docs_root"]) if flags["mode"] == "--page" else set()
        # A folder the user linked elsewhere is theirs to place: its outputs are declared where the link leads.
        declared |= {os.path.relpath(os.path.join(os.path.realpath(os.path.dirname(os.path.join(root, key))),
                                                  os.path.basename(key)), os.path.realpath(root)) for key in declared}
        before = snapshot(root)
        status, errors = run_quietly(paper_studies.main, argv)
        check(root, before, declared, status, errors)
    finally:
        os.chdir(previous)
        shutil.rmtree(root, ignore_errors=True)


@given(flags=hostile_runs)
@examples(QUICK)
def test_the_studies_command_changes_only_its_page(flags, monkeypatch):
    studies_property(flags, monkeypatch)


@pytest.mark.slow
@given(flags=hostile_runs)
@examples(LONG)
def test_the_studies_command_changes_only_its_page_long(flags, monkeypatch):
    studies_property(flags, monkeypatch)
