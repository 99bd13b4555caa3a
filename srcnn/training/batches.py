"""Batches of patches: from memory (`PatchArrays`) or streamed from the HDF5 file (`PatchStream`)."""

import os
import numpy as np
from srcnn.core.startup import tf  # TensorFlow with its start-up messages filtered (srcnn.core.startup)

from srcnn.core.errors import DataFileError
from srcnn.training.config import SHUFFLE_BUFFER
from srcnn.training.hdf5 import TRAIN_FIX, _open_h5, _patch_shapes, check_attributes, check_finite


STREAM_CHUNK = 1024  # patches per read when streaming: ~6 MB of 33x33 + 21x21 float32


def available_memory():
    """Bytes of memory free for a new process (Linux MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def too_big_to_load(path):
    """True when `path` is over half the free memory: loading it whole would risk swapping or
    the OOM killer, while training itself needs little."""
    free = available_memory()
    return free is not None and os.path.exists(path) and os.path.getsize(path) > free // 2


class PatchArrays:
    """Training patches held in memory; each epoch visits them in a fresh random order.

    Args:
        data, label: float32 (N, S, S, 1) and (N, L, L, 1).
    """

    def __init__(self, data, label):
        self.data, self.label = data, label
        self.count, self.image_size, self.label_size = len(data), data.shape[1], label.shape[1]

    def batches(self, batch_size, rng, skip=0):
        """(data, label) batches of one epoch, leaving out the first `skip` (a resumed epoch).

        The order is drawn from `rng` now, before the caller draws anything else from it.
        """
        order = rng.permutation(self.count)

        def generate():
            for index in range(skip, self.count // batch_size):
                batch = np.sort(order[index * batch_size:(index + 1) * batch_size])
                yield self.data[batch], self.label[batch]

        return generate()


class PatchStream:
    """Training patches streamed from a train.h5 through `tf.data`, for sets larger than memory.

    Each epoch reads chunks of `STREAM_CHUNK` consecutive patches, in a random order, into
    a pool of `shuffle_buffer` patches and draws each batch at random from the pool: the
    buffer of `tf.data.Dataset.shuffle`, drawn from a batch at a time in numpy rather than
    patch by patch. `tf.data` runs this on a background thread and prefetches. Memory
    holds about `shuffle_buffer + STREAM_CHUNK` patches whatever the file's size. The file
    stays open, so replacing it (step1_pre.py writes atomically) does not disturb a run.

    Args:
        path: the train.h5.
        expected: attributes to check, as for `read_train_h5`.
        shuffle_buffer: patches in the shuffle buffer.

    Raises:
        DataFileError: missing, unreadable or mismatched file.
    """

    def __init__(self, path, expected, shuffle_buffer=SHUFFLE_BUFFER):
        self.path = path
        self.h5 = _open_h5(path, ("data", "label"))
        try:
            self.attributes = dict(self.h5.attrs)
            check_attributes(path, self.attributes, expected, TRAIN_FIX)
            self.count, self.image_size, self.label_size = _patch_shapes(self.h5, path)
            self.planes = self.h5["data"].shape[3]
        except DataFileError:
            self.h5.close()
            raise
        self.shuffle_buffer = shuffle_buffer

    def close(self):
        self.h5.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def batches(self, batch_size, rng, skip=0):
        """(data, label) batches of one epoch, leaving out the first `skip` (a resumed epoch).

        Chunk order and shuffle seed are drawn from `rng` now, so an epoch replays exactly.
        """
        chunks = rng.permutation(-(-self.count // STREAM_CHUNK))
        shuffle_rng = np.random.default_rng(rng.integers(2**63))
        capacity = max(self.shuffle_buffer, batch_size) + STREAM_CHUNK
        h5_data, h5_label = self.h5["data"], self.h5["label"]

        def shuffled_batches():
            pool_data = np.empty((capacity, self.image_size, self.image_size, self.planes), np.float32)
            pool_label = np.empty((capacity, self.label_size, self.label_size, self.planes), np.float32)
            # Pool slots: slots[:filled] hold patches, slots[filled:] are free. Drawing moves
            # slot numbers, not patches, so each patch is copied once in and once out.
            slots = np.arange(capacity)
            filled = 0

            def draw():
                nonlocal filled
                chosen = shuffle_rng.choice(filled, batch_size, replace=False)  # positions in slots
                batch = pool_data[slots[chosen]], pool_label[slots[chosen]]
                # Swap the chosen positions with the last batch_size held ones, then free those.
                tail = filled - batch_size
                keep = np.ones(batch_size, bool)
                keep[chosen[chosen >= tail] - tail] = False
                holes, movers = chosen[chosen < tail], tail + np.flatnonzero(keep)
                slots[holes], slots[movers] = slots[movers], slots[holes]
                filled = tail
                return batch

            for chunk in chunks:
                start = int(chunk) * STREAM_CHUNK
                data, label = h5_data[start:start + STREAM_CHUNK], h5_label[start:start + STREAM_CHUNK]
                for name, array in (("data", data), ("label", label)):
                    check_finite(self.path, name, array)
                while filled + len(data) > capacity:
                    yield draw()
                pool_data[slots[filled:filled + len(data)]] = data
                pool_label[slots[filled:filled + len(data)]] = label
                filled += len(data)
            while filled >= batch_size:
                yield draw()

        signature = (tf.TensorSpec((batch_size, self.image_size, self.image_size, self.planes), tf.float32),
                     tf.TensorSpec((batch_size, self.label_size, self.label_size, self.planes), tf.float32))
        stream = tf.data.Dataset.from_generator(shuffled_batches, output_signature=signature).skip(skip).prefetch(2)

        def generate():
            try:
                yield from stream.as_numpy_iterator()
            except tf.errors.OpError as error:
                reason = error.message.splitlines()[0]
                if "DataFileError: " in reason:  # one raised by shuffled_batches, which says it all
                    raise DataFileError(reason.split("DataFileError: ", 1)[1]) from None
                raise DataFileError(f"{self.path}: reading patches failed ({reason}); "
                                    "check the file (rerun step1_pre.py)") from None

        return generate()
