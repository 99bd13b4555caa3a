"""Training from a train.h5 streamed in chunks instead of loaded whole."""

import os
import signal
import sys

import numpy as np
import pytest

import step2_train
from srcnn.training.batches import PatchStream, STREAM_CHUNK
from srcnn.training import batches, hdf5

from conftest import ROOT
from tiny_data import Training, write_h5s


def numbered_h5(path, count):
    """A train.h5 whose patch i is filled with the value i (its label with -i)."""
    ids = np.arange(count, dtype=np.float32)[:, None, None, None]
    hdf5.write_train_h5(str(path), np.broadcast_to(ids, (count, 33, 33, 1)),
                        np.broadcast_to(-ids, (count, 21, 21, 1)), scale=3, image_size=33, label_size=21,
                        stride=14, augment=False, source="numbers")


def ids(batches):
    return [batch_data[:, 0, 0, 0].astype(int) for batch_data, _ in batches]


@pytest.mark.slow
def test_stream_visits_each_patch_once_per_epoch_shuffled_across_chunks(tmp_path):
    count = 3 * STREAM_CHUNK + 100
    numbered_h5(tmp_path / "train.h5", count)
    with PatchStream(str(tmp_path / "train.h5"), {"scale": 3}, shuffle_buffer=1500) as stream:
        epoch = ids(stream.batches(64, np.random.default_rng([0, 0])))
        assert len(epoch) == count // 64 and all(len(batch) == 64 for batch in epoch)
        seen = np.concatenate(epoch)
        assert len(set(seen)) == len(seen)  # no patch twice
        for batch_data, batch_label in stream.batches(64, np.random.default_rng([0, 0])):
            assert np.array_equal(batch_data[:, 0, 0, 0], -batch_label[:, 0, 0, 0])  # pairs stay together
        chunks_per_batch = [len(set(batch // STREAM_CHUNK)) for batch in epoch]
        assert np.mean(chunks_per_batch) > 1.5  # batches mix chunks, not one chunk after another
        assert not np.array_equal(seen, np.sort(seen))
        # A resumed epoch (skip) replays the same batches; another epoch gets another order.
        resumed = ids(stream.batches(64, np.random.default_rng([0, 0]), skip=5))
        assert all(np.array_equal(a, b) for a, b in zip(resumed, epoch[5:])) and len(resumed) == len(epoch) - 5
        assert not np.array_equal(np.concatenate(ids(stream.batches(64, np.random.default_rng([0, 1])))), seen)


@pytest.mark.slow
def test_train_h5_over_half_the_free_memory_is_streamed_without_a_flag(tmp_path, monkeypatch, capsys):
    train_h5, test_h5 = write_h5s(str(tmp_path / "h5"))
    monkeypatch.setattr(batches, "available_memory", lambda: os.path.getsize(train_h5))
    flags = ["--train-h5", train_h5, "--test-h5", test_h5, "--checkpoint-dir", str(tmp_path / "checkpoint"),
             "--log-dir", str(tmp_path / "logs"), "--epochs", "2", "--batch-size", "16", "--log-every", "8"]
    assert step2_train.main(flags) == 0
    out = capsys.readouterr().out
    assert f"Streaming {train_h5} (larger than half the free memory; --no-stream loads it whole): 512 patches" in out
    losses = [float(line.split("loss: [")[1].rstrip("]")) for line in out.splitlines() if "loss: [" in line]
    assert losses[-1] < 0.5 * losses[0]


@pytest.fixture
def big_h5(tmp_path):
    """A 600 MB train.h5 of random patches (the benchmark's writer), deleted afterwards."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from streaming import write_random_h5

    path = tmp_path / "big.h5"
    write_random_h5(str(path), 100_000)
    yield path
    path.unlink()


def memory_kb(pid, field):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


# step2_train.main, first printing what the process holds once everything is imported.
MEASURED = ("import sys, step2_train\n"
            "rss = next(line for line in open('/proc/self/status') if line.startswith('VmRSS:'))\n"
            "print('imported:', rss.strip(), flush=True)\n"
            "sys.exit(step2_train.main(sys.argv[1:]))")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads memory use from /proc")
def test_streamed_training_holds_far_less_than_the_file(tmp_path, big_h5):
    _, test_h5 = write_h5s(str(tmp_path / "h5"))
    file_kb = os.path.getsize(big_h5) // 1024
    training = Training("--train-h5", big_h5, "--test-h5", test_h5, "--checkpoint-dir", tmp_path / "checkpoint",
                        "--log-dir", tmp_path / "logs", "--stream", "--shuffle-buffer", "4096",
                        "--batch-size", "64", "--log-every", "5", "--epochs", "1", script=MEASURED)
    assert training.wait_for(lambda: any(line.startswith("imported:") for line in training.lines)), training.stop()[1]
    baseline = next(int(line.split()[2]) for line in training.lines if line.startswith("imported:"))
    assert training.wait_for(lambda: len(training.logged_steps()) >= 8), training.stop()[1]
    peak = memory_kb(training.process.pid, "VmHWM")
    training.process.send_signal(signal.SIGINT)
    code, output = training.finish()
    assert code == 130 and "interrupted; saved" in output, output
    # Loading the file whole would add all of it; streaming adds the buffer, TensorFlow's own and XLA's compiler.
    assert peak - baseline < file_kb / 2, f"grew {(peak - baseline) // 1024} MB on a {file_kb // 1024} MB file"
