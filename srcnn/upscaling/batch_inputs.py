"""srcnn-upscale-batch's command line: its flags, Beam's pipeline options told apart from typos,
and the inputs expanded (a path that exists taken as it is, patterns walked without following links)."""

import argparse
import glob
import logging
import os

from srcnn import __version__
from srcnn.commands import cli
from srcnn.core.errors import InputError, printable
from srcnn.core.flags import positive_int


def make_parser():
    """srcnn's own flags (Beam's pipeline options are checked apart, by Beam's parser)."""
    parser = argparse.ArgumentParser(
        prog="srcnn-upscale-batch", description="Upscale many images with SRCNN on Apache Beam: locally (in this "
                                                "process, or --workers processes), or on Dataflow, Flink or Spark.",
        epilog="Outputs are named as srcnn-upscale names them; reruns skip outputs that are there. Beam pipeline "
               "options are passed on, e.g. --runner DataflowRunner --project P --region R "
               "--temp_location gs://B/tmp (see docs/batch.md); any other flag is refused.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="images, folders of them, or quoted patterns")
    cli.add_weights_arguments(parser)
    cli.add_padding_argument(parser)
    cli.add_upscaling_arguments(parser, videos=False)
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="local worker processes (default 1, in this process: an image's tiles already run on "
                             "every core, and each further process starts TensorFlow anew; at most one per CPU "
                             "core; see docs/batch.md)")
    parser.add_argument("--failures", default=None, metavar="PATH",
                        help="CSV of the files that failed and why (default: <output>/failures.csv)")
    parser.add_argument("--version", action="version", version=f"srcnn {__version__}")
    return parser


def parse_args(argv):
    """(srcnn's flags, the rest: Beam pipeline options).

    Flags that are neither srcnn's nor Beam's are a usage error (exit 2): a mistyped
    --overwite would otherwise be passed to Beam, which drops what it does not know.
    Only a command line with flags srcnn does not know loads Beam's option parser.
    """
    parser = make_parser()
    argv = cli.dashed_inputs(parser, argv)
    args, rest = parser.parse_known_intermixed_args(argv)
    pipeline_args = []
    if rest:
        try:
            pipeline_args, ours = split_beam_options(argv)
        except BeamOptionError as error:
            parser.error(f"a Beam pipeline option: {error}")
        args, unknown = parser.parse_known_intermixed_args(ours)
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)} (neither this command's flags nor Beam "
                         "pipeline options)")
    cli.check_naming(parser, args)
    cli.check_arch(parser, args)
    args.failures = args.failures or os.path.join(args.output, "failures.csv")
    return args, pipeline_args


class BeamOptionError(Exception):
    """A Beam pipeline option with a value Beam's parser refuses."""


def split_beam_options(argv):
    """(the tokens of `argv` that Beam's PipelineOptions parser takes, the others in order) (imports Beam).

    Beam's parser takes exact option names only (no abbreviations) and no positional arguments,
    so what it leaves is srcnn's flags, the inputs, and mistakes.
    """
    logging.getLogger().setLevel(logging.ERROR)  # Beam's import notes (no apitools, ...), as main does
    try:
        from apache_beam.options.pipeline_options import PipelineOptions
    except ImportError:
        return [], list(argv)  # main says how to install Beam
    parsers = []
    PipelineOptions([]).get_all_options(add_extra_args_fn=parsers.append)  # the parser of every option class

    def refuse(message):  # a bad value of a Beam option: srcnn's usage line, not Beam's 190 options
        raise BeamOptionError(message)

    parsers[0].error = refuse
    _, others = parsers[0].parse_known_args(argv)
    # `others` is `argv` with Beam's tokens taken out, in order: take the same ones out.
    beam, remaining = [], list(others)
    for token in argv:
        if remaining and token == remaining[0]:
            remaining.pop(0)
        else:
            beam.append(token)
    return beam, others


def expand(inputs):
    """Files and folders: each pattern replaced by what it matches (in order).

    A path that exists is taken as it is, even with [ ] * ? in its name. `**` does not
    descend into linked folders, so a link to a folder above cannot make the walk endless.
    """
    expanded = []
    for pattern in inputs:
        if os.path.lexists(pattern) or not glob.has_magic(pattern):
            expanded.append(pattern)
            continue
        matches = sorted(set(walk_glob(pattern)))
        if not matches:
            raise InputError(f"{printable(pattern)}: matches no file or folder")
        expanded.extend(matches)
    return expanded


def walk_glob(pattern):
    """`glob.glob(pattern, recursive=True)`, except that `**` does not follow links to folders
    (Python's does, forever around a link loop). Hidden files and folders are left out, as glob does."""
    parts = pattern.split(os.sep)
    if "**" not in parts:
        yield from glob.glob(pattern)
        return
    at = parts.index("**")
    head, rest = os.sep.join(parts[:at]), parts[at + 1:]
    bases = [head] if not glob.has_magic(head) else glob.glob(head)
    for base in bases if head else [os.curdir]:
        if not os.path.isdir(base):
            continue
        for folder, subfolders, _ in os.walk(base):  # links to folders are listed, not entered
            subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
            within = folder if head else os.path.relpath(folder)
            if not rest:  # "x/**": the folders and everything in them
                yield os.path.join(within, "") if within == base else within
                yield from glob.glob(os.path.join(glob.escape(within), "*"))
            else:
                found = walk_glob(os.path.join(glob.escape(within), *rest))
                yield from (path.removeprefix(os.curdir + os.sep) if not head else path for path in found)
