import h5py
import numpy as np
import pytest

from srcnn.core import colour
from srcnn.core import image_files
from srcnn.training import batches
from srcnn.training import hdf5
from srcnn.training.patches import SAMPLE_TEST_IMAGES, SAMPLE_TRAIN_IMAGES, dihedral_variants, extract_patches, find_images, patch_count, random_dihedral
from srcnn.training import test_set
from srcnn.core.errors import SRCNNError


@pytest.mark.parametrize("height, width, stride", [(60, 48, 14), (33, 33, 14), (100, 70, 7), (32, 90, 14)])
def test_patch_count_follows_stride_formula(height, width, stride):
    image = np.zeros((height, width, 1), np.float32)
    patches, labels = extract_patches(image, image, 33, 21, stride)
    expected = max(0, (height - 33) // stride + 1) * max(0, (width - 33) // stride + 1)
    assert len(patches) == len(labels) == expected == patch_count(height, width, 33, stride)


def test_labels_are_the_centre_of_the_ground_truth():
    rng = np.random.default_rng(0)
    hr = rng.random((61, 47, 1)).astype(np.float32)
    bicubic = rng.random((61, 47, 1)).astype(np.float32)
    patches, labels = extract_patches(bicubic, hr, 33, 21, 14)
    # second patch in the first row starts at column 14; its label starts 6 px further in
    assert np.array_equal(patches[1], bicubic[0:33, 14:47])
    assert np.array_equal(labels[1], hr[6:27, 20:41])


def test_dihedral_variants_are_the_eight_distinct_symmetries():
    image = np.arange(12).reshape(3, 4, 1)
    variants = dihedral_variants(image)
    assert len({v.tobytes() + bytes(v.shape) for v in variants}) == 8


def test_random_dihedral_moves_data_and_label_together():
    rng = np.random.default_rng(3)
    patches = np.random.default_rng(0).random((4, 9, 9, 1))
    seen = set()
    for _ in range(40):
        turned_data, turned_label = random_dihedral(rng, patches, patches[:, 2:7, 2:7])
        assert np.array_equal(turned_data[:, 2:7, 2:7], turned_label)
        # each draw is one of the variants step 1 makes of a single image
        matches = [index for index, variant in enumerate(dihedral_variants(patches[0]))
                   if np.array_equal(turned_data[0], variant)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(range(8))


def test_train_h5_round_trip_keeps_data_and_attributes(tmp_path):
    rng = np.random.default_rng(1)
    patches = rng.random((5, 33, 33, 1)).astype(np.float32)
    labels = rng.random((5, 21, 21, 1)).astype(np.float32)
    path = str(tmp_path / "train.h5")
    hdf5.write_train_h5(path, patches, labels, scale=3, image_size=33, label_size=21, stride=14,
                        augment=False, source="somewhere")
    read_patches, read_labels, attributes = hdf5.read_train_h5(path, {"scale": 3, "image_size": 33})
    assert np.array_equal(read_patches, patches) and np.array_equal(read_labels, labels)
    assert attributes["stride"] == 14 and attributes["colour"] == colour.COLOUR_CONVENTION
    with pytest.raises(SRCNNError, match="scale=3, but 2"):
        hdf5.read_train_h5(path, {"scale": 2})
    assert list(tmp_path.iterdir()) == [tmp_path / "train.h5"]  # no temporary left behind


def test_test_h5_round_trip_keeps_images_and_colour(tmp_path, smooth_rgb):
    png = tmp_path / "colour.png"
    image_files.save_png(str(png), smooth_rgb)
    grey = tmp_path / "grey.png"
    image_files.save_png(str(grey), smooth_rgb[..., 0])
    images = [test_set.test_image(str(png), 3), test_set.test_image(str(grey), 3)]
    path = str(tmp_path / "test.h5")
    hdf5.write_test_h5(path, images, scale=3, source=str(tmp_path))
    read, attributes = hdf5.read_test_h5(path, {"scale": 3})
    assert [image.name for image in read] == ["colour", "grey"]
    assert np.array_equal(read[0].hr, images[0].hr) and np.array_equal(read[0].bicubic_cbcr, images[0].bicubic_cbcr)
    assert read[1].bicubic_cbcr is None and attributes["scale"] == 3


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    def interrupted(*args):
        raise KeyboardInterrupt  # after the data, before the attributes

    monkeypatch.setattr(hdf5, "_common_attributes", interrupted)
    with pytest.raises(KeyboardInterrupt):
        hdf5.write_train_h5(str(tmp_path / "train.h5"), np.zeros((2, 33, 33, 1)), np.zeros((2, 21, 21, 1)),
                            scale=3, image_size=33, label_size=21, stride=14, augment=False, source="x")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", [b"", b"not hdf5 at all"])
def test_damaged_h5_is_one_line_error(tmp_path, content):
    path = tmp_path / "train.h5"
    path.write_bytes(content)
    with pytest.raises(SRCNNError, match="not a readable HDF5"):
        hdf5.read_train_h5(str(path), {})


def test_h5_without_datasets_is_refused(tmp_path):
    path = tmp_path / "train.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("data", data=np.zeros((1, 33, 33, 1)))
    with pytest.raises(SRCNNError, match="has no label"):
        hdf5.read_train_h5(str(path), {})


def test_empty_folder_falls_back_to_scikit_image_samples(tmp_path):
    paths, message = find_images(str(tmp_path), SAMPLE_TRAIN_IMAGES, "training")
    assert len(paths) == len(SAMPLE_TRAIN_IMAGES) and "scikit-image" in message
    assert not set(SAMPLE_TRAIN_IMAGES) & set(SAMPLE_TEST_IMAGES)
    assert all(image_files.load_image(path).shape[0] > 100 for path in paths)


def small_h5s(folder):
    """A train.h5 and a test.h5 as step 1 writes them, two patches and one 24x24 image (big enough to be scored at x3)."""
    train_h5, test_h5 = str(folder / "train.h5"), str(folder / "test.h5")
    hdf5.write_train_h5(train_h5, np.zeros((2, 33, 33, 1)), np.zeros((2, 21, 21, 1)), scale=3, image_size=33,
                        label_size=21, stride=14, augment=False, source="x")
    image = np.zeros((24, 24, 1), np.float32)
    hdf5.write_test_h5(test_h5, [test_set.TestImage("flat", image, image)], scale=3, source="x")
    return train_h5, test_h5


READERS = {
    "read_train_h5": lambda train_h5, test_h5: hdf5.read_train_h5(train_h5, {"scale": 3}),
    "PatchStream": lambda train_h5, test_h5: batches.PatchStream(train_h5, {"scale": 3}).close(),
    "read_test_h5": lambda train_h5, test_h5: hdf5.read_test_h5(test_h5, {"scale": 3}),
}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("attribute, value", [
    ("colour", "skimage-rgb2ycbcr"),
    ("resize", "pil-bicubic"),
    ("format_version", hdf5.FORMAT_VERSION + 1),
    ("format_version", None),  # a file from before the attribute, or by another tool
])
def test_files_of_other_conventions_are_refused_when_read(tmp_path, reader, attribute, value):
    train_h5, test_h5 = small_h5s(tmp_path)
    READERS[reader](train_h5, test_h5)  # as written: accepted
    for path in (train_h5, test_h5):
        with h5py.File(path, "a") as h5:
            if value is None:
                del h5.attrs[attribute]
            else:
                h5.attrs[attribute] = value
    with pytest.raises(SRCNNError) as error:
        READERS[reader](train_h5, test_h5)
    message = str(error.value)
    assert len(message.splitlines()) == 1
    assert message.startswith(f"{tmp_path}/") and message.endswith("rerun step1_pre.py to make it again")
    assert f"made with {attribute}={value}, but this version needs {hdf5.convention_attributes()[attribute]}" in message
