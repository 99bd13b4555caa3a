"""The data sets in Train/ and Test/ are the standard ones, pixel for pixel (datasets.sha256)."""

import hashlib

import numpy as np
from PIL import Image

from conftest import ROOT

MANIFEST = ROOT / "datasets.sha256"


def pixel_hash(path):
    """SHA-256 of an image's decoded pixels, prefixed by its mode and size."""
    with Image.open(path) as image:
        header = f"{image.mode} {image.size[0]}x{image.size[1]}".encode()
        return hashlib.sha256(header + np.asarray(image).tobytes()).hexdigest()


def read_manifest():
    entries = {}
    for line in MANIFEST.read_text().splitlines():
        if line and not line.startswith("#"):
            digest, path = line.split(maxsplit=1)
            entries[path] = digest
    return entries


def test_manifest_lists_the_standard_sets():
    entries = read_manifest()
    assert sum(path.startswith("Train/") for path in entries) == 91
    assert sum(path.startswith("Test/Set5/") for path in entries) == 5
    assert sum(path.startswith("Test/Set14/") for path in entries) == 14


def test_every_image_matches_the_manifest():
    entries = read_manifest()
    on_disk = {str(path.relative_to(ROOT)) for folder in ("Train", "Test")
               for path in (ROOT / folder).rglob("*") if path.is_file()}
    assert on_disk == set(entries), "files added to or missing from Train/ or Test/"
    changed = [path for path, digest in entries.items() if pixel_hash(ROOT / path) != digest]
    assert not changed, f"pixels differ from datasets.sha256: {changed}"
