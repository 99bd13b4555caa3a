"""Packs step1_pre.py's x3 h5 files into x3.npz (uint8, small enough to send to a GPU machine).

    python step1_pre.py --train-dir ../shared/datasets/Train --test-dir ../shared/datasets/Test/Set5
    python benchmarks/recipe_sweep/make_npz.py h5 benchmarks/recipe_sweep/x3.npz
"""

import os
import sys

import h5py
import numpy as np


def main(h5_dir, output):
    with h5py.File(os.path.join(h5_dir, "train.h5"), "r") as h5:
        patches, labels = h5["data"][..., 0], h5["label"][..., 0]
    test = {}
    with h5py.File(os.path.join(h5_dir, "test.h5"), "r") as h5:
        for name, entry in h5["images"].items():
            test[name + "_hr"] = np.round(entry["hr"][..., 0] * 255).astype(np.uint8)
            test[name + "_bic"] = entry["bicubic"][..., 0].astype(np.float32)
    # Inputs rounded to 8 bits: a small departure from the float h5, fine for comparing recipes.
    np.savez(output, data=np.clip(np.round(patches * 255), 0, 255).astype(np.uint8),
             label=np.round(labels * 255).astype(np.uint8), **test)


if __name__ == "__main__":
    main(*sys.argv[1:3])
