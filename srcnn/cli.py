"""The console scripts that `pip install` puts on the PATH.

    srcnn-upscale --input my_photo.jpg                 # -> output/my_photo_srcnn_x3.png (+ _bicubic_x3.png)
    srcnn-upscale --input photos/ --scale 2 --output bigger/ --overwrite
    srcnn-upscale --input clip.mp4 --scale 2           # -> output/clip_srcnn_x2.mp4 (sound copied)
    srcnn-export --scale 3 --format onnx --output srcnn_x3.onnx
    srcnn-export --checkpoint checkpoint/x3 --format tflite --output srcnn_x3.tflite

srcnn-upscale is `step3_test.py --input` (the flags and the loop live here, for both); its
weights are --checkpoint (a prefix or folder), else the shipped ones for --scale (default 3),
where step3_test.py first looks for your own training in checkpoint/x{scale}.
"""

import argparse
import os
import sys

from tqdm import tqdm

from srcnn import __version__, checkpoints, composed, export, upscale, video
from srcnn.errors import UserError, exit_on_user_error
from srcnn.flags import crf, positive_int
from srcnn.imaging import DEFAULT_MAX_PIXELS
from srcnn.model import PADDINGS
from srcnn.upscaler import PRECISIONS, Upscaler


def add_upscaling_arguments(parser, input_required=False):
    """The flags of upscaling with --input, shared by srcnn-upscale and step3_test.py."""
    parser.add_argument("--input", default=None, required=input_required,
                        help="an image, a video or a folder of them to upscale (no ground truth)")
    parser.add_argument("--output", default="output", help="where the PNGs/MP4s are written (default: output/)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--crf", type=crf, default=video.DEFAULT_CRF,
                        help=f"H.264 quality of output videos: lower is better and bigger, 0 is lossless "
                             f"(default {video.DEFAULT_CRF})")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="auto (default): bfloat16 where the CPU (AVX512-BF16, AMX) or GPU runs it "
                             "natively, else float32; bfloat16 is faster there for a little less PSNR (see README)")
    parser.add_argument("--tile", type=positive_int, default=upscale.DEFAULT_TILE,
                        help=f"output tile side in pixels of the TensorFlow path (bfloat16, small images); "
                             f"memory grows with its square (default {upscale.DEFAULT_TILE}); float32 runs its own "
                             f"{composed.TILE_PIXELS}-pixel tiles of the small image")
    parser.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                        help=f"refuse larger input images (decompression bombs; default {DEFAULT_MAX_PIXELS:,})")


def weights_for(checkpoint, scale):
    """The checkpoint prefix and its scale: --checkpoint, else the shipped weights for `scale` (3)."""
    prefix = checkpoints.resolve(checkpoint) if checkpoint else checkpoints.pretrained_path(scale or 3)
    trained = checkpoints.read_config(prefix)["scale"]
    if scale and scale != trained:
        raise UserError(f"{prefix}: trained for x{trained}, but --scale is {scale}; "
                        f"leave --scale out or pass x{scale} weights with --checkpoint")
    return prefix, trained


def parse_upscale_args(argv):
    parser = argparse.ArgumentParser(prog="srcnn-upscale", description="Upscale images and videos with SRCNN.")
    parser.add_argument("--scale", type=int, default=None, choices=(2, 3, 4),
                        help="default: the checkpoint's, else 3")
    parser.add_argument("--checkpoint", default=None, help="checkpoint prefix or folder (default: the shipped weights)")
    parser.add_argument("--padding", default="replicate", choices=[p for p in PADDINGS if p != "valid"],
                        help="replicate (the MATLAB demo's borders, default) or zero (TF 'SAME')")
    add_upscaling_arguments(parser, input_required=True)
    parser.add_argument("--version", action="version", version=f"srcnn {__version__}")
    return parser.parse_args(argv)


