"""Screenshot of sample/index.html in headless Chromium, for the README (docs/sample_page.png).

    python step3_test.py --test-dir Test/Set5 --scale 3 --checkpoint checkpoint/pretrained/x3/srcnn
    python tools/screenshot_page.py sample/index.html docs/sample_page.png --height 1572

--height cuts the page after the summary and the first image (the whole page is ~5,700 px).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("page", help="the HTML page, e.g. sample/index.html")
    parser.add_argument("output", help="the PNG to write")
    parser.add_argument("--width", type=int, default=1360, help="window width in CSS pixels")
    parser.add_argument("--height", type=int, default=None, help="keep the top HEIGHT pixels (default: the whole page)")
    args = parser.parse_args(argv)
    browser = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
    if browser is None:
        print("error: no Chromium found; install it (apt-get install chromium)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as profile:
        shot = os.path.join(profile, "shot.png")
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--window-size={args.width},{args.height or 8000}",
                        f"--screenshot={shot}", "file://" + os.path.abspath(args.page)],
                       check=True, capture_output=True, timeout=300)
        image = Image.open(shot).convert("RGB")
        if args.height is None:  # cut the empty window below the page's end
            pixels = np.asarray(image)
            rows = np.flatnonzero((pixels != pixels[-1, -1]).any(axis=(1, 2)))
            image = image.crop((0, 0, image.width, int(rows[-1]) + 24 if rows.size else image.height))
        image.save(args.output, optimize=True)
    print(f"wrote {args.output} ({image.width}x{image.height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
