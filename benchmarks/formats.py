"""PSNR and speed of the exported formats against `srcnn.Upscaler`, in one run.

    python benchmarks/formats.py                       # x3 shipped weights, 4 MPix output
    python benchmarks/formats.py --megapixels 4 --repeats 5 --threads 2

Exports the shipped weights with `srcnn-export` (SavedModel, TFLite, ONNX) into a temporary
folder, then measures Upscaler (float32 and bfloat16), the SavedModel (TensorFlow), LiteRT
(ai-edge-litert) and ONNX Runtime, each run the way tools/run_exported_model.py runs it:
  - mean PSNR on Set5 x3 (Y, 3 px shaved), the input being the ground truth shrunk with the
    project's MATLAB-style bicubic and rounded to uint8 RGB, as a user's image is;
  - output megapixels per second on one RGB image whose output is --megapixels (the first
    Set5 photo mirrored out to that size), after one untimed run per path. The timed runs
    go round the paths in turn, --repeats times, and each path's best is kept, so that a
    change in the machine's load falls on all paths alike.
Everything is uint8 RGB in, uint8 RGB out (bicubic, YCbCr, network, colour merge included).
All runtimes share this process here (tests/upscaling/test_export.py runs each alone); ONNX Runtime's
idle threads are told not to spin, so they leave the cores to the next path.
Writes benchmarks/results/formats_x3.csv.
"""

import argparse
import csv
import functools
import os
import runpy
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from srcnn import Upscaler  # noqa: E402
from srcnn.commands import cli
from srcnn.core import colour
from srcnn.core import image_files
from srcnn.core import resampling
from srcnn.core.metrics import psnr  # noqa: E402

RUNNER = os.path.join(ROOT, "tools", "run_exported_model.py")
FORMATS = {"SavedModel (TensorFlow)": "srcnn_savedmodel", "LiteRT (ai-edge-litert)": "srcnn.tflite",
           "ONNX Runtime": "srcnn.onnx"}
EXPORT_FORMATS = {"srcnn_savedmodel": "savedmodel", "srcnn.tflite": "tflite", "srcnn.onnx": "onnx"}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=3, choices=(2, 3, 4))
    parser.add_argument("--megapixels", type=float, default=4.0, help="output size of the timed image")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds over all paths (each path's best is kept)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for LiteRT and ONNX Runtime (default: all cores, as TensorFlow uses)")
    parser.add_argument("--test-dir", default=os.path.join(ROOT, "Test", "Set5"))
    parser.add_argument("--csv", default=os.path.join(ROOT, "benchmarks", "results", "formats_x{scale}.csv"))
    return parser.parse_args(argv)


def low_resolution_set(folder, scale):
    """{name: (hr, lr)}: uint8 RGB ground truth (modcropped) and its MATLAB-style shrink."""
    images = {}
    for path in image_files.list_images(folder):
        hr = resampling.modcrop(image_files.load_image(path), scale)
        if hr.ndim == 2:
            hr = np.repeat(hr[..., None], 3, axis=2)
        lr = resampling.resize_bicubic(hr / np.float32(255), hr.shape[0] // scale, hr.shape[1] // scale)
        images[os.path.splitext(os.path.basename(path))[0]] = (hr, colour.to_uint8(lr))
    return images


def timing_image(folder, scale, megapixels):
    """uint8 RGB whose x`scale` output has about `megapixels` MPix: a photo mirrored to size."""
    photo = image_files.load_image(image_files.list_images(folder)[0])
    side = int(round((megapixels * 1e6) ** 0.5 / scale))
    extra = [(0, max(0, side - size)) for size in photo.shape[:2]] + [(0, 0)]
    return np.ascontiguousarray(np.pad(photo, extra, mode="symmetric")[:side, :side])


def mean_psnr(results, images, scale):
    return float(np.mean([psnr(colour.luminance(results[name]), colour.luminance(hr), scale)
                          for name, (hr, _) in images.items()]))


def onnx_run(session, rgb):
    return session.run(None, {session.get_inputs()[0].name: rgb})[0]


def on_one_image(run, rgb):
    """(H, W, 3) through a model of (1, H, W, 3)."""
    return run(np.ascontiguousarray(rgb[None]))[0]


def exported_paths(folder, scale, threads):
    """{label: run(uint8 (H, W, 3)) -> uint8 (sH, sW, 3)} for the three exported formats."""
    import onnxruntime

    runner = runpy.run_path(RUNNER, run_name="benchmark")
    paths = {}
    for label, name in FORMATS.items():
        cli.export_main(["--scale", str(scale), "--format", EXPORT_FORMATS[name], "--output", os.path.join(folder, name)])
        model = os.path.join(folder, name)
        if name.endswith(".onnx"):
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
            run = functools.partial(onnx_run, session)
        elif name.endswith(".tflite"):
            run = runner["tflite_runner"](model, threads)
        else:
            run = runner["savedmodel_runner"](model)
        paths[label] = functools.partial(on_one_image, run)
    return paths


def main(argv=None):
    args = parse_args(argv)
    images = low_resolution_set(args.test_dir, args.scale)
    timed = timing_image(args.test_dir, args.scale, args.megapixels)
    output_megapixels = timed.shape[0] * timed.shape[1] * args.scale ** 2 / 1e6
    print(f"Set5 x{args.scale}: {len(images)} images; timing: {timed.shape[1]}x{timed.shape[0]} -> "
          f"{output_megapixels:.2f} MPix output, best of {args.repeats}; CPU: {os.cpu_count()} cores")
    engines = {"float32": "srcnn.upscaling.composed_engine", "bfloat16": "srcnn.upscaling.tensorflow_engine"}
    paths = {f"Upscaler {precision} ({engine})": Upscaler.pretrained(args.scale, precision=precision).upscale
             for precision, engine in engines.items()}
    with tempfile.TemporaryDirectory() as folder:
        paths.update(exported_paths(folder, args.scale, args.threads))
        quality = {label: mean_psnr({name: run(lr) for name, (_, lr) in images.items()}, images, args.scale)
                   for label, run in paths.items()}
        for run in paths.values():
            run(timed)
        best = {label: float("inf") for label in paths}
        for _ in range(args.repeats):
            for label, run in paths.items():
                start = time.perf_counter()
                run(timed)
                best[label] = min(best[label], time.perf_counter() - start)
    reference = quality[next(iter(paths))]
    rows = [(label, quality[label], output_megapixels / best[label]) for label in paths]
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
