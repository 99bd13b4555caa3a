"""Upscaling speed in output megapixels per second, float32 and bfloat16, CPU (and GPU).

    python benchmarks/upscale_speed.py                       # 1, 4, 12 MPix outputs, x3, 9-1-5
    python benchmarks/upscale_speed.py --checkpoint checkpoint/x3 --megapixels 12 --repeats 2
    python benchmarks/upscale_speed.py --checkpoint checkpoint/x3 --psnr-dir ../shared/datasets/Test/Set5

With --psnr-dir (and --checkpoint) it first prints what each precision costs in quality:
mean PSNR of the tiled network on that folder (x scale, replicate padding), next to
bicubic and to the untiled float32 network of `srcnn.training.evaluate`.

Two figures per case: "network" is SRCNN alone on the bicubic Y (`TiledSRCNN.restore_y_in_tiles`),
"pipeline" the whole in-memory upscale of an RGB image (`srcnn.upscaling.engines.upscale` with the
engine `Upscaler` selects: bicubic of Y/Cb/Cr per window, the network, back to RGB), without reading or writing files. The
best of --repeats timed runs is reported, after one untimed run. Weights only change the
numbers through their values, so a fresh network is used unless --checkpoint is given.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from srcnn.core import checkpoints  # noqa: E402
from srcnn.core import metrics
from srcnn.core import image_files
from srcnn.training import test_set
from srcnn.training.evaluate import restore_whole_y  # noqa: E402
from srcnn.core.model import SRCNN  # noqa: E402
from srcnn.core.choices import DEFAULT_TILE, INFERENCE_PRECISIONS  # noqa: E402
from srcnn.upscaling.engines import upscale  # noqa: E402
from srcnn.upscaling.tensorflow_engine import TiledSRCNN  # noqa: E402
from srcnn.upscaling.upscaler import Upscaler  # noqa: E402


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megapixels", type=float, nargs="+", default=[1, 4, 12], help="output sizes (4:3)")
    parser.add_argument("--scale", type=int, default=3, help="upscaling factor (ignored with --checkpoint)")
    parser.add_argument("--checkpoint", default=None, help="weights to time (prefix or folder)")
    parser.add_argument("--precision", nargs="+", default=list(INFERENCE_PRECISIONS), choices=INFERENCE_PRECISIONS)
    parser.add_argument("--tile", type=int, default=DEFAULT_TILE, help="output tile side in pixels")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case (the best is kept)")
    parser.add_argument("--psnr-dir", default=None, help="also measure PSNR per precision on these images "
                        "(needs --checkpoint)")
    args = parser.parse_args(argv)
    if args.psnr_dir and not args.checkpoint:
        parser.error("--psnr-dir needs --checkpoint (PSNR of untrained weights says nothing)")
    return args


def psnr_by_precision(model, scale, folder, precisions, tile):
    """Mean PSNR on `folder`: bicubic, untiled float32, then the tiled network per precision."""
    images = [test_set.test_image(path, scale) for path in image_files.list_images(folder)]
    rows = [("bicubic", np.mean([metrics.psnr(image.bicubic, image.hr, scale) for image in images])),
            ("untiled float32", np.mean([metrics.psnr(restore_whole_y(model, image.bicubic, "replicate"), image.hr, scale)
                                         for image in images]))]
    for precision in precisions:
        network = TiledSRCNN(model, precision=precision, tile=tile)
        rows.append((f"tiled {precision}", np.mean([metrics.psnr(network.restore_y_in_tiles(image.bicubic), image.hr, scale)
                                                     for image in images])))
    return len(images), rows


def synthetic_photo(height, width, seed=0):
    """uint8 (height, width, 3): smooth colour gradients with edges and fine texture."""
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(seed)
    image = np.stack([128 + 100 * np.sin(rows / 37.0), 128 + 100 * np.cos(columns / 53.0),
                      128 + 60 * np.sin((rows + columns) / 11.0)], axis=-1)
    image += rng.normal(0, 12, image.shape).astype(np.float32)
    image[(rows // 97 + columns // 89) % 2 == 0] *= 0.6
    return np.clip(image, 0, 255).astype(np.uint8)


def best_seconds(function, repeats):
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def output_size(megapixels, scale):
    """(height, width) of a 4:3 output of about `megapixels`, a multiple of `scale`."""
    width = int(round(np.sqrt(megapixels * 1e6 * 4 / 3) / scale)) * scale
    height = int(round(width * 3 / 4 / scale)) * scale
    return height, width


def main(argv=None):
    args = parse_args(argv)
    if args.checkpoint:
        prefix = checkpoints.resolve(args.checkpoint)
        model, config = checkpoints.load_model(prefix)
        scale, weights = config["scale"], prefix
    else:
        model, scale, weights = SRCNN("9-1-5"), args.scale, "fresh 9-1-5"
    if args.psnr_dir:
        count, rows = psnr_by_precision(model, scale, args.psnr_dir, args.precision, args.tile)
        print(f"PSNR on {args.psnr_dir} ({count} images, x{scale}, replicate padding), weights {weights}:")
        for name, psnr in rows:
            print(f"  {name:<18}{psnr:8.4f} dB  ({psnr - rows[1][1]:+.4f} vs untiled float32)")
    devices = ["/CPU:0"] + [f"/GPU:{index}" for index in range(len(tf.config.list_physical_devices("GPU")))]
    print(f"weights: {weights}, x{scale}, tile {args.tile}, best of {args.repeats}; "
          f"{os.cpu_count()} CPUs, devices: {', '.join(devices)}")
    print(f"{'device':<8}{'precision':<11}{'output':>16}{'MPix':>7}{'network MPix/s':>16}{'pipeline MPix/s':>17}")
    for device in devices:
        for precision in args.precision:
            with tf.device(device):
                upscaler = Upscaler(model, scale, precision=precision, tile=args.tile)
                network = upscaler.network
                for megapixels in args.megapixels:
                    height, width = output_size(megapixels, scale)
                    photo = synthetic_photo(height // scale, width // scale)
                    bicubic = np.random.default_rng(1).random((height, width, 1), dtype=np.float32)
                    network_seconds = best_seconds(lambda: network.restore_y_in_tiles(bicubic), args.repeats)
                    engine = upscaler.engine_for(photo.shape[:2])
                    pipeline_seconds = best_seconds(lambda: upscale(engine, photo, scale), args.repeats)
                    pixels = height * width / 1e6
                    print(f"{device.strip('/'):<8}{precision:<11}{f'{width}x{height}':>16}{pixels:>7.2f}"
                          f"{pixels / network_seconds:>16.2f}{pixels / pipeline_seconds:>17.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
