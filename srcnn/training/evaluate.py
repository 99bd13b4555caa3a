"""Evaluation on test images: restored Y, PSNR/SSIM against the ground truth, sample PNGs.

Output files per image in the sample folder:
    <name>_input.png        bicubic Y (the network's input)
    <name>_label.png        ground-truth Y
    <name>_srcnn.png        SRCNN Y
    <name>_srcnn_color.png  SRCNN Y with the bicubic Cb/Cr, back to RGB (Y only for greyscale)
and results.csv with one row per image and a final "mean" row ("mean" is no image's name, see
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
from srcnn.core.outputs import csv_kind, rewriting
from srcnn.core.model import DEFAULT_PADDING

RESULT_FIELDS = ("image", "bicubic_psnr", "srcnn_psnr", "bicubic_ssim", "srcnn_ssim")
RESULTS = csv_kind("results CSV", ",".join(RESULT_FIELDS))


@dataclass
class ImageResult:
    name: str
    bicubic_psnr: float
    psnr: float
    bicubic_ssim: float
    ssim: float
    sr: np.ndarray  # (H, W, 1) restored Y in [0, 1], clipped


def restore_whole_y(model, bicubic, padding):
    """Runs the network on a whole (H, W, 1) bicubic Y image in one call (no tiles, unlike
    `upscale.TiledSRCNN`); same-size output, clipped to [0, 1]."""
    sr = tf.cast(model(tf.convert_to_tensor(bicubic[None], tf.float32), padding=padding)[0], tf.float32).numpy()
    return np.clip(sr, 0.0, 1.0)


def compiled_restorer(model, images, padding=DEFAULT_PADDING):
    """A function () -> what `restore_whole_y` gives for each image, with the model's current weights.

    The images are independent branches of one compiled graph, traced once: they run side by
    side on the cores, and a training validates each epoch without eager dispatch.
    """
    inputs = [tf.convert_to_tensor(image.bicubic[None], tf.float32) for image in images]
    graph = tf.function(lambda: [model(window, padding=padding) for window in inputs])
    return lambda: [np.clip(tf.cast(restored[0], tf.float32).numpy(), 0.0, 1.0) for restored in graph()]


def evaluate_images(model, images, scale, padding=DEFAULT_PADDING, with_ssim=False, restored=None):
    """PSNR (and SSIM) of bicubic and SRCNN for each `srcnn.training.test_set.TestImage`.

    `restored`: the model's output per image, if already computed (`compiled_restorer`).
    """
    results = []
    for index, image in enumerate(images):
        sr = restored[index] if restored is not None else restore_whole_y(model, image.bicubic, padding)
        results.append(ImageResult(
            name=image.name,
            bicubic_psnr=metrics.psnr(image.bicubic, image.hr, scale),
            psnr=metrics.psnr(sr, image.hr, scale),
            bicubic_ssim=metrics.ssim(image.bicubic, image.hr, scale) if with_ssim else float("nan"),
            ssim=metrics.ssim(sr, image.hr, scale) if with_ssim else float("nan"),
            sr=sr))
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
            image_files.save_png(f"{stem}_srcnn_color.png", colour.colour_output(result.sr, image.bicubic_cbcr))
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
    """(name, bicubic PSNR, SRCNN PSNR, bicubic SSIM, SRCNN SSIM) per image, then the means."""
    rows = [(r.name, r.bicubic_psnr, r.psnr, r.bicubic_ssim, r.ssim) for r in results]
    means = [float(np.mean([row[column] for row in rows])) for column in range(1, 5)]
    rows.append(("mean", *means))
    return [(name, *(round(value, 4) for value in values)) for name, *values in rows]


def format_table(results):
    """The results as a fixed-width text table."""
    lines = [f"{'image':<16}{'bicubic PSNR':>14}{'SRCNN PSNR':>12}{'bicubic SSIM':>14}{'SRCNN SSIM':>12}"]
    for name, bicubic_psnr, psnr, bicubic_ssim, ssim in table_rows(results):
        lines.append(f"{printable(name):<16}{bicubic_psnr:>14.2f}{psnr:>12.2f}{bicubic_ssim:>14.4f}{ssim:>12.4f}")
    return "\n".join(lines)
