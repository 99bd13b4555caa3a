"""The console scripts that `pip install` puts on the PATH.

    srcnn-upscale photo.jpg                          # -> output/photo_srcnn_x3.png
    srcnn-upscale photos/ clip.mp4 -s 2 -o bigger/   # folders, videos (sound copied), several inputs
    srcnn-upscale photo.jpg --ext same --suffix _big --bicubic
    srcnn-export --scale 3 --format onnx --output srcnn_x3.onnx

A rerun skips the outputs this same input made with these weights and settings, and exits 0
(--overwrite redoes them; it never replaces an input or anything but this run's outputs).
The weights are --checkpoint (a prefix or folder), else the shipped ones for --scale
(default 3); `step3_test.py --input` takes the same flags, and first looks for your own
training in checkpoint/x{scale}.

Only the parser and the file names are made before TensorFlow loads: --help and a bad
flag answer at once. The library raises typed errors (`srcnn.core.errors`); the hints below
add the flag that fixes each.
"""

import argparse
import os
import sys

from srcnn import __version__
from srcnn.upscaling import jobs
from srcnn.core.choices import DEFAULT_CRF, DEFAULT_MAX_PIXELS, DEFAULT_OUTPUT_EXTENSION, DEFAULT_SCALE, DEFAULT_TILE, EXPORT_FORMATS, OUTPUT_EXTENSIONS, PRECISIONS, SCALES, UPSCALE_PADDINGS
from srcnn.core.errors import CheckpointError, ImageTooLarge, MissingDependency, OutputError, OutputExistsError, SRCNNError, exit_on_interrupt, exit_on_user_error, printable, with_hint
from srcnn.core.flags import crf, positive_int
from srcnn.core.outputs import Outputs

# What to do, in the commands' words, per kind of error (srcnn.core.errors).
UPSCALE_HINTS = {
    ImageTooLarge: "raise --max-pixels if you trust it",
    CheckpointError: "pass another --checkpoint (a checkpoint prefix or folder)",
    OutputExistsError: "pass --overwrite to replace it, or another --output",
    OutputError: "pass another --output",  # the message says why (no space, permission, name too long)
}
EXPORT_HINTS = {
    CheckpointError: "pass another --checkpoint (a checkpoint prefix or folder)",
    OutputExistsError: "pass --overwrite to replace it, or another --output",
    OutputError: "pass another --output",
    MissingDependency: "or pick another --format",
}


def add_upscaling_arguments(parser, videos=True):
    """The flags of upscaling files, shared by srcnn-upscale, step3_test.py --input and
    srcnn-upscale-batch (which takes no videos, so no --crf)."""
    parser.add_argument("-o", "--output", default="output", help="the folder outputs are written to (default: output/)")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo outputs that are already there (default: skip those this input made)")
    parser.add_argument("--bicubic", action="store_true",
                        help="also write the plain bicubic enlargement, <name>_bicubic_x<scale>, for comparison")
    parser.add_argument("--ext", default=DEFAULT_OUTPUT_EXTENSION, choices=OUTPUT_EXTENSIONS,
                        help="file type of upscaled images (default png; same: the input's own, where writable; "
                             "jpg leaves out an alpha channel)")
    parser.add_argument("--suffix", default="_srcnn_x{scale}",
                        help="added to each output's name; {scale} stands for the factor (default _srcnn_x{scale})")
    if videos:
        parser.add_argument("--crf", type=crf, default=DEFAULT_CRF,
                            help=f"H.264 quality of output videos: lower is better and bigger, 0 is lossless "
                                 f"(default {DEFAULT_CRF})")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="auto (default): bfloat16 where the CPU (AVX512-BF16, AMX) or GPU runs it "
                             "natively, else float32; bfloat16 is faster there for a little less PSNR "
                             "(docs/upscaling.md)")
    parser.add_argument("--tile", type=positive_int, default=DEFAULT_TILE,
                        help=f"output tile side in pixels of the TensorFlow path (bfloat16, small images); "
                             f"memory grows with its square (default {DEFAULT_TILE}); float32 runs its own "
                             "tiles of the small image")
    parser.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                        help=f"refuse larger input images (decompression bombs; default {DEFAULT_MAX_PIXELS:,})")


