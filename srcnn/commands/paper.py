"""docs/paper.md: the paper's figures, with their sources, beside the studies' results.

Written from the result.json and history.csv of each run (`srcnn.commands.studies`), which
are copied to docs/paper/runs/ so that the page can be rebuilt from the repository alone.
"""

import csv
import os
import shutil

from srcnn.core import outputs
from srcnn.core.colour import CHANNEL_NAMES
from srcnn.commands import studies

TPAMI = ("[T]", "Dong, Loy, He, Tang, *Image Super-Resolution Using Deep Convolutional Networks*, "
                "IEEE TPAMI 38(2), 2016, pp. 295-307 (arXiv:1501.00092)")
ECCV = ("[E]", "Dong, Loy, He, Tang, *Learning a Deep Convolutional Network for Image Super-Resolution*, ECCV 2014")


class Figure:
    """A figure of the paper: PSNR (dB), where it is printed, and what the network was trained on."""

    def __init__(self, psnr, where, trained_on, seconds=None):
        self.psnr, self.where, self.trained_on, self.seconds = psnr, where, trained_on, seconds

    def cell(self):
        return f"{self.psnr:.2f} ({self.trained_on}; {self.where})"


# Set5 x3 unless said otherwise. The ablations of [T] train on ImageNet for 8e8 backpropagations
# (Section 4.1); the colour study (Table 5) on the 91 images.
PAPER = {
    "filter-numbers": {"9x128-1x64-5_x3": Figure(32.60, "[T] Table 1", "ImageNet", 0.60),
                       "9-1-5_x3": Figure(32.52, "[T] Table 1", "ImageNet", 0.18),
                       "9x32-1x16-5_x3": Figure(32.26, "[T] Table 1", "ImageNet", 0.05)},
    "filter-sizes": {"9-1-5_x3": Figure(32.52, "[T] 4.1", "ImageNet"),
                     "9-3-5_x3": Figure(32.66, "[T] 4.3.2", "ImageNet"),
                     "9-5-5_x3": Figure(32.75, "[T] 4.3.2", "ImageNet"),
                     "11-1-7_x3": Figure(32.57, "[T] 4.3.2", "ImageNet")},
    "depth": {},  # [T] 4.3.3 shows curves only (Figs. 8, 9): no figure to quote
    "colour": {"9-1-5_x3": Figure(32.39, "[T] Table 5", "91 images"),
               "9-1-5_x3_rgb": Figure(32.33, "[T] Table 5", "91 images"),
               "9-1-5_x3_ycbcr": Figure(29.25, "[T] Table 5", "91 images")},
}
# RGB PSNR on Set5 x3, [T] Table 5 (bicubic 34.57).
PAPER_RGB = {"9-1-5_x3": 36.37, "9-1-5_x3_rgb": 36.44, "9-1-5_x3_ycbcr": 33.47}
# The final comparison: {(test set, scale): (bicubic, 9-1-5 on 91 images [E], 9-5-5 on ImageNet [T])}.
PAPER_FINAL = {("Set5", 2): (33.66, 36.34, 36.66), ("Set5", 3): (30.39, 32.39, 32.75), ("Set5", 4): (28.42, 30.09, 30.49),
               ("Set14", 2): (30.23, None, 32.45), ("Set14", 3): (27.54, 29.00, 29.30),
               ("Set14", 4): (26.00, None, 27.50)}

