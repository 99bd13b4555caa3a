"""Time to quality: train from scratch and record Set5 PSNR against wall time and epochs.

    python benchmarks/time_to_quality.py --epochs 200                 # x3, ~15 min on 2 cores
    python benchmarks/time_to_quality.py --from-history logs/x3/history.csv   # plot a finished run

Runs step1_pre.py and step2_train.py (the project's own code, default recipe unless flags
say otherwise) in a work folder, then writes benchmarks/results/time_to_quality_x{scale}.csv
and .png (PSNR against minutes, with the bicubic and paper lines) and prints when the
paper's figure was first reached.
"""

import argparse
import csv
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import step1_pre  # noqa: E402
import step2_train  # noqa: E402
from srcnn.training import history as history_csv  # noqa: E402
from srcnn.training.run_folder import RunFolder  # noqa: E402

# SRCNN 9-1-5 trained on the 91 images, Set5 (ECCV 2014, Table 2 of TPAMI 2016).
PAPER_SET5 = {2: 36.34, 3: 32.39, 4: 30.09}
DATASETS = ROOT  # the repository ships Train/ and Test/


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=3, choices=(2, 3, 4))
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--train-dir", default=os.path.join(DATASETS, "Train"))
    parser.add_argument("--test-dir", default=os.path.join(DATASETS, "Test", "Set5"))
    parser.add_argument("--work-dir", default=None, help="where h5/checkpoint/logs go (default: a temporary folder)")
    parser.add_argument("--from-history", default=None, help="plot this history.csv instead of training")
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "results"))
    parser.add_argument("--label", default=None, help="curve label in the plot (default: the recipe)")
    parser.add_argument("--also", action="append", default=[], metavar="HISTORY=LABEL",
                        help="another run's history.csv to draw for comparison (repeatable)")
    parser.add_argument("train_flags", nargs=argparse.REMAINDER,
                        help="after --, flags passed on to step2_train.py (e.g. -- --optimizer sgd)")
    return parser.parse_args(argv)


def read_history(path):
    """The whole rows of a history.csv (`srcnn.training.history`)."""
    return history_csv.read(path)[0]


def first_reaching(history, target):
    """The first history row whose PSNR is at least `target`, or None."""
    return next((row for row in history if row["psnr"] >= target), None)


def held_from(history, target):
    """The first row from which PSNR never again falls below `target`, or None."""
    held = None
    for row in history:
        if row["psnr"] < target:
            held = None
        elif held is None:
            held = row
    return held


def train_from_scratch(args, work_dir):
    h5_dir = os.path.join(work_dir, "h5")
    if step1_pre.main(["--train-dir", args.train_dir, "--test-dir", args.test_dir, "--scale", str(args.scale),
                       "--h5-dir", h5_dir]) != 0:
        raise SystemExit(1)
    flags = [flag for flag in args.train_flags if flag != "--"]
    run = RunFolder(os.path.join(work_dir, "checkpoint"), os.path.join(work_dir, "logs"))
    if step2_train.main(["--scale", str(args.scale), "--epochs", str(args.epochs), "--fresh",
                         "--train-h5", os.path.join(h5_dir, "train.h5"), "--test-h5", os.path.join(h5_dir, "test.h5"),
                         "--checkpoint-dir", run.checkpoint_dir, "--log-dir", run.log_dir, "--log-every", "1000",
                         *flags]) != 0:
        raise SystemExit(1)
    return run.history_path


def write_results(history, scale, output, label, others=()):
    """CSV and PNG of PSNR against time; returns their paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(output, exist_ok=True)
    stem = os.path.join(output, f"time_to_quality_x{scale}")
    with open(stem + ".csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("epoch", "minutes", "set5_psnr", "bicubic_psnr"))
        for row in history:
            writer.writerow((int(row["epoch"]), round(row["seconds"] / 60, 3), round(row["psnr"], 3),
                             round(row["bicubic_psnr"], 3)))
    figure, axes = plt.subplots(figsize=(7, 4.2))
    minutes = [row["seconds"] / 60 for row in history]
    axes.plot(minutes, [row["psnr"] for row in history], label=label)
    for other_label, other in others:
        axes.plot([row["seconds"] / 60 for row in other], [row["psnr"] for row in other], label=other_label, alpha=0.8)
    axes.axhline(history[0]["bicubic_psnr"], color="grey", linestyle=":", label=f"bicubic {history[0]['bicubic_psnr']:.2f} dB")
    axes.axhline(PAPER_SET5[scale], color="red", linestyle="--", label=f"paper 9-1-5 {PAPER_SET5[scale]:.2f} dB")
    axes.set_xlabel("wall time on this machine (minutes)")
    axes.set_ylabel(f"Set5 x{scale} PSNR (dB)")
    axes.set_ylim(history[0]["bicubic_psnr"] - 0.3, max(PAPER_SET5[scale], max(r["psnr"] for r in history)) + 0.3)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(stem + ".png", dpi=100)
    return stem + ".csv", stem + ".png"


def main(argv=None):
    args = parse_args(argv)
    if args.from_history:
        history_path = args.from_history
    else:
        work_dir = args.work_dir or tempfile.mkdtemp(prefix="srcnn_ttq_")
        history_path = train_from_scratch(args, work_dir)
    history = read_history(history_path)
    label = args.label or f"SRCNN 9-1-5, {int(history[-1]['epoch'])} epochs"
    others = [(entry.split("=", 1)[1], read_history(entry.split("=", 1)[0])) for entry in args.also]
    csv_path, png_path = write_results(history, args.scale, args.output, label, others)
    target = PAPER_SET5[args.scale]
    reached = first_reaching(history, target)
    best = max(history, key=lambda row: row["psnr"])
    print(f"final: epoch {int(history[-1]['epoch'])}, {history[-1]['seconds'] / 60:.1f} min, "
          f"Set5 x{args.scale} {history[-1]['psnr']:.2f} dB (best {best['psnr']:.2f} at epoch {int(best['epoch'])})")
    if reached:
        held = held_from(history, target)
        print(f"paper's {target:.2f} dB first reached at epoch {int(reached['epoch'])}, "
              f"{reached['seconds'] / 60:.1f} min; held from epoch {int(held['epoch'])}, {held['seconds'] / 60:.1f} min")
    else:
        print(f"paper's {target:.2f} dB not reached")
    print(f"wrote {csv_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
