"""Step 1: images -> Y-channel training patches and whole test images, in HDF5.

    python step1_pre.py                                   # Train/, Test/Set5 -> h5/train.h5, h5/test.h5 (x3)
    python step1_pre.py --test-dir Test/Set14 --scale 2

Without images in the folders, scikit-image's sample photographs are used (and it says so).
The file layout is documented in srcnn/data.py.
"""

import argparse
import os
import sys
import time

from srcnn import data
from srcnn.errors import exit_on_user_error


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-dir", default="Train", help="training images (searched recursively)")
    parser.add_argument("--test-dir", default="Test/Set5", help="test images (searched recursively)")
    parser.add_argument("--h5-dir", default="h5", help="where train.h5 and test.h5 are written")
    parser.add_argument("--scale", type=int, default=3, choices=(2, 3, 4))
    parser.add_argument("--image-size", type=int, default=33, help="input patch side")
    parser.add_argument("--label-size", type=int, default=21, help="label patch side (input side minus the network's margin)")
    parser.add_argument("--stride", type=int, default=14, help="step between patches")
    parser.add_argument("--augment", action="store_true", help="also take patches from the 8 flips/rotations of each image")
    return parser.parse_args(argv)


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    if args.label_size > args.image_size or (args.image_size - args.label_size) % 2:
        print(f"error: --label-size {args.label_size} must be smaller than --image-size {args.image_size} "
              "by an even number", file=sys.stderr)
        return 1
    started = time.perf_counter()
    train_paths, message = data.find_images(args.train_dir, data.SAMPLE_TRAIN_IMAGES, "training")
    print(message)
    test_paths, message = data.find_images(args.test_dir, data.SAMPLE_TEST_IMAGES, "test")
    print(message)

    patches, labels = data.training_patches(train_paths, args.scale, args.image_size, args.label_size,
                                            args.stride, args.augment)
    train_path = os.path.join(args.h5_dir, "train.h5")
    data.write_train_h5(train_path, patches, labels, scale=args.scale, image_size=args.image_size,
                        label_size=args.label_size, stride=args.stride, augment=args.augment,
                        source=os.path.dirname(train_paths[0]))
    print(f"{train_path}: {len(patches)} patch pairs {args.image_size}x{args.image_size} -> "
          f"{args.label_size}x{args.label_size}, scale {args.scale}, stride {args.stride}"
          f"{', augmented x8' if args.augment else ''}")

    test_images = [data.test_image(path, args.scale) for path in test_paths]
    test_path = os.path.join(args.h5_dir, "test.h5")
    data.write_test_h5(test_path, test_images, scale=args.scale, source=os.path.dirname(test_paths[0]))
    print(f"{test_path}: {len(test_images)} test images ({', '.join(image.name for image in test_images)})")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
