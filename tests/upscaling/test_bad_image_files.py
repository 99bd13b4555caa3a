"""step3_test.py --input with awkward files: one-line errors, exit 1, the rest still done.

Refused (error naming the file): not an image, truncated, empty, over the pixel limit,
a folder without images, an output folder that cannot be written, an output that
exists. Converted and upscaled: a 1x1 image, CMYK JPEG, palette PNG (with and without
transparency), 16-bit greyscale and 16-bit RGB PNG.
"""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import step3_test
from srcnn.core import checkpoints
from srcnn.core import image_files
from srcnn.core.errors import SRCNNError
from srcnn.core.model import SRCNN


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    prefix = str(tmp_path_factory.mktemp("weights") / "x3" / "srcnn")
    checkpoints.export_weights(SRCNN("9-1-5"), 3, prefix)
    return prefix


@pytest.fixture
def folder(tmp_path, smooth_rgb):
    """An input folder holding one good photo (the bad file is added by each test)."""
    (tmp_path / "in").mkdir()
    Image.fromarray(smooth_rgb).save(tmp_path / "in" / "good.png")
    return tmp_path / "in"


def hand_made_png(width, height, bit_depth, colour_type, rows=b""):
    """PNG bytes with the given header; `rows` are the raw scanlines (filter byte + pixels)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def run(folder, weights, *extra):
    output = folder.parent / "out"
    code = step3_test.main(["--input", str(folder), "--checkpoint", weights, "--output", str(output), "--bicubic",
                            *extra])
    return code, output


def assert_one_error(capsys, *fragments):
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(errors) == 1, errors
    assert errors[0].startswith("error: ") and all(fragment in errors[0] for fragment in fragments), errors[0]


def noisy_image_bytes(image_format):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format=image_format)
    return buffer.getvalue()


@pytest.mark.parametrize("name, content, reason", [
    ("notes.jpg", b"shopping list: milk, eggs\n", "not an image"),
    ("cut.png", noisy_image_bytes("PNG")[:3000], "truncated or damaged"),
    ("cut.jpg", noisy_image_bytes("JPEG")[:1500], "truncated or damaged"),
    ("empty.png", b"", "empty file"),
    ("bomb.png", hand_made_png(100_000, 100_000, 8, 0), "over the limit of 89,478,485"),
])
def test_unreadable_file_is_reported_and_the_rest_is_done(folder, weights, capsys, name, content, reason):
    (folder / name).write_bytes(content)
    code, output = run(folder, weights)
    assert code == 1
    assert_one_error(capsys, name, reason)
    assert (output / "good_srcnn_x3.png").exists() and (output / "good_bicubic_x3.png").exists()
    assert not (output / f"{name.split('.')[0]}_srcnn_x3.png").exists()


def test_pixel_limit_is_a_flag(folder, weights, capsys):
    code, _ = run(folder, weights, "--max-pixels", "1000")
    assert code == 1
    assert_one_error(capsys, "good.png", "48x60 is 2,880 pixels, over the limit of 1,000", "--max-pixels")


@pytest.mark.slow
def test_one_pixel_image_is_upscaled(folder, weights):
    Image.new("RGB", (1, 1), (10, 200, 30)).save(folder / "dot.png")
    code, output = run(folder, weights)
    assert code == 0
    with Image.open(output / "dot_bicubic_x3.png") as image:
        assert image.size == (3, 3) and np.abs(np.asarray(image).astype(int) - (10, 200, 30)).max() <= 2
    with Image.open(output / "dot_srcnn_x3.png") as image:
        assert image.size == (3, 3) and image.mode == "RGB"


def flat_colour(path):
    with Image.open(path) as image:
        pixels = np.asarray(image).astype(int)
    return image.mode, pixels[pixels.shape[0] // 2, pixels.shape[1] // 2]


def test_cmyk_jpeg_is_converted_to_rgb(folder, weights):
    Image.new("RGB", (32, 32), (200, 50, 30)).convert("CMYK").save(folder / "print.jpg", quality=95)
    code, output = run(folder, weights)
    assert code == 0
    mode, colour = flat_colour(output / "print_bicubic_x3.png")
    assert mode == "RGB" and np.abs(colour - (200, 50, 30)).max() <= 4


@pytest.mark.slow
def test_palette_png_is_converted_and_transparency_kept(folder, weights):
    palette = Image.new("RGB", (30, 24), (20, 120, 220)).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    palette.save(folder / "flat.png")
    palette.save(folder / "clear.png", transparency=0)
    code, output = run(folder, weights)
    assert code == 0
    mode, colour = flat_colour(output / "flat_bicubic_x3.png")
    assert mode == "RGB" and np.abs(colour - (20, 120, 220)).max() <= 2
    mode, colour = flat_colour(output / "clear_srcnn_x3.png")
    assert mode == "RGBA" and colour[3] == 0


@pytest.mark.slow
def test_sixteen_bit_pngs_are_reduced_to_eight_bits(folder, weights):
    grey = np.full((20, 24), 0x8080, np.uint16)  # 32896 / 65535 -> 128
    Image.fromarray(grey).save(folder / "grey16.png")
    rgb = np.zeros((20, 24, 3), ">u2")
    rgb[...] = (0xC8FF, 0x3200, 0x1E80)  # -> 200, 50, 30
    rows = b"".join(b"\x00" + row.tobytes() for row in rgb)
    (folder / "rgb16.png").write_bytes(hand_made_png(24, 20, 16, 2, rows))
    code, output = run(folder, weights)
    assert code == 0
    mode, value = flat_colour(output / "grey16_bicubic_x3.png")
    assert mode == "L" and value == 128
    mode, colour = flat_colour(output / "rgb16_bicubic_x3.png")
    assert mode == "RGB" and np.abs(colour - (200, 50, 30)).max() <= 1


def test_folder_without_images(tmp_path, weights, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "readme.txt").write_text("no pictures here")
    code, _ = run(tmp_path / "in", weights)
    assert code == 1
    assert_one_error(capsys, "in: no images or videos")


def test_missing_input(tmp_path, weights, capsys):
    code, _ = run(tmp_path / "nowhere.jpg", weights)
    assert code == 1
    assert_one_error(capsys, "nowhere.jpg: no such file or folder")


def test_output_folder_that_cannot_be_made(folder, weights, capsys):
    blocker = folder.parent / "out"
    blocker.write_text("a file where the output folder should be")
    code, _ = run(folder, weights)
    assert code == 1
    assert_one_error(capsys, "out: cannot create the output folder", "pass another --output")


def test_output_file_that_cannot_be_written(folder, weights, capsys):
    (folder.parent / "out" / "good_srcnn_x3.png").mkdir(parents=True)  # a folder in the PNG's place
    code, output = run(folder, weights, "--overwrite")
    assert code == 1
    assert_one_error(capsys, "good_srcnn_x3.png: a folder is there, where the image file goes")
    assert not any("srcnn-tmp" in path.name for path in output.iterdir())


def test_existing_outputs_are_kept_without_overwrite(folder, weights, capsys):
    (folder.parent / "out").mkdir()
    (folder.parent / "out" / "good_bicubic_x3.png").write_bytes(b"mine")  # not made by this run's input
    code, output = run(folder, weights)
    assert code == 1 and "good_bicubic_x3.png: already exists, and was not made from" in capsys.readouterr().err
    assert (output / "good_bicubic_x3.png").read_bytes() == b"mine" and not (output / "good_srcnn_x3.png").exists()
    code, _ = run(folder, weights, "--overwrite")
    assert code == 0 and (output / "good_bicubic_x3.png").read_bytes() != b"mine"
    (output / "good_bicubic_x3.png").unlink()
    made = (output / "good_srcnn_x3.png").read_bytes()
    code, _ = run(folder, weights)  # its own earlier output is kept, the missing one written
    assert code == 0 and "good_srcnn_x3.png already there, kept" in capsys.readouterr().out
    assert (output / "good_srcnn_x3.png").read_bytes() == made and (output / "good_bicubic_x3.png").exists()


@pytest.mark.parametrize("mode, shape, alpha", [("1", (6, 5), False), ("L", (6, 5), False), ("LA", (6, 5), True),
                                                 ("RGBA", (6, 5, 3), True), ("P", (6, 5, 3), False),
                                                 ("I;16", (6, 5), False)])
def test_read_image_modes(tmp_path, mode, shape, alpha):
    path = tmp_path / "image.png"
    Image.new("RGBA" if alpha else "RGB", (5, 6), (40, 90, 160, 128)).convert(mode).save(path)
    loaded = image_files.read_image(str(path))
    assert loaded.pixels.shape == shape and loaded.pixels.dtype == np.uint8
    assert (loaded.alpha is not None) == alpha


def test_load_image_keeps_its_contract_for_existing_callers(tmp_path, smooth_rgb):
    Image.fromarray(np.dstack([smooth_rgb, np.full(smooth_rgb.shape[:2], 7, np.uint8)])).save(tmp_path / "a.png")
    assert np.array_equal(image_files.load_image(str(tmp_path / "a.png")), smooth_rgb)
    with pytest.raises(SRCNNError, match="empty file"):
        (tmp_path / "e.png").write_bytes(b"")
        image_files.load_image(str(tmp_path / "e.png"))