def add_weights_arguments(parser, scale_help="default: the checkpoint's, else 3"):
    parser.add_argument("-s", "--scale", type=int, default=None, choices=SCALES, help=scale_help)
    parser.add_argument("--checkpoint", default=None,
                        help="checkpoint prefix or folder (default: the shipped weights for --scale)")
    add_arch_argument(parser)


def add_arch_argument(parser):
    parser.add_argument("--arch", default=None, type=arch_choice,
                        help="which shipped network: 9-1-5 (default) or 9-5-5 (docs/paper.md); not with --checkpoint")


def arch_choice(text):
    """--arch's value written the one way ("9x64-1x32-5" -> "9-1-5"); a bad one is a usage error."""
    from srcnn.core.model import normalise_arch
    try:
        return normalise_arch(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None


def check_arch(parser, args):
    if args.arch is not None and args.checkpoint:
        parser.error("--arch picks shipped weights; --checkpoint names other weights: pass one of them")


def add_padding_argument(parser):
    parser.add_argument("--padding", default="replicate", choices=UPSCALE_PADDINGS,
                        help="replicate (the MATLAB demo's borders, default) or zero (TF 'SAME')")


def dashed_inputs(parser, argv):
    """`argv` with the inputs after -- made unmistakable (./-x.png); a file starting with - before
    any -- is a usage error naming it (it would read as a flag)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--" in argv:
        end = argv.index("--")
        return argv[:end] + [os.path.join(os.curdir, token) if token.startswith("-") else token
                             for token in argv[end + 1:]]
    dashed = [token for token in argv if token.startswith("-") and os.path.isfile(token)]
    if dashed:
        parser.error(f"{printable(dashed[0])}: a file whose name starts with - reads as a flag; write "
                     f"./{printable(dashed[0])}, or put the inputs after --")
    return argv


def parse_upscale_args(argv):
    parser = argparse.ArgumentParser(
        prog="srcnn-upscale", description="Upscale images and videos with SRCNN.",
        epilog="Outputs: <name>_srcnn_x<scale>.png per image (--ext, --suffix), <name>_srcnn_x<scale>.mp4 per video, "
               "in the same subfolders as below a folder input. Reruns skip outputs that are there.")
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="images, videos or folders of them")
    parser.add_argument("-i", "--input", action="append", default=[], dest="more_inputs", metavar="INPUT",
                        help="an input, as a flag (repeatable)")
    add_weights_arguments(parser)
    add_padding_argument(parser)
    add_upscaling_arguments(parser)
    parser.add_argument("--version", action="version", version=f"srcnn {__version__}")
    args = parser.parse_args(dashed_inputs(parser, argv))
    args.inputs = args.inputs + args.more_inputs
    if not args.inputs:
        parser.error("pass at least one image, video or folder to upscale")
    check_naming(parser, args)
    check_arch(parser, args)
    return args


def check_naming(parser, args):
    """A --suffix that cannot name files is a usage error (exit 2), before anything loads."""
    try:
        naming_for(args, DEFAULT_SCALE)
    except ValueError as error:
        parser.error(f"--suffix: {error}")


def naming_for(args, scale):
    """The `srcnn.upscaling.jobs.Naming` of these flags."""
    return jobs.Naming(scale, args.suffix, args.ext, args.bicubic)


def weights_for(checkpoint, scale, arch=None):
    """(checkpoint prefix, its scale): --checkpoint, else the shipped weights of `arch` (9-1-5)
    for `scale` (3) (`run_folder.default_weights`, without your own training), resolved once;
    its scale is checked against --scale."""
    from srcnn.core import checkpoints
    from srcnn.training.run_folder import default_weights

    prefix = (checkpoints.resolve(checkpoint) if checkpoint
              else default_weights(scale or DEFAULT_SCALE, own_training=False, arch=arch))
    try:
        config = checkpoints.check_scale(prefix, scale)
        checkpoints.check_upscalable(prefix, config["channels"])  # before any output folder is made
        return prefix, config["scale"]
    except checkpoints.WrongScale as error:
        raise SRCNNError(f"{prefix}: trained for x{error.recorded}, but --scale is {scale}; "
                         f"leave --scale out or pass x{scale} weights with --checkpoint") from None


def upscale_files(args, prefix, scale):
    """Upscales --input's files; a rerun skips what is done. Reports bad files and carries on; 1 if any failed."""
    from tqdm import tqdm

    from srcnn.core import checkpoints

    planned, clashes = jobs.plan_jobs(args.inputs, args.output, naming_for(args, scale))
    for message in clashes:
        print(f"error: {printable(message)}", file=sys.stderr)
    provenance = jobs.Provenance.of(prefix, scale, args.padding, args.precision)
    todo = [job for job in planned if args.overwrite or not job.done(provenance)]
    skipped = len(planned) - len(todo)
    if todo:  # the weights are loaded only when there is work
        from srcnn.upscaling.upscaler import Upscaler

        upscaler = Upscaler.from_checkpoint(prefix, padding=args.padding, precision=args.precision, tile=args.tile)
        jobs.prepare_output(args.output)  # once the weights are known to run: a refusal leaves no folder
        print(upscaler.describe() + f", tile: {args.tile}, recipe: {checkpoints.describe_recipe(prefix)}")
    failed = len(clashes)
    kind = "files" if any(jobs.video.is_video(job.source) for job in planned) else "images"
    # Every file read is an input of the run: no output may replace one (srcnn.core.outputs).
    run = Outputs(inputs=[job.source for job in planned] + checkpoints.bundle_files(prefix), overwrite=args.overwrite)
    for job in tqdm(todo, desc=kind, unit=kind[:-1], disable=None):
        try:
            tqdm.write(printable(jobs.run_job(upscaler, job, args.overwrite, args.crf, args.max_pixels, progress=True,
                                              outputs=run, provenance=provenance)))
        except SRCNNError as error:
            failed += 1
            tqdm.write(f"error: {printable(with_hint(error, UPSCALE_HINTS))}", file=sys.stderr)
    total = len(planned) + len(clashes)
    upscaled = len(todo) - (failed - len(clashes))
    print(f"upscaled {upscaled} of {total} {kind} x{scale} into {os.path.join(args.output, '')}"
          + (f"; skipped {skipped} already there (--overwrite redoes them)" if skipped else "")
          + (f"; {failed} failed (errors above)" if failed else ""))
    return 1 if failed else 0


@exit_on_interrupt("every file written is whole; rerun the same command to do the rest")
@exit_on_user_error(hints=UPSCALE_HINTS)
def upscale_main(argv=None):
    """srcnn-upscale: files, folders and videos, with the shipped weights by default."""
    args = parse_upscale_args(argv)
    prefix, scale = weights_for(args.checkpoint, args.scale, args.arch)
    return upscale_files(args, prefix, scale)


def parse_export_args(argv):
    parser = argparse.ArgumentParser(
        prog="srcnn-export", description="Write SRCNN as a self-contained model: uint8 RGB (1, H, W, 3) in, "
                                         "uint8 RGB (1, scale*H, scale*W, 3) out.")
    add_weights_arguments(parser)
    parser.add_argument("--format", required=True, choices=EXPORT_FORMATS, dest="model_format",
                        help="savedmodel (a folder), tflite or onnx (needs pip install srcnn[export])")
    parser.add_argument("-o", "--output", default=None, help="default: srcnn_x{scale}.onnx / .tflite / _savedmodel/")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing model of that format (never another kind of file, nor an input)")
    parser.add_argument("--version", action="version", version=f"srcnn {__version__}")
    args = parser.parse_args(argv)
    check_arch(parser, args)
    return args


def _size(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)
    return os.path.getsize(path)


@exit_on_interrupt("nothing was written")
@exit_on_user_error(hints=EXPORT_HINTS)
def export_main(argv=None):
    """srcnn-export: writes one format of the chosen weights."""
    args = parse_export_args(argv)
    from srcnn.upscaling import export
    from srcnn.upscaling.upscaler import Upscaler

    prefix, scale = weights_for(args.checkpoint, args.scale, args.arch)
    output = args.output or export.default_output(scale, args.model_format)
    upscaler = Upscaler.from_checkpoint(prefix, precision="float32")
    upscaler.export(output, args.model_format, overwrite=args.overwrite)
    print(f"{prefix} (x{scale}) -> {output} ({args.model_format}, {_size(output) / 1024:.0f} KB); "
          "input 'rgb' uint8 (1, H, W, 3), output 'sr' uint8 (1, {0}H, {0}W, 3)".format(scale))
    return 0
