"""srcnn-upscale-batch: upscale many images with an Apache Beam pipeline (pip install "srcnn[beam]").

    srcnn-upscale-batch photos/ -o bigger/ -s 2                  # local runner, in this process
    srcnn-upscale-batch "scans/*.tif" -o out/ --workers 4 --failures bad.csv   # 4 worker processes
    srcnn-upscale-batch /mnt/archive/ -o /mnt/out/ --runner FlinkRunner --flink_master host:8081

Outputs have srcnn-upscale's names (`srcnn.upscaling.jobs`): the same inputs give the same files,
pixel for pixel. A quoted pattern is expanded here, as a shell would for srcnn-upscale.
Beam's own pipeline options (--runner, --project, ...) are passed on, any other flag is refused;
docs/batch.md shows the Dataflow and Flink forms. Ctrl-C and SIGTERM end the run with one line
(130, 143), leaving no temporaries; a killed run's are removed by the next.

The pipeline: the launcher plans the jobs with `srcnn.upscaling.jobs.plan_jobs` and writes them to a
listing in the output folder (a million paths would not fit in the pipeline's graph) ->
read -> skip jobs whose outputs are there -> RunInference with `UpscaleHandler` (the weights
loaded once per worker; each image read, upscaled and written atomically by
`Upscaler.upscale_file`) -> count done / failed, write the failures as CSV (path, reason).
A bad file never fails the job; exit code 1 says some failed. Images only: videos are
listed as failures that srcnn-upscale handles. Workers read and write plain paths, so on a
cluster the input and output folders must be a file system every worker mounts.

Beam and TensorFlow load only once the flags are good: --help and a bad flag answer at once.
"""

import contextlib
import csv
import glob
import io
import json
import logging
import os
import re
import signal
import sys
import threading
import time


from srcnn.commands import cli
from srcnn.upscaling import jobs
from srcnn.core.errors import OutputError, SRCNNError, Terminated, csv_cell, exit_on_interrupt, exit_on_user_error, os_reason, printable, with_hint
from srcnn.core import outputs
from srcnn.upscaling.batch_inputs import expand, parse_args

FAILURES_HEADER = "path,reason"
FAILURES = outputs.csv_kind("failures CSV", FAILURES_HEADER)
NAMESPACE = "srcnn"  # of the Beam metrics: done, skipped, failed
JOB_LISTING = outputs.OutputKind("list of jobs", recognise=outputs.first_line_starts("["))
# Beam writes a sink's shards as plain files in its own temporary folder.
BEAM_TEMPORARY = outputs.OutputKind("Beam temporary folder", folder=True, recognise=outputs.folder_of_files())
VIDEO_REASON = "a video: srcnn-upscale-batch upscales images; upscale videos with srcnn-upscale"


def failure_line(source, reason):
    """One CSV row (path, reason) without its line end, valid whatever the name holds.

    Names are data: control characters (a newline would split the row), and bytes that are
    not UTF-8, are written as escapes (`printable`); then a cell that a spreadsheet would
    run as a formula gets a leading quote (`csv_cell`).
    """
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow([csv_cell(printable(source)), csv_cell(printable(reason))])
    return line.getvalue()


def reason_of(error, source):
    """The one-line reason of a failure, without the path the CSV already gives."""
    message = with_hint(error, cli.UPSCALE_HINTS) if isinstance(error, SRCNNError) else (
        f"{type(error).__name__}: {error}")
    message = message.removeprefix(f"{source}: ").removeprefix(f"{printable(source)}: ")
    return " ".join(message.split())  # one line, whatever the error said


def plan(args, scale):
    """(jobs to run, [(source, reason)] refused before the pipeline: clashes and videos)."""
    planned, clashes = jobs.plan_jobs(expand(args.inputs), args.output, cli.naming_for(args, scale))
    refused = [tuple(message.split(": ", 1)) for message in clashes]  # "<source>: <why>"
    refused += [(job.source, VIDEO_REASON) for job in planned if jobs.video.is_video(job.source)]
    return [job for job in planned if not jobs.video.is_video(job.source)], refused


