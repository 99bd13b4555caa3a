"""Execution: how a training step runs on this machine, chosen by measuring it here.

A step's batch goes through the network whole, or split into one part per core: the parts
run side by side, each op of a part on one thread (a small convolution split over cores
loses more in synchronisation than it gains), and their gradients are summed, which is
the same update. Each part runs under XLA ("xla"), under TensorFlow's own oneDNN kernels
("tf"), or under XLA but for conv1's forward ("hybrid": oneDNN is twice as fast at that
one-channel 9x9 convolution here, XLA at the rest). Which of the six is fastest differs by
CPU (on an AMD AVX2 CPU XLA is faster than oneDNN alone, on an AMX Xeon slower),
so `choose` times them here once, in child processes (TensorFlow fixes its threads when
it starts), and keeps the answer per machine in the user's cache folder (`cache_path`).
"""

import dataclasses
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

from srcnn.core.choices import EXECUTIONS, EXECUTIONS_BY_THREADS
from srcnn.core.colour import CHANNEL_COUNTS
from srcnn.core.errors import OutputError
from srcnn.core.model import valid_margin
from srcnn.core.outputs import OutputKind, rewriting
from srcnn.core.startup import tf  # TensorFlow with its start-up messages filtered; no threads start on import
from srcnn.training.config import TrainSettings, training_precision
from srcnn.training.distribution import split_batch
from srcnn.training.update import build_run, compile_train_step, compile_train_steps

CACHE_FILE = "execution.json"
CACHE_MARK = "srcnn execution cache"  # the cache's first key, how a rewrite recognises it
MEASURE_ABOVE = 400_000  # patches a run must train before `choose` spends ~20 s measuring
MEASURE_SECONDS = 1.5  # per candidate, after a warm-up
CHUNK_STEPS = 25  # optimizer steps per call of the compiled function (`update.compile_train_steps`)
STEP_FORM = "products"  # how a step computes under XLA (`srcnn.training.products`): a new form measures afresh


@dataclasses.dataclass(frozen=True)
class Execution:
    """One way to run a step: `name` is one of EXECUTIONS; `why` says how it was chosen."""

    name: str
    why: str = ""

    @property
    def xla(self):
        """Whether XLA compiles the step (all of it, or all but conv1's forward)."""
        return not self.name.startswith("tf")

    @property
    def first_layer_apart(self):
        """Whether conv1's forward runs on TensorFlow's own (oneDNN) kernel, outside XLA, which is
        slower at a one-channel 9x9 convolution than oneDNN (half the speed on an AMD AVX2 CPU)."""
        return self.name.startswith("hybrid")

    @property
    def per_core(self):
        return self.name.endswith("-per-core")

    def part_sizes(self, batch_size):
        """The batch's split: one part per core (as even as it divides), or the whole batch."""
        parts = min(core_count(), batch_size) if self.per_core else 1
        return [batch_size // parts + (index < batch_size % parts) for index in range(parts)]

    def describe(self, batch_size):
        """For the start line: "XLA, the batch of 16 as 2 parts of 8 side by side (measured here ...)"."""
        how = ("conv1 forward on TensorFlow's kernel, the rest under XLA" if self.first_layer_apart else
               "XLA" if self.xla else "TensorFlow kernels")
        sizes = self.part_sizes(batch_size)
        if len(sizes) > 1:
            how += f", each batch as {len(sizes)} parts of {'/'.join(map(str, sorted(set(sizes))))} side by side"
        return how + (f" ({self.why})" if self.why else "")


def core_count():
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_execution(precision):
    """The choice without a measurement: what measured fastest on the CPUs timed so far
    (float32: conv1's forward on oneDNN, the rest under XLA; bfloat16: TensorFlow's oneDNN kernels),
    one part per core. (xla-per-core measured a few percent faster on an AVX2 EPYC, but streaming
    a 583 MB train.h5 it grew 300 MB, past the test's bound of half the file, and a Ctrl-C there
    had crashed the process before training held interrupts between chunks.)"""
    name = "hybrid" if precision == "float32" else "tf"
    return name + ("-per-core" if core_count() > 1 else "")


def apply_threads(execution):
    """Sets TensorFlow's threads for `execution` (one per op, one op per core side by side for
    per-core parts); returns False where TensorFlow has already started (they stay as they are)."""
    if not execution.per_core:
        return True
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(max(core_count(), 2))
    except RuntimeError:
        return False
    return True


def cache_path():
    """$SRCNN_CACHE, or $XDG_CACHE_HOME/srcnn, or ~/.cache/srcnn; with execution.json."""
    folder = os.environ.get("SRCNN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "srcnn")
    return os.path.join(folder, CACHE_FILE)


def cpu_model():
    """The CPU's model name ("AMD EPYC"), from /proc/cpuinfo where there is one."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            return next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), model)
    except OSError:
        return model


def machine_key(settings, batch_size):
    """What the measurement depends on: the CPU, its cores, TensorFlow, and the step's shape and precision."""
    return (f"{cpu_model()} | {core_count()} cores | TensorFlow {tf.__version__} | {training_precision(settings.precision)} "
            f"| {settings.arch}{'' if settings.channels == 'y' else ' ' + settings.channels} | batch {batch_size} "
            f"| {settings.image_size} px | {STEP_FORM}")


def read_cache(path):
    try:
        with open(path) as handle:
            cache = json.load(handle)
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) and CACHE_MARK in cache else {}


def _is_cache(path):
    return bool(read_cache(path)) or (os.path.isfile(path) and os.path.getsize(path) == 0)


CACHE_KIND = OutputKind("execution cache", recognise=_is_cache)


def choose(settings, batch_size, patches_to_train, say=print):
    """The Execution of this training: the flag's, the cached measurement, a new one, or the default.

    A run of fewer than MEASURE_ABOVE patches does not pay the measurement (~20 s): it takes
    the cached choice, or `default_execution`.
    """
    precision = training_precision(settings.precision)
    if settings.execution != "auto":
        return Execution(settings.execution, "as set")
    path, key = cache_path(), machine_key(settings, batch_size)
    cached = read_cache(path).get(key)
    if isinstance(cached, dict) and cached.get("fastest") in EXECUTIONS:
        return Execution(cached["fastest"], f"measured fastest here, cached in {path}")
    if patches_to_train < MEASURE_ABOVE or core_count() < 2:
        return Execution(default_execution(precision), "the default; longer runs measure this machine")
    say("Measuring how training runs fastest on this machine (once, about 20 s) ...")
    rates = measure_in_children(settings, batch_size)
    if not rates:
        return Execution(default_execution(precision), "the default: measuring failed here")
    fastest = max(rates, key=rates.get)
    say("  " + ", ".join(f"{name} {rate:,.0f}" for name, rate in sorted(rates.items(), key=lambda item: -item[1]))
        + " patches/s")
    try:
        cache = read_cache(path) or {CACHE_MARK: 1}
        cache[key] = {"fastest": fastest, "patches_per_second": {name: round(rate) for name, rate in rates.items()},
                      "measured": time.strftime("%Y-%m-%d")}
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with rewriting(path, CACHE_KIND) as temporary, open(temporary, "w") as handle:
            json.dump(cache, handle, indent=1)
        where = f"cached in {path}"
    except (OSError, OutputError) as error:
        where = f"not cached: {error}"
    return Execution(fastest, f"measured fastest here, {where}")


def measure_in_children(settings, batch_size):
    """{execution: patches/s}, timed in one child process per thread setting; {} if they fail."""
    rates = {}
    for names in EXECUTIONS_BY_THREADS:
        request = dict(executions=names, precision=settings.precision, arch=settings.arch, batch_size=batch_size,
                       image_size=settings.image_size, channels=settings.channels)
        command = [sys.executable, "-m", "srcnn.training.execution", json.dumps(request)]
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        environment = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (package_root,
                                                                                  os.environ.get("PYTHONPATH")))))
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=True, env=environment)
            rates.update(json.loads(done.stdout.strip().splitlines()[-1]))
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            continue
    return {name: float(rate) for name, rate in rates.items() if name in EXECUTIONS}


