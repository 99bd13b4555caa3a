"""Step 1: images -> Y-channel training patches and whole test images, in HDF5.

    python step1_pre.py                                   # Train/, Test/Set5 -> h5/train.h5, h5/test.h5 (x3)
    python step1_pre.py --test-dir Test/Set14 --scale 2

Without images in the default folders, scikit-image's sample photographs are used (and it
says so); a --train-dir or --test-dir given without images is an error. Both files are
written, or neither.
The file layout is documented in srcnn/data.py.
"""

import argparse
import os
import sys
import time

from srcnn.core import files
from srcnn.training import hdf5
from srcnn.training.patches import SAMPLE_TEST_IMAGES, SAMPLE_TRAIN_IMAGES, find_images, training_patches
from srcnn.training import test_set
from srcnn.core.choices import SCALES
from srcnn.core.errors import UserError, exit_on_interrupt, exit_on_user_error, printable
from srcnn.core.flags import positive_int
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
    parser.add_argument("--scale", type=int, default=3, choices=SCALES)
    parser.add_argument("--image-size", type=positive_int, default=33, help="input patch side")
    parser.add_argument("--label-size", type=positive_int, default=21,
                        help="label patch side (input side minus the network's margin)")
    parser.add_argument("--stride", type=positive_int, default=14, help="step between patches")
    parser.add_argument("--augment", action="store_true", help="also take patches from the 8 flips/rotations of each image")
    args = parser.parse_args(argv)
    # The label is the VALID network's output on a patch: smaller by its margin on each side.
    if args.label_size >= args.image_size or (args.image_size - args.label_size) % 2:
        parser.error(f"--label-size {args.label_size} must be smaller than --image-size {args.image_size} by twice "
                     f"the network's margin ({2 * valid_margin('9-1-5')} for 9-1-5, {2 * valid_margin('9-5-5')} "
                     "for 9-5-5)")
    return args


@exit_on_interrupt("no h5 file was written; rerun step1_pre.py")
@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    # Only the default folders fall back to the sample photographs: a mistyped path is an error.
    train_dir, test_dir = args.train_dir or DEFAULT_TRAIN_DIR, args.test_dir or DEFAULT_TEST_DIR
    train_paths, message = find_images(train_dir, SAMPLE_TRAIN_IMAGES, "training",
                                            args.train_dir and "--train-dir")
    print(message)
    test_paths, message = find_images(test_dir, SAMPLE_TEST_IMAGES, "test", args.test_dir and "--test-dir")
    print(message)

    # Everything is read and checked before anything is written: both files or neither.
    patches, labels = training_patches(train_paths, args.scale, args.image_size, args.label_size,
                                            args.stride, args.augment)
    if not len(patches):
        raise UserError(f"{os.path.dirname(train_paths[0])}: no {args.image_size}x{args.image_size} patch fits in "
                        f"any of the {len(train_paths)} training images; use larger images or a smaller --image-size")
    test_images = test_set.test_images(test_paths, args.scale)
    train_path, test_path = os.path.join(args.h5_dir, "train.h5"), os.path.join(args.h5_dir, "test.h5")
    with files.atomic_path(train_path) as train_temporary, files.atomic_path(test_path) as test_temporary:
        hdf5.write_train_h5(train_temporary, patches, labels, scale=args.scale, image_size=args.image_size,
                            label_size=args.label_size, stride=args.stride, augment=args.augment,
                            source=os.path.dirname(train_paths[0]))
        hdf5.write_test_h5(test_temporary, test_images, scale=args.scale, source=os.path.dirname(test_paths[0]))
    print(f"{train_path}: {len(patches)} patch pairs {args.image_size}x{args.image_size} -> "
          f"{args.label_size}x{args.label_size}, scale {args.scale}, stride {args.stride}"
          f"{', augmented x8' if args.augment else ''}")
    print(f"{test_path}: {len(test_images)} test images ({', '.join(printable(image.name) for image in test_images)})")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