# What the paper concludes, as (better, worse[, results.csv column]) pairs of runs, checked on
# Set5 here (Y PSNR unless a column is named).
CLAIMS = {
    "filter-numbers": ("wider layers are better", [("9x128-1x64-5_x3", "9-1-5_x3"), ("9-1-5_x3", "9x32-1x16-5_x3")]),
    "filter-sizes": ("larger filters are better", [("9-3-5_x3", "9-1-5_x3"), ("9-5-5_x3", "9-3-5_x3"),
                                                     ("11-1-7_x3", "9-1-5_x3")]),
    "depth": ("a fourth layer does not beat three at the same training (it converges slower)",
              [("9-1-5_x3", "9-1-1-5_x3"), ("9-3-5_x3", "9-3-1-5_x3"), ("9-5-5_x3", "9-5-1-5_x3")]),
    "colour": ("Y only beats YCbCr trained jointly (on Y), and RGB training beats Y only on RGB PSNR (36.44 against "
               "36.37, [T] Table 5)",
               [("9-1-5_x3", "9-1-5_x3_ycbcr"), ("9-1-5_x3_rgb", "9-1-5_x3", "srcnn_rgb_psnr")]),
    "final": ("9-5-5 beats 9-1-5 at every scale (its 9-5-5 trained on ImageNet; here the shipped 9-1-5 trained "
              "7 to 9 times as many epochs as the study's 9-5-5)",
              [("9-5-5_x2", "9-1-5_x2_shipped"), ("9-5-5_x3", "9-1-5_x3_shipped"), ("9-5-5_x4", "9-1-5_x4_shipped")]),
}
# What a reader needs beside a study's table.
NOTES = {
    "filter-numbers": "`9x128-1x64-5` is n1/n2 = 128/64, `9x32-1x16-5` 32/16. The paper's times are its own CPU "
                      "implementation's, per Set5 image; ours are `Upscaler`'s on this CPU.",
    "filter-sizes": "The paper's 9-3-5, 9-5-5 and 11-1-7 figures are ImageNet-trained (its Section 4.1 default); "
                    "with the 91 images it quotes 9-1-5 alone (32.39).",
    "depth": "The paper adds a 1x1 layer of 16 maps (n22 = 16) and shows only curves: its four-layer networks "
             "converge slower and, given enough time, catch up with the three-layer ones ([T] 4.3.3).",
    "colour": "Y PSNR for every network (a colour network's Y is taken from its output). RGB PSNR here is over R, "
              "G and B, 8-bit, `scale` pixels shaved: bicubic gives 28.63 on Set5 x3 by it, against 34.57 in [T] "
              "Table 5, whose RGB convention the paper does not state, so compare the RGB columns within "
              "themselves.",
    "final": "The shipped 9-1-5 weights trained longer than the study's budget (300 to 400 epochs of batch 128, "
             "docs/results.md); the 9-5-5 ones are the study's runs, shipped as `--arch 9-5-5`.",
}
RUNS_FOLDER = os.path.join("docs", "paper", "runs")
MARKDOWN = outputs.OutputKind("Markdown page", recognise=os.path.isfile)
FIGURE = outputs.OutputKind("PNG figure", recognise=os.path.isfile)


def page_outputs(docs_root, runs):
    """[(path, kind)] of what writing the page may write: docs/paper.md, the curves, the runs' files."""
    docs = os.path.join(docs_root, "docs")
    written = [(os.path.join(docs, "paper.md"), MARKDOWN)]
    written += [(os.path.join(docs, "paper", f"{study.key}.png"), FIGURE) for study in studies.STUDIES]
    written += [(os.path.join(docs_root, RUNS_FOLDER, run.name, name), outputs.ANY_FILE)
                for run in runs for name in ("result.json", "history.csv")]
    return written


def check_page_outputs(docs_root, runs):
    """Raises OutputError before anything is written if one of the page's files may not be (a link,
    a folder where a file goes, a file where a folder goes)."""
    checker = outputs.Outputs(overwrite=True)
    for path, kind in page_outputs(docs_root, runs):
        checker.check(path, kind)


def copy_results(folder, runs, docs_root):
    """Copies each complete run's result.json and history.csv to docs/paper/runs/<run>/."""
    for run in runs:
        if folder.result(run) is None:
            continue
        target = os.path.join(docs_root, RUNS_FOLDER, run.name)
        outputs.Outputs().make_folder(target)
        sources = [(folder.result_path(run), "result.json")]
        history = os.path.join(folder.run_dir(run), "logs", "history.csv")
        if not run.shipped and os.path.isfile(history):  # the curve; a result alone still makes its table cells
            sources.append((history, "history.csv"))
        for source, name in sources:
            with outputs.rewriting(os.path.join(target, name)) as temporary:
                shutil.copyfile(source, temporary)


def committed_results(docs_root):
    """{run name: result dict} from docs/paper/runs/."""
    results, root = {}, os.path.join(docs_root, RUNS_FOLDER)
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        result = studies.read_result(os.path.join(root, name, "result.json"))
        if result is not None:
            results[name] = result
    return results


def history_rows(docs_root, name):
    try:
        with open(os.path.join(docs_root, RUNS_FOLDER, name, "history.csv"), newline="") as handle:
            return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]
    except OSError:
        return []


def psnr(result, test_set="Set5"):
    return result[test_set]["srcnn_psnr"] if result else None