def measure(executions, precision="auto", arch="9-1-5", batch_size=16, image_size=33, channels="y",
            seconds=MEASURE_SECONDS):
    """{name: patches/s} of the project's own training steps under each execution, on random patches.

    All of them must share a thread setting (all per-core or none): call `apply_threads` first.
    """
    label_size = image_size - 2 * valid_margin(arch)
    rng = np.random.default_rng(0)
    planes = CHANNEL_COUNTS[channels]
    data = rng.random((CHUNK_STEPS, batch_size, image_size, image_size, planes), dtype=np.float32)
    label = rng.random((CHUNK_STEPS, batch_size, label_size, label_size, planes), dtype=np.float32)
    rates = {}
    for name in executions:
        settings = TrainSettings(precision=precision, arch=arch, batch_size=batch_size, image_size=image_size,
                                 channels=channels)
        run = build_run(settings, tf.distribute.get_strategy(), total_steps=10**6)
        steps = compile_train_steps(run, Execution(name), batch_size)
        steps(data, label).numpy()  # compiles
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            steps(data, label).numpy()
            count += 1
        rates[name] = count * CHUNK_STEPS * batch_size / (time.perf_counter() - started)
    return rates


def on_one_device(strategy):
    """Whether a training under `strategy` runs its steps as an Execution (else a call per step over replicas)."""
    return strategy.num_replicas_in_sync == 1 and not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def one_device_execution(settings, strategy, execution):
    """How steps run: `execution`, or settings.execution, or the default; None under a distributed strategy."""
    if not on_one_device(strategy):
        return None
    if execution is not None:
        return execution
    if settings.execution != "auto":
        return Execution(settings.execution)
    return Execution(default_execution(training_precision(settings.precision)))


def chunk_function(run, strategy, execution, batch_size):
    """(list of K data batches, list of K label batches) -> K losses (numpy): K optimizer steps.

    On one device, one call of `compile_train_steps`; over replicas, K calls of `compile_train_step`.
    """
    if execution is not None:
        steps = compile_train_steps(run, execution, batch_size)
        return lambda data, labels: steps(np.stack(data), np.stack(labels)).numpy()
    step = compile_train_step(run, strategy)
    return lambda data, labels: np.array([float(step(split_batch(strategy, batch_data), split_batch(strategy, label)))
                                          for batch_data, label in zip(data, labels)])


def main(argv=None):
    """The child process of `measure_in_children`: its one argument is JSON, {"executions": [names], and
    `measure`'s other arguments}; prints {name: patches/s} as JSON."""
    request = json.loads((sys.argv[1:] if argv is None else argv)[0])
    names = request.pop("executions")
    if len({Execution(name).per_core for name in names}) > 1:
        raise ValueError("per-core and whole-batch executions need separate processes (their threads differ)")
    apply_threads(Execution(names[0]))
    print(json.dumps(measure(names, **request)))
    return 0

if __name__ == "__main__":
    sys.exit(main())
