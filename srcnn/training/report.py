"""sample/index.html: the test results as one page to look at, written by step3_test.py.

The page is self-contained (inline CSS and SVG, no script, nothing fetched from the
network) and links the PNGs beside it by relative path, so the sample folder can be
moved or zipped whole. It shows:
    - PSNR and SSIM per image and their mean, bicubic and SRCNN, with the paper's figures
      where the test set is one the paper reports (Set5 x2/x3/x4, Set14 x3);
    - the validation-PSNR curve of the training run, next to bicubic and the paper, when
      a history.csv is given (see `default_history`);
    - per image: ground truth, bicubic and SRCNN side by side, and a 4x enlarged crop of
      the window where SRCNN gains the most over bicubic.

PNGs it adds to the sample folder per image (next to those of `srcnn.training.evaluate`):
    <name>_label_color.png   ground truth      } all three with the bicubic Cb/Cr, so they
    <name>_input_color.png   bicubic           } differ only in Y, what the network restores
    (<name>_srcnn_color.png  SRCNN, written by srcnn.training.evaluate)  and what the figures measure
    <name>_label_crop.png, <name>_input_crop.png, <name>_srcnn_crop.png: the crops, enlarged
"""

import html
import math
import os
import urllib.parse

import numpy as np

from srcnn.training import history
from srcnn.core import metrics
from srcnn.training import run_folder
from srcnn.core.colour import colour_output, to_uint8
from srcnn.core import image_files
from srcnn.training.evaluate import table_rows
from srcnn.core.errors import SRCNNError, SettingError, os_reason
from srcnn.core.outputs import KINDS, rewriting

CROP_WINDOW = 48  # side of the compared window, in image pixels
CROP_ZOOM = 8  # nearest-neighbour enlargement of the crops: about as wide as the images beside them

# Dong et al., ECCV 2014, SRCNN 9-1-5 trained on the 91 images: mean PSNR (dB) of
# (bicubic, SRCNN) on the Y channel, and SRCNN per image where the paper lists it.
PAPER_MEANS = {
    ("Set5", 2): (33.66, 36.34),
    ("Set5", 3): (30.39, 32.39),
    ("Set5", 4): (28.42, 30.09),
    ("Set14", 3): (27.54, 29.00),
}
PAPER_PER_IMAGE = {
    ("Set5", 3): {"baby": 35.01, "bird": 34.91, "butterfly": 27.58, "head": 33.55, "woman": 30.92},
}
TEST_SETS = {
    "Set5": frozenset({"baby", "bird", "butterfly", "head", "woman"}),
    "Set14": frozenset({"baboon", "barbara", "bridge", "coastguard", "comic", "face", "flowers", "foreman",
                        "lenna", "man", "monarch", "pepper", "ppt3", "zebra"}),
}


def plain_name(name):
    """'baby_GT' -> 'baby': Set5 and Set14 files carry a _GT suffix in some copies."""
    return name[:-3] if name.endswith("_GT") else name


def identify_test_set(names):
    """'Set5' or 'Set14' when `names` are exactly that set's images, else None."""
    found = frozenset(plain_name(name).lower() for name in names)
    return next((test_set for test_set, members in TEST_SETS.items() if members == found), None)


def default_history(weights_prefix, scale):
    """The training history that belongs to the weights, or None (`run_folder.history_of`)."""
    return run_folder.history_of(weights_prefix, scale)


def read_history(path):
    """(epochs, psnr, bicubic_psnr) lists from step2_train's history.csv (its whole rows with a
    validation PSNR); None if it cannot be read or has none."""
    try:
        rows, _ = history.read(path)
    except SRCNNError:
        return None
    points = [(int(row["epoch"]), row["psnr"], row["bicubic_psnr"]) for row in rows
              if math.isfinite(row["psnr"]) and math.isfinite(row["bicubic_psnr"])]
    return [list(column) for column in zip(*points)] if points else None


