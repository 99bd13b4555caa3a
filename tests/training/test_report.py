"""sample/index.html: the crop it picks, its figures, and the page as headless Chromium renders it."""

import csv
import json
import re
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest

import step3_test
from srcnn.core import checkpoints
from srcnn.training import report

from tiny_data import HANG_GUARD, write_h5s

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)

# Appended to a copy of the page (the page itself has no script): after every image has
# loaded or failed, lists each <img> with whether it decoded, for --dump-dom to print.
PROBE = """<script>
addEventListener("load", () => {
  const images = [...document.images].map(image => ({src: image.getAttribute("src"),
      loaded: image.complete && image.naturalWidth > 0, width: image.naturalWidth}));
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({images, polylines: document.querySelectorAll("svg polyline").length});
  document.body.append(probe);
});
</script>"""


def test_best_gain_window_is_where_srcnn_beats_bicubic():
    rng = np.random.default_rng(0)
    hr = rng.random((150, 200, 1))
    bicubic = hr + rng.normal(0, 0.05, hr.shape)
    sr = bicubic.copy()
    sr[70:118, 90:138] = hr[70:118, 90:138]  # SRCNN exact in one 48x48 window, as bicubic elsewhere
    assert report.best_gain_window(hr, bicubic, sr, shave=3) == (70, 90, 48)
    small = hr[:30, :40]  # shorter than the window: as tall as the image inside the shave
    top, left, side = report.best_gain_window(small, small + 0.1, small, shave=3)
    assert (top, side) == (3, 24) and 3 <= left <= 40 - 3 - 24


def test_test_sets_and_paper_figures():
    assert report.identify_test_set(["baby_GT", "bird_GT", "butterfly_GT", "head_GT", "woman_GT"]) == "Set5"
    assert report.identify_test_set(["baby", "bird", "butterfly", "head"]) is None
    assert report.identify_test_set(["chelsea"]) is None
    per_image = report.PAPER_PER_IMAGE[("Set5", 3)]
    assert round(np.mean(list(per_image.values())), 2) == report.PAPER_MEANS[("Set5", 3)][1]


def write_history(path, epochs=6):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", "step", "seconds", "loss", "psnr", "bicubic_psnr"])
        for epoch in range(1, epochs + 1):
            writer.writerow([epoch, epoch * 100, epoch * 4.0, 0.002, 29.5 + 0.3 * epoch, 30.0])


def test_a_damaged_row_costs_the_curve_that_row_only(tmp_path):
    path = tmp_path / "history.csv"
    write_history(path, epochs=4)
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = "2,200,8.0,0.002,not-a-number,30.0\n"  # epoch 2 damaged
    path.write_text("".join(lines) + "5,500,20")  # and a row cut off by a kill
    epochs, psnr, bicubic = report.read_history(path)
    assert epochs == [1, 3, 4] and psnr == pytest.approx([29.8, 30.4, 30.7]) and bicubic == [30.0] * 3
    path.write_text("epoch,step\n")
    assert report.read_history(path) is None


def test_paper_line_only_when_the_history_watched_this_test_set(tmp_path):
    path = tmp_path / "history.csv"
    write_history(path, epochs=12)  # 29.8 ... 33.1 dB, bicubic 30.00
    history = report.read_history(path)
    same_set = report._curve_section(history, str(path), [SimpleNamespace(bicubic_psnr=30.0)], "Set5", 3)
    assert "class=paper" in same_set and "paper 32.39 dB, first reached at epoch 10" in same_set
    other_set = report._curve_section(history, str(path), [SimpleNamespace(bicubic_psnr=30.39)], "Set5", 3)
    assert "class=paper" not in other_set and "bicubic 30.00" in other_set
    assert other_set.count("<polyline") == 1


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """step3_test on a small test set with the shipped x3 weights and a training history."""
    folder = tmp_path_factory.mktemp("report")
    _, test_h5 = write_h5s(str(folder / "h5"), count=16)
    history = folder / "history.csv"
    write_history(history)
    sample = folder / "sample"
    assert step3_test.main(["--test-h5", test_h5, "--checkpoint", checkpoints.pretrained_path(3),
                            "--sample-dir", str(sample), "--history", str(history)]) == 0
    return sample / "index.html"


def test_page_is_self_contained_and_links_the_pngs_beside_it(page):
    text = page.read_text()
    assert "<script" not in text.lower() and "http://" not in text and "https://" not in text
    sources = re.findall(r'<img[^>]* src="([^"]+)"', text)
    expected = {f"chelsea_{kind}_{version}.png" for kind in ("label", "input", "srcnn")
                for version in ("color", "crop")}
    assert set(sources) == expected
    assert all((page.parent / source).is_file() for source in sources)
    assert "<polyline class=srcnn" in text and "bicubic 30.00" in text  # the history's curve and line
    assert "The paper reports no figures for this test set" in text  # chelsea is no paper test set


@pytest.mark.slow
@pytest.mark.skipif(BROWSER is None, reason="no Chromium installed (apt-get install chromium)")
def test_page_renders_in_chromium_with_every_image_loaded(page, tmp_path):
    probed = page.parent / "probe.html"
    broken = '<img src="no-such-file.png" alt="the probe must see this one fail">'
    probed.write_text(page.read_text().replace("</body>", f"{broken}\n{PROBE}\n</body>"))
    done = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=HANG_GUARD)
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stderr[-2000:]
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    loaded = {image["src"]: image["loaded"] for image in result["images"]}
    assert loaded.pop("no-such-file.png") is False
    assert len(loaded) == 6 and all(loaded.values()), loaded
    assert result["polylines"] == 1
