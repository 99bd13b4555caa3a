"""The project against its peers, timed in one run: output MPix/s and the ratios.

    python benchmarks/peers.py                                      # 4 MPix x3, shipped x3 weights
    python benchmarks/peers.py --megapixels 1 4 --psnr              # also Set5 PSNR of each method
    python benchmarks/peers.py --peers-dir /work/shared/peers

Methods, all on the same synthetic RGB photo enlarged to about --megapixels:
    ours whole       `srcnn.Upscaler.upscale`, the in-memory API: uint8 RGB in, uint8 RGB
                     out (bicubic, the network on Y, colour), float32 (`srcnn.upscaling.composed_engine`, on
                     the small image's grid) and bfloat16 (TensorFlow tiles)
    ours network     TensorFlow's tiled network alone on a bicubic Y
                     (`TiledSRCNN.restore_y_in_tiles`), the path the whole upscale took in
                     float32 before `srcnn.upscaling.composed_engine`
    torch network    PyTorch running the same 9-1-5 weights with replicate padding on the
                     whole bicubic Y: float32 channels-last, and bfloat16 autocast
    opencv fsrcnn    OpenCV dnn_superres FSRCNN (FSRCNN_x{scale}.pb in --peers-dir) on the
                     RGB photo: the fast CPU upscaler a user would likely pick instead

Each method runs in its own process (TensorFlow, PyTorch and OpenCV bring their own
thread pools and oneDNN), kept waiting between runs: after one untimed run each, the
--repeats timed runs go round the methods in turns, so that the load of a shared
machine changes every method's figures alike; the best run is kept. A peer whose package
(benchmarks/requirements.txt) or model file is missing is skipped with a message. With
--psnr, each method also upscales Set5 (Test/Set5; LR = the modcropped RGB shrunk with
the project's bicubic and rounded to uint8, as a user's photo would be) and the mean Y
PSNR (scale px shaved) is reported. Results go to --csv (benchmarks/results/peers.csv).
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# (name, precision): the order of the table.
METHODS = [("ours whole", "float32"), ("ours whole", "bfloat16"), ("ours network", "float32"),
           ("ours network", "bfloat16"), ("torch network", "float32"), ("torch network", "bfloat16"),
           ("opencv fsrcnn", "float32")]
FIELDS = ("method", "precision", "output", "megapixels", "seconds", "mpix_per_s", "set5_psnr")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megapixels", type=float, nargs="+", default=[4], help="output sizes (4:3)")
    parser.add_argument("--checkpoint", default=None,
                        help="our weights (default: the shipped checkpoint/pretrained/x{scale}/srcnn)")
    parser.add_argument("--scale", type=int, default=3, choices=(2, 3, 4), help="upscaling factor")
    parser.add_argument("--peers-dir", default=os.path.join(ROOT, "..", "shared", "peers"),
                        help="folder of FSRCNN_x{2,3,4}.pb (default: ../shared/peers beside the repository)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (the best is kept)")
    parser.add_argument("--psnr", action="store_true", help="also the mean PSNR on Test/Set5 of each method")
    parser.add_argument("--csv", default=os.path.join(ROOT, "benchmarks", "results", "peers.csv"))
    parser.add_argument("--worker", nargs=2, metavar=("METHOD", "PRECISION"), help=argparse.SUPPRESS)
    parser.add_argument("--inputs", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def prepare_inputs(args, path):
    """Writes what every worker needs to `path` (.npz): weights, photos, bicubic Y, Set5."""
    import tensorflow as tf  # noqa: F401  (only the parent and our workers load TensorFlow)

    from benchmarks.upscale_speed import output_size, synthetic_photo
    from srcnn.core import checkpoints
    from srcnn.core import colour
    from srcnn.core import image_files
    from srcnn.core import resampling

    prefix = checkpoints.resolve(args.checkpoint) if args.checkpoint else checkpoints.pretrained_path(args.scale)
    model, config = checkpoints.load_model(prefix)
    if config["scale"] != args.scale:
        raise SystemExit(f"{prefix}: trained for x{config['scale']}, not x{args.scale}")
    arrays = {"prefix": np.array(prefix), "scale": np.array(args.scale)}
    for index, layer in enumerate((model.conv1, model.conv2, model.conv3)):
        arrays[f"kernel{index}"], arrays[f"bias{index}"] = layer.kernel.numpy(), layer.bias.numpy()
    for index, megapixels in enumerate(args.megapixels):
        height, width = output_size(megapixels, args.scale)
        photo = synthetic_photo(height // args.scale, width // args.scale)
        arrays[f"photo{index}"] = photo
        arrays[f"bicubic{index}"] = resampling.resize_bicubic(colour.luminance(photo), height, width)
    if args.psnr:
        for index, source in enumerate(image_files.list_images(os.path.join(ROOT, "Test", "Set5"))):
            hr = resampling.modcrop(image_files.load_image(source), args.scale)
            height, width = hr.shape[0] // args.scale, hr.shape[1] // args.scale
            lr = colour.to_uint8(resampling.resize_bicubic(hr / 255.0, height, width))
            arrays[f"set5_hr{index}"], arrays[f"set5_lr{index}"] = hr, lr
            arrays[f"set5_bicubic{index}"] = resampling.resize_bicubic(colour.luminance(lr), *hr.shape[:2])
    np.savez(path, **arrays)


def luminance01(rgb):
    """Y in [0, 1] of a uint8 RGB image, as the project measures it (no TensorFlow needed)."""
    y = 16.0 + (rgb.astype(np.float64) / 255.0) @ np.array([65.481, 128.553, 24.966])
    return np.round(y)[..., None] / 255.0


def psnr_y(sr_y, hr_y, shave):
    """PSNR of two [0, 1] Y images on 8-bit values, `shave` px cut (as srcnn.core.metrics.psnr)."""
    sr = np.clip(np.rint(sr_y * 255.0), 0, 255)[shave:-shave, shave:-shave]
    hr = np.clip(np.rint(hr_y * 255.0), 0, 255)[shave:-shave, shave:-shave]
    return float(10 * np.log10(255.0 ** 2 / np.mean((sr - hr) ** 2)))


def ours(inputs, method, precision):
    """(upscale function of a case index, Set5 Y function) for our whole upscale or network."""
    from srcnn import Upscaler
    from srcnn.core import checkpoints
    from srcnn.upscaling.tensorflow_engine import TiledSRCNN

    model, _ = checkpoints.load_model(str(inputs["prefix"]))
    scale = int(inputs["scale"])
    if method == "ours whole":
        upscaler = Upscaler(model, scale, precision=precision)
        return (lambda index: upscaler.upscale(inputs[f"photo{index}"]),
                lambda index: luminance01(upscaler.upscale(inputs[f"set5_lr{index}"])))
    network = TiledSRCNN(model, precision=precision)
    return (lambda index: network.restore_y_in_tiles(inputs[f"bicubic{index}"]),
            lambda index: network.restore_y_in_tiles(inputs[f"set5_bicubic{index}"]))


def torch_network(inputs, precision):
    """The same network in PyTorch (replicate padding per layer), on a whole bicubic Y."""
    import torch
    import torch.nn.functional as F

    layers = []
    for index in range(3):
        kernel = torch.from_numpy(inputs[f"kernel{index}"]).permute(3, 2, 0, 1).contiguous()
        layers.append((kernel.to(memory_format=torch.channels_last), torch.from_numpy(inputs[f"bias{index}"])))

    def run(bicubic):
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=precision == "bfloat16"):
            features = torch.from_numpy(bicubic).permute(2, 0, 1)[None].contiguous(memory_format=torch.channels_last)
            for index, (kernel, bias) in enumerate(layers):
                half = kernel.shape[-1] // 2
                if half:
                    features = F.pad(features, (half,) * 4, mode="replicate")
                features = F.conv2d(features, kernel, bias)
                if index < 2:
                    features = F.relu(features)
            return features.float()[0].permute(1, 2, 0).clamp(0, 1).numpy()

    return lambda index: run(inputs[f"bicubic{index}"]), lambda index: run(inputs[f"set5_bicubic{index}"])


def opencv_fsrcnn(inputs, peers_dir):
    """OpenCV dnn_superres FSRCNN on the RGB photo (it takes and gives BGR)."""
    import cv2

    scale = int(inputs["scale"])
    path = os.path.join(peers_dir, f"FSRCNN_x{scale}.pb")
    if not os.path.exists(path):
        raise ImportError(f"{path} is missing (pass --peers-dir)")
    upscaler = cv2.dnn_superres.DnnSuperResImpl_create()
    upscaler.readModel(path)
    upscaler.setModel("fsrcnn", scale)

    def run(rgb):
        return np.ascontiguousarray(upscaler.upsample(np.ascontiguousarray(rgb[..., ::-1]))[..., ::-1])

    return lambda index: run(inputs[f"photo{index}"]), lambda index: luminance01(run(inputs[f"set5_lr{index}"]))


def worker(args):
    """Serves one method: answers "time INDEX" with seconds, "psnr" with the Set5 mean (JSON lines)."""
    method, precision = args.worker
    inputs = dict(np.load(args.inputs))
    try:
        if method.startswith("ours"):
            upscale_case, set5_y = ours(inputs, method, precision)
        elif method == "torch network":
            upscale_case, set5_y = torch_network(inputs, precision)
        else:
            upscale_case, set5_y = opencv_fsrcnn(inputs, args.peers_dir)
    except ImportError as error:
        print(json.dumps({"skipped": str(error)}), flush=True)
        return 0
    for index in range(len(args.megapixels)):
        upscale_case(index)  # untimed: traces, allocates, warms the caches
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = line.split()
        if request[0] == "time":
            started = time.perf_counter()
            upscale_case(int(request[1]))
            print(json.dumps({"seconds": time.perf_counter() - started}), flush=True)
        elif request[0] == "psnr":
            scale, count = int(inputs["scale"]), sum(name.startswith("set5_hr") for name in inputs)
            psnr = [psnr_y(set5_y(index), luminance01(inputs[f"set5_hr{index}"]), scale) for index in range(count)]
            print(json.dumps({"psnr": float(np.mean(psnr))}), flush=True)
    return 0


class Worker:
    """One method's process, started by the parent; None-like (`ready` False) when skipped."""

    def __init__(self, args, method, precision, inputs_path):
        self.method, self.precision = method, precision
        command = [sys.executable, os.path.abspath(__file__), "--worker", method, precision, "--inputs", inputs_path,
                   "--peers-dir", args.peers_dir, "--scale", str(args.scale),
                   "--megapixels", *map(str, args.megapixels)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
        answer = self._answer()
        self.ready = bool(answer and answer.get("ready"))
        if not self.ready:
            reason = answer["skipped"] if answer and "skipped" in answer else "the worker failed"
            print(f"skipped {method} {precision}: {reason}")
            self.close()

    def _answer(self):
        for line in self.process.stdout:
            if line.startswith("{"):
                return json.loads(line)
        return None

    def ask(self, request, key):
        self.process.stdin.write(request + "\n")
        self.process.stdin.flush()
        return self._answer()[key]

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait()


def measure(args, inputs_path):
    """Table rows: best time per method and size, the repeats taken in turns across methods."""
    from benchmarks.upscale_speed import output_size

    workers = []
    for method, precision in METHODS:  # one at a time: each warms up with the CPU to itself
        worker_process = Worker(args, method, precision, inputs_path)
        if worker_process.ready:
            workers.append(worker_process)
    best = {}
    # In turns, so that a change in the machine's load hits every method alike.
    for _ in range(args.repeats):
        for index in range(len(args.megapixels)):
            for worker_process in workers:
                time.sleep(0.5)  # OpenMP (PyTorch) threads spin a while after work: let them stop first
                seconds = worker_process.ask(f"time {index}", "seconds")
                key = (worker_process.method, worker_process.precision, index)
                best[key] = min(best.get(key, float("inf")), seconds)
    rows = []
    for worker_process in workers:
        psnr = round(worker_process.ask("psnr", "psnr"), 2) if args.psnr else ""
        worker_process.close()
        for index, megapixels in enumerate(args.megapixels):
            height, width = output_size(megapixels, args.scale)
            pixels, seconds = height * width / 1e6, best[(worker_process.method, worker_process.precision, index)]
            rows.append({"method": worker_process.method, "precision": worker_process.precision,
                         "output": f"{width}x{height}", "megapixels": round(pixels, 2), "seconds": round(seconds, 4),
                         "mpix_per_s": round(pixels / seconds, 3), "set5_psnr": psnr})
    return rows


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    from srcnn.core.precision import resolve_precision

    with tempfile.TemporaryDirectory() as folder:
        inputs_path = os.path.join(folder, "inputs.npz")
        prepare_inputs(args, inputs_path)
        print(f"x{args.scale}, best of {args.repeats} taken in turns, {os.cpu_count()} CPUs, one process per method")
        rows = measure(args, inputs_path)
    print(f"{'method':<15}{'precision':<11}{'output':>11}{'MPix/s':>9}{'Set5 PSNR':>11}")
    for row in rows:
        print(f"{row['method']:<15}{row['precision']:<11}{row['output']:>11}{row['mpix_per_s']:>9.2f}"
              f"{row['set5_psnr']:>11}")
    print_ratios(rows, resolve_precision("auto"))
    os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
    with open(args.csv, "w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.csv}")
    return 0


def print_ratios(rows, auto):
    """Speed ratios per output size: our whole upscale against the network alone and the peers."""
    speed = {(row["method"], row["precision"], row["output"]): row["mpix_per_s"] for row in rows}
    for output in dict.fromkeys(row["output"] for row in rows):
        pairs = [(f"ours whole / ours network, {precision}", ("ours whole", precision), ("ours network", precision))
                 for precision in ("float32", "bfloat16")]
        pairs += [(f"ours whole {auto} (auto) / opencv fsrcnn", ("ours whole", auto), ("opencv fsrcnn", "float32"))]
        pairs += [(f"ours network / torch network, {precision}", ("ours network", precision),
                   ("torch network", precision)) for precision in ("float32", "bfloat16")]
        for name, top, bottom in pairs:
            if (*top, output) in speed and (*bottom, output) in speed:
                print(f"{output}  {name}: {speed[(*top, output)] / speed[(*bottom, output)]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