def best_gain_window(hr, bicubic, sr, shave, window=CROP_WINDOW):
    """(top, left, side) of the square window where SRCNN's squared error falls most below bicubic's.

    Box-filters the per-pixel difference of squared errors with an integral image and takes
    its maximum, inside the border that PSNR shaves.
    """
    bicubic = np.clip(bicubic[..., 0], 0.0, 1.0)  # as the figures see it (8-bit)
    gain = (bicubic - hr[..., 0]) ** 2 - (sr[..., 0] - hr[..., 0]) ** 2
    height, width = gain.shape
    inner = gain[shave:height - shave, shave:width - shave] if min(height, width) > 2 * shave + 1 else gain
    offset = shave if inner is not gain else 0
    side = min(window, *inner.shape)
    integral = np.pad(np.cumsum(np.cumsum(inner, axis=0, dtype=np.float64), axis=1), ((1, 0), (1, 0)))
    sums = (integral[side:, side:] - integral[:-side, side:] - integral[side:, :-side] + integral[:-side, :-side])
    top, left = np.unravel_index(np.argmax(sums), sums.shape)
    return int(top) + offset, int(left) + offset, side


def enlarge(image, zoom=CROP_ZOOM):
    """Nearest-neighbour enlargement of a uint8 (H, W) or (H, W, C) image."""
    return np.repeat(np.repeat(image, zoom, axis=0), zoom, axis=1)


def write_page(folder, images, results, scale, weights, padding, history_path=None):
    """Writes the colour and crop PNGs and index.html (see the module docstring) to `folder`.

    Args:
        folder: the sample folder, where srcnn.training.evaluate.write_samples wrote its PNGs.
        images: the `srcnn.training.test_set.TestImage`s evaluated.
        results: their `srcnn.training.evaluate.ImageResult`s, in the same order (with SSIM).
        scale: the upscaling factor.
        weights: the checkpoint prefix evaluated (shown on the page).
        padding: the padding evaluated with (shown on the page).
        history_path: step2_train's history.csv for the curve, or None for no curve.

    Returns:
        The path of index.html.
    """
    try:
        return _write_page(folder, images, results, scale, weights, padding, history_path)
    except OSError as error:
        raise SettingError(f"{folder}: cannot write the sample page ({os_reason(error)})", "sample_dir") from None


def _write_page(folder, images, results, scale, weights, padding, history_path):
    test_set = identify_test_set([image.name for image in images])
    sections = []
    for image, result in zip(images, results):
        top, left, side = best_gain_window(image.hr, image.bicubic, result.sr, scale)
        window = (slice(top, top + side), slice(left, left + side))
        versions = {"label": image.hr, "input": image.bicubic, "srcnn": result.sr}
        crop_psnr = {}
        for kind, y in versions.items():
            colour = (to_uint8(result.sr_rgb) if kind == "srcnn" and result.sr_rgb is not None
                      else colour_output(np.clip(y, 0.0, 1.0), image.bicubic_cbcr))
            if kind != "srcnn":  # srcnn.training.evaluate wrote <name>_srcnn_color.png
                image_files.save_png(os.path.join(folder, f"{image.name}_{kind}_color.png"), colour)
            image_files.save_png(os.path.join(folder, f"{image.name}_{kind}_crop.png"), enlarge(colour[window]))
            if kind != "label":
                crop_psnr[kind] = metrics.psnr(y[window], image.hr[window], 0)  # a window: no border to shave
        sections.append(_image_section(image, result, (top, left, side), crop_psnr, test_set, scale))
    curve = read_history(history_path) if history_path else None
    page = _PAGE.format(
        title=html.escape(f"SRCNN x{scale} on {test_set or f'{len(images)} test images'}"),
        style=_STYLE,
        weights=html.escape(weights), padding=html.escape(padding), scale=scale,
        colours=COLOUR_NETWORK_NOTE if any(result.sr_rgb is not None for result in results) else Y_NETWORK_NOTE,
        table=_results_table(results, test_set, scale),
        curve=_curve_section(curve, history_path, results, test_set, scale),
        sections="\n".join(sections))
    path = os.path.join(folder, "index.html")
    with rewriting(path, KINDS["html"]) as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(page)
    return path


Y_NETWORK_NOTE = ("Colours: all three versions of an image carry the bicubic Cb/Cr, so they differ only in Y, "
                  "which the network restores and the figures measure.")
COLOUR_NETWORK_NOTE = ("Colours: this network restores all three planes, so its version is its own colour "
                       "output, and the ground truth and bicubic carry the bicubic Cb/Cr; the figures measure Y "
                       "(its RGB PSNR is in results.csv).")


def _link(name):
    return html.escape(urllib.parse.quote(name))


def _decibels(value):
    return "&infin;" if math.isinf(value) else f"{value:.2f}"


