"""Images per second of srcnn-upscale-batch (1 and 2 local workers) against srcnn-upscale, in one run.

    python benchmarks/batch_speed.py                  # 40 images 256x256 -> 768x768, x3 float32
    python benchmarks/batch_speed.py --images 200 --workers 1 2 4 > benchmarks/results/batch_speed.md

Each command runs as a user runs it, in a fresh process over the same folder of generated
RGB images into an empty output folder, with the shipped weights. "images/s" counts the
whole command: Python, TensorFlow and Beam start-up, weights, reading and writing.
"after start-up" subtracts a run over one image, which is what each further image costs;
it is the figure that grows with workers once there are enough images to hide start-up.
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = "import sys; from srcnn.commands.cli import upscale_main; sys.exit(upscale_main(sys.argv[1:]))"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--size", type=int, default=256, help="side of the square input images")
    parser.add_argument("--scale", type=int, default=3, choices=(2, 3, 4))
    parser.add_argument("--precision", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="local batch workers to time")
    return parser.parse_args(argv)


def make_images(folder, count, size):
    rng = np.random.default_rng(0)
    rows, columns = np.mgrid[0:size, 0:size]
    for index in range(count):  # smooth gradients and noise: a photo's work, not a flat field
        base = np.stack([rows, columns, (rows + columns) // 2], axis=-1) * 255 // (size - 1)
        noisy = base + rng.normal(0, 12, base.shape)
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(os.path.join(folder, f"image{index:03d}.png"))


def seconds(command, inputs, output, args):
    """Wall time of one command over `inputs` into the empty folder `output`."""
    argv = [inputs, "-o", output, "-s", str(args.scale), "--precision", args.precision]
    started = time.perf_counter()
    finished = subprocess.run(command + argv, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if finished.returncode != 0:
        sys.exit(f"{' '.join(command[:3])} failed:\n{finished.stderr[-3000:]}")
    return elapsed


def main(argv=None):
    args = parse_args(argv)
    commands = [("srcnn-upscale (CLI)", [sys.executable, "-c", CLI])] + [
        (f"srcnn-upscale-batch --workers {workers}", [sys.executable, "-m", "srcnn.upscaling.batch", "--workers", str(workers)])
        for workers in args.workers]
    with tempfile.TemporaryDirectory() as scratch:
        many, one = os.path.join(scratch, "many"), os.path.join(scratch, "one")
        os.makedirs(many), os.makedirs(one)
        make_images(many, args.images, args.size)
        make_images(one, 1, args.size)
        rows = []
        for number, (name, command) in enumerate(commands):
            full = seconds(command, many, os.path.join(scratch, f"out{number}"), args)
            start_up = seconds(command, one, os.path.join(scratch, f"single{number}"), args)
            rows.append((name, full, args.images / full, (args.images - 1) / max(full - start_up, 1e-9), start_up))
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    print(f"# python benchmarks/batch_speed.py {' '.join(argv or sys.argv[1:])}".rstrip())
    print(f"\n{args.images} images {args.size}x{args.size} RGB -> x{args.scale}, {args.precision}, shipped weights; "
          f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}\n")
    print("| command | seconds | images/s | images/s after start-up | one image (s) |")
    print("|---|---|---|---|---|")
    for name, full, rate, steady, start_up in rows:
        print(f"| {name} | {full:.1f} | {rate:.2f} | {steady:.2f} | {start_up:.1f} |")


if __name__ == "__main__":
    main()