def write_listing(planned, folder):
    """The jobs as JSON lines (source, sr_path, bicubic_path) in `folder`; returns its path.

    Named as `srcnn.core.outputs` names temporaries, so a killed run's listing is swept by the next.

    Raises:
        OutputError: it cannot be written (a full disk); nothing of it is left.
    """
    path = outputs.temporary_name(os.path.join(folder, "batch-jobs.jsonl"))
    try:
        with open(path, "x", encoding="utf-8") as listing:
            for job in planned:
                listing.write(json.dumps([job.source, job.sr_path, job.bicubic_path]) + "\n")
    except BaseException as error:
        with contextlib.suppress(OutputError):
            outputs.remove_outputs([(path, JOB_LISTING)])
        if isinstance(error, OSError):
            raise OutputError(f"{printable(folder)}: cannot write the list of jobs there ({os_reason(error)})") from None
        raise
    return path


def make_handler(prefix, args, provenance=None):
    """An Apache Beam `ModelHandler` that runs `srcnn.upscaling.jobs.Job`s with an `Upscaler` (imports Beam)."""
    from apache_beam.ml.inference.base import ModelHandler, PredictionResult

    class UpscaleHandler(ModelHandler):
        """Loads the weights once per worker; `run_inference` runs a batch of jobs, one file at a time.

        Each result's inference is ("done", None) or ("failed", one-line reason).
        """

        def __init__(self):
            # Small batches spread the images over the workers; an image is one model call anyway.
            super().__init__(min_batch_size=1, max_batch_size=4)
            self.prefix, self.padding, self.precision, self.tile = prefix, args.padding, args.precision, args.tile
            self.overwrite, self.max_pixels = args.overwrite, args.max_pixels
            self.provenance = provenance

        def load_model(self):
            from srcnn.upscaling.upscaler import Upscaler

            return Upscaler.from_checkpoint(self.prefix, padding=self.padding, precision=self.precision,
                                            tile=self.tile)

        def run_inference(self, batch, model, inference_args=None):
            for job in batch:
                try:
                    jobs.run_job(model, job, self.overwrite, max_pixels=self.max_pixels, provenance=self.provenance)
                    yield PredictionResult(job, ("done", None))
                except Exception as error:  # a bad file, or a bug it meets, must not stop the others
                    yield PredictionResult(job, ("failed", reason_of(error, job.source)))

        def get_metrics_namespace(self):
            return NAMESPACE

    return UpscaleHandler()


def build(pipeline, listing, refused, handler, args, failures):
    """The pipeline's steps, from the listing to the failures CSV."""
    import apache_beam as beam
    from apache_beam.metrics import Metrics
    from apache_beam.ml.inference.base import RunInference

    skipped, done, failed = (Metrics.counter(NAMESPACE, name) for name in ("skipped", "done", "failed"))

    def to_job(line):
        return jobs.Job(*json.loads(line))

    def unless_done(job):
        if not args.overwrite and job.done(handler.provenance):  # made from this input, these weights and settings
            skipped.inc()
            return
        yield job

    def tally(result):
        status, reason = result.inference
        (done if status == "done" else failed).inc()
        if status == "failed":
            yield failure_line(result.example.source, reason)

    def count_refused(source_and_reason):
        failed.inc()
        return failure_line(*source_and_reason)

    results = (pipeline
               | "read the listing" >> beam.io.ReadFromText(listing)
               | "to jobs" >> beam.Map(to_job)
               | "spread over workers" >> beam.Reshuffle()
               | "skip jobs done" >> beam.FlatMap(unless_done)
               | "upscale" >> RunInference(handler)
               | "tally" >> beam.FlatMap(tally))
    refusals = (pipeline
                | "refused" >> beam.Create(refused)
                | "count refused" >> beam.Map(count_refused))
    ((results, refusals)
     | "all failures" >> beam.Flatten()
     | "write failures" >> beam.io.WriteToText(failures, shard_name_template="", header=FAILURES_HEADER))