def _results_table(results, test_set, scale):
    paper_mean = PAPER_MEANS.get((test_set, scale))
    per_image = PAPER_PER_IMAGE.get((test_set, scale), {})
    rows = []
    for name, bicubic_psnr, psnr, bicubic_ssim, ssim, *_ in table_rows(results):
        is_mean = name == "mean"
        paper = (paper_mean[1] if is_mean else per_image.get(plain_name(name))) if paper_mean else None
        paper_bicubic = paper_mean[0] if paper_mean and is_mean else None
        label = "mean" if is_mean else f'<a href="#{_link(name)}">{html.escape(plain_name(name))}</a>'
        rows.append(
            f'<tr{" class=mean" if is_mean else ""}><th scope=row>{label}</th>'
            f"<td>{_decibels(bicubic_psnr)}</td><td class=paper>{_decibels(paper_bicubic) if paper_bicubic else ''}</td>"
            f"<td class=ours>{_decibels(psnr)}</td><td class=paper>{_decibels(paper) if paper else ''}</td>"
            f"<td class=gain>{psnr - bicubic_psnr:+.2f}</td>"
            f"<td>{bicubic_ssim:.4f}</td><td class=ours>{ssim:.4f}</td></tr>")
    source = ("Paper: Dong et al., ECCV 2014, SRCNN 9-1-5 trained on the 91 images"
              + ("" if per_image else "; it gives the mean only") if paper_mean
              else "The paper reports no figures for this test set and scale")
    return (
        f"<h2>PSNR and SSIM <small>{len(results)} images</small></h2>\n"
        "<table class=figures>\n<thead><tr><th rowspan=2>image</th><th colspan=2>bicubic PSNR (dB)</th>"
        "<th colspan=2>SRCNN PSNR (dB)</th><th rowspan=2>gain</th><th colspan=2>SSIM</th></tr>\n"
        "<tr><th>ours</th><th class=paper>paper</th><th>ours</th><th class=paper>paper</th>"
        "<th>bicubic</th><th>SRCNN</th></tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table>\n"
        f"<p class=note>Y channel (MATLAB rgb2ycbcr), 8-bit, {scale} px shaved from each border. {source}.</p>")


def _image_section(image, result, window, crop_psnr, test_set, scale):
    top, left, side = window
    height, width = image.hr.shape[:2]
    paper = PAPER_PER_IMAGE.get((test_set, scale), {}).get(plain_name(image.name))
    paper_note = f' <span class=paper>(paper {paper:.2f})</span>' if paper else ""
    box = (f"left:{100 * left / width:.3f}%;top:{100 * top / height:.3f}%;"
           f"width:{100 * side / width:.3f}%;height:{100 * side / height:.3f}%")
    name = html.escape(plain_name(image.name))
    full = []
    crops = []
    captions = {"label": ("ground truth", "PSNR / SSIM"),
                "input": ("bicubic", f"{result.bicubic_psnr:.2f} dB / {result.bicubic_ssim:.4f}"),
                "srcnn": ("SRCNN", f"{result.psnr:.2f} dB / {result.ssim:.4f}{paper_note}")}
    for kind, (what, figures) in captions.items():
        full.append(
            f'<figure><div class=frame><img src="{_link(f"{image.name}_{kind}_color.png")}" width={width} '
            f'height={height} alt="{name}: {what}"><div class=box style="{box}"></div></div>'
            f"<figcaption><b>{what}</b> {figures if kind != 'label' else ''}</figcaption></figure>")
        local = f"{crop_psnr[kind]:.2f} dB in this window" if kind in crop_psnr else f"{side}&times;{side} px at x {left}, y {top}"
        crops.append(
            f'<figure><img class=crop src="{_link(f"{image.name}_{kind}_crop.png")}" width={side * CROP_ZOOM} '
            f'height={side * CROP_ZOOM} alt="{name}: {what}, enlarged"><figcaption><b>{what}</b> {local}</figcaption></figure>')
    return (
        f'<section class=image id="{_link(image.name)}">\n'
        f"<h2>{name} <small>{width}&times;{height} &middot; bicubic {result.bicubic_psnr:.2f} dB &rarr; "
        f"SRCNN {result.psnr:.2f} dB ({result.psnr - result.bicubic_psnr:+.2f})</small></h2>\n"
        f'<div class=row>{"".join(full)}</div>\n'
        f"<p class=note>Enlarged {CROP_ZOOM}&times; (nearest neighbour): the {side}&times;{side} window "
        f"(boxed above) where SRCNN gains the most over bicubic.</p>\n"
        f'<div class="row crops">{"".join(crops)}</div>\n</section>')