def upscale_job(args, upscaler, job):
    """Upscales one image or video of --input; returns the line that reports it."""
    if not video.is_video(job.source):
        upscale.upscale_file(upscaler.network, upscaler.scale, job, args.overwrite, args.max_pixels, progress=True)
        return f"{job.source} -> {job.sr_path} (bicubic: {job.bicubic_path})"
    result = upscaler.upscale_video(job.source, job.sr_path, args.crf, args.overwrite, progress=True)
    return f"{job.source} -> {job.sr_path} ({result.summary()})"


def upscale_images(args, prefix, scale):
    """--input mode: upscales each image and video, reports bad ones and carries on; 1 if any failed."""
    jobs, clashes = upscale.plan_jobs(args.input, args.output, scale)
    upscale.prepare_output(args.output)
    upscaler = Upscaler.from_checkpoint(prefix, padding=args.padding, precision=args.precision, tile=args.tile)
    print(f"weights: {prefix} ({upscaler.arch}, x{scale}), padding: {args.padding}, "
          f"precision: {upscaler.precision}, tile: {args.tile}, "
          f"recipe: {checkpoints.describe_recipe(prefix)}")
    for message in clashes:
        print(f"error: {message}", file=sys.stderr)
    failed = len(clashes)
    kind = "files" if any(video.is_video(job.source) for job in jobs) else "images"
    for job in tqdm(jobs, desc=kind, unit=kind[:-1], disable=None):
        try:
            tqdm.write(upscale_job(args, upscaler, job))
        except UserError as error:
            failed += 1
            tqdm.write(f"error: {error}", file=sys.stderr)
    total = len(jobs) + len(clashes)
    print(f"upscaled {total - failed} of {total} {kind} x{scale} into {args.output}/"
          + (f"; {failed} failed (errors above)" if failed else ""))
    return 1 if failed else 0


@exit_on_user_error
def upscale_main(argv=None):
    """srcnn-upscale: the --input mode of step3_test.py, with the shipped weights by default."""
    args = parse_upscale_args(argv)
    prefix, scale = weights_for(args.checkpoint, args.scale)
    return upscale_images(args, prefix, scale)


def parse_export_args(argv):
    parser = argparse.ArgumentParser(
        prog="srcnn-export", description="Write SRCNN as a self-contained model: uint8 RGB (1, H, W, 3) in, "
                                         "uint8 RGB (1, scale*H, scale*W, 3) out.")
    parser.add_argument("--scale", type=int, default=None, choices=(2, 3, 4),
                        help="default: the checkpoint's, else 3")
    parser.add_argument("--checkpoint", default=None, help="checkpoint prefix or folder (default: the shipped weights)")
    parser.add_argument("--format", required=True, choices=export.FORMATS, dest="model_format",
                        help="savedmodel (a folder), tflite or onnx (needs pip install srcnn[export])")
    parser.add_argument("--output", default=None, help="default: srcnn_x{scale}.onnx / .tflite / _savedmodel/")
    parser.add_argument("--version", action="version", version=f"srcnn {__version__}")
    return parser.parse_args(argv)


def _size(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)
    return os.path.getsize(path)


@exit_on_user_error
def export_main(argv=None):
    """srcnn-export: writes one format of the chosen weights."""
    args = parse_export_args(argv)
    prefix, scale = weights_for(args.checkpoint, args.scale)
    if args.model_format == "onnx":
        try:
            import tf2onnx  # noqa: F401
        except ImportError:
            raise UserError("--format onnx needs tf2onnx: pip install 'srcnn[export]' (or pip install tf2onnx)") from None
    output = args.output or export.default_output(scale, args.model_format)
    upscaler = Upscaler.from_checkpoint(prefix, precision="float32")
    upscaler.export(output, args.model_format)
    print(f"{prefix} (x{scale}) -> {output} ({args.model_format}, {_size(output) / 1024:.0f} KB); "
          "input 'rgb' uint8 (1, H, W, 3), output 'sr' uint8 (1, {0}H, {0}W, 3)".format(scale))
    return 0