def cpu_count():
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def pipeline_options(pipeline_args, workers):
    """Beam's options from its flags; the local runner gets `workers` processes, at most one per core."""
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(pipeline_args)
    runner = options.get_all_options()["runner"]
    if runner in (None, "DirectRunner", "direct"):
        if workers > cpu_count():  # each starts TensorFlow: a thousand would only exhaust the memory
            print(f"--workers {workers}: {cpu_count()} worker processes, one per CPU core")
            workers = cpu_count()
        # One process per worker: TensorFlow holds Python's GIL for part of each image, so
        # threads would not run images side by side. One worker needs no second process.
        quiet = {} if any(arg.startswith("--default_sdk_harness_log_level") for arg in pipeline_args) else {
            "default_sdk_harness_log_level": "ERROR"}  # each worker's start-up warnings would bury the summary
        if workers > 1:  # worker processes import this module first, to leave Ctrl-C to the launcher
            from apache_beam.options.pipeline_options import SetupOptions

            quiet["beam_plugins"] = (options.view_as(SetupOptions).beam_plugins or []) + [WORKER_PLUGIN]
            os.environ[LAUNCHER_ENVIRONMENT] = str(os.getpid())
        options = PipelineOptions(pipeline_args, direct_num_workers=workers,
                                  direct_running_mode="multi_processing" if workers > 1 else "in_memory", **quiet)
        logging.getLogger("apache_beam").setLevel(logging.ERROR)  # the workers' warnings, relayed
    return options


def importable_by_workers():
    """Local worker processes are fresh interpreters: they import srcnn from where this one did."""
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(jobs.__file__))))
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if package_parent not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent] + paths))


def counter(metrics, name):
    """A counter's total over every step that counts it (Beam reports one result per step):
    committed where the runner reports it, else attempted."""
    return sum(result.committed if result.committed is not None else result.attempted
               for result in metrics["counters"] if result.key.metric.name == name)


@contextlib.contextmanager
def interrupts_end_the_run():
    """Ctrl-C and SIGTERM while Beam runs leave this block as KeyboardInterrupt / `Terminated`.

    Beam re-raises an exception of a step as the same type with the step's name added, and
    where it cannot (KeyboardInterrupt() has no message to extend) as a RuntimeError, after
    logging its traceback; its worker processes, which a terminal's Ctrl-C reaches too, log
    theirs as they stop. Once a signal has come, all that is noise: Beam's logs and its
    threads' errors are silenced, and the error that leaves the block is the interrupt.
    """
    received = []
    beam_logger = logging.getLogger("apache_beam")
    level, excepthook = beam_logger.level, threading.excepthook

    def interrupt():
        return Terminated() if received[0] == signal.SIGTERM else KeyboardInterrupt()

    def on_signal(signum, frame):
        if not received:
            beam_logger.setLevel(logging.CRITICAL + 1)
            threading.excepthook = lambda failure: None
        received.append(signum)
        raise interrupt()

    previous = {}
    with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, on_signal)
    try:
        yield
        if received:  # swallowed on the way
            raise interrupt()
    except BaseException:
        if received:
            raise interrupt() from None
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        beam_logger.setLevel(level)
        threading.excepthook = excepthook


TEMPORARY_PID = re.compile(re.escape(outputs.TEMPORARY_MARK) + r"(\d+)-")


def sweep_outputs(folders, patience=0.0):
    """Removes from `folders` the temporaries of runs and workers that are gone (`outputs.sweep`).

    Args:
        patience: seconds to wait for the processes that own the remaining ones to end (this
            run's stopped workers, which Beam stops as the pipeline ends).
    """
    deadline = time.monotonic() + patience
    for folder in folders:
        while True:
            outputs.sweep(folder)
            try:
                waiting = [name for name in os.listdir(folder) if TEMPORARY_PID.search(name)
                           and int(TEMPORARY_PID.search(name)[1]) != os.getpid()]
            except OSError:
                break
            if not waiting or time.monotonic() >= deadline:
                break
            time.sleep(0.1)


def remove_beam_temporaries(path):
    """Removes the folder in which Beam writes `path` before moving it in place (left by a stopped run)."""
    folder, name = os.path.split(path)
    for found in glob.glob(os.path.join(glob.escape(folder or os.curdir), glob.escape(f"beam-temp-{name}-") + "*")):
        with contextlib.suppress(OutputError):  # what is not Beam's stays
            outputs.remove_outputs([(found, BEAM_TEMPORARY)])


def start_pipeline(beam, pipeline_args, workers):
    """The Beam pipeline of these options; a runner Beam refuses (unknown, or options missing) is one line."""
    try:
        return beam.Pipeline(options=pipeline_options(pipeline_args, workers))
    except Exception as error:  # ValueError "Pipeline has validations errors:" + one per line, ImportError, ...
        lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
        if len(lines) > 1 and lines[0].endswith(":"):  # "Pipeline has validation errors:", then one per line
            lines = [line.rstrip(".") for line in lines[1:]]
        raise SRCNNError(f"Beam cannot run with these pipeline options: {'; '.join(lines)}") from None