def _curve_section(curve, history_path, results, test_set, scale):
    if curve is None:
        return ("" if not history_path else
                f"<p class=note>No training curve: <code>{html.escape(history_path)}</code> has no readable rows.</p>")
    epochs, psnr, bicubic = curve
    paper_mean = PAPER_MEANS.get((test_set, scale))
    page_bicubic = float(np.mean([result.bicubic_psnr for result in results]))
    # The history's validation set is the one training watched; the paper's line only
    # belongs on the chart when that is this page's test set (same bicubic figure).
    paper = paper_mean[1] if paper_mean and abs(bicubic[-1] - page_bicubic) < 0.02 else None
    svg = _curve_svg(epochs, psnr, bicubic[-1], paper)
    best = max(range(len(psnr)), key=psnr.__getitem__)
    return (
        "<div class=curve><h2>Training <small>validation PSNR per epoch, from "
        f"<code>{html.escape(history_path)}</code></small></h2>\n{svg}\n"
        f"<p class=note>{len(epochs)} epochs; last {psnr[-1]:.2f} dB, best {psnr[best]:.2f} dB at epoch "
        f"{epochs[best]}; bicubic {bicubic[-1]:.2f} dB"
        + (f"; paper {paper:.2f} dB" + (f", first reached at epoch {next(e for e, p in zip(epochs, psnr) if p >= paper)}"
                                        if max(psnr) >= paper else ", not reached") if paper else "")
        + ".</p></div>")


def _curve_svg(epochs, psnr, bicubic, paper, width=560, height=290):
    """An inline SVG line chart: PSNR against epoch, with bicubic and the paper as lines."""
    margin_left, margin_right, margin_top, margin_bottom = 52, 104, 14, 40
    plot_width, plot_height = width - margin_left - margin_right, height - margin_top - margin_bottom
    references = [value for value in (bicubic, paper) if value is not None]
    # The first epochs start far below; the interesting part is near bicubic and the paper.
    low = math.floor((max(min(min(psnr), *references), min(references) - 1.0) - 0.1) * 2) / 2
    high = math.ceil((max(max(psnr), *references) + 0.1) * 2) / 2
    first, last = min(epochs), max(max(epochs), min(epochs) + 1)

    def x(epoch):
        return margin_left + plot_width * (epoch - first) / (last - first)

    def y(value):
        return margin_top + plot_height * (high - min(max(value, low), high)) / (high - low)

    parts = [f'<svg class=chart viewBox="0 0 {width} {height}" width={width} height={height} role=img '
             'aria-label="validation PSNR against epoch">']  # inline in HTML: no xmlns needed
    step = 0.5 if high - low <= 4 else 1.0
    tick = low
    while tick <= high + 1e-9:
        parts.append(f'<line class=grid x1={margin_left} x2={margin_left + plot_width} y1={y(tick):.1f} '
                     f'y2={y(tick):.1f} /><text class=axis x={margin_left - 6} y={y(tick) + 4:.1f} '
                     f'text-anchor=end>{tick:.1f}</text>')
        tick += step
    for epoch in _epoch_ticks(first, last):
        parts.append(f'<text class=axis x={x(epoch):.1f} y={margin_top + plot_height + 16} '
                     f'text-anchor=middle>{epoch}</text>')
    parts.append(f'<text class=axis x={margin_left + plot_width / 2:.1f} y={height - 6} text-anchor=middle>epoch</text>')
    parts.append(f'<text class=axis transform="translate(13 {margin_top + plot_height / 2:.1f}) rotate(-90)" '
                 'text-anchor=middle>PSNR (dB)</text>')
    for value, kind, label in ((bicubic, "bicubic", "bicubic"), (paper, "paper", "paper")):
        if value is not None:
            parts.append(f'<line class={kind} x1={margin_left} x2={margin_left + plot_width} y1={y(value):.1f} '
                         f'y2={y(value):.1f} /><text class="label {kind}" x={margin_left + plot_width + 6} '
                         f'y={y(value) + 4:.1f}>{label} {value:.2f}</text>')
    points = " ".join(f"{x(epoch):.1f},{y(value):.1f}" for epoch, value in zip(epochs, psnr))
    parts.append(f'<polyline class=srcnn points="{points}" />')
    parts.append(f'<text class="label srcnn" x={margin_left + plot_width + 6} y={y(psnr[-1]) + 4 + _nudge(psnr[-1], references, high - low, plot_height):.1f}>'
                 f"SRCNN {psnr[-1]:.2f}</text>")
    parts.append(f'<rect class=plot x={margin_left} y={margin_top} width={plot_width} height={plot_height} />')
    parts.append("</svg>")
    return "\n".join(parts)


