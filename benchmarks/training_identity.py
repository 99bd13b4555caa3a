"""Is training unchanged by a refactor? A short float32 run, its history rows and weights compared.

    python benchmarks/training_identity.py --run /tmp/before --code /path/to/old/checkout
    python benchmarks/training_identity.py --run /tmp/after            # this checkout's code
    python benchmarks/training_identity.py --compare /tmp/before /tmp/after

--run runs step1_pre.py (stride 28: fewer patches) and step2_train.py (2 epochs, seed 7, float32)
of the checkout --code into the folder; --compare prints whether history.csv's rows (less the
wall-clock seconds) and every variable of the newest checkpoint are identical.
"""

import argparse
import csv
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(folder, code):
    folder = os.path.abspath(folder)
    h5 = os.path.join(folder, "h5")
    for command in (["step1_pre.py", "--h5-dir", h5, "--stride", "28"],
                    ["step2_train.py", "--train-h5", os.path.join(h5, "train.h5"), "--test-h5",
                     os.path.join(h5, "test.h5"), "--epochs", "2", "--seed", "7", "--precision", "float32",
                     "--checkpoint-dir", os.path.join(folder, "ck"), "--log-dir", os.path.join(folder, "logs"),
                     "--fresh"]):
        subprocess.run([sys.executable] + command, cwd=code, check=True)


def history_rows(folder):
    with open(os.path.join(folder, "logs", "history.csv"), newline="") as handle:
        return [{key: value for key, value in row.items() if key != "seconds"} for row in csv.DictReader(handle)]


def weights(folder):
    import tensorflow as tf

    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(os.path.join(folder, "ck")))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if "model" in name or "conv" in name}


def compare(before, after):
    import numpy as np

    rows = history_rows(before), history_rows(after)
    print(f"history rows: {len(rows[0])} and {len(rows[1])}, {'identical' if rows[0] == rows[1] else 'DIFFERENT'}")
    for row in rows[1]:
        print("  ", row)
    old, new = weights(before), weights(after)
    differing = sorted(name for name in old.keys() | new.keys()
                       if name not in old or name not in new or not np.array_equal(old[name], new[name]))
    print(f"weights: {len(new)} variables, " + ("identical" if not differing else f"DIFFERENT: {differing}"))
    return 0 if rows[0] == rows[1] and not differing else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", metavar="FOLDER", help="train into FOLDER")
    parser.add_argument("--code", default=ROOT, help="the checkout whose scripts train (default: this one)")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args(argv)
    if args.run:
        run(args.run, os.path.abspath(args.code))
    return compare(*args.compare) if args.compare else 0


if __name__ == "__main__":
    sys.exit(main())
