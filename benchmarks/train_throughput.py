"""Training throughput (patches/s) of the 9-1-5 net: this project next to PyTorch, in one run.

    python benchmarks/train_throughput.py                 # 4 rounds of 3 s per variant, batch 16
    python benchmarks/train_throughput.py --compile       # PyTorch's torch.compile too (minutes to compile)

Every variant runs in its own process (TensorFlow and PyTorch each fix their threads when they
start), one after the other, in rounds, every other round in the reverse order, so that a machine
whose speed drifts (a shared VM) treats them alike; the table gives each round and the median.
The machine should be otherwise idle.

- this project: `srcnn.training.execution.measure`, the very steps step2_train.py runs (Adam with
  its cosine schedule, a chunk of 25 steps per call), under each execution (hybrid / xla / tf,
  whole batch or one part per core), and the per-step path of the previous release (`update.compile_train_step`:
  the Keras layers, one call per step, XLA);
- PyTorch (benchmarks/requirements.txt): the same network (9x9x64, 1x1x32, 5x5x1, VALID), MSE, Adam,
  with all cores, NCHW and channels_last, bfloat16 autocast where the CPU has native bfloat16,
  torch.compile with --compile; a batch is gathered from memory each step, as ours is. PyTorch
  runs in a process without TensorFlow, as its users run it, and, with --compile, once more in
  a process that has imported TensorFlow first: there torch.compile measured 1.3x faster
  (paired runs on the AVX2 EPYC; the cause is not known), so "PyTorch's best" takes that too.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from srcnn.core.choices import EXECUTIONS_BY_THREADS as OURS  # noqa: E402  (one process per thread setting)
from srcnn.core.precision import cpu_computes_bfloat16  # noqa: E402  (without TensorFlow)
PREVIOUS = "per-step XLA (previous release)"
TORCH_WITH_TF = "PyTorch channels_last, torch.compile, TensorFlow imported too"


def child(command):
    """{variant: patches/s} printed as JSON on the last line of a child process's output."""
    environment = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, *command], capture_output=True, text=True, env=environment, cwd=ROOT)
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        sys.stderr.write(done.stderr[-2000:])
        return {}


def previous_release(batch_size, seconds):
    """The per-step path: the Keras layers through `train_step`, one tf.function call per step, XLA."""
    import numpy as np
    from srcnn.core.startup import tf
    from srcnn.training.config import TrainSettings
    from srcnn.training.patches import random_dihedral
    from srcnn.training.update import build_run, compile_train_step
    strategy = tf.distribute.get_strategy()
    run = build_run(TrainSettings(batch_size=batch_size, precision="float32"), strategy, total_steps=10**6)
    step = compile_train_step(run, strategy, jit_compile=True)
    rng = np.random.default_rng(0)
    data = rng.random((4096, 33, 33, 1), dtype=np.float32)
    label = rng.random((4096, 21, 21, 1), dtype=np.float32)

    def one():
        batch = np.sort(rng.choice(len(data), batch_size, replace=False))
        return step(*random_dihedral(rng, data[batch], label[batch]))

    for _ in range(5):
        float(one())
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        one()
        count += 1
    float(one())
    return {PREVIOUS: (count + 1) * batch_size / (time.perf_counter() - started)}


