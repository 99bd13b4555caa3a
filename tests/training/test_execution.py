"""How a training step runs: the fast forward, the split batch, chunks of steps, and the measured choice."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from srcnn.core.model import SRCNN, parse_arch, training_output, valid_margin
from srcnn.core.startup import tf
from srcnn.training import execution as executions
from srcnn.training.config import TrainSettings
from srcnn.training.execution import Execution
from srcnn.training.update import build_run, compile_train_step, compile_train_steps, make_optimizer


@pytest.mark.parametrize("arch", ["9-1-5", "9-5-5", "3-1-3", "9-1-1-5", "9-3-1-5", "9x128-1x64-5", "9x32-1x16-5"])
@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
def test_the_training_forward_is_the_network(arch, dtype):
    tf.keras.utils.set_random_seed(1)
    model = SRCNN(arch, dtype=dtype)
    images = np.random.default_rng(0).random((3, 27, 29, 1), dtype=np.float32)
    expected = tf.cast(model(images), tf.float32).numpy()
    got = training_output(model, images).numpy()
    assert got.shape == expected.shape and got.dtype == np.float32
    assert np.abs(got - expected).max() < (1e-5 if dtype == "float32" else 0.05)


@pytest.mark.parametrize("batch, cores, sizes", [(16, 2, [8, 8]), (5, 2, [3, 2]), (1, 4, [1]), (16, 1, [16]),
                                                 (9, 4, [3, 2, 2, 2])])
def test_a_batch_splits_into_one_part_per_core(monkeypatch, batch, cores, sizes):
    monkeypatch.setattr(executions, "core_count", lambda: cores)
    assert Execution("xla-per-core").part_sizes(batch) == sizes
    assert Execution("tf").part_sizes(batch) == [batch]


def run_weights(steps_per_call, name=None, batch=6, count=5, arch="9-1-5", optimizer="adam"):
    """The weights after `count` steps of one seeded run, by chunks or by the per-step path."""
    settings = TrainSettings(precision="float32", batch_size=batch, seed=4, arch=arch, optimizer=optimizer)
    run = build_run(settings, tf.distribute.get_strategy(), total_steps=50)
    rng = np.random.default_rng(2)
    data = rng.random((count, batch, 21, 21, 1), dtype=np.float32)
    label_size = 21 - 2 * valid_margin(arch)
    label = rng.random((count, batch, label_size, label_size, 1), dtype=np.float32)
    if steps_per_call:
        steps = compile_train_steps(run, Execution(name), batch)
        losses = np.concatenate([steps(data[start:start + steps_per_call], label[start:start + steps_per_call])
                                 for start in range(0, count, steps_per_call)])
    else:
        step = compile_train_step(run, tf.distribute.get_strategy())
        losses = np.array([float(step(data[index], label[index])) for index in range(count)])
    return losses, [variable.numpy() for variable in run.model.trainable_variables], int(run.step)


# The quick subset checks the default and oneDNN's; the others run with the slow tests.
QUICK_EXECUTIONS = ("hybrid-per-core", "tf")


@pytest.mark.parametrize("name", [name if name in QUICK_EXECUTIONS else pytest.param(name, marks=pytest.mark.slow)
                                  for name in executions.EXECUTIONS])
def test_chunks_of_split_steps_make_the_per_step_update(monkeypatch, name):
    monkeypatch.setattr(executions, "core_count", lambda: 3)  # parts of 2
    reference_losses, reference, reference_steps = run_weights(0)
    losses, weights, steps = run_weights(2, name)  # chunks of 2, 2, 1
    assert steps == reference_steps == 5
    np.testing.assert_allclose(losses, reference_losses, rtol=1e-4)
    for got, expected in zip(weights, reference):
        np.testing.assert_allclose(got, expected, atol=1e-5)
    assert any(np.abs(got - start).max() > 1e-4 for got, start in zip(weights, run_weights(0, count=0)[1]))


@pytest.mark.slow
@pytest.mark.parametrize("arch, optimizer", [("9-1-1-5", "sgd"), ("9x128-1x64-5", "adam")])
def test_other_networks_train_alike_under_every_execution(monkeypatch, arch, optimizer):
    """Every layer's variables get their update, the last's at its own rate with sgd (`make_optimizer`)."""
    monkeypatch.setattr(executions, "core_count", lambda: 2)  # parts of 2
    reference_losses, reference, _ = run_weights(0, batch=4, count=2, arch=arch, optimizer=optimizer)
    start = run_weights(0, batch=4, count=0, arch=arch, optimizer=optimizer)[1]
    layers = len(parse_arch(arch).sizes)
    _, multipliers = make_optimizer(TrainSettings(arch=arch, optimizer=optimizer), 10)
    assert len(reference) == len(multipliers) == 2 * layers
    assert multipliers[-2:] == ((0.1, 0.1) if optimizer == "sgd" else (1.0, 1.0)) and set(multipliers[:-2]) == {1.0}
    assert all(np.abs(got - before).max() > 0 for got, before in zip(reference, start))
    for name in executions.EXECUTIONS:
        losses, weights, steps = run_weights(2, name, batch=4, count=2, arch=arch, optimizer=optimizer)
        assert steps == 2, name
        np.testing.assert_allclose(losses, reference_losses, rtol=1e-4, err_msg=name)
        for got, expected in zip(weights, reference):
            np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=name)


@pytest.mark.slow
def test_mixed_bfloat16_steps_run_under_every_execution():
    for name in executions.EXECUTIONS:
        settings = TrainSettings(precision="mixed_bfloat16", batch_size=4, seed=1)
        run = build_run(settings, tf.distribute.get_strategy(), total_steps=10)
        start = [variable.numpy() for variable in run.model.trainable_variables]
        rng = np.random.default_rng(0)
        losses = compile_train_steps(run, Execution(name), 4)(rng.random((2, 4, 21, 21, 1), dtype=np.float32),
                                                              rng.random((2, 4, 9, 9, 1), dtype=np.float32)).numpy()
        assert losses.shape == (2,) and np.isfinite(losses).all(), name
        assert all(variable.dtype == "float32" for variable in run.model.trainable_variables)
        assert any(np.abs(variable.numpy() - before).max() > 0 for variable, before
                   in zip(run.model.trainable_variables, start)), name


def choose(settings, patches, say=print):
    return executions.choose(settings, 16, patches, say)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SRCNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(executions, "core_count", lambda: 2)
    return tmp_path / "cache" / executions.CACHE_FILE


def test_a_given_execution_is_taken_as_given(cache):
    chosen = choose(TrainSettings(execution="tf"), 10**9)
    assert (chosen.name, chosen.why) == ("tf", "as set") and not cache.exists()


def test_a_short_run_takes_the_default_without_measuring(cache, monkeypatch):
    monkeypatch.setattr(executions, "measure_in_children", lambda *args: pytest.fail("measured"))
    chosen = choose(TrainSettings(precision="float32"), executions.MEASURE_ABOVE - 1)
    assert chosen.name == "hybrid-per-core" and "longer runs measure" in chosen.why and not cache.exists()


def test_a_long_run_measures_once_and_the_next_reads_the_cache(cache, monkeypatch):
    calls, lines = [], []
    monkeypatch.setattr(executions, "measure_in_children",
                        lambda *args: calls.append(args) or {"xla-per-core": 900.0, "tf": 1100.0, "xla": 5.0})
    settings = TrainSettings(precision="float32")
    first = choose(settings, 10**7, lines.append)
    assert first.name == "tf" and str(cache) in first.why and len(calls) == 1
    assert "tf 1,100, xla-per-core 900, xla 5 patches/s" in "\n".join(lines)
    recorded = json.loads(cache.read_text())
    assert recorded[executions.machine_key(settings, 16)]["fastest"] == "tf"
    second = choose(settings, 10**7)
    assert second.name == "tf" and "cached" in second.why and len(calls) == 1
    # Another batch size is another measurement.
    executions.choose(TrainSettings(precision="float32"), 32, 10**7, lines.append)
    assert len(calls) == 2


def test_the_cache_is_written_only_where_the_write_path_allows(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(executions, "measure_in_children", lambda *args: {"xla": 1000.0})
    cache.parent.mkdir(parents=True)
    mine = tmp_path / "my_notes.json"
    mine.write_text("my own file")
    cache.symlink_to(mine)
    chosen = choose(TrainSettings(precision="float32"), 10**7)
    assert chosen.name == "xla" and "not cached" in chosen.why
    assert mine.read_text() == "my own file" and cache.is_symlink()


def test_a_failed_measurement_falls_back_to_the_default(cache, monkeypatch):
    monkeypatch.setattr(executions, "measure_in_children", lambda *args: {})
    chosen = choose(TrainSettings(precision="float32"), 10**7)
    assert chosen.name == "hybrid-per-core" and "measuring failed" in chosen.why and not cache.exists()


def test_the_start_line_says_how_steps_run(monkeypatch):
    monkeypatch.setattr(executions, "core_count", lambda: 2)
    assert Execution("xla-per-core", "why").describe(16) == "XLA, each batch as 2 parts of 8 side by side (why)"
    assert Execution("hybrid").describe(16) == "conv1 forward on TensorFlow's kernel, the rest under XLA"
    assert Execution("tf").describe(5) == "TensorFlow kernels"


@pytest.mark.slow
def test_the_measuring_child_times_the_project_steps():
    request = dict(executions=["xla", "tf"], seconds=0.2, batch_size=4, precision="float32")
    done = subprocess.run([sys.executable, "-m", "srcnn.training.execution", json.dumps(request)], capture_output=True,
                          text=True, check=True, env=dict(os.environ, PYTHONPATH=os.getcwd()))
    rates = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(rates) == {"xla", "tf"} and all(rate > 0 for rate in rates.values())
