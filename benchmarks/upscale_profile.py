"""Where the float32 upscale's time goes, on one thread, against the FMA peak of one core.

    python benchmarks/upscale_profile.py                 # 4 MPix x3, shipped x3 weights
    python benchmarks/upscale_profile.py --megapixels 1 --scale 2

Runs `srcnn.upscaling.engines.upscale` on a synthetic photo with one tile at a time (so the stages'
times add up) and times each stage of `srcnn.upscaling.composed_engine.ComposedSRCNN`; then times a 2048^3
float32 matrix product in numpy's BLAS on one thread, the most this core's FMA units give a
matrix product, and says what fraction of it the tiles' tap maps (conv1, conv2 and conv3's
taps: ONNX Runtime's convolutions, or numpy's products without it) reached.
"""

import argparse
import collections
import functools
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.upscale_speed import output_size, synthetic_photo  # noqa: E402
from srcnn.core import checkpoints  # noqa: E402
from srcnn.upscaling import composed_engine as composed  # noqa: E402
from srcnn.upscaling import engines  # noqa: E402
from srcnn.upscaling import tiles  # noqa: E402

STAGES = {"_interior_tap_maps": "conv1, conv2, conv3's taps of the tiles",
          "_side_tap_maps": "the same again for the pixels next to the sides",
          "_conv12": "all of it with the padded Y and the side windows",
          "_conv3": "conv3's shifted sums", "_enlarge": "colour enlargement",
          "_quantize": "rounding to uint8", "low_resolution_planes": "colour conversion",
          "put_phases": "writing into the output"}


def timed(name, function, totals):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - started
    return wrapper


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megapixels", type=float, default=4)
    parser.add_argument("--scale", type=int, default=3, choices=(2, 3, 4))
    args = parser.parse_args(argv)
    totals, tile_pixels = collections.Counter(), [0]
    interior_tap_maps = composed.ComposedSRCNN._interior_tap_maps

    def counted(engine, padded, windows):  # counts the pixels of conv2's maps the tiles compute
        tile_pixels[0] += windows.shape[0] * windows.shape[1]
        return interior_tap_maps(engine, padded, windows)

    composed.ComposedSRCNN._interior_tap_maps = counted
    for name in ("_interior_tap_maps", "_side_tap_maps", "_conv12", "_conv3", "_enlarge"):
        setattr(composed.ComposedSRCNN, name, timed(name, getattr(composed.ComposedSRCNN, name), totals))
    composed._quantize = timed("_quantize", composed._quantize, totals)
    for name in ("low_resolution_planes", "put_phases"):
        setattr(tiles, name, timed(name, getattr(tiles, name), totals))
    composed.composed_threads = lambda: 1  # one tile at a time

    model, _ = checkpoints.load_model(checkpoints.pretrained_path(args.scale))
    engine = composed.ComposedSRCNN(model, args.scale, "replicate")
    height, width = output_size(args.megapixels, args.scale)
    photo = synthetic_photo(height // args.scale, width // args.scale)
    engines.upscale(engine, photo, args.scale, with_bicubic=False)  # warm-up
    totals.clear()
    tile_pixels[0] = 0
    started = time.perf_counter()
    engines.upscale(engine, photo, args.scale, with_bicubic=False)
    seconds = time.perf_counter() - started
    print(f"{photo.shape[1] * args.scale}x{photo.shape[0] * args.scale} x{args.scale}, one thread, "
          f"{engine.backend}: {1000 * seconds:.0f} ms, {photo.size // 3 * args.scale ** 2 / seconds / 1e6:.2f} MPix/s")
    for name, what in STAGES.items():
        print(f"  {what:<50}{1000 * totals[name]:>8.0f} ms{100 * totals[name] / seconds:>6.0f} %")

    # The multiply-adds of the tiles' tap maps: per small pixel of conv2's maps (margins included).
    s, window = args.scale, engine.axis.taps
    if engine.backend == "onnxruntime":
        per_pixel = engine._tile_tap_maps.multiply_adds  # conv1 without the zero taps, conv3's taps padded to 32
    else:
        per_pixel = s * s * (window * window * engine.maps1 + engine.maps1 * engine.maps2 +
                             engine.maps2 * engine.last_size ** 2)
    pixels = tile_pixels[0]
    matrix = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    with threadpool_limits(1, user_api="blas"):
        matrix @ matrix
        started = time.perf_counter()
        matrix @ matrix
        peak = 2048 ** 3 / (time.perf_counter() - started) / 1e9
    reached = per_pixel * pixels / totals["_interior_tap_maps"] / 1e9
    print(f"tiles' tap maps: {per_pixel * pixels / 1e9:.1f} GMAC at {reached:.1f} GMAC/s; a 2048^3 float32 product on "
          f"one thread: {peak:.1f} GMAC/s ({100 * reached / peak:.0f} % of it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