def pytorch(batch_size, seconds, compile_too, with_tensorflow=False):
    """{variant: patches/s} of PyTorch on the same network and recipe; with_tensorflow: torch.compile
    alone, in a process that has imported TensorFlow first."""
    if with_tensorflow:
        from srcnn.core.startup import tf  # noqa: F401  (imported for its effect on PyTorch's speed)
    import numpy as np
    import torch
    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    rng = np.random.default_rng(0)
    data = torch.from_numpy(rng.random((4096, 1, 33, 33), dtype=np.float32))
    label = torch.from_numpy(rng.random((4096, 1, 21, 21), dtype=np.float32))
    variants = {"PyTorch NCHW": dict(), "PyTorch channels_last": dict(channels_last=True)}
    if cpu_computes_bfloat16():
        variants["PyTorch channels_last, bfloat16 autocast"] = dict(channels_last=True, bfloat16=True)
    if compile_too:
        variants["PyTorch channels_last, torch.compile"] = dict(channels_last=True, compiled=True)
    if with_tensorflow:
        variants = {TORCH_WITH_TF: dict(channels_last=True, compiled=True)}
    rates = {}
    for name, options in variants.items():
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Conv2d(1, 64, 9), torch.nn.ReLU(), torch.nn.Conv2d(64, 32, 1),
                                  torch.nn.ReLU(), torch.nn.Conv2d(32, 1, 5))
        memory_format = torch.channels_last if options.get("channels_last") else torch.contiguous_format
        net = net.to(memory_format=memory_format)
        optimizer = torch.optim.Adam(net.parameters(), 1e-3)

        def step(batch_data, batch_label, net=net, optimizer=optimizer, options=options):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=options.get("bfloat16", False)):
                output = net(batch_data)
            loss = torch.mean((output.float() - batch_label) ** 2)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return loss

        if options.get("compiled"):
            step = torch.compile(step)

        def one(step=step, memory_format=memory_format):
            batch = torch.from_numpy(np.sort(rng.choice(len(data), batch_size, replace=False)))
            return step(data[batch].contiguous(memory_format=memory_format), label[batch])

        for _ in range(5):
            one()
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            one()
            count += 1
        rates[name] = count * batch_size / (time.perf_counter() - started)
    return rates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="timed per variant and round (default 3)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16, help="default 16, step2_train.py's")
    parser.add_argument("--compile", action="store_true", help="also PyTorch's torch.compile")
    parser.add_argument("--child", choices=("previous", "pytorch", "pytorch-with-tensorflow"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "previous":
        print(json.dumps(previous_release(args.batch_size, args.seconds)))
        return 0
    if args.child in ("pytorch", "pytorch-with-tensorflow"):
        print(json.dumps(pytorch(args.batch_size, args.seconds, args.compile, args.child != "pytorch")))
        return 0
    common = ["--batch-size", str(args.batch_size), "--seconds", str(args.seconds)]
    rounds = []
    for number in range(args.rounds):
        commands = [["-m", "srcnn.training.execution", json.dumps(dict(executions=names, batch_size=args.batch_size,
                                                                        seconds=args.seconds))] for names in OURS]
        commands += [[__file__, "--child", "previous", *common],
                     [__file__, "--child", "pytorch", *common] + (["--compile"] if args.compile else [])]
        if args.compile:
            commands.append([__file__, "--child", "pytorch-with-tensorflow", *common, "--compile"])
        rates = {}
        for command in commands if number % 2 == 0 else commands[::-1]:  # every other round, PyTorch first
            rates.update(child(command))
        rounds.append(rates)
        print(f"round {number + 1}: " + ", ".join(f"{name} {rate:,.0f}" for name, rate in rates.items()), flush=True)
    print(f"\nbatch {args.batch_size}, patches/s, median of {args.rounds} rounds ({os.cpu_count()} CPUs here):")
    names = list(dict.fromkeys(name for rates in rounds for name in rates))
    median = {name: statistics.median(rates[name] for rates in rounds if name in rates) for name in names}
    for name in names:
        print(f"  {name:<48}{median[name]:>10,.0f}")
    ours = [name for name in names if name in sum(OURS, ())]
    torch_names = [name for name in names if name.startswith("PyTorch")]
    if ours and torch_names:
        ratios = [max(rates[name] for name in ours if name in rates) / max(rates[name] for name in torch_names
                                                                           if name in rates) for rates in rounds]
        print(f"ours (best execution) / PyTorch (best variant), per round: "
              f"{', '.join(f'{ratio:.2f}' for ratio in ratios)}; median {statistics.median(ratios):.2f}")
    if ours and PREVIOUS in median:
        print(f"ours (best execution) / the previous release's per-step path: "
              f"{max(median[name] for name in ours) / median[PREVIOUS]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
