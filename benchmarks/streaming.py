"""Patches per second from a train.h5: streamed in chunks (`PatchStream`) vs loaded whole (`PatchArrays`).

    python benchmarks/streaming.py                      # 100k random patches (~600 MB) in a temporary file
    python benchmarks/streaming.py --train-h5 h5/train.h5 --epochs 3

Both sides produce what the training loop consumes (shuffled batches of 128 data/label
pairs); the training step itself is not run. The in-memory side also pays for loading
the file once. A freshly written file sits in the page cache, so the streamed rate is
the pipeline's own; a file larger than memory is read from disk in 6 MB chunks, so then
the disk's sequential rate caps it too. Memory is the most resident memory seen, less what the process held before.
"""

import argparse
import os
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from srcnn.training import batches
from srcnn.training import hdf5  # noqa: E402


def resident_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def write_random_h5(path, count, block=8192):
    """A train.h5 of `count` random patches, written a block at a time."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as h5:
        patches = h5.create_dataset("data", (count, 33, 33, 1), np.float32)
        labels = h5.create_dataset("label", (count, 21, 21, 1), np.float32)
        for start in range(0, count, block):
            values = rng.random((min(block, count - start), 33, 33, 1), dtype=np.float32)
            patches[start:start + len(values)] = values
            labels[start:start + len(values)] = values[:, 6:27, 6:27]
        h5.attrs.update({**hdf5.convention_attributes(), "scale": 3, "image_size": 33, "label_size": 21})


def patches_per_second(source, batch_size, epochs):
    """(patches/s, most resident memory in MB seen) over `epochs` epochs of batches."""
    started, count, peak = time.perf_counter(), 0, resident_mb()
    for epoch in range(epochs):
        for index, (batch_data, _) in enumerate(source.batches(batch_size, np.random.default_rng([0, epoch]))):
            count += len(batch_data)
            if index % 100 == 0:
                peak = max(peak, resident_mb())
    return count / (time.perf_counter() - started), peak


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-h5", help="an existing file (default: write random patches to a temporary one)")
    parser.add_argument("--patches", type=int, default=100_000, help="patches in the temporary file")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--shuffle-buffer", type=int, default=batches.SHUFFLE_BUFFER)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        path = args.train_h5
        if path is None:
            path = os.path.join(folder, "train.h5")
            write_random_h5(path, args.patches)
        size_mb = os.path.getsize(path) / 2**20
        print(f"{path}: {size_mb:.0f} MB, batch {args.batch_size}, {args.epochs} epochs, "
              f"shuffle buffer {args.shuffle_buffer}")

        before = resident_mb()
        with batches.PatchStream(path, {}, args.shuffle_buffer) as stream:
            streamed, peak = patches_per_second(stream, args.batch_size, args.epochs)
        streamed_mb = peak - before

        before = resident_mb()
        started = time.perf_counter()
        patches, labels, _ = hdf5.read_train_h5(path, {})
        load_seconds = time.perf_counter() - started
        in_memory, peak = patches_per_second(batches.PatchArrays(patches, labels), args.batch_size, args.epochs)
        in_memory_mb = peak - before

    print(f"{'':10}{'patches/s':>12}{'memory MB':>11}")
    print(f"{'streamed':10}{streamed:>12,.0f}{streamed_mb:>11.0f}")
    print(f"{'in memory':10}{in_memory:>12,.0f}{in_memory_mb:>11.0f}   (after {load_seconds:.1f} s to load)")


if __name__ == "__main__":
    main()
