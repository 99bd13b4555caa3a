"""A real TensorBoard server over the logs of a short run, read back through its HTTP API."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import step2_train

from tiny_data import HANG_GUARD, write_h5s

pytestmark = pytest.mark.slow  # trains, then starts a TensorBoard server


@pytest.fixture
def tensorboard(tmp_path):
    """Starts `tensorboard --logdir tmp_path/logs` on a free port; yields a JSON/bytes getter."""
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(tmp_path / "logs"),
                               "--host", "127.0.0.1", "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)  # its own group: the data server it starts dies with it
    lines = []
    threading.Thread(target=lambda: lines.extend(server.stdout), daemon=True).start()
    try:
        deadline = time.monotonic() + HANG_GUARD  # TensorBoard imports TensorFlow: slow on a busy CPU
        port = None
        while port is None and time.monotonic() < deadline and server.poll() is None:
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", "".join(lines))
            port = found and int(found.group(1))
            time.sleep(0.1)
        assert port, "tensorboard did not start:\n" + "".join(lines)

        def get(route, **query):
            url = f"http://127.0.0.1:{port}{route}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
            with urllib.request.urlopen(url, timeout=HANG_GUARD) as response:
                body = response.read()
            return json.loads(body) if response.headers.get_content_type() == "application/json" else body

        yield get
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(30)


def eventually(fetch, ready, timeout=HANG_GUARD):
    """fetch() until ready(result) (the server loads logs in the background); `timeout` only guards a hang."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = fetch()
            if ready(result):
                return result
        except urllib.error.HTTPError:
            pass  # 400 until the run or tag is loaded
        assert time.monotonic() < deadline, f"no data in {timeout} s"
        time.sleep(0.5)


def test_dashboard_serves_loss_psnr_next_to_bicubic_and_images(tmp_path, tensorboard, capsys):
    train_h5, test_h5 = write_h5s(str(tmp_path / "h5"))
    flags = ["--train-h5", train_h5, "--test-h5", test_h5, "--checkpoint-dir", str(tmp_path / "checkpoint"),
             "--log-dir", str(tmp_path / "logs" / "x3"), "--batch-size", "16", "--log-every", "8",
             "--save-every", "16"]
    assert step2_train.main([*flags, "--epochs", "1"]) == 0
    # As if killed after logging step 32 but before saving it: the rerun goes back to step
    # 16 and logs 24 and 32 again; the dashboard must show each step once, the new values.
    for path in (tmp_path / "checkpoint").glob("ckpt-32.*"):
        path.unlink()
    capsys.readouterr()
    assert step2_train.main([*flags, "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "Continuing from step 16" in out
    logged = {int(step): float(loss) for step, loss in re.findall(r"step: \[(\d+)\] .* loss: \[([0-9.e+-]+)\]", out)}
    assert min(logged) == 24 and max(logged) == 64
    with open(tmp_path / "logs" / "x3" / "history.csv", newline="") as handle:
        epochs = list(csv.DictReader(handle))
    assert [row["step"] for row in epochs] == ["32", "64"]

    def scalars(run, tag, count):
        points = eventually(lambda: tensorboard("/data/plugin/scalars/scalars", run=run, tag=tag),
                            lambda points: len(points) == count)
        return {step: value for _, step, value in points}  # [wall time, step, value]

    loss = scalars("x3/train", "loss", 8)  # steps 8, 16, ..., 64, each once
    assert sorted(loss) == list(range(8, 65, 8))
    assert all(abs(loss[step] - logged[step]) < 1e-6 for step in logged)
    assert loss[64] < loss[8]
    psnr = scalars("x3/eval", "psnr", len(epochs))
    bicubic = scalars("x3/bicubic", "psnr", len(epochs))  # same tag: one chart, two curves
    for row in epochs:
        assert abs(psnr[int(row["step"])] - float(row["psnr"])) < 1e-4
        assert abs(bicubic[int(row["step"])] - float(row["bicubic_psnr"])) < 1e-4

    tags = eventually(lambda: tensorboard("/data/plugin/images/tags"), lambda tags: "x3/eval" in tags)
    assert list(tags["x3/eval"]) == ["srcnn/chelsea"]
    images = tensorboard("/data/plugin/images/images", run="x3/eval", tag="srcnn/chelsea")
    png = tensorboard("/data/plugin/images/individualImage?" + images[-1]["query"])
    assert png.startswith(b"\x89PNG")
