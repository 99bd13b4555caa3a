"""Step 1: images -> Y-channel training patches and whole test images, in HDF5.

    python step1_pre.py                                   # Train/, Test/Set5 -> h5/train.h5, h5/test.h5 (x3)
    python step1_pre.py --test-dir Test/Set14 --scale 2

Without images in the default folders, scikit-image's sample photographs are used (and it
says so); a --train-dir or --test-dir given without images is an error. Both files are
written, or neither.
The file layout is documented in srcnn/training/hdf5.py.
"""

import argparse
import os
import sys
import time

from srcnn.core import outputs
from srcnn.training import hdf5
from srcnn.training.patches import SAMPLE_TEST_IMAGES, SAMPLE_TRAIN_IMAGES, find_images, training_patches
from srcnn.training import test_set
from srcnn.core.choices import CHANNELS, DEFAULT_IMAGE_SIZE, DEFAULT_LABEL_SIZE, DEFAULT_SCALE, DEFAULT_STRIDE, SCALES
from srcnn.core.errors import (InputError, OutputError, SettingError, exit_on_interrupt, exit_on_user_error,
                               printable)
from srcnn.core.flags import flag_name, positive_int, setting_hint
from srcnn.core.colour import CHANNEL_NAMES
from srcnn.core.model import valid_margin

DEFAULT_TRAIN_DIR, DEFAULT_TEST_DIR = "Train", "Test/Set5"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-dir", default=None,
                        help=f"training images (searched recursively; default {DEFAULT_TRAIN_DIR}, or scikit-image's "
                             "sample photographs when that holds none)")
    parser.add_argument("--test-dir", default=None,
                        help=f"test images (searched recursively; default {DEFAULT_TEST_DIR}, or scikit-image's "
                             "sample photographs when that holds none)")
    parser.add_argument("--h5-dir", default="h5", help="where train.h5 and test.h5 are written")
    parser.add_argument("--scale", type=int, default=DEFAULT_SCALE, choices=SCALES)
    parser.add_argument("--image-size", type=positive_int, default=DEFAULT_IMAGE_SIZE, help="input patch side")
    parser.add_argument("--label-size", type=positive_int, default=DEFAULT_LABEL_SIZE,
                        help="label patch side (input side minus the network's margin)")
    parser.add_argument("--stride", type=positive_int, default=DEFAULT_STRIDE, help="step between patches")
    parser.add_argument("--augment", action="store_true", help="also take patches from the 8 flips/rotations of each image")
    parser.add_argument("--channels", default="y", choices=CHANNELS,
                        help="the planes of the patches: y (default, the paper's), or rgb, ycbcr for a network "
                             "of three planes (the paper's colour study; step2_train.py --channels alike)")
    args = parser.parse_args(argv)
    # The label is the VALID network's output on a patch: smaller by its margin on each side.
    if args.label_size >= args.image_size or (args.image_size - args.label_size) % 2:
        parser.error(f"--label-size {args.label_size} must be smaller than --image-size {args.image_size} by twice "
                     f"the network's margin ({2 * valid_margin('9-1-5')} for 9-1-5, {2 * valid_margin('9-5-5')} "
                     "for 9-5-5)")
    return args


def images_for(args, setting, default, samples, role):
    """The image files of --train-dir or --test-dir; only the default folders fall back to the
    sample photographs, so a mistyped path is an error naming its flag."""
    folder = getattr(args, setting)
    try:
        paths, message = find_images(folder or default, samples, role, fallback=not folder)
    except InputError as error:
        raise SettingError(str(error), setting) from None
    print(message)
    return paths


def folder_hint(error):
    """--train-dir and --test-dir may also be left out; any other setting is passed again."""
    if error.setting in ("train_dir", "test_dir"):
        return f"or leave {flag_name(error.setting)} out for the default"
    return f"or a smaller {flag_name(error.setting)}" if error.setting == "image_size" else setting_hint(error)


HINTS = {SettingError: folder_hint, OutputError: "pass another --h5-dir"}


@exit_on_interrupt("no h5 file was written; rerun step1_pre.py")
@exit_on_user_error(hints=HINTS)
def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    train_paths = images_for(args, "train_dir", DEFAULT_TRAIN_DIR, SAMPLE_TRAIN_IMAGES, "training")
    test_paths = images_for(args, "test_dir", DEFAULT_TEST_DIR, SAMPLE_TEST_IMAGES, "test")

    # Everything is read and checked before anything is written: both files or neither.
    patches, labels = training_patches(train_paths, args.scale, args.image_size, args.label_size,
                                       args.stride, args.augment, args.channels)
    if not len(patches):
        raise SettingError(f"{os.path.dirname(train_paths[0])}: no {args.image_size}x{args.image_size} patch fits in "
                           f"any of the {len(train_paths)} training images; use larger images", "image_size")
    test_images = test_set.test_images(test_paths, args.scale)
    train_path, test_path = os.path.join(args.h5_dir, "train.h5"), os.path.join(args.h5_dir, "test.h5")
    h5_files = [(train_path, outputs.KINDS["hdf5"]), (test_path, outputs.KINDS["hdf5"])]
    with outputs.Outputs(overwrite=True).writing_all(h5_files) as (train_temporary, test_temporary):  # both or neither
        hdf5.write_train_h5(train_temporary, patches, labels, scale=args.scale, image_size=args.image_size,
                            label_size=args.label_size, stride=args.stride, augment=args.augment,
                            source=os.path.dirname(train_paths[0]), channels=args.channels)
        hdf5.write_test_h5(test_temporary, test_images, scale=args.scale, source=os.path.dirname(test_paths[0]))
    print(f"{train_path}: {len(patches)} patch pairs {args.image_size}x{args.image_size} -> "
          f"{args.label_size}x{args.label_size}, scale {args.scale}, stride {args.stride}"
          f"{', augmented x8' if args.augment else ''}{'' if args.channels == 'y' else ', ' + CHANNEL_NAMES[args.channels]}")
    print(f"{test_path}: {len(test_images)} test images ({', '.join(printable(image.name) for image in test_images)})")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
