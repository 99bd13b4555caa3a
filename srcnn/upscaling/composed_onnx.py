"""ONNX Runtime graphs of the composed engine's products (`srcnn.upscaling.composed_engine`).

Optional: `pip install srcnn[runtimes]` (and requirements.txt) installs onnxruntime and
onnx; without them the composed engine runs the same products in numpy.
"""

import numpy as np


def tap_maps_session(bias1, conv2, bias2, conv3):
    """An ONNX Runtime session of `ComposedSRCNN._tap_maps` (inputs "windows", "conv1"; output
    "taps"), one thread, or None where onnxruntime or onnx does not import.

    Each product, its bias and ReLU are one fused Gemm after ONNX Runtime's optimisations.
    """
    try:
        import onnx
        import onnxruntime
    except ImportError:
        return None
    from onnx import TensorProto, helper, numpy_helper

    maps1 = conv2.shape[0]
    constants = {"bias1": bias1, "conv2": conv2, "bias2": bias2, "conv3": conv3,
                 "by_map": np.array([-1, maps1], np.int64)}
    nodes = [
        helper.make_node("MatMul", ["windows", "conv1"], ["features_linear"]),
        helper.make_node("Add", ["features_linear", "bias1"], ["features"]),
        helper.make_node("Relu", ["features"], ["features_relu"]),
        helper.make_node("Reshape", ["features_relu", "by_map"], ["by_phase"]),  # (pixels * s * s, maps1)
        helper.make_node("MatMul", ["by_phase", "conv2"], ["maps_linear"]),
        helper.make_node("Add", ["maps_linear", "bias2"], ["maps_biased"]),
        helper.make_node("Relu", ["maps_biased"], ["maps"]),
        helper.make_node("MatMul", ["maps", "conv3"], ["taps_by_phase"]),  # (pixels * s * s, f3 * f3)
        helper.make_node("Shape", ["windows"], ["windows_shape"]),
        helper.make_node("Slice", ["windows_shape", "zero", "one"], ["pixels"]),
        helper.make_node("Concat", ["pixels", "minus_one"], ["by_pixel"], axis=0),
        helper.make_node("Reshape", ["taps_by_phase", "by_pixel"], ["taps_by_pixel"]),
        helper.make_node("Transpose", ["taps_by_pixel"], ["taps"], perm=[1, 0]),
    ]
    constants.update(zero=np.array([0], np.int64), one=np.array([1], np.int64), minus_one=np.array([-1], np.int64))
    graph = helper.make_graph(
        nodes, "srcnn_tap_maps",
        [helper.make_tensor_value_info("windows", TensorProto.FLOAT, ["pixels", None]),
         helper.make_tensor_value_info("conv1", TensorProto.FLOAT, [None, None])],
        [helper.make_tensor_value_info("taps", TensorProto.FLOAT, [None, "pixels"])],
        [numpy_helper.from_array(np.asarray(value), name) for name, value in constants.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = onnxruntime.SessionOptions()
    # One thread per call: the composed engine runs a tile per core.
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


class TileTapMaps:
    """The tap maps of a whole tile through the interior filters, in ONNX Runtime.

    Called with the zero-padded small Y of a tile, (rows + window - 1, columns + window - 1),
    it returns (s * s, taps, rows * columns) as `ComposedSRCNN._conv12` does, `taps` being
    f3 * f3 rounded up to a multiple of 8 (the extra taps are zero).

    Each phase (p, q) is its own chain of convolutions: conv1 over the part of the window
    where that phase's filter is not zero (the enlargement reaches 6 of the 7 small pixels of
    a x3 window for two of the three phases: 18 % fewer multiply-adds), then conv2 and
    conv3's taps as 1 x 1 convolutions. ONNX Runtime runs convolutions whose channels come in
    blocks of 8 in its blocked-channel (NCHWc) kernels, which keep the FMA units busier than
    the per-pixel products of `tap_maps_session`; a phase's 64 maps stay in the cache
    between its layers; and each phase writes its taps straight into the array returned.

    Args:
        conv1: (window * window, s * s * maps1) interior conv1 of `ComposedSRCNN`.
        bias1, conv2, bias2, conv3: as `tap_maps_session` takes them.
        window: the side of conv1's window, in small pixels.
    """

    def __init__(self, conv1, bias1, conv2, bias2, conv3, window):
        import onnxruntime
        from onnx import TensorProto, helper, numpy_helper

        maps1, maps2, taps3 = conv2.shape[0], conv2.shape[1], conv3.shape[1]
        self.phases = conv1.shape[1] // maps1
        # conv3's taps padded with zero filters to a multiple of 8: whole blocks for NCHWc.
        self.taps = -(-taps3 // 8) * 8
        conv3_blocked = np.zeros((self.taps, maps2, 1, 1), np.float32)
        conv3_blocked[:taps3, :, 0, 0] = conv3.T
        constants = {"conv2": conv2.T[..., None, None], "bias2": bias2, "conv3": conv3_blocked,
                     "axes": np.array([2, 3], np.int64)}
        nodes, self.outputs = [], [f"taps{phase}" for phase in range(self.phases)]
        self.multiply_adds = self.phases * (maps1 * maps2 + maps2 * self.taps)  # per pixel, conv1's added below
        for phase, output in enumerate(self.outputs):
            kernel = conv1[:, phase * maps1:(phase + 1) * maps1].T.reshape(maps1, 1, window, window)
            rows, columns = (np.flatnonzero(np.any(kernel != 0, axis=axes)) for axes in ((0, 1, 3), (0, 1, 2)))
            first, last = np.array([rows[0], columns[0]]), np.array([rows[-1], columns[-1]])
            self.multiply_adds += maps1 * (last - first + 1).prod()
            constants.update({
                f"conv1_{phase}": kernel[:, :, first[0]:last[0] + 1, first[1]:last[1] + 1],
                f"bias1_{phase}": bias1[phase * maps1:(phase + 1) * maps1],
                f"first{phase}": first, f"stop{phase}": np.where(last < window - 1, last - (window - 1), 2 ** 62)})
            nodes += [
                helper.make_node("Slice", ["y", f"first{phase}", f"stop{phase}", "axes"], [f"window{phase}"]),
                helper.make_node("Conv", [f"window{phase}", f"conv1_{phase}", f"bias1_{phase}"], [f"linear1_{phase}"]),
                helper.make_node("Relu", [f"linear1_{phase}"], [f"features{phase}"]),
                helper.make_node("Conv", [f"features{phase}", "conv2", "bias2"], [f"linear2_{phase}"]),
                helper.make_node("Relu", [f"linear2_{phase}"], [f"maps{phase}"]),
                helper.make_node("Conv", [f"maps{phase}", "conv3"], [output])]
        graph = helper.make_graph(
            nodes, "srcnn_tile_tap_maps", [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, None, None])],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, [1, self.taps, None, None])
             for output in self.outputs],
            [numpy_helper.from_array(np.ascontiguousarray(value), name) for name, value in constants.items()])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1  # a tile per core, as `tap_maps_session`
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                                    providers=["CPUExecutionProvider"])
        self.window = window

    def __call__(self, padded):
        rows, columns = (side - self.window + 1 for side in padded.shape)
        taps = np.empty((self.phases, self.taps, rows * columns), np.float32)
        binding = self.session.io_binding()
        binding.bind_cpu_input("y", np.ascontiguousarray(padded[None, None]))
        for phase, output in enumerate(self.outputs):
            binding.bind_output(output, "cpu", 0, np.float32, [1, self.taps, rows, columns], taps[phase].ctypes.data)
        self.session.run_with_iobinding(binding)
        return taps
