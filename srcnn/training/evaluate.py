"""Evaluation on test images: restored Y, PSNR/SSIM against the ground truth, sample PNGs.

Output files per image in the sample folder:
    <name>_input.png        bicubic Y (the network's input)
    <name>_label.png        ground-truth Y
    <name>_srcnn.png        SRCNN Y
    <name>_srcnn_color.png  SRCNN Y with the bicubic Cb/Cr, back to RGB (Y only for greyscale);
                            a colour network's own RGB
and results.csv with one row per image and a final "mean" row (PSNR of Y; RGB PSNR over the three
planes where the test image has colour and step 3 asks for it, else nan; its mean is over the
images in colour) ("mean" is no image's name, see
`srcnn.training.test_set.check_test_name`; a name starting like a formula gets a leading ' there).
"""

import csv
import os
from dataclasses import dataclass

import numpy as np
from srcnn.core.startup import tf  # TensorFlow with its start-up messages filtered (srcnn.core.startup)

from srcnn.core import metrics
from srcnn.core import colour
from srcnn.core import image_files
from srcnn.core.errors import SettingError, csv_cell, printable
from srcnn.core.files import why_not_a_folder
from srcnn.core.outputs import OutputKind, csv_kind, rewriting
from srcnn.core.model import DEFAULT_PADDING

RESULT_FIELDS = ("image", "bicubic_psnr", "srcnn_psnr", "bicubic_ssim", "srcnn_ssim", "bicubic_rgb_psnr",
                 "srcnn_rgb_psnr")
_EARLIER_RESULTS = csv_kind("results CSV", ",".join(RESULT_FIELDS[:5]))  # before the RGB columns
RESULTS = OutputKind("results CSV", recognise=lambda path: any(kind.recognise(path) for kind in (
    csv_kind("results CSV", ",".join(RESULT_FIELDS)), _EARLIER_RESULTS)))


@dataclass
class ImageResult:
    name: str
    bicubic_psnr: float
    psnr: float
    bicubic_ssim: float
    ssim: float
    sr: np.ndarray  # (H, W, 1) restored Y in [0, 1], clipped
    bicubic_rgb_psnr: float = float("nan")
    rgb_psnr: float = float("nan")
    sr_rgb: np.ndarray = None  # (H, W, 3) a colour network's RGB in [0, 1], clipped; None for a Y network


def restore_whole_y(model, bicubic, padding):
    """Runs the network on a whole (H, W, C) bicubic image in one call (no tiles, unlike
    `upscale.TiledSRCNN`); same-size output, clipped to [0, 1]."""
    sr = tf.cast(model(tf.convert_to_tensor(bicubic[None], tf.float32), padding=padding)[0], tf.float32).numpy()
    return np.clip(sr, 0.0, 1.0)


def restore_image(model, image, scale, padding):
    """(restored Y (H, W, 1), a colour network's RGB (H, W, 3) or None) of one `TestImage`, in [0, 1]."""
    channels = model.channels
    if channels == "y":
        return restore_whole_y(model, image.bicubic, padding), None
    planes = restore_whole_y(model, image.network_input(channels, scale), padding)
    return colour.y_of_channels(planes, channels), np.clip(colour.rgb_of_channels(planes, channels), 0.0, 1.0)


def compiled_restorer(model, images, padding=DEFAULT_PADDING, scale=None):
    """A function () -> the restored Y (`restore_image`'s first) of each image, with the model's current weights.

    The images are independent branches of one compiled graph, traced once: they run side by
    side on the cores, and a training validates each epoch without eager dispatch.
    `scale` makes a colour network's inputs (`TestImage.network_input`).
    """
    channels = model.channels
    inputs = [tf.convert_to_tensor(image.network_input(channels, scale)[None], tf.float32) for image in images]
    graph = tf.function(lambda: [model(window, padding=padding) for window in inputs])
    return lambda: [colour.y_of_channels(np.clip(tf.cast(restored[0], tf.float32).numpy(), 0.0, 1.0), channels)
                    for restored in graph()]


