"""Training patches and test images, and the HDF5 files that carry them between steps.

HDF5 layout (the one place it is written down). Readers check the attributes: colour,
resize and format_version against this code's (`convention_attributes`), scale and the
patch sizes against the caller's flags.

`train.h5`
    data   float32 (N, image_size, image_size, C): bicubic patches in [0, 1]; C = 1 (Y) or 3
           (R, G, B or Y, Cb, Cr: `srcnn.core.colour.network_channels`)
    label  float32 (N, label_size, label_size, C): the centre of the ground-truth patch
    attrs  scale, image_size, label_size, stride, augment (0/1), channels ("y", "rgb" or
           "ycbcr"; a file without it is "y"), colour, resize, format_version, source (the
           folder the images came from)

`test.h5`
    images/<name>/hr            float32 (H, W, 1) ground-truth Y in [0, 1], modcropped
    images/<name>/bicubic       float32 (H, W, 1) the network input (not clipped)
    images/<name>/bicubic_cbcr  float32 (H, W, 2) bicubic Cb, Cr in [0, 1]; absent for
                                greyscale images
    images/<name>/hr_rgb        float32 (H, W, 3) ground-truth RGB in [0, 1], modcropped;
                                absent for greyscale images and in files of earlier releases
    attrs  scale, colour, resize, format_version, source
    Image names are the file names without extension; groups list alphabetically.

Files are written to a temporary name in the same folder and renamed when complete, so
an interrupted run never leaves a half-written file that later looks valid.

Training reads `train.h5` whole (`read_train_h5`, `PatchArrays`) or streams it in chunks
(`PatchStream`) when it does not fit in memory; both give the same batches interface.
"""

import contextlib
import os
import h5py
import numpy as np
from srcnn.core import colour
from srcnn.core import resampling
from srcnn.core.errors import DataFileError, OutputError, os_reason, printable
from srcnn.core.files import why_not_a_folder
from srcnn.core.outputs import KINDS, rewriting
from srcnn.training.test_set import TestImage, check_test_name, smallest_test_side


FORMAT_VERSION = 1
TRAIN_FIX = "rerun step1_pre.py with the settings of this training"  # a train.h5 made otherwise


def convention_attributes():
    """The attributes every file gets from the code that writes it; `_open_h5` checks them."""
    return {"colour": colour.COLOUR_CONVENTION, "resize": resampling.RESIZE_CONVENTION,
            "format_version": FORMAT_VERSION}


def _common_attributes(scale, source):
    return {"scale": scale, **convention_attributes(), "source": str(source)}


@contextlib.contextmanager
def _atomic_h5(path):
    """Opens a temporary HDF5 file next to `path`, renamed to `path` only on success."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{folder}: cannot create the output folder ({why_not_a_folder(folder, error)})") from None
    try:
        with rewriting(path, KINDS["hdf5"]) as temporary, h5py.File(temporary, "w") as h5:
            yield h5
    except OSError as error:
        raise OutputError(f"{path}: cannot write ({os_reason(error)})") from None


def write_train_h5(path, data, label, *, scale, image_size, label_size, stride, augment, source, channels="y"):
    """Writes training patches in the layout of this module's docstring."""
    with _atomic_h5(path) as h5:
        h5.create_dataset("data", data=data, dtype="float32")
        h5.create_dataset("label", data=label, dtype="float32")
        h5.attrs.update(_common_attributes(scale, source))
        h5.attrs.update({"image_size": image_size, "label_size": label_size, "stride": stride,
                         "augment": int(augment), "channels": channels})


def write_test_h5(path, images, *, scale, source):
    """Writes `TestImage`s in the layout of this module's docstring."""
    with _atomic_h5(path) as h5:
        group = h5.create_group("images")
        for image in images:
            entry = group.create_group(image.name)
            entry.create_dataset("hr", data=image.hr, dtype="float32")
            entry.create_dataset("bicubic", data=image.bicubic, dtype="float32")
            if image.bicubic_cbcr is not None:
                entry.create_dataset("bicubic_cbcr", data=image.bicubic_cbcr, dtype="float32")
            if image.hr_rgb is not None:
                entry.create_dataset("hr_rgb", data=image.hr_rgb, dtype="float32")
        h5.attrs.update(_common_attributes(scale, source))


