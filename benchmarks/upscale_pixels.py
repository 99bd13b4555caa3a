"""Are the upscale's pixels unchanged? Saves or compares `Upscaler` outputs on Set5 and Set14.

    python benchmarks/upscale_pixels.py --save /tmp/before.npz --code /path/to/old/checkout
    python benchmarks/upscale_pixels.py --against /tmp/before.npz   # this checkout's code

Each image of Test/Set5 and Test/Set14 is modcropped, shrunk with the project's bicubic and
rounded to uint8 RGB (as a user's photo would be), then upscaled x2, x3 and x4 by
`srcnn.Upscaler` with the shipped weights (float32 by default). --save writes the outputs;
--against upscales with this code and prints how many 8-bit values differ from the saved
ones, by how much, and the mean Y PSNR of both per set and scale. --code imports `srcnn`
from another checkout (an older commit, for a before/after check of a refactor); the images
and weights are always this checkout's.
"""

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETS = ("Set5", "Set14")


def upscales(precision):
    """{"scale/set/name": uint8 output} and {"scale/set/name": uint8 ground truth}."""
    from srcnn import Upscaler
    from srcnn.core import colour
    from srcnn.core import image_files
    from srcnn.core import resampling

    outputs, truths = {}, {}
    for scale in (2, 3, 4):
        upscaler = Upscaler.from_checkpoint(os.path.join(ROOT, "checkpoint", "pretrained", f"x{scale}", "srcnn"),
                                            scale=scale, precision=precision)
        for name in SETS:
            for path in image_files.list_images(os.path.join(ROOT, "Test", name)):
                truth = resampling.modcrop(image_files.load_image(path), scale)
                small = colour.to_uint8(resampling.resize_bicubic(
                    np.atleast_3d(truth) / np.float32(255.0), truth.shape[0] // scale, truth.shape[1] // scale))
                key = f"{scale}/{name}/{os.path.basename(path)}"
                outputs[key] = upscaler.upscale(small.reshape(small.shape[:2] + truth.shape[2:]))
                truths[key] = truth
    return outputs, truths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--save", help="write the outputs to this .npz")
    action.add_argument("--against", help="compare with the outputs saved in this .npz")
    parser.add_argument("--code", default=ROOT, help="the checkout whose srcnn upscales (default: this one)")
    parser.add_argument("--precision", default="float32", choices=("float32", "bfloat16"))
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.abspath(args.code))
    import srcnn

    if os.path.dirname(os.path.dirname(os.path.abspath(srcnn.__file__))) != os.path.abspath(args.code):
        raise SystemExit(f"srcnn imports from {os.path.dirname(srcnn.__file__)}, not from {args.code} "
                         "(an installed copy comes first: run from a virtual environment without it)")
    outputs, truths = upscales(args.precision)
    if args.save:
        np.savez_compressed(args.save, **outputs)
        print(f"saved {len(outputs)} outputs to {args.save}")
        return 0
    from srcnn.core import colour, metrics

    saved = np.load(args.against)
    differing = largest = values = 0
    psnrs = {}
    for key, output in outputs.items():
        difference = np.abs(output.astype(int) - saved[key])
        differing, largest, values = differing + np.count_nonzero(difference), max(largest, difference.max()), \
            values + difference.size
        scale, name, _ = key.split("/")
        truth_y = colour.luminance(truths[key])
        for which, image in (("saved", saved[key]), ("now", output)):
            psnrs.setdefault((int(scale), name, which), []).append(
                metrics.psnr(colour.luminance(image), truth_y, int(scale)))
    print(f"values differing: {differing} of {values} ({100 * differing / values:.5f} %), largest difference "
          f"{largest}")
    for scale in (2, 3, 4):
        for name in SETS:
            print(f"x{scale} {name:<6} PSNR saved {np.mean(psnrs[scale, name, 'saved']):.4f} dB, "
                  f"now {np.mean(psnrs[scale, name, 'now']):.4f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