def evaluate_images(model, images, scale, padding=DEFAULT_PADDING, with_ssim=False, restored=None, with_rgb=False):
    """PSNR (and SSIM, and RGB PSNR) of bicubic and SRCNN for each `srcnn.training.test_set.TestImage`.

    `restored`: the restored Y per image, if already computed (`compiled_restorer`).
    `with_rgb`: also PSNR over R, G and B (the paper's Table 5) for the images in colour.
    """
    results = []
    for index, image in enumerate(images):
        sr, sr_rgb = (restored[index], None) if restored is not None else restore_image(model, image, scale, padding)
        rgb = {}
        if with_rgb and image.hr_rgb is not None:
            bicubic_rgb = colour.colour_output(image.bicubic, image.bicubic_cbcr) / 255.0
            srcnn_rgb = sr_rgb if sr_rgb is not None else colour.colour_output(sr, image.bicubic_cbcr) / 255.0
            rgb = {"bicubic_rgb_psnr": metrics.rgb_psnr(bicubic_rgb, image.hr_rgb, scale),
                   "rgb_psnr": metrics.rgb_psnr(srcnn_rgb, image.hr_rgb, scale)}
        results.append(ImageResult(
            name=image.name,
            bicubic_psnr=metrics.psnr(image.bicubic, image.hr, scale),
            psnr=metrics.psnr(sr, image.hr, scale),
            bicubic_ssim=metrics.ssim(image.bicubic, image.hr, scale) if with_ssim else float("nan"),
            ssim=metrics.ssim(sr, image.hr, scale) if with_ssim else float("nan"),
            sr=sr, sr_rgb=sr_rgb, **rgb))
    return results


def write_samples(folder, images, results):
    """Writes the PNGs and results.csv described in the module docstring."""
    try:
        os.makedirs(folder, exist_ok=True)
        for image, result in zip(images, results):
            stem = os.path.join(folder, image.name)
            image_files.save_png(f"{stem}_input.png", colour.to_uint8(image.bicubic))
            image_files.save_png(f"{stem}_label.png", colour.to_uint8(image.hr))
            image_files.save_png(f"{stem}_srcnn.png", colour.to_uint8(result.sr))
            image_files.save_png(f"{stem}_srcnn_color.png", colour.colour_output(result.sr, image.bicubic_cbcr)
                                 if result.sr_rgb is None else colour.to_uint8(result.sr_rgb))
        with rewriting(os.path.join(folder, "results.csv"), RESULTS) as temporary, \
                open(temporary, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(RESULT_FIELDS)
            for name, *figures in table_rows(results):
                writer.writerow([csv_cell(name), *figures])  # a name is data, never a formula
    except OSError as error:
        raise SettingError(f"{folder}: cannot write the samples ({why_not_a_folder(folder, error)})",
                           "sample_dir") from None


def table_rows(results):
    """(name, bicubic PSNR, SRCNN PSNR, bicubic SSIM, SRCNN SSIM, bicubic RGB PSNR, SRCNN RGB PSNR)
    per image, then the means (nan where a figure is not measured)."""
    rows = [(r.name, r.bicubic_psnr, r.psnr, r.bicubic_ssim, r.ssim, r.bicubic_rgb_psnr, r.rgb_psnr) for r in results]
    means = [float(np.mean([row[column] for row in rows])) for column in range(1, 5)]
    # RGB PSNR: the mean over the images in colour (greyscale ones have none).
    means += [float(np.mean(values)) if (values := [row[column] for row in rows if np.isfinite(row[column])])
              else float("nan") for column in (5, 6)]
    rows.append(("mean", *means))
    return [(name, *(round(value, 4) for value in values)) for name, *values in rows]


def format_table(results):
    """The results as a fixed-width text table."""
    with_rgb = any(np.isfinite(result.rgb_psnr) for result in results)
    rgb_header = f"{'bicubic RGB':>13}{'SRCNN RGB':>11}" if with_rgb else ""
    lines = [f"{'image':<16}{'bicubic PSNR':>14}{'SRCNN PSNR':>12}{'bicubic SSIM':>14}{'SRCNN SSIM':>12}{rgb_header}"]
    for name, bicubic_psnr, psnr, bicubic_ssim, ssim, bicubic_rgb, rgb in table_rows(results):
        rgb_cells = f"{bicubic_rgb:>13.2f}{rgb:>11.2f}" if with_rgb else ""
        lines.append(f"{printable(name):<16}{bicubic_psnr:>14.2f}{psnr:>12.2f}{bicubic_ssim:>14.4f}{ssim:>12.4f}"
                     f"{rgb_cells}")
    return "\n".join(lines)