def verdict(key, results):
    """One sentence: does the paper's conclusion hold here, with the numbers."""
    claim, pairs = CLAIMS[key]
    measured = []  # (better, worse, column, ours for the better, ours for the worse)
    for better, worse, *column in pairs:
        column = column[0] if column else "srcnn_psnr"
        figures = [results[name]["Set5"].get(column) if name in results else None for name in (better, worse)]
        if None not in figures:
            measured.append((better, worse, column, *figures))
    if not measured:
        return f"The paper: {claim}. Not measured here yet."
    parts = []
    for better, worse, column, ours_better, ours_worse in measured:
        what = "" if column == "srcnn_psnr" else " (RGB)"
        parts.append(f"{_label(better)}{what} {ours_better:.2f} {'>' if ours_better > ours_worse else '<='} "
                     f"{_label(worse)}{what} {ours_worse:.2f}")
    held = sum(ours_better > ours_worse for *_, ours_better, ours_worse in measured)
    state = ("holds here" if held == len(measured) else "does not hold here" if held == 0 else
             f"holds here for {held} of {len(measured)} pairs")
    missing = len(pairs) - len(measured)
    pending = f" ({missing} pair{'s' if missing > 1 else ''} not measured yet)" if missing else ""
    return f"The paper: {claim}. It {state}: {'; '.join(parts)} dB (Set5 x3 unless named){pending}."


def _label(name):
    return name.replace("_x3", "").replace("_shipped", " (shipped)").replace("_", " ")


def _cell(value, digits=2):
    return "—" if value is None else f"{value:.{digits}f}"


