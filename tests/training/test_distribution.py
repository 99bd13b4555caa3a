"""Training under tf.distribute: MirroredStrategy on two logical CPU devices, and
MultiWorkerMirroredStrategy with two worker processes on this machine.

TensorFlow fixes its devices when it first runs anything, so the distributed runs happen
in child processes; the single-device reference runs here.
"""

import csv
import json
import shutil
import socket
from types import SimpleNamespace

import numpy as np
import pytest

import step2_train
from srcnn.core import checkpoints
from srcnn.training import hdf5
from srcnn.training.evaluate import evaluate_images

from tiny_data import Training, write_h5s


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The common flags, the validation images, and the single-device run's network and folder."""
    folder = tmp_path_factory.mktemp("distributed")
    train_h5, test_h5 = write_h5s(str(folder / "h5"))
    # float32: split batches give the whole batch's update to 1e-4 only without bfloat16 rounding.
    flags = ["--train-h5", train_h5, "--test-h5", test_h5, "--epochs", "2", "--batch-size", "32",
             "--log-every", "4", "--precision", "float32"]
    assert step2_train.main([*flags, "--checkpoint-dir", str(folder / "single" / "checkpoint"),
                             "--log-dir", str(folder / "single" / "logs")]) == 0
    model, _ = checkpoints.load_model(checkpoints.resolve(str(folder / "single" / "checkpoint")))
    return SimpleNamespace(flags=flags, test_images=hdf5.read_test_h5(test_h5)[0], model=model,
                           checkpoint_dir=folder / "single" / "checkpoint")


def check_run(run_dir, reference):
    """The loss fell, the checkpoint restores into the single-device network with the PSNR the
    run logged, and its weights are those of one device on whole batches."""
    with open(run_dir / "logs" / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert float(rows[-1]["loss"]) < 0.5 * float(rows[0]["loss"])
    model, config = checkpoints.load_model(checkpoints.resolve(str(run_dir / "checkpoint")))
    assert config == {"scale": 3, "arch": "9-1-5", "channels": "y"}
    assert abs(evaluate_images(model, reference.test_images, 3)[0].psnr - float(rows[-1]["psnr"])) < 1e-3
    for distributed_weights, single_weights in zip(model.get_weights(), reference.model.get_weights()):
        np.testing.assert_allclose(distributed_weights, single_weights, atol=1e-4)


@pytest.mark.slow
def test_mirrored_on_two_cpu_devices(tmp_path, reference):
    code, output = Training(*reference.flags, "--strategy", "mirrored", "--replicas", "2",
                            "--checkpoint-dir", tmp_path / "checkpoint", "--log-dir", tmp_path / "logs").finish()
    assert code == 0, output
    assert "Training on 2 replicas (CPU:0, CPU:1): each step's batch of 32 patches is split 16 per replica" in output
    check_run(tmp_path, reference)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_workers(flags, per_worker=lambda index: []):
    """Two step2_train workers of one cluster on this machine; returns their (exit code, output)."""
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    workers = [Training(*flags, "--strategy", "multi-worker", *per_worker(index),
                        env={"TF_CONFIG": json.dumps({"cluster": cluster,
                                                      "task": {"type": "worker", "index": index}})})
               for index in range(2)]
    return [worker.finish() for worker in workers]


@pytest.mark.slow
def test_two_workers_sharing_a_checkpoint_folder(tmp_path, reference):
    outputs = start_workers([*reference.flags, "--checkpoint-dir", tmp_path / "checkpoint",
                             "--log-dir", tmp_path / "logs"])
    for index, (code, output) in enumerate(outputs):
        assert code == 0, output
        assert (f"Training on 2 replicas (CPU:0 on worker {index} of this cluster): each step's batch of 32 "
                "patches is split 16 per replica") in output
    check_run(tmp_path, reference)  # written by worker 0, the chief, alone: one row per epoch


@pytest.mark.slow
def test_workers_that_restore_different_steps_stop(tmp_path, reference):
    # Folders that are not shared: worker 0 finds a checkpoint, worker 1 none.
    shutil.copytree(reference.checkpoint_dir, tmp_path / "0")
    outputs = start_workers([*reference.flags, "--log-dir", tmp_path / "logs"],
                            lambda index: ["--checkpoint-dir", tmp_path / str(index)])
    for code, output in outputs:
        assert code == 1, output
        assert "the workers restored different steps" in output and "Traceback" not in output


def test_multi_worker_without_tf_config_is_one_line_error(monkeypatch, capsys):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert step2_train.main(["--strategy", "multi-worker"]) == 1
    error = capsys.readouterr().err.strip()
    assert "multi-worker strategy needs TF_CONFIG" in error and error.endswith("; pass another --strategy")