def _open_h5(path, required):
    if not os.path.exists(path):
        raise DataFileError(f"{path}: not found; run step1_pre.py first (or pass the right path)")
    try:  # a plain open first: its error has the true cause (permission, a folder), HDF5's a guess
        with open(path, "rb"):
            pass
    except OSError as error:
        raise DataFileError(f"{path}: cannot read ({os_reason(error)}); pass the h5 file step1_pre.py wrote") from None
    try:
        h5 = h5py.File(path, "r")
    except OSError:
        raise DataFileError(f"{path}: not a readable HDF5 file (truncated or of another kind); "
                        "rerun step1_pre.py to make it again") from None
    missing = [name for name in required if name not in h5]
    if missing:
        h5.close()
        raise DataFileError(f"{path}: has no {', '.join(missing)}; it was not made by step1_pre.py, rerun it")
    # A file from another version (other colour conversion, resize or layout) would train or
    # score against other conventions without any error, so it is refused.
    for name, value in convention_attributes().items():
        found = h5.attrs.get(name)
        if found is None or found != value:
            h5.close()
            raise DataFileError(f"{path}: made with {name}={found}, but this version needs {value}; "
                            "rerun step1_pre.py to make it again")
    return h5


# What an attribute added in a later release means where a file lacks it.
ATTRIBUTE_DEFAULTS = {"channels": "y"}


def check_attributes(path, attributes, expected, fix):
    """Raises DataFileError when an HDF5 file was made with other settings than `expected`.

    Args:
        path: the file, for the message.
        attributes: its attrs mapping.
        expected: attribute name -> the value the caller's flags imply.
        fix: what the user should do, appended to the message.
    """
    for name, value in expected.items():
        found = attributes.get(name, ATTRIBUTE_DEFAULTS.get(name))
        if found is None or found != value:
            raise DataFileError(f"{path}: made with {name}={found}, but {value} is asked for; {fix}")


def _patch_shapes(h5, path):
    """(count, image_size, label_size) of a train.h5, checking data and label agree."""
    data, label = h5["data"], h5["label"]
    planes = colour.CHANNEL_COUNTS.get(str(h5.attrs.get("channels", "y")), 1)
    for dataset in (data, label):
        if dataset.dtype != np.float32:
            raise DataFileError(f"{path}: {dataset.name[1:]} is {dataset.dtype}, not float32 in [0, 1]; rerun step1_pre.py")
        if dataset.ndim != 4 or dataset.shape[1] != dataset.shape[2] or dataset.shape[3] != planes:
            raise DataFileError(f"{path}: {dataset.name[1:]} has shape {dataset.shape}, not (N, size, size, {planes}); "
                            "rerun step1_pre.py")
    if data.shape[0] != label.shape[0]:
        raise DataFileError(f"{path}: {data.shape[0]} patches but {label.shape[0]} labels; rerun step1_pre.py")
    return data.shape[0], data.shape[1], label.shape[1]


def read_train_h5(path, expected):
    """Loads training patches, checking attributes (see `check_attributes`).

    Returns:
        (data, label) float32 arrays, and the file's attributes as a dict.
    """
    with _open_h5(path, ("data", "label")) as h5:
        attributes = dict(h5.attrs)
        check_attributes(path, attributes, expected, TRAIN_FIX)
        _patch_shapes(h5, path)
        try:
            data, label = h5["data"][...], h5["label"][...]
        except OSError:
            raise DataFileError(f"{path}: truncated or damaged; rerun step1_pre.py") from None
        for name, array in (("data", data), ("label", label)):
            check_finite(path, name, array)
        return data, label, attributes


