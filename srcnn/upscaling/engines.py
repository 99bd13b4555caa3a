"""Which engine upscales an image, and the one call that runs either.

    if select_engine(model.arch, "float32", pixels.shape[:2]) == COMPOSED:
        sr, bicubic = upscale(ComposedSRCNN(model, 3, "replicate"), pixels, 3)

Two engines give `model(bicubic, padding)` on Y, bicubic Cb/Cr and alpha to float rounding,
cut into tiles the same way (`srcnn.upscaling.tiles`); they differ in how a tile is computed:
- COMPOSED (`composed_engine.ComposedSRCNN`): float32 on the small image's grid, the
  faster one, for the three-layer networks with a 1 x 1 conv2 that `composed_engine.supports`
  names (9-1-5, 9x128-1x64-5) on images of at least `composed_engine.MIN_SIDE` pixels a side;
- TENSORFLOW (`tensorflow_engine.TiledSRCNN`): everything else (bfloat16, 9-5-5, 9-1-1-5, small
  images): any network.
"""

import numpy as np

from srcnn.upscaling import composed_engine
from srcnn.upscaling import tiles
from srcnn.upscaling.composed_engine import ComposedSRCNN  # noqa: F401 (the engines, importable from here)
from srcnn.upscaling.tensorflow_engine import TiledSRCNN  # noqa: F401

COMPOSED, TENSORFLOW = "composed", "tensorflow"


def select_engine(arch, precision, image_size):
    """COMPOSED or TENSORFLOW: the engine that upscales an image of `image_size` (height, width).

    The composed engine computes float32 only, three layers with a 1 x 1 conv2
    (`composed_engine.supports`), and its side filters assume the image's opposite sides lie
    further apart than they reach. Padding does not
    decide: both engines pad "replicate" and "zero" alike.
    """
    if precision == "float32" and composed_engine.supports(arch) and min(image_size) >= composed_engine.MIN_SIDE:
        return COMPOSED
    return TENSORFLOW


def upscale(engine, pixels, scale, alpha=None, progress=False, with_bicubic=True):
    """Enlarges an image `scale` times with `engine`: SRCNN and, for comparison, bicubic.

    Args:
        engine: a `TiledSRCNN`, or a `ComposedSRCNN` made for `scale` (see `select_engine`).
        pixels: uint8 (h, w, 3) RGB or (h, w) greyscale.
        scale: integer factor.
        alpha: uint8 (h, w) or None; enlarged bicubically into both results.
        progress: show a progress bar over the tiles.
        with_bicubic: False returns None for bicubic, and saves its work.

    Returns:
        (sr, bicubic): uint8 (h * scale, w * scale[, C]) with C = 3 (RGB), 4 (RGBA), or
        2 (greyscale + alpha); 2-D for greyscale without alpha.
    """
    height, width = pixels.shape[0] * scale, pixels.shape[1] * scale
    channels = tiles.plane_channels(pixels, alpha)
    sr = np.empty((height, width, channels), np.uint8)
    bicubic = np.empty((height, width, channels), np.uint8) if with_bicubic else None
    engine.upscale_into(pixels, scale, alpha, sr, bicubic, progress)
    if channels == 1:
        return sr[..., 0], None if bicubic is None else bicubic[..., 0]
    return sr, bicubic