def study_table(study, results):
    """The Markdown table of one study (not the final comparison)."""
    colour = study.key == "colour"
    header = ["network", "paper, Set5 x3", "ours, Set5 x3", "ours, Set14 x3"]
    header += ["paper, RGB PSNR", "ours, RGB PSNR"] if colour else []
    header += ["paper, s per image", "ours, ms per Set5 image", "training, min"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in study.runs:
        result, figure = results.get(run.name), PAPER[study.key].get(run.name)
        paper_cell = figure.cell() if figure else "no figure (curves only, [T] Figs. 8, 9)"
        row = [f"`{run.arch}`" + (f" {CHANNEL_NAMES[run.channels]}" if colour else ""), paper_cell,
               _cell(psnr(result)), _cell(psnr(result, "Set14"))]
        if colour:
            row += [_cell(PAPER_RGB.get(run.name)), _cell(result and result["Set5"].get("srcnn_rgb_psnr"))]
        milliseconds = 1000 * result["seconds_per_image"] if result and result["seconds_per_image"] else None
        row += [_cell(figure and figure.seconds), _cell(milliseconds, 0),
                _cell(result and result["train_minutes"], 1) if result else "not run yet"]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def final_table(results):
    """Set5 and Set14 at x2, x3, x4: bicubic, the paper's two networks, our shipped 9-1-5 and our 9-5-5."""
    lines = ["| test set | scale | bicubic | paper 9-1-5, 91 images [E] | paper 9-5-5, ImageNet [T] "
             "| ours 9-1-5 (shipped) | ours 9-5-5, 91 images |", "|---|---|---|---|---|---|---|"]
    for (test_set, scale), (bicubic, paper_915, paper_955) in PAPER_FINAL.items():
        shipped, ours = results.get(f"9-1-5_x{scale}_shipped"), results.get(f"9-5-5_x{scale}")
        paper_915 = "not given" if paper_915 is None else f"{paper_915:.2f}"  # [E] has Set14 at x3 only
        lines.append(f"| {test_set} | x{scale} | {bicubic:.2f} | {paper_915} | {_cell(paper_955)} "
                     f"| {_cell(psnr(shipped, test_set))} | {_cell(psnr(ours, test_set))} |")
    return lines


def plot_curves(study, results, docs_root, path):
    """Set5 PSNR against training minutes for the study's trained runs; False if none has a history."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(7, 4.2))
    drawn = False
    for run in study.runs:
        rows = history_rows(docs_root, run.name)
        if rows and run.name in results:
            # Epochs at the run's median epoch time: a pause or a busy spell of the machine moves no curve.
            minutes_per_epoch = studies.steady_minutes(rows) / len(rows)
            axes.plot([row["epoch"] * minutes_per_epoch for row in rows], [row["psnr"] for row in rows], marker=".",
                      label=_label(run.name))
            drawn = True
    if drawn:
        axes.set_xlabel("training time, minutes (epochs at each run's median epoch time, 2-core CPU)")
        axes.set_ylabel("Set5 PSNR, dB")
        axes.set_title(study.title)
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        with outputs.rewriting(path, FIGURE) as temporary:
            figure.savefig(temporary, format="png", dpi=90)
    plt.close(figure)
    return drawn


INTRODUCTION = """# The paper's studies, regenerated

The TPAMI paper {tpami_tag} rests its design on studies of the filter numbers, the filter sizes, the
depth and the colour channels (Section 4). Each table below is made by `paper_studies.py`, which
trains every network with this project's recipe at one budget: the 91 images of `Train/`, x3,
33x33 patches at stride 14 with labels of the network's VALID output, {epochs} epochs of batch 16
(Adam, learning rate 1e-3, identity initialisation, flips and rotations, seed 0). Evaluation: step 3's,
Set5 and Set14 (Y of MATLAB's `rgb2ycbcr`, `scale` pixels shaved, replicate padding).

    python paper_studies.py                      # every study; rerun to continue a stopped one
    python paper_studies.py --study depth        # one study
    python paper_studies.py --plan               # what is done, what is left, the expected time
    python paper_studies.py --page               # this page from the runs done so far, nothing trained
    tensorboard --logdir runs/paper              # HParams: the runs as a table; PSNR against time

Each run's commands (step 1, step 2 with its flags, step 3 on Set5 and Set14) are in its
`docs/paper/runs/<run>/result.json`, beside its `history.csv` (PSNR after each epoch).

**Budget.** The paper trains its ablations for 8e8 backpropagations on ImageNet ({tpami_tag} 4.1), about
800 times the ~1e6 patches a run sees here (our recipe, Adam from an identity start, gets far more
from each step than the paper's SGD), so a figure here and the paper's are not like for like; what
the studies test is the paper's *comparisons*, each at one equal budget.
Training minutes are the epochs at each run's median epoch time (validation included), so a
pause does not count; the runs shared the two cores with test runs at times, which slowed some by
up to half; the wall-clock total is in each result.json. Times per image are ours (`Upscaler` on this CPU, the engine it picks); the paper's are its
MATLAB/C++ implementation on its CPU: compare within a column only.

Sources: {tpami_tag} {tpami}. {eccv_tag} {eccv}.
"""


def compute_line(results, runs):
    """The training time of `runs` that are done, and on which CPU."""
    done = [results[run.name] for run in runs if run.name in results and results[run.name].get("train_minutes")]
    cpus = sorted({result["cpu"] for result in done})
    if not done:
        return "Compute: nothing trained yet."
    minutes = sum(result["train_minutes"] for result in done)
    return (f"Compute: {minutes:.{0 if minutes >= 10 else 1}f} min of training for {len(done)} "
            f"run{'s' if len(done) > 1 else ''} on {'; '.join(cpus)}.")


def page(results, docs_root, epochs):
    """The Markdown of docs/paper.md from `results` ({run name: result}); draws the curves."""
    lines = [INTRODUCTION.format(tpami_tag=TPAMI[0], tpami=TPAMI[1], eccv_tag=ECCV[0], eccv=ECCV[1], epochs=epochs)]
    every = studies.planned_runs(studies.STUDY_KEYS)
    lines += [compute_line(results, every) + " A bfloat16 CPU has not run them yet.", ""]
    for study in studies.STUDIES:
        lines += [f"## {study.title}", ""]
        lines += final_table(results) if study.key == "final" else study_table(study, results)
        lines += ["", NOTES[study.key], "", verdict(study.key, results), "", compute_line(results, study.runs),
                  f"`python paper_studies.py --study {study.key}`", ""]
        image = os.path.join("paper", f"{study.key}.png")
        if study.key != "final" and plot_curves(study, results, docs_root, os.path.join(docs_root, "docs", image)):
            lines += [f"![{study.title}: Set5 PSNR against training time]({image})", ""]
    return "\n".join(lines)


def write_page(docs_root, epochs):
    """docs/paper.md (and its PNGs) from docs/paper/runs/; returns its path.

    `epochs`: the budget the page states when no result says it (the results' own otherwise).
    """
    path = os.path.join(docs_root, "docs", "paper.md")
    check_page_outputs(docs_root, [])
    outputs.Outputs().make_folder(os.path.join(docs_root, "docs", "paper"))
    results = committed_results(docs_root)
    budgets = sorted({result["epochs"] for result in results.values() if result.get("epochs")})
    if len(budgets) > 1:
        raise studies.StudyError(f"{os.path.join(docs_root, RUNS_FOLDER)}: holds runs of {budgets} epochs; one page "
                                 "tables runs of one budget")
    text = page(results, docs_root, budgets[0] if budgets else epochs)
    with outputs.rewriting(path, MARKDOWN) as temporary, open(temporary, "w") as handle:
        handle.write(text)
    return path