def check_finite(path, name, array):
    """Raises DataFileError when training patches hold NaN or infinite values (they would make the loss NaN)."""
    if not np.isfinite(array).all():
        raise DataFileError(f"{path}: the {name} patches hold NaN or infinite values; rerun step1_pre.py on "
                        "images that read cleanly")


def read_test_h5(path, expected=None):
    """Loads the test images of a test.h5 as `TestImage`s, and the file's attributes.

    Every image is checked against the layout of this module's docstring here, where the
    file is read, so training finds a bad one before its first epoch, not after it.

    Raises:
        DataFileError: missing, unreadable or mismatched file, no images, or an image whose
            datasets, shapes or dtypes are not the layout's.
    """
    with _open_h5(path, ("images",)) as h5:
        attributes = dict(h5.attrs)
        check_attributes(path, attributes, expected or {}, "rerun step1_pre.py with that scale, "
                         "or prepare test images from a folder")
        group = h5["images"]
        if not isinstance(group, h5py.Group):
            raise DataFileError(f"{path}: images is not a group of test images; rerun step1_pre.py")
        names = list(group.keys())
        for name in names:
            if not isinstance(name, str):  # h5py gives the bytes of a name that is not UTF-8
                raise DataFileError(f"{path}: test image name {printable(name)} is not UTF-8 text; rerun step1_pre.py "
                                "(with that image renamed)")
        if not names:
            raise DataFileError(f"{path}: holds no test images; rerun step1_pre.py with a folder of test images")
        smallest = smallest_test_side(int(attributes.get("scale", 0)))
        images = []
        try:
            for name in names:
                check_test_name(name, path)
                images.append(_read_test_entry(path, name, group[name], smallest))
        except (OSError, KeyError):
            raise DataFileError(f"{path}: truncated or damaged; rerun step1_pre.py") from None
        return images, attributes


def _read_test_entry(path, name, entry, smallest):
    """One images/<name> group as a TestImage, checked against the layout."""
    shown = printable(name)
    if not isinstance(entry, h5py.Group):
        raise DataFileError(f"{path}: images/{shown} is not a group with hr and bicubic; rerun step1_pre.py")
    arrays = {}
    for key, channels in (("hr", 1), ("bicubic", 1), ("bicubic_cbcr", 2), ("hr_rgb", 3)):
        if key not in entry:
            if key in ("bicubic_cbcr", "hr_rgb"):
                continue
            raise DataFileError(f"{path}: test image {shown} has no {key}; rerun step1_pre.py")
        dataset = entry[key]
        if not isinstance(dataset, h5py.Dataset) or dataset.dtype != np.float32 or dataset.ndim != 3 \
                or dataset.shape[2] != channels:
            what = (f"{dataset.dtype} {dataset.shape}" if isinstance(dataset, h5py.Dataset) else "a group")
            raise DataFileError(f"{path}: test image {shown}: {key} is {what}, not float32 (H, W, {channels}); "
                            "rerun step1_pre.py")
        arrays[key] = dataset[...]
        if arrays[key].shape[:2] != arrays["hr"].shape[:2]:
            raise DataFileError(f"{path}: test image {shown}: {key} is {arrays[key].shape[1]}x{arrays[key].shape[0]}, "
                            f"hr {arrays['hr'].shape[1]}x{arrays['hr'].shape[0]}; rerun step1_pre.py")
        if not np.isfinite(arrays[key]).all():
            raise DataFileError(f"{path}: test image {shown}: {key} holds NaN or infinite values; rerun step1_pre.py")
    if min(arrays["hr"].shape[:2]) < smallest:
        raise DataFileError(f"{path}: test image {shown} is {arrays['hr'].shape[1]}x{arrays['hr'].shape[0]}, too "
                        f"small for PSNR/SSIM (at least {smallest} px a side); rerun step1_pre.py without it")
    return TestImage(name, arrays["hr"], arrays["bicubic"], arrays.get("bicubic_cbcr"), arrays.get("hr_rgb"))
