"""Precision: float32, or bfloat16 where the hardware runs it natively; one resolver for training and inference."""

# bfloat16 is only fast with hardware support; elsewhere it is emulated and slower than float32.
_BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_computes_bfloat16():
    """True on a CPU with AVX512-BF16 or AMX (read from /proc/cpuinfo, without TensorFlow)."""
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), [])
    except OSError:
        flags = []
    return any(flag in flags for flag in _BFLOAT16_CPU_FLAGS)


def bfloat16_is_native():
    """True where the hardware computes bfloat16 natively, so that it is faster than float32.

    That is a GPU of compute capability 8 or more, or a CPU with AVX512-BF16 or AMX.
    """
    from srcnn.core.startup import tf  # here, so that the CPU's answer needs no TensorFlow
    for gpu in tf.config.list_physical_devices("GPU"):
        if tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0)) >= (8, 0):
            return True
    return cpu_computes_bfloat16()


def resolve_precision(precision, training=False):
    """The precision a run computes in: `precision` itself, or for "auto" bfloat16 where native, else float32.

    Training names bfloat16 compute with float32 weights Keras's way, "mixed_bfloat16"; inference "bfloat16".
    """
    if precision != "auto":
        return precision
    if not bfloat16_is_native():
        return "float32"
    return "mixed_bfloat16" if training else "bfloat16"
