"""Training patches and test images, and the HDF5 files that carry them between steps.

HDF5 layout (the one place it is written down). Readers check the attributes: colour,
resize and format_version against this code's (`convention_attributes`), scale and the
patch sizes against the caller's flags.

`train.h5`
    data   float32 (N, image_size, image_size, 1): bicubic Y patches in [0, 1]
    label  float32 (N, label_size, label_size, 1): the centre of the ground-truth Y patch
    attrs  scale, image_size, label_size, stride, augment (0/1), colour, resize,
           format_version, source (the folder the images came from)

`test.h5`
    images/<name>/hr            float32 (H, W, 1) ground-truth Y in [0, 1], modcropped
    images/<name>/bicubic       float32 (H, W, 1) the network input (not clipped)
    images/<name>/bicubic_cbcr  float32 (H, W, 2) bicubic Cb, Cr in [0, 1]; absent for
                                greyscale images
    attrs  scale, colour, resize, format_version, source
    Image names are the file names without extension; groups list alphabetically.

Files are written to a temporary name in the same folder and renamed when complete, so
an interrupted run never leaves a half-written file that later looks valid.

Training reads `train.h5` whole (`read_train_h5`, `PatchArrays`) or streams it in chunks
(`PatchStream`) when it does not fit in memory; both give the same batches interface.
"""

import contextlib
import os
from dataclasses import dataclass

import h5py
import numpy as np
import skimage
from srcnn.startup import tf  # TensorFlow with its start-up messages filtered (srcnn.startup)

from srcnn import imaging
from srcnn.choices import DEFAULT_MAX_PIXELS
from srcnn.errors import UserError, os_reason, printable
from srcnn.files import atomic_path, why_not_a_folder
from srcnn.metrics import SSIM_WINDOW

FORMAT_VERSION = 1
STREAM_CHUNK = 1024  # patches per read when streaming: ~6 MB of 33x33 + 21x21 float32
SHUFFLE_BUFFER = 16384  # patches held for shuffling when streaming: ~100 MB

# Photographs that scikit-image installs, used when no data set is present. Train and
# test are disjoint; the test set mixes a colour and a greyscale image.
SAMPLE_TRAIN_IMAGES = ("astronaut.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")
SAMPLE_TEST_IMAGES = ("chelsea.png", "camera.png")


@dataclass
class TestImage:
    """One evaluation image: ground truth, network input and the colour to put back."""

    name: str
    hr: np.ndarray  # (H, W, 1) ground-truth Y
    bicubic: np.ndarray  # (H, W, 1) bicubic Y, the network input
    bicubic_cbcr: np.ndarray = None  # (H, W, 2), None for greyscale


def sample_image_paths(names):
    """Paths of scikit-image's bundled sample photographs."""
    folder = os.path.join(os.path.dirname(skimage.__file__), "data")
    return [os.path.join(folder, name) for name in names]


