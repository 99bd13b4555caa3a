"""Distribution: tf.distribute strategies and the global batch split across replicas."""

import json
import os
from srcnn.core.startup import tf  # first: keras imports TensorFlow, whose start-up messages this filters
import numpy as np
from srcnn.core.choices import STRATEGIES  # noqa: F401  (distribution.STRATEGIES: the names it makes)
from srcnn.core.errors import RunFolderError, SettingError, printable


MAX_CPU_REPLICAS = 64  # logical CPU devices `make_strategy` makes where there is no GPU


def make_strategy(name, replicas=None):
    """A `tf.distribute` strategy; call it before anything else touches TensorFlow's devices.

    Args:
        name: "default" (one device), "mirrored" (`MirroredStrategy` over the local GPUs,
            or over logical CPU devices where there is no GPU) or "multi-worker"
            (`MultiWorkerMirroredStrategy` over the machines TF_CONFIG names, each with
            all its GPUs, or its CPU).
        replicas: with "mirrored", how many GPUs to use (default all), or logical CPU
            devices to make (default 2).

    Raises:
        SettingError: an unknown name, more replicas than GPUs, devices already set up, or a
            missing or malformed TF_CONFIG (`.setting` is "strategy" or "replicas").
    """
    if name not in STRATEGIES:
        raise SettingError(f"strategy {name!r} is not one of {', '.join(STRATEGIES)}", "strategy")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multi-worker":
        if "TF_CONFIG" not in os.environ:
            raise SettingError("the multi-worker strategy needs TF_CONFIG in the environment (the cluster's "
                               "workers and this one's task); see the README", "strategy")
        try:
            check_tf_config(json.loads(os.environ["TF_CONFIG"]))
            return tf.distribute.MultiWorkerMirroredStrategy()
        except (TypeError, ValueError) as error:  # json's, ours, and TensorFlow's own checks
            raise SettingError(f"TF_CONFIG is not a cluster description ({printable(error)}); see the README",
                               "strategy") from None
    if replicas is not None and replicas < 1:
        raise SettingError(f"replicas {replicas}: needs at least 1", "replicas")
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        count = replicas or len(gpus)
        if count > len(gpus):
            raise SettingError(f"replicas {count}: only {len(gpus)} GPUs here, so at most {len(gpus)}", "replicas")
        return tf.distribute.MirroredStrategy([f"/gpu:{index}" for index in range(count)])
    count = replicas or 2
    if count > MAX_CPU_REPLICAS:
        raise SettingError(f"replicas {count}: no GPU here, and more than {MAX_CPU_REPLICAS} logical CPU devices "
                           "only slow training down (setting them up alone takes minutes)", "replicas")
    try:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        # TensorFlow fixes its devices on first use; a second call in one process ends here.
        if len(tf.config.list_logical_devices("CPU")) < count:
            raise SettingError(f"replicas {count}: TensorFlow has already set up its CPU devices in this "
                               "process; start a new one", "replicas") from None
    return tf.distribute.MirroredStrategy([f"/cpu:{index}" for index in range(count)])


def check_tf_config(config):
    """Raises ValueError unless `config` (TF_CONFIG, parsed) is {"cluster": {job: ["host:port", ...]},
    "task": {"type": job, "index": i}} with this task among the cluster's."""
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict) \
            or not isinstance(config.get("task"), dict):
        raise ValueError("no 'cluster' or 'task' object")
    for job, addresses in config["cluster"].items():
        if not isinstance(addresses, list) or not addresses or not all(isinstance(address, str) and ":" in address
                                                                        for address in addresses):
            raise ValueError(f"cluster job {job!r} is not a list of 'host:port' addresses")
    task_type, index = config["task"].get("type"), config["task"].get("index")
    if task_type not in config["cluster"]:
        raise ValueError(f"task type {task_type!r} is not a job of the cluster")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(config["cluster"][task_type]):
        raise ValueError(f"task index {index!r} is not one of the {len(config['cluster'][task_type])} "
                         f"{task_type} addresses")


def split_batch(strategy, batch):
    """A numpy global batch as the strategy's replicas take it: (B, ...) -> replicas x (B / replicas, ...)."""
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return batch
    parts = np.split(batch, replicas)
    return strategy.experimental_distribute_values_from_function(
        lambda context: parts[context.replica_id_in_sync_group])


def _check_workers_agree(strategy, step, checkpoint_dir):
    """Raises RunFolderError unless every worker restored the same step (all read checkpoint_dir)."""
    # Sums of 1, step and step^2 over the replicas: n * sum(step^2) == sum(step)^2 only if all are equal.
    count, total, squares = strategy.reduce(tf.distribute.ReduceOp.SUM, tf.constant([1.0, step, step**2], tf.float64),
                                            axis=None).numpy()
    if count * squares != total**2:
        raise RunFolderError(f"{checkpoint_dir}: the workers restored different steps (this one {step}, mean "
                        f"{total / count:g}); put the checkpoint folder on storage every worker reads", "checkpoint_dir")