@exit_on_interrupt("every file written is whole; rerun the same command to do the rest")
@exit_on_user_error(hints=cli.UPSCALE_HINTS)
def main(argv=None):
    """srcnn-upscale-batch: plan here, upscale on the workers, print done / skipped / failed."""
    args, pipeline_args = parse_args(argv)
    # Beam logs notes on the root logger as it loads and runs (no apitools, no resource
    # module); none is for the user of this command, whose summary they would bury.
    logging.getLogger().setLevel(logging.ERROR)
    try:
        import apache_beam as beam
        from apache_beam.metrics.metric import MetricsFilter
    except ImportError:
        raise SRCNNError('srcnn-upscale-batch needs Apache Beam: pip install "srcnn[beam]"') from None
    prefix, scale = cli.weights_for(args.checkpoint, args.scale, args.arch)
    provenance = jobs.Provenance.of(prefix, scale, args.padding, args.precision)
    planned, refused = plan(args, scale)
    # failures.csv is replaced on each run, but never an input nor anything but such a CSV.
    failures_output = outputs.Outputs(inputs=list(args.inputs) + [job.source for job in planned]
                                      + [source for source, _ in refused], overwrite=True)
    try:
        failures_output.check(args.failures, FAILURES)
    except OutputError as error:
        raise SRCNNError(f"{error}; pass another --failures") from None
    pipeline = start_pipeline(beam, pipeline_args, args.workers)
    jobs.prepare_output(args.output)
    folders = sorted({os.path.dirname(path) or os.curdir for job in planned for path in job.outputs})
    sweep_outputs([args.output] + folders)  # what killed runs left
    listing = write_listing(planned, args.output)
    importable_by_workers()
    finished = False
    try:
        with interrupts_end_the_run(), failures_output.writing(args.failures, FAILURES) as failures:
            try:
                build(pipeline, listing, refused, make_handler(prefix, args, provenance), args, failures)
                result = pipeline.run()
                result.wait_until_finish()
            finally:
                remove_beam_temporaries(failures)
        finished = True
    except OSError as error:  # the failures CSV's folder (read-only, full)
        raise SRCNNError(f"{printable(args.failures)}: cannot write the failures CSV ({os_reason(error)}); "
                         "pass another --failures") from None
    finally:
        outputs.remove_outputs([(listing, JOB_LISTING)])
        if not finished:  # stopped workers may have left temporaries
            sweep_outputs(folders, patience=5.0)
    metrics = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    done, skipped, failed = (counter(metrics, name) for name in ("done", "skipped", "failed"))
    total = len(planned) + len(refused)
    print(f"upscaled {done} of {total} images x{scale} into {printable(os.path.join(args.output, ''))}"
          + (f"; skipped {skipped} already there (--overwrite redoes them)" if skipped else "")
          + (f"; {failed} failed (listed in {printable(args.failures)})" if failed else ""))
    return 1 if failed else 0


LAUNCHER_ENVIRONMENT = "SRCNN_BATCH_LAUNCHER"  # the pid of the run whose local workers import this module
WORKER_PLUGIN = "srcnn.upscaling.batch"  # this module by its name (__name__ is "__main__" under python -m)


def leave_interrupts_to_the_launcher():
    """In a local worker process (`--workers` > 1), ignores SIGINT: a terminal's Ctrl-C reaches
    the whole process group, and each worker would print a traceback as it dies. The launcher
    stops the pipeline, and its workers with it. Beam imports this module in each worker's main
    thread before it runs anything (its `beam_plugins` option)."""
    main_module = getattr(sys.modules.get("__main__"), "__spec__", None)
    if (getattr(main_module, "name", None) == "apache_beam.runners.worker.sdk_worker_main"
            and os.environ.get(LAUNCHER_ENVIRONMENT, str(os.getpid())) != str(os.getpid())
            and threading.current_thread() is threading.main_thread()):
        signal.signal(signal.SIGINT, signal.SIG_IGN)


leave_interrupts_to_the_launcher()

if __name__ == "__main__":
    sys.exit(main())