def find_images(directory, sample_names, role, flag=None):
    """Image files in `directory`, or scikit-image's samples when it holds none.

    Args:
        flag: the flag that named `directory` ("--train-dir"), or None for the default
            folder; only the default falls back to the samples.

    Returns:
        (paths, message): message is one line saying what was used, for the user.

    Raises:
        UserError: a folder given by `flag` is missing or holds no images.
    """
    paths = imaging.list_images(directory) if os.path.isdir(directory) else []
    if paths:
        return paths, f"{role}: {len(paths)} images from {directory}"
    if flag:
        what = "no images" if os.path.isdir(directory) else "no such folder"
        raise UserError(f"{flag} {directory}: {what} ({'/'.join(imaging.IMAGE_EXTENSIONS)}); pass a folder of "
                        f"{role} images, or leave {flag} out for the default")
    return sample_image_paths(sample_names), (
        f"{role}: no images in {directory}, using {len(sample_names)} scikit-image sample photographs "
        f"({', '.join(sample_names)}); for the paper's data restore the 91-image set in Train/ and Set5 in "
        f"Test/Set5 (git checkout Train Test) or pass --train-dir/--test-dir")


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
        bicubic, hr: float32 (H, W, 1) of the same size.
        image_size: input patch side (33); label_size: label side (21), the output
            size of the VALID network on an input patch.
        stride: step between patch corners.

    Returns:
        (data, label): float32 (N, image_size, image_size, 1) and (N, label_size, label_size, 1).
    """
    offset = (image_size - label_size) // 2
    height, width = hr.shape[:2]
    data, label = [], []
    for top in range(0, height - image_size + 1, stride):
        for left in range(0, width - image_size + 1, stride):
            data.append(bicubic[top:top + image_size, left:left + image_size])
            label.append(hr[top + offset:top + offset + label_size, left + offset:left + offset + label_size])
    shape = (0, image_size, image_size, 1), (0, label_size, label_size, 1)
    if not data:
        return np.zeros(shape[0], np.float32), np.zeros(shape[1], np.float32)
    return np.stack(data).astype(np.float32), np.stack(label).astype(np.float32)


def training_patches(paths, scale, image_size=33, label_size=21, stride=14, augment=False):
    """Patch pairs from image files, following the paper's preparation.

    Each image: Y channel, modcrop, bicubic down/up, then patches (of each of the 8
    flips/rotations with `augment`).
    """
    data, label = [], []
    for path in paths:
        hr_full = imaging.luminance(imaging.load_image(path))
        if min(hr_full.shape[:2]) < max(image_size, scale):
            continue  # no patch fits; the caller reports a set that gives none at all
        for hr in (dihedral_variants(hr_full) if augment else [hr_full]):
            hr = imaging.modcrop(np.ascontiguousarray(hr), scale)
            _, bicubic = imaging.degrade(hr, scale)
            image_data, image_label = extract_patches(bicubic, hr, image_size, label_size, stride)
            data.append(image_data)
            label.append(image_label)
    if not data:
        return extract_patches(np.zeros((0, 0, 1), np.float32), np.zeros((0, 0, 1), np.float32), image_size,
                               label_size, stride)
    return np.concatenate(data), np.concatenate(label)


def smallest_test_side(scale):
    """The smallest test image side: SSIM's 11x11 window must fit once `scale` px are shaved per border."""
    return SSIM_WINDOW + 2 * scale


def test_image(path, scale, max_pixels=DEFAULT_MAX_PIXELS):
    """A `TestImage` from an image file: ground truth Y, its bicubic input and colour.

    Raises:
        UserError: unreadable, or smaller than `smallest_test_side(scale)` after the modcrop.
    """
    image = imaging.modcrop(imaging.read_image(path, max_pixels).pixels, scale)
    height, width = image.shape[:2]
    if min(height, width) < smallest_test_side(scale):
        raise UserError(f"{printable(path)}: {width}x{height} after cropping to a multiple of {scale} is too small to test "
                        f"x{scale} on (PSNR/SSIM need at least {smallest_test_side(scale)} px a side); "
                        "leave it out of the test folder")
    hr = imaging.luminance(image)
    _, bicubic = imaging.degrade(hr, scale)
    cbcr = None
    if image.ndim == 3:
        cbcr_hr = imaging.rgb_to_ycbcr(image)[..., 1:] / 255.0
        cbcr = imaging.degrade(cbcr_hr, scale)[1]
    name = os.path.splitext(os.path.basename(path))[0]
    return TestImage(name, hr, bicubic, cbcr)


def test_images(paths, scale, max_pixels=DEFAULT_MAX_PIXELS):
    """`TestImage`s from image files, whose names (file names without extension) must differ.

    Raises:
        UserError: two files give the same name (a.png and a.jpg, or sub/a.png), or
            `test_image` refuses one.
    """
    by_name = {}
    for path in paths:
        name = os.path.splitext(os.path.basename(path))[0]
        check_test_name(name, path)
        if name in by_name:
            raise UserError(f"{printable(by_name[name])} and {printable(path)} would both be test image "
                            f"'{printable(name)}' (results and sample "
                            "PNGs are named after it); rename or remove one")
        by_name[name] = path
    return [test_image(path, scale, max_pixels) for path in paths]


