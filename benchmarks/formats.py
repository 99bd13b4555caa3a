"""PSNR and speed of the exported formats against `srcnn.Upscaler`, in one run.

    python benchmarks/formats.py                       # x3 shipped weights, 4 MPix output
    python benchmarks/formats.py --megapixels 4 --repeats 3 --threads 2

Exports the shipped weights with `srcnn-export` (SavedModel, TFLite, ONNX) into a temporary
folder, then for each of Upscaler (float32 and bfloat16, in this process), the SavedModel
(TensorFlow), LiteRT (ai-edge-litert) and ONNX Runtime (each in its own process through
tools/run_exported_model.py, with only its runtime):
  - mean PSNR on Set5 x3 (Y, 3 px shaved), the input being the ground truth shrunk with the
    project's MATLAB-style bicubic and rounded to uint8 RGB, as a user's image is;
  - output megapixels per second on one RGB image whose output is --megapixels (the Set5
    "baby" photo mirrored out to the size), the best of --repeats runs after an untimed one.
Everything is uint8 RGB in, uint8 RGB out (bicubic, YCbCr, network, colour merge included).
Writes benchmarks/results/formats_x3.csv.
"""

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from srcnn import Upscaler, cli, imaging  # noqa: E402
from srcnn.metrics import psnr  # noqa: E402

RUNNER = os.path.join(ROOT, "tools", "run_exported_model.py")
FORMATS = {"SavedModel (TensorFlow)": "srcnn_savedmodel", "LiteRT (ai-edge-litert)": "srcnn.tflite",
           "ONNX Runtime": "srcnn.onnx"}
EXPORT_FORMATS = {"srcnn_savedmodel": "savedmodel", "srcnn.tflite": "tflite", "srcnn.onnx": "onnx"}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=3, choices=(2, 3, 4))
    parser.add_argument("--megapixels", type=float, default=4.0, help="output size of the timed image")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (the best is kept)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for LiteRT and ONNX Runtime (default: the runtime's own)")
    parser.add_argument("--test-dir", default=os.path.join(ROOT, "Test", "Set5"))
    parser.add_argument("--csv", default=os.path.join(ROOT, "benchmarks", "results", "formats_x{scale}.csv"))
    return parser.parse_args(argv)


def low_resolution_set(folder, scale):
    """{name: (hr, lr)}: uint8 RGB ground truth (modcropped) and its MATLAB-style shrink."""
    images = {}
    for path in imaging.list_images(folder):
        hr = imaging.modcrop(imaging.load_image(path), scale)
        if hr.ndim == 2:
            hr = np.repeat(hr[..., None], 3, axis=2)
        lr = imaging.resize_bicubic(hr / np.float32(255), hr.shape[0] // scale, hr.shape[1] // scale)
        images[os.path.splitext(os.path.basename(path))[0]] = (hr, imaging.to_uint8(lr))
    return images


def timing_image(folder, scale, megapixels):
    """uint8 RGB whose x`scale` output has about `megapixels` MPix: a photo mirrored to size."""
    photo = imaging.load_image(imaging.list_images(folder)[0])
    side = int(round((megapixels * 1e6) ** 0.5 / scale))
    extra = [(0, max(0, side - size)) for size in photo.shape[:2]] + [(0, 0)]
    return np.ascontiguousarray(np.pad(photo, extra, mode="symmetric")[:side, :side])


def mean_psnr(results, images, scale):
    return float(np.mean([psnr(imaging.luminance(results[name]), imaging.luminance(hr), scale)
                          for name, (hr, _) in images.items()]))


def run_format(model, inputs, outputs, repeats, threads):
    """Runs tools/run_exported_model.py in an isolated process; {name: array}, {name: seconds}."""
    command = [sys.executable, "-I", RUNNER, model, inputs, outputs, "--repeat", str(repeats)]
    if threads:
        command += ["--threads", str(threads)]
    subprocess.run(command, check=True, cwd=os.path.dirname(model), capture_output=True)
    with np.load(outputs) as results:
        names = list(results["names"])
        return {name: results[name] for name in names}, dict(zip(names, results["seconds"]))


def main(argv=None):
    args = parse_args(argv)
    images = low_resolution_set(args.test_dir, args.scale)
    timed = timing_image(args.test_dir, args.scale, args.megapixels)
    output_megapixels = timed.shape[0] * timed.shape[1] * args.scale ** 2 / 1e6
    print(f"Set5 x{args.scale}: {len(images)} images; timing: {timed.shape[1]}x{timed.shape[0]} -> "
          f"{output_megapixels:.2f} MPix output, best of {args.repeats}; CPU: {os.cpu_count()} cores")
    rows = []
    for precision in ("float32", "bfloat16"):
        upscaler = Upscaler.pretrained(args.scale, precision=precision)
        results = {name: upscaler.upscale(lr) for name, (_, lr) in images.items()}
        upscaler.upscale(timed)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            upscaler.upscale(timed)
            times.append(time.perf_counter() - start)
        rows.append((f"Upscaler {precision} (TensorFlow, tiled)", mean_psnr(results, images, args.scale),
                     output_megapixels / min(times)))
    reference = rows[0][1]
    with tempfile.TemporaryDirectory() as folder:
        for name, model_format in EXPORT_FORMATS.items():
            cli.export_main(["--scale", str(args.scale), "--format", model_format,
                             "--output", os.path.join(folder, name)])
        np.savez(os.path.join(folder, "set.npz"), **{name: lr for name, (_, lr) in images.items()})
        np.savez(os.path.join(folder, "timed.npz"), timed=timed)
        for label, name in FORMATS.items():
            model = os.path.join(folder, name)
            results, _ = run_format(model, os.path.join(folder, "set.npz"), os.path.join(folder, "set_out.npz"), 1,
                                    args.threads)
            _, seconds = run_format(model, os.path.join(folder, "timed.npz"), os.path.join(folder, "timed_out.npz"),
                                    args.repeats + 1, args.threads)
            rows.append((label, mean_psnr(results, images, args.scale), output_megapixels / seconds["timed"]))
    print(f"\n| path | Set5 x{args.scale} PSNR (dB) | vs Upscaler float32 | MPix/s at {output_megapixels:.1f} MPix |")
    print("|---|---|---|---|")
    for label, value, speed in rows:
        print(f"| {label} | {value:.4f} | {value - reference:+.4f} | {speed:.2f} |")
    path = args.csv.format(scale=args.scale)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "set5_psnr", "psnr_vs_upscaler_float32", "output_mpix_per_s", "output_mpix"])
        for label, value, speed in rows:
            writer.writerow([label, f"{value:.4f}", f"{value - reference:+.4f}", f"{speed:.3f}",
                             f"{output_megapixels:.2f}"])
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
