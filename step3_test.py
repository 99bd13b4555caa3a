"""Step 3: restore the test images with trained weights, write PNGs and print PSNR/SSIM.

    python step3_test.py                               # h5/test.h5 -> sample/*.png, sample/results.csv
    python step3_test.py --test-dir ../shared/datasets/Test/Set5 --scale 2
    python step3_test.py --padding zero                # TF "SAME" padding instead of the MATLAB demo's replicate

Weights: --checkpoint (a prefix or a folder), else the latest of checkpoint/x{scale}
(your own training), else the shipped checkpoint/pretrained/x{scale}/srcnn.
"""

import argparse
import os
import sys

from srcnn import checkpoints, data
from srcnn.errors import UserError, exit_on_user_error
from srcnn.evaluate import evaluate_images, format_table, write_samples
from srcnn.imaging import list_images
from srcnn.model import PADDINGS


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--test-h5", default="h5/test.h5", help="test images made by step1_pre.py")
    parser.add_argument("--test-dir", default=None, help="prepare test images from this folder instead of --test-h5")
    parser.add_argument("--scale", type=int, default=None, choices=(2, 3, 4),
                        help="default: the checkpoint's, else the test h5's, else 3")
    parser.add_argument("--checkpoint", default=None, help="checkpoint prefix or folder")
    parser.add_argument("--padding", default="replicate", choices=[p for p in PADDINGS if p != "valid"],
                        help="replicate (the MATLAB demo's borders, default) or zero (TF 'SAME')")
    parser.add_argument("--sample-dir", default="sample", help="where PNGs and results.csv are written")
    return parser.parse_args(argv)


def choose_weights(checkpoint, scale):
    """The checkpoint prefix to load: the given one, else the user's latest, else the shipped."""
    if checkpoint:
        return checkpoints.resolve(checkpoint)
    trained = os.path.join("checkpoint", f"x{scale}")
    if os.path.isdir(trained) and any(name.endswith(".index") for name in os.listdir(trained)):
        return checkpoints.resolve(trained)
    shipped = checkpoints.pretrained_path(scale)
    if os.path.exists(shipped + ".index"):
        return shipped
    raise UserError(f"no weights for x{scale}: train with step2_train.py --scale {scale} or pass --checkpoint")


def load_test_images(args):
    """(images, scale) from --test-dir or --test-h5, checked against --scale / the checkpoint."""
    scale = args.scale
    if scale is None and args.checkpoint:
        scale = checkpoints.read_config(checkpoints.resolve(args.checkpoint))["scale"]
    if args.test_dir:
        scale = scale or 3
        paths = list_images(args.test_dir)
        if not paths:
            raise UserError(f"{args.test_dir}: no images (bmp/png/jpg/tif) there")
        return [data.test_image(path, scale) for path in paths], scale
    if scale is None and os.path.exists(args.test_h5):
        images, attributes = data.read_test_h5(args.test_h5)
        return images, int(attributes["scale"])
    scale = scale or 3
    images, _ = data.read_test_h5(args.test_h5, {"scale": scale})
    return images, scale


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    images, scale = load_test_images(args)
    prefix = choose_weights(args.checkpoint, scale)
    config = checkpoints.read_config(prefix)
    if config["scale"] != scale:
        raise UserError(f"{prefix}: trained for x{config['scale']}, but the test images are x{scale}; "
                        f"pass --scale {config['scale']} with matching test images, or other weights")
    model, config = checkpoints.load_model(prefix, padding=args.padding)
    print(f"weights: {prefix} ({config['arch']}, x{config['scale']}), padding: {args.padding}")
    results = evaluate_images(model, images, scale, padding=args.padding, with_ssim=True)
    write_samples(args.sample_dir, images, results)
    print(format_table(results))
    print(f"wrote {4 * len(results)} PNGs and results.csv to {args.sample_dir}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