def convention_attributes():
    """The attributes every file gets from the code that writes it; `_open_h5` checks them."""
    return {"colour": imaging.COLOUR_CONVENTION, "resize": imaging.RESIZE_CONVENTION,
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
        raise UserError(f"{folder}: cannot create the output folder ({why_not_a_folder(folder, error)}); "
                        "pass another --h5-dir") from None
    try:
        with atomic_path(path) as temporary, h5py.File(temporary, "w") as h5:
            yield h5
    except OSError as error:
        raise UserError(f"{path}: cannot write ({os_reason(error)}); pass another --h5-dir") from None


def write_train_h5(path, data, label, *, scale, image_size, label_size, stride, augment, source):
    """Writes training patches in the layout of this module's docstring."""
    with _atomic_h5(path) as h5:
        h5.create_dataset("data", data=data, dtype="float32")
        h5.create_dataset("label", data=label, dtype="float32")
        h5.attrs.update(_common_attributes(scale, source))
        h5.attrs.update({"image_size": image_size, "label_size": label_size, "stride": stride,
                         "augment": int(augment)})


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
        h5.attrs.update(_common_attributes(scale, source))


def _open_h5(path, required):
    if not os.path.exists(path):
        raise UserError(f"{path}: not found; run step1_pre.py first (or pass the right path)")
    try:  # a plain open first: its error has the true cause (permission, a folder), HDF5's a guess
        with open(path, "rb"):
            pass
    except OSError as error:
        raise UserError(f"{path}: cannot read ({os_reason(error)}); pass the h5 file step1_pre.py wrote") from None
    try:
        h5 = h5py.File(path, "r")
    except OSError:
        raise UserError(f"{path}: not a readable HDF5 file (truncated or of another kind); "
                        "rerun step1_pre.py to make it again") from None
    missing = [name for name in required if name not in h5]
    if missing:
        h5.close()
        raise UserError(f"{path}: has no {', '.join(missing)}; it was not made by step1_pre.py, rerun it")
    # A file from another version (other colour conversion, resize or layout) would train or
    # score against other conventions without any error, so it is refused.
    for name, value in convention_attributes().items():
        found = h5.attrs.get(name)
        if found is None or found != value:
            h5.close()
            raise UserError(f"{path}: made with {name}={found}, but this version needs {value}; "
                            "rerun step1_pre.py to make it again")
    return h5


def check_attributes(path, attributes, expected, fix):
    """Raises UserError when an HDF5 file was made with other settings than `expected`.

    Args:
        path: the file, for the message.
        attributes: its attrs mapping.
        expected: attribute name -> the value the caller's flags imply.
        fix: what the user should do, appended to the message.
    """
    for name, value in expected.items():
        found = attributes.get(name)
        if found is None or found != value:
            raise UserError(f"{path}: made with {name}={found}, but {value} is asked for; {fix}")


def _patch_shapes(h5, path):
    """(count, image_size, label_size) of a train.h5, checking data and label agree."""
    data, label = h5["data"], h5["label"]
    for dataset in (data, label):
        if dataset.dtype != np.float32:
            raise UserError(f"{path}: {dataset.name[1:]} is {dataset.dtype}, not float32 in [0, 1]; rerun step1_pre.py")
        if dataset.ndim != 4 or dataset.shape[1] != dataset.shape[2] or dataset.shape[3] != 1:
            raise UserError(f"{path}: {dataset.name[1:]} has shape {dataset.shape}, not (N, size, size, 1); "
                            "rerun step1_pre.py")
    if data.shape[0] != label.shape[0]:
        raise UserError(f"{path}: {data.shape[0]} patches but {label.shape[0]} labels; rerun step1_pre.py")
    return data.shape[0], data.shape[1], label.shape[1]


def read_train_h5(path, expected):
    """Loads training patches, checking attributes (see `check_attributes`).

    Returns:
        (data, label) float32 arrays, and the file's attributes as a dict.
    """
    with _open_h5(path, ("data", "label")) as h5:
        attributes = dict(h5.attrs)
        check_attributes(path, attributes, expected, "rerun step1_pre.py with the same flags as step2_train.py")
        _patch_shapes(h5, path)
        try:
            data, label = h5["data"][...], h5["label"][...]
        except OSError:
            raise UserError(f"{path}: truncated or damaged; rerun step1_pre.py") from None
        for name, array in (("data", data), ("label", label)):
            check_finite(path, name, array)
        return data, label, attributes


def check_finite(path, name, array):
    """Raises UserError when training patches hold NaN or infinite values (they would make the loss NaN)."""
    if not np.isfinite(array).all():
        raise UserError(f"{path}: the {name} patches hold NaN or infinite values; rerun step1_pre.py on "
                        "images that read cleanly")


def available_memory():
    """Bytes of memory free for a new process (Linux MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def too_big_to_load(path):
    """True when `path` is over half the free memory: loading it whole would risk swapping or
    the OOM killer, while training itself needs little."""
    free = available_memory()
    return free is not None and os.path.exists(path) and os.path.getsize(path) > free // 2


class PatchArrays:
    """Training patches held in memory; each epoch visits them in a fresh random order.

    Args:
        data, label: float32 (N, S, S, 1) and (N, L, L, 1).
    """

    def __init__(self, data, label):
        self.data, self.label = data, label
        self.count, self.image_size, self.label_size = len(data), data.shape[1], label.shape[1]

    def batches(self, batch_size, rng, skip=0):
        """(data, label) batches of one epoch, leaving out the first `skip` (a resumed epoch).

        The order is drawn from `rng` now, before the caller draws anything else from it.
        """
        order = rng.permutation(self.count)

        def generate():
            for index in range(skip, self.count // batch_size):
                batch = np.sort(order[index * batch_size:(index + 1) * batch_size])
                yield self.data[batch], self.label[batch]

        return generate()


class PatchStream:
    """Training patches streamed from a train.h5 through `tf.data`, for sets larger than memory.

    Each epoch reads chunks of `STREAM_CHUNK` consecutive patches, in a random order, into
    a pool of `shuffle_buffer` patches and draws each batch at random from the pool: the
    buffer of `tf.data.Dataset.shuffle`, drawn from a batch at a time in numpy rather than
    patch by patch. `tf.data` runs this on a background thread and prefetches. Memory
    holds about `shuffle_buffer + STREAM_CHUNK` patches whatever the file's size. The file
    stays open, so replacing it (step1_pre.py writes atomically) does not disturb a run.

    Args:
        path: the train.h5.
        expected: attributes to check, as for `read_train_h5`.
        shuffle_buffer: patches in the shuffle buffer.

    Raises:
        UserError: missing, unreadable or mismatched file.
    """

    def __init__(self, path, expected, shuffle_buffer=SHUFFLE_BUFFER):
        self.path = path
        self.h5 = _open_h5(path, ("data", "label"))
        try:
            self.attributes = dict(self.h5.attrs)
            check_attributes(path, self.attributes, expected,
                             "rerun step1_pre.py with the same flags as step2_train.py")
            self.count, self.image_size, self.label_size = _patch_shapes(self.h5, path)
        except UserError:
            self.h5.close()
            raise
        self.shuffle_buffer = shuffle_buffer

    def close(self):
        self.h5.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def batches(self, batch_size, rng, skip=0):
        """(data, label) batches of one epoch, leaving out the first `skip` (a resumed epoch).

        Chunk order and shuffle seed are drawn from `rng` now, so an epoch replays exactly.
        """
        chunks = rng.permutation(-(-self.count // STREAM_CHUNK))
        shuffle_rng = np.random.default_rng(rng.integers(2**63))
        capacity = max(self.shuffle_buffer, batch_size) + STREAM_CHUNK
        h5_data, h5_label = self.h5["data"], self.h5["label"]

        def shuffled_batches():
            pool_data = np.empty((capacity, self.image_size, self.image_size, 1), np.float32)
            pool_label = np.empty((capacity, self.label_size, self.label_size, 1), np.float32)
            # Pool slots: slots[:filled] hold patches, slots[filled:] are free. Drawing moves
            # slot numbers, not patches, so each patch is copied once in and once out.
            slots = np.arange(capacity)
            filled = 0

            def draw():
                nonlocal filled
                chosen = shuffle_rng.choice(filled, batch_size, replace=False)  # positions in slots
                batch = pool_data[slots[chosen]], pool_label[slots[chosen]]
                # Swap the chosen positions with the last batch_size held ones, then free those.
                tail = filled - batch_size
                keep = np.ones(batch_size, bool)
                keep[chosen[chosen >= tail] - tail] = False
                holes, movers = chosen[chosen < tail], tail + np.flatnonzero(keep)
                slots[holes], slots[movers] = slots[movers], slots[holes]
                filled = tail
                return batch

            for chunk in chunks:
                start = int(chunk) * STREAM_CHUNK
                data, label = h5_data[start:start + STREAM_CHUNK], h5_label[start:start + STREAM_CHUNK]
                for name, array in (("data", data), ("label", label)):
                    check_finite(self.path, name, array)
                while filled + len(data) > capacity:
                    yield draw()
                pool_data[slots[filled:filled + len(data)]] = data
                pool_label[slots[filled:filled + len(data)]] = label
                filled += len(data)
            while filled >= batch_size:
                yield draw()

        signature = (tf.TensorSpec((batch_size, self.image_size, self.image_size, 1), tf.float32),
                     tf.TensorSpec((batch_size, self.label_size, self.label_size, 1), tf.float32))
        stream = tf.data.Dataset.from_generator(shuffled_batches, output_signature=signature).skip(skip).prefetch(2)

        def generate():
            try:
                yield from stream.as_numpy_iterator()
            except tf.errors.OpError as error:
                reason = error.message.splitlines()[0]
                if "UserError: " in reason:  # one raised by shuffled_batches, which says it all
                    raise UserError(reason.split("UserError: ", 1)[1]) from None
                raise UserError(f"{self.path}: reading patches failed ({reason}); "
                                "check the file (rerun step1_pre.py)") from None

        return generate()


RESERVED_NAMES = ("mean",)  # the summary row of results.csv and the tables


def check_test_name(name, where):
    """Raises UserError for a test image name that would be confused with a summary row.

    Args:
        name: the image name (a file name without extension, or a test.h5 group).
        where: the file it comes from, for the message.
    """
    if name.lower() in RESERVED_NAMES:
        raise UserError(f"{printable(where)}: a test image named '{printable(name)}' would read as the "
                        f"{name.lower()} row of the results; rename it")


def read_test_h5(path, expected=None):
    """Loads the test images of a test.h5 as `TestImage`s, and the file's attributes.

    Every image is checked against the layout of this module's docstring here, where the
    file is read, so training finds a bad one before its first epoch, not after it.

    Raises:
        UserError: missing, unreadable or mismatched file, no images, or an image whose
            datasets, shapes or dtypes are not the layout's.
    """
    with _open_h5(path, ("images",)) as h5:
        attributes = dict(h5.attrs)
        check_attributes(path, attributes, expected or {}, "rerun step1_pre.py with that --scale, "
                         "or pass --test-dir to prepare test images directly")
        group = h5["images"]
        if not isinstance(group, h5py.Group):
            raise UserError(f"{path}: images is not a group of test images; rerun step1_pre.py")
        names = list(group.keys())
        for name in names:
            if not isinstance(name, str):  # h5py gives the bytes of a name that is not UTF-8
                raise UserError(f"{path}: test image name {printable(name)} is not UTF-8 text; rerun step1_pre.py "
                                "(with that image renamed)")
        if not names:
            raise UserError(f"{path}: holds no test images; rerun step1_pre.py with a --test-dir of images")
        smallest = smallest_test_side(int(attributes.get("scale", 0)))
        images = []
        try:
            for name in names:
                check_test_name(name, path)
                images.append(_read_test_entry(path, name, group[name], smallest))
        except (OSError, KeyError):
            raise UserError(f"{path}: truncated or damaged; rerun step1_pre.py") from None
        return images, attributes


def _read_test_entry(path, name, entry, smallest):
    """One images/<name> group as a TestImage, checked against the layout."""
    shown = printable(name)
    if not isinstance(entry, h5py.Group):
        raise UserError(f"{path}: images/{shown} is not a group with hr and bicubic; rerun step1_pre.py")
    arrays = {}
    for key, channels in (("hr", 1), ("bicubic", 1), ("bicubic_cbcr", 2)):
        if key not in entry:
            if key == "bicubic_cbcr":
                continue
            raise UserError(f"{path}: test image {shown} has no {key}; rerun step1_pre.py")
        dataset = entry[key]
        if not isinstance(dataset, h5py.Dataset) or dataset.dtype != np.float32 or dataset.ndim != 3 \
                or dataset.shape[2] != channels:
            what = (f"{dataset.dtype} {dataset.shape}" if isinstance(dataset, h5py.Dataset) else "a group")
            raise UserError(f"{path}: test image {shown}: {key} is {what}, not float32 (H, W, {channels}); "
                            "rerun step1_pre.py")
        arrays[key] = dataset[...]
        if arrays[key].shape[:2] != arrays["hr"].shape[:2]:
            raise UserError(f"{path}: test image {shown}: {key} is {arrays[key].shape[1]}x{arrays[key].shape[0]}, "
                            f"hr {arrays['hr'].shape[1]}x{arrays['hr'].shape[0]}; rerun step1_pre.py")
        if not np.isfinite(arrays[key]).all():
            raise UserError(f"{path}: test image {shown}: {key} holds NaN or infinite values; rerun step1_pre.py")
    if min(arrays["hr"].shape[:2]) < smallest:
        raise UserError(f"{path}: test image {shown} is {arrays['hr'].shape[1]}x{arrays['hr'].shape[0]}, too "
                        f"small for PSNR/SSIM (at least {smallest} px a side); rerun step1_pre.py without it")
    return TestImage(name, arrays["hr"], arrays["bicubic"], arrays.get("bicubic_cbcr"))