def _nudge(value, references, span, plot_height):
    """Pixels to move the SRCNN label so it does not sit on a reference line's label."""
    for reference in references:
        gap = (value - reference) / span * plot_height
        if abs(gap) < 14:
            return -(14 - abs(gap)) if gap >= 0 else 14 - abs(gap)
    return 0


def _epoch_ticks(first, last, count=8):
    raw = (last - first) / count
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = max(1, next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw))  # whole epochs
    start = math.ceil(first / step) * step
    return [int(tick) for tick in np.arange(start, last + 1e-9, step)]


_STYLE = """
:root { --ink: #1d232b; --muted: #5b6470; --line: #d9dee5; --ours: #0b63c5; --paper: #c05a00; --bicubic: #7a828c; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--ink); background: #f5f6f8; }
main { max-width: 1320px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0 0 12px; }
h2 small { font-weight: normal; color: var(--muted); font-size: 14px; margin-left: 8px; }
.meta { color: var(--muted); margin: 0 0 20px; }
code { font-size: 13px; background: #e9ecf0; padding: 1px 5px; border-radius: 4px; }
section, .summary { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px;
                    margin: 0 0 22px; }
.summary { display: flex; gap: 32px; flex-wrap: wrap; align-items: flex-start; }
.summary > div:first-child { flex: 0 1 640px; }
.curve { flex: 1 1 480px; min-width: 0; }
table.figures { border-collapse: collapse; font-variant-numeric: tabular-nums; }
table.figures th, table.figures td { padding: 5px 10px; text-align: right; border-bottom: 1px solid var(--line); }
table.figures thead th { text-align: center; font-weight: 600; color: var(--muted); font-size: 13px; }
table.figures tbody th { text-align: left; font-weight: normal; }
table.figures tr.mean th, table.figures tr.mean td { font-weight: 700; border-top: 2px solid var(--ink); border-bottom: 0; }
td.ours { color: var(--ours); font-weight: 600; }
.paper, td.paper, th.paper { color: var(--paper); }
td.gain { color: #1c7c3a; }
a { color: inherit; }
.note { color: var(--muted); font-size: 13px; margin: 8px 0 0; }
.row { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 14px; }
.crops { margin-top: 6px; }
figure { margin: 0; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 4px; }
figcaption b { color: var(--ink); margin-right: 4px; }
.frame { position: relative; line-height: 0; }
.frame img { width: 100%; height: auto; }
.box { position: absolute; border: 2px solid #ffd400; outline: 1px solid #000; }
img.crop { image-rendering: pixelated; width: 100%; height: auto; }
svg.chart { max-width: 100%; height: auto; font: 12px system-ui, "DejaVu Sans", sans-serif; }
svg .grid { stroke: #eceff3; } svg .plot { fill: none; stroke: #b9c0c9; }
svg .axis { fill: var(--muted); }
svg .srcnn { fill: none; stroke: var(--ours); stroke-width: 2; }
svg .bicubic { stroke: var(--bicubic); stroke-width: 1.5; stroke-dasharray: 6 4; }
svg .paper { stroke: var(--paper); stroke-width: 1.5; stroke-dasharray: 2 3; }
svg text.label { stroke: none; font-weight: 600; }
svg text.srcnn { fill: var(--ours); } svg text.bicubic { fill: var(--bicubic); } svg text.paper { fill: var(--paper); }
"""

_PAGE = """<!DOCTYPE html>
<html lang=en>
<head>
<meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p class=meta>Weights <code>{weights}</code> &middot; {padding} padding &middot; bicubic input enlarged {scale}&times;.
{colours}</p>
<div class=summary>
<div>{table}</div>
{curve}
</div>
{sections}
</main>
</body>
</html>
"""
