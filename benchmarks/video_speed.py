"""Video upscaling speed (frames per second) and memory (peak RSS, short against long clips).

    python benchmarks/video_speed.py                          # 640x360 at x2 and x3, then 100 vs 1000 frames
    python benchmarks/video_speed.py --frames 50 --skip-memory
    python benchmarks/video_speed.py --memory-frames 100 1000 --memory-size 320x240 --skip-speed

Clips are generated with imageio-ffmpeg's ffmpeg (testsrc2 pattern + a sine track, H.264)
in a temporary folder. Speed: `srcnn.upscaling.video.upscale_video` with the shipped weights at the
precision step3_test.py picks (--precision), the whole pipeline from the source file to
the muxed MP4, after a 3-frame warm-up run; "network" is the share of the time spent in
the still-image path (`srcnn.upscaling.engines.upscale`), the rest is waiting on ffmpeg (decoding,
x264 at --preset, muxing). PSNR: every 10th encoded frame, read back, against the same
frame before encoding (Y: 8-bit-rounded BT.601 Y as everywhere in this project; RGB: all
three channels, which 4:2:0 chroma subsampling alone limits). Memory: each clip length
is upscaled x2 in a fresh process, which reports its own peak RSS (ru_maxrss) and the
peak of its RSS plus its ffmpeg children's (sampled from /proc every 0.1 s, Linux).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from srcnn.upscaling import video  # noqa: E402


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="640x360", help="source frame size for the speed runs")
    parser.add_argument("--scales", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--frames", type=int, default=50, help="frames per speed run")
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"))
    parser.add_argument("--preset", default=video.DEFAULT_PRESET, help="x264 preset")
    parser.add_argument("--crf", type=int, default=video.DEFAULT_CRF)
    parser.add_argument("--memory-frames", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--memory-size", default="160x120", help="source frame size for the memory runs")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-run", nargs=2, metavar=("CLIP", "OUTPUT"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def make_clip(path, size, frames, rate=25):
    subprocess.run([video.ffmpeg_path(), "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}",
                    "-f", "lavfi", "-i", "sine=frequency=440", "-frames:v", str(frames), "-shortest",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", path], check=True)
    return path


def build_upscaler(scale, precision):
    from srcnn import Upscaler
    upscaler = Upscaler.pretrained(scale, precision=precision)
    return upscaler, upscaler.precision


def speed(args, folder):
    print(f"speed: {args.size} source, {args.frames} frames, x264 preset {args.preset}, crf {args.crf}")
    print("| scale | output | precision | frames/s | network share | PSNR after encoding, Y / RGB (dB) |")
    print("|---|---|---|---|---|---|")
    source = make_clip(os.path.join(folder, "speed.mp4"), args.size, args.frames)
    warmup = make_clip(os.path.join(folder, "warmup.mp4"), args.size, 3)
    for scale in args.scales:
        upscaler, precision = build_upscaler(scale, args.precision)
        upscale_frame = upscaler.upscale
        network_seconds, count, kept = [0.0], [0], {}

        def timed(pixels):
            start = time.perf_counter()
            result = upscale_frame(pixels)
            network_seconds[0] += time.perf_counter() - start
            if count[0] % 10 == 0:  # every 10th frame as encoded, for the quality figure
                kept[count[0]] = result[:result.shape[0] // 2 * 2, :result.shape[1] // 2 * 2]
            count[0] += 1
            return result

        video.upscale_video(upscale_frame, scale, warmup, os.path.join(folder, "warmup_out.mp4"), overwrite=True)
        start = time.perf_counter()
        result = video.upscale_video(timed, scale, source, os.path.join(folder, f"x{scale}.mp4"), args.crf,
                                     args.preset, overwrite=True)
        seconds = time.perf_counter() - start
        y_psnr, rgb_psnr = encoding_psnr(kept, os.path.join(folder, f"x{scale}.mp4"), scale)
        print(f"| x{scale} | {result.width}x{result.height} | {precision} | {result.frames / seconds:.2f} | "
              f"{network_seconds[0] / seconds:.0%} | {y_psnr:.2f} / {rgb_psnr:.2f} |", flush=True)


def encoding_psnr(kept, path, scale):
    """Mean PSNR (Y as the project measures it, `scale` px shaved, and RGB) of the encoded frames against `kept`."""
    from srcnn.core import metrics
    from srcnn.core import colour
    y_values, rgb_values = [], []
    for index, frame in enumerate(video.decoded_frames(path, video.probe(path))):
        if index in kept:
            y_values.append(metrics.psnr(colour.rgb_to_ycbcr(frame)[..., 0] / 255,
                                         colour.rgb_to_ycbcr(kept[index])[..., 0] / 255, scale))
            mse = np.mean((frame.astype(np.float64) - kept[index]) ** 2)
            rgb_values.append(10 * np.log10(255.0 ** 2 / mse))
    return np.mean(y_values), np.mean(rgb_values)


def rss_with_children_mb():
    """Resident MB of this process and its direct children, from /proc."""
    me, total = os.getpid(), 0
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/status") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
        except OSError:
            continue
        if entry == str(me) or fields.get("PPid", "").strip() == str(me):
            total += int(fields.get("VmRSS", "0 kB").split()[0])
    return total / 1024


def memory_run(clip, output):
    """In a fresh process: upscale `clip` x2, print its peak RSS, alone and with its ffmpeg children."""
    upscaler, _ = build_upscaler(2, "auto")
    peak, done = [0.0], threading.Event()

    def sample():
        while not done.wait(0.1):
            peak[0] = max(peak[0], rss_with_children_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = upscaler.upscale_video(clip, output, overwrite=True)
    done.set()
    sampler.join()
    print(json.dumps({"frames": result.frames, "self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "total_mb": peak[0]}))


def memory(args, folder):
    print(f"memory: {args.memory_size} source x2, peak RSS per clip length (fresh process each)")
    print("| frames | seconds | python peak RSS (MB) | peak RSS with the ffmpeg children (MB) |")
    print("|---|---|---|---|")
    peaks, totals = [], []
    for frames in args.memory_frames:
        clip = make_clip(os.path.join(folder, f"memory{frames}.mp4"), args.memory_size, frames)
        start = time.perf_counter()
        run = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-run", clip,
                              os.path.join(folder, f"memory{frames}_x2.mp4")],
                             capture_output=True, text=True, check=True)
        report = json.loads(run.stdout.strip().splitlines()[-1])
        peaks.append(report["self_mb"])
        totals.append(report["total_mb"])
        print(f"| {report['frames']} | {time.perf_counter() - start:.0f} | {report['self_mb']:.0f} | "
              f"{report['total_mb']:.0f} |", flush=True)
    print(f"spread of the peaks: {max(peaks) - min(peaks):.1f} MB (python), "
          f"{max(totals) - min(totals):.1f} MB (with ffmpeg)")


def main(argv=None):
    args = parse_args(argv)
    if args.memory_run:
        return memory_run(*args.memory_run)
    with tempfile.TemporaryDirectory() as folder:
        if not args.skip_speed:
            speed(args, folder)
        if not args.skip_memory:
            memory(args, folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
