"""Step 3: restore the test images with trained weights, or upscale your own images.

Evaluation (the default): test images with ground truth -> PNGs and PSNR/SSIM.

    python step3_test.py                               # h5/test.h5 -> sample/*.png, sample/results.csv
    python step3_test.py --test-dir ../shared/datasets/Test/Set5 --scale 2
    python step3_test.py --padding zero                # TF "SAME" padding instead of the MATLAB demo's replicate

Upscaling (--input): an image, a video or a folder of both, no ground truth, enlarged --scale
times -> <name>_srcnn_x3.png in --output (and <name>_bicubic_x3.png with --bicubic); a video
-> <name>_srcnn_x3.mp4 (H.264, audio copied). As `srcnn-upscale`, which takes the same flags.

    python step3_test.py --input my_photo.jpg          # -> output/my_photo_srcnn_x3.png
    python step3_test.py --input photos/ --scale 2 --output bigger/ --bicubic
    python step3_test.py --input clip.mp4 --scale 2    # -> output/clip_srcnn_x2.mp4

Weights: --checkpoint (a prefix or a folder), else the latest of checkpoint/x{scale}
(your own training), else the shipped checkpoint/pretrained/x{scale}/srcnn.
"""

import argparse
import os
import sys

from srcnn.core import checkpoints
from srcnn.commands import cli
from srcnn.training import report
from srcnn.training import hdf5
from srcnn.training import test_set
from srcnn.core.checkpoints import WrongScale
from srcnn.core.choices import DEFAULT_SCALE, SCALES
from srcnn.core.errors import SettingError, exit_on_interrupt, exit_on_user_error
from srcnn.core.flags import setting_hint
from srcnn.training.run_folder import default_weights
from srcnn.training.evaluate import evaluate_images, format_table, write_samples
from srcnn.core.image_files import IMAGE_EXTENSIONS, list_images
from srcnn.core.colour import CHANNEL_NAMES
from srcnn.core.model import PADDINGS


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=None, choices=SCALES,
                        help="default: the checkpoint's, else the test h5's, else 3")
    parser.add_argument("--checkpoint", default=None, help="checkpoint prefix or folder")
    cli.add_arch_argument(parser)
    parser.add_argument("--padding", default="replicate", choices=[p for p in PADDINGS if p != "valid"],
                        help="replicate (the MATLAB demo's borders, default) or zero (TF 'SAME')")
    evaluation = parser.add_argument_group("evaluation (without --input)")
    evaluation.add_argument("--test-h5", default="h5/test.h5", help="test images made by step1_pre.py")
    evaluation.add_argument("--test-dir", default=None,
                            help="prepare test images from this folder instead of --test-h5")
    evaluation.add_argument("--sample-dir", default="sample", help="where PNGs and results.csv are written")
    evaluation.add_argument("--history", default=None,
                            help="training history.csv for the curve on sample/index.html (default: the one "
                                 "beside the weights, else logs/x{scale}/history.csv)")
    upscaling = parser.add_argument_group("upscaling your own images and videos (--input)")
    upscaling.add_argument("--input", action="append", default=[], dest="inputs",
                           help="an image, a video or a folder of them to upscale (no ground truth; repeatable)")
    cli.add_upscaling_arguments(upscaling)
    args = parser.parse_args(argv)
    cli.check_naming(parser, args)
    cli.check_arch(parser, args)
    if args.inputs and args.test_dir:
        parser.error("--input (upscale without ground truth) and --test-dir (evaluate) exclude each other")
    return args


def choose_weights(checkpoint, scale, arch=None):
    """The checkpoint prefix to load: the given one, else `run_folder.default_weights` (your
    latest training for `scale`, else the shipped weights; the shipped `arch`'s if named)."""
    return checkpoints.resolve(checkpoint) if checkpoint else default_weights(scale, arch=arch)


def load_test_images(args):
    """(images, scale) from --test-dir or --test-h5, checked against --scale / the checkpoint."""
    scale = args.scale
    if scale is None and args.checkpoint:
        scale = checkpoints.read_config(checkpoints.resolve(args.checkpoint))["scale"]
    if args.test_dir:
        scale = scale or DEFAULT_SCALE
        if os.path.realpath(args.sample_dir) == os.path.realpath(args.test_dir):
            raise SettingError(f"--sample-dir {args.sample_dir} is the --test-dir: its PNGs would be read back as "
                               "test images next time", "sample_dir")
        paths = list_images(args.test_dir, exclude=(args.sample_dir,))  # earlier samples are not test images
        if not paths:
            raise SettingError(f"{args.test_dir}: no images ({'/'.join(IMAGE_EXTENSIONS)}) there", "test_dir")
        return test_set.test_images(paths, scale, args.max_pixels), scale
    if scale is None and os.path.exists(args.test_h5):
        images, attributes = hdf5.read_test_h5(args.test_h5)
        return images, int(attributes["scale"])
    scale = scale or DEFAULT_SCALE
    images, _ = hdf5.read_test_h5(args.test_h5, {"scale": scale})
    return images, scale


def upscale_weights(args):
    """(prefix, scale) for --input: the scale defaults to the checkpoint's."""
    return cli.weights_for(args.checkpoint or choose_weights(None, args.scale or DEFAULT_SCALE, args.arch),
                           args.scale)


def upscale_files(args):
    """--input mode (see `srcnn.commands.cli.upscale_files`); 1 if any file failed."""
    prefix, scale = upscale_weights(args)
    return cli.upscale_files(args, prefix, scale)


# What to do, in this script's flags, per kind of library error (`srcnn.core.errors.with_hint`).
HINTS = {WrongScale: lambda error: f"pass --scale {error.recorded} with matching test images, or other weights",
         **cli.UPSCALE_HINTS, SettingError: setting_hint}


@exit_on_interrupt("every file written is whole, but the output may be incomplete; rerun step3_test.py")
@exit_on_user_error(hints=HINTS)
def main(argv=None):
    args = parse_args(argv)
    if args.inputs:
        return upscale_files(args)
    images, scale = load_test_images(args)
    prefix = choose_weights(args.checkpoint, scale, args.arch)
    checkpoints.check_scale(prefix, scale)  # the test images' scale
    model, config = checkpoints.load_model(prefix, padding=args.padding)
    planes = "" if config["channels"] == "y" else f", {CHANNEL_NAMES[config['channels']]}"
    print(f"weights: {prefix} ({config['arch']}{planes}, x{config['scale']}), padding: {args.padding}, "
          f"recipe: {checkpoints.describe_recipe(prefix)}")
    results = evaluate_images(model, images, scale, padding=args.padding, with_ssim=True, with_rgb=True)
    write_samples(args.sample_dir, images, results)
    page = report.write_page(args.sample_dir, images, results, scale, prefix, args.padding,
                             args.history or report.default_history(prefix, scale))
    print(format_table(results))
    # The count is not printed: the page adds colour and crop PNGs of its own.
    print(f"wrote the sample PNGs and results.csv to {args.sample_dir}/; open {page} in a browser")
    return 0


if __name__ == "__main__":
    sys.exit(main())
