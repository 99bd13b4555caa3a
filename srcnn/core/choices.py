"""The choices and defaults that the library and the command lines share.

Plain values in a module that imports nothing heavy, so that a command builds its
parser, answers --help and refuses a bad flag before TensorFlow loads. Each value's
meaning is documented where it is used (named after each).
"""

CHANNELS = ("y", "rgb", "ycbcr")  # what a network takes and restores (srcnn.core.colour.CHANNEL_COUNTS)
SCALES = (2, 3, 4)  # the factors the scripts train and test, checkpoints may hold, and weights ship for
DEFAULT_SCALE = 3  # the paper's headline factor
# srcnn.core.model: how each layer's input is padded; "valid" is training's, the others test time's.
PADDINGS = ("valid", "replicate", "zero")
UPSCALE_PADDINGS = ("replicate", "zero")  # same-size output: what upscaling takes
# Test-time padding: replicate is what the paper's figures assume (zero costs > 1 dB).
DEFAULT_PADDING = "replicate"
# srcnn.upscaling: precisions of the upscale ("auto": bfloat16 where it is native, else float32).
INFERENCE_PRECISIONS = ("float32", "bfloat16")
PRECISIONS = ("auto",) + INFERENCE_PRECISIONS
DEFAULT_TILE = 512  # output pixels per tile side: little recomputed overlap, activations well under 1 GB
# srcnn.core.image_files.read_image: larger images are refused before decoding (Pillow's own limit).
DEFAULT_MAX_PIXELS = 89_478_485
# srcnn.upscaling.video: x264's constant rate factor; 18 is the "visually lossless" end of its scale.
DEFAULT_CRF = 18
CRF_RANGE = (0, 51)  # 0 is lossless
# srcnn.upscaling.export: the model formats.
EXPORT_FORMATS = ("savedmodel", "tflite", "onnx")
# srcnn.upscaling.jobs: the file types upscaled images are written as ("same": the input's, where writable).
OUTPUT_EXTENSIONS = ("png", "jpg", "webp", "tif", "same")
DEFAULT_OUTPUT_EXTENSION = "png"
# srcnn.training: what a training may be set to (srcnn.training.config holds each setting's default and help).
OPTIMIZERS = ("adam", "sgd")
TRAINING_PRECISIONS = ("auto", "float32", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi-worker")
# How a training step runs on one device (srcnn.training.execution); "auto" measures which is fastest here.
# Grouped by thread setting: one part per core (each op on one thread), or the whole batch.
EXECUTIONS_BY_THREADS = (("hybrid-per-core", "xla-per-core", "tf-per-core"), ("hybrid", "xla", "tf"))
EXECUTIONS = ("hybrid-per-core", "hybrid", "xla-per-core", "xla", "tf-per-core", "tf")
# srcnn.training.patches: the paper's patch sides (a 33 px input, the 21 px output of a VALID 9-1-5) and stride.
DEFAULT_IMAGE_SIZE, DEFAULT_LABEL_SIZE, DEFAULT_STRIDE = 33, 21, 14
