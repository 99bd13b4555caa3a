"""Training patches: 33x33 bicubic inputs and their 21x21 ground-truth centres, and the 8 flips/rotations."""

import os
import numpy as np
import skimage
from srcnn.core import colour
from srcnn.core import image_files
from srcnn.core import resampling
from srcnn.core.choices import DEFAULT_IMAGE_SIZE, DEFAULT_LABEL_SIZE, DEFAULT_STRIDE
from srcnn.core.errors import InputError


# Photographs that scikit-image installs, used when no data set is present. Train and
# test are disjoint; the test set mixes a colour and a greyscale image.
SAMPLE_TRAIN_IMAGES = ("astronaut.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")


SAMPLE_TEST_IMAGES = ("chelsea.png", "camera.png")


def sample_image_paths(names):
    """Paths of scikit-image's bundled sample photographs."""
    folder = os.path.join(os.path.dirname(skimage.__file__), "data")
    return [os.path.join(folder, name) for name in names]


def find_images(directory, sample_names, role, fallback=True):
    """Image files in `directory`, or with `fallback` scikit-image's samples when it holds none.

    Args:
        fallback: True for a default folder; a folder the user named gives an error instead.

    Returns:
        (paths, message): message is one line saying what was used, for the user.

    Raises:
        InputError: without `fallback`, the folder is missing or holds no images.
    """
    paths = image_files.list_images(directory) if os.path.isdir(directory) else []
    if paths:
        return paths, f"{role}: {len(paths)} images from {directory}"
    if not fallback:
        what = "no images" if os.path.isdir(directory) else "no such folder"
        raise InputError(f"{directory}: {what} ({'/'.join(image_files.IMAGE_EXTENSIONS)}); pass a folder of "
                         f"{role} images")
    return sample_image_paths(sample_names), (
        f"{role}: no images in {directory}, using {len(sample_names)} scikit-image sample photographs "
        f"({', '.join(sample_names)}); for the paper's data restore the 91-image set in Train/ and Set5 in "
        f"Test/Set5 (git checkout Train Test) or name folders of your own")


def dihedral(images, transform, axes=(0, 1)):
    """One of the 8 flips/rotations of an image or a batch: the one convention for both.

    Args:
        images: an array whose `axes` are (height, width).
        transform: 0-7; `transform % 4` counter-clockwise quarter turns, then for 4-7 a
            left-right mirror. 0 is the identity.
        axes: the height and width axes, e.g. (1, 2) for a (B, H, W, C) batch.
    """
    turned = np.rot90(images, transform % 4, axes=axes)
    return np.flip(turned, axis=axes[1]) if transform >= 4 else turned


def dihedral_variants(image):
    """The 8 flips/rotations of an (H, W, ...) image, `dihedral` 0-7 (the first is the image)."""
    return [dihedral(image, transform) for transform in range(8)]


def random_dihedral(rng, *batches):
    """The same random `dihedral` transform applied to each (B, H, W, C) batch (e.g. data and label)."""
    transform = rng.integers(8)
    return [np.ascontiguousarray(dihedral(batch, transform, axes=(1, 2))) for batch in batches]


def patch_count(height, width, image_size, stride):
    """How many patches `extract_patches` takes from an image of this size."""
    if height < image_size or width < image_size:
        return 0
    return ((height - image_size) // stride + 1) * ((width - image_size) // stride + 1)


def extract_patches(bicubic, hr, image_size, label_size, stride):
    """Input patches of `bicubic` and the centred label patches of `hr`.

    Args:
        bicubic, hr: float32 (H, W, C) of the same size.
        image_size: input patch side (33); label_size: label side (21), the output
            size of the VALID network on an input patch.
        stride: step between patch corners.

    Returns:
        (data, label): float32 (N, image_size, image_size, C) and (N, label_size, label_size, C).
    """
    offset = (image_size - label_size) // 2
    height, width = hr.shape[:2]
    data, label = [], []
    for top in range(0, height - image_size + 1, stride):
        for left in range(0, width - image_size + 1, stride):
            data.append(bicubic[top:top + image_size, left:left + image_size])
            label.append(hr[top + offset:top + offset + label_size, left + offset:left + offset + label_size])
    planes = hr.shape[-1]
    shape = (0, image_size, image_size, planes), (0, label_size, label_size, planes)
    if not data:
        return np.zeros(shape[0], np.float32), np.zeros(shape[1], np.float32)
    return np.stack(data).astype(np.float32), np.stack(label).astype(np.float32)


def training_patches(paths, scale, image_size=DEFAULT_IMAGE_SIZE, label_size=DEFAULT_LABEL_SIZE,
                     stride=DEFAULT_STRIDE, augment=False, channels="y"):
    """Patch pairs from image files, following the paper's preparation.

    Each image: the planes of `channels` (Y; or RGB, YCbCr: `colour.network_channels`), modcrop,
    bicubic down/up, then patches (of each of the 8 flips/rotations with `augment`).
    """
    data, label = [], []
    for path in paths:
        hr_full = colour.network_channels(image_files.load_image(path), channels)
        if min(hr_full.shape[:2]) < max(image_size, scale):
            continue  # no patch fits; the caller reports a set that gives none at all
        for hr in (dihedral_variants(hr_full) if augment else [hr_full]):
            hr = resampling.modcrop(np.ascontiguousarray(hr), scale)
            _, bicubic = resampling.degrade(hr, scale)
            image_data, image_label = extract_patches(bicubic, hr, image_size, label_size, stride)
            data.append(image_data)
            label.append(image_label)
    if not data:
        planes = colour.CHANNEL_COUNTS[channels]
        return extract_patches(np.zeros((0, 0, planes), np.float32), np.zeros((0, 0, planes), np.float32),
                               image_size, label_size, stride)
    return np.concatenate(data), np.concatenate(label)
