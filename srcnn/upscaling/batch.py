"""srcnn-upscale-batch: upscale many images with an Apache Beam pipeline (pip install "srcnn[beam]").

    srcnn-upscale-batch photos/ -o bigger/ -s 2                  # local runner, in this process
    srcnn-upscale-batch "scans/*.tif" -o out/ --workers 4 --failures bad.csv   # 4 worker processes
    srcnn-upscale-batch /mnt/archive/ -o /mnt/out/ --runner FlinkRunner --flink_master host:8081

Outputs have srcnn-upscale's names (`srcnn.upscaling.jobs`): the same inputs give the same files,
pixel for pixel. A quoted pattern is expanded here, as a shell would for srcnn-upscale.
Flags this command does not know are Beam pipeline options (--runner, --project, ...);
docs/batch.md shows the Dataflow and Flink forms.

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

import argparse
import contextlib
import csv
import glob
import io
import json
import logging
import os
import sys


from srcnn import __version__
from srcnn.commands import cli
from srcnn.upscaling import jobs
from srcnn.core.errors import InputError, OutputError, SRCNNError, csv_cell, exit_on_interrupt, exit_on_user_error, with_hint
from srcnn.core import outputs
from srcnn.core.flags import positive_int

FAILURES_HEADER = "path,reason"
FAILURES = outputs.csv_kind("failures CSV", FAILURES_HEADER)
NAMESPACE = "srcnn"  # of the Beam metrics: done, skipped, failed
VIDEO_REASON = "a video: srcnn-upscale-batch upscales images; upscale videos with srcnn-upscale"


def parse_args(argv):
    """(srcnn's flags, the rest: Beam pipeline options)."""
    parser = argparse.ArgumentParser(
        prog="srcnn-upscale-batch", description="Upscale many images with SRCNN on Apache Beam: locally (in this "
                                                "process, or --workers processes), or on Dataflow, Flink or Spark.",
        epilog="Outputs are named as srcnn-upscale names them; reruns skip outputs that are there. Other flags "
               "are Beam pipeline options, e.g. --runner DataflowRunner --project P --region R "
               "--temp_location gs://B/tmp (see docs/batch.md).")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="images, folders of them, or quoted patterns")
    cli.add_weights_arguments(parser)
    cli.add_padding_argument(parser)
    cli.add_upscaling_arguments(parser, videos=False)
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="local worker processes (default 1, in this process: an image's tiles already run on "
                             "every core, and each further process starts TensorFlow anew; see docs/batch.md)")
    parser.add_argument("--failures", default=None, metavar="PATH",
                        help="CSV of the files that failed and why (default: <output>/failures.csv)")
    parser.add_argument("--version", action="version", version=f"srcnn {__version__}")
    args, pipeline_args = parser.parse_known_args(argv)
    cli.check_naming(parser, args)
    args.failures = args.failures or os.path.join(args.output, "failures.csv")
    return args, pipeline_args


def expand(inputs):
    """Files and folders: each pattern replaced by what it matches (in order)."""
    expanded = []
    for pattern in inputs:
        if not glob.has_magic(pattern):
            expanded.append(pattern)
            continue
        matches = sorted(glob.glob(pattern, recursive=True))
        if not matches:
            raise InputError(f"{pattern}: matches no file or folder")
        expanded.extend(matches)
    return expanded


def failure_line(source, reason):
    """One CSV row (path, reason) without its line end."""
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow([csv_cell(source), csv_cell(reason)])  # names are data
    return line.getvalue()


def reason_of(error, source):
    """The one-line reason of a failure, without the path the CSV already gives."""
    message = with_hint(error, cli.UPSCALE_HINTS) if isinstance(error, SRCNNError) else (
        f"{type(error).__name__}: {error}")
    message = message.removeprefix(f"{source}: ")
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
    """
    path = outputs.temporary_name(os.path.join(folder, "batch-jobs.jsonl"))
    try:
        with open(path, "x", encoding="utf-8") as listing:
            for job in planned:
                listing.write(json.dumps([job.source, job.sr_path, job.bicubic_path]) + "\n")
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(path)
        raise
    return path


def make_handler(prefix, args):
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

        def load_model(self):
            from srcnn.upscaling.upscaler import Upscaler

            return Upscaler.from_checkpoint(self.prefix, padding=self.padding, precision=self.precision,
                                            tile=self.tile)

        def run_inference(self, batch, model, inference_args=None):
            for job in batch:
                try:
                    jobs.run_job(model, job, self.overwrite, max_pixels=self.max_pixels)
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
        if not args.overwrite and job.done():
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


def pipeline_options(pipeline_args, workers):
    """Beam's options from the flags srcnn does not know; the local runner gets `workers` processes."""
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(pipeline_args)
    runner = options.get_all_options()["runner"]
    if runner in (None, "DirectRunner", "direct"):
        # One process per worker: TensorFlow holds Python's GIL for part of each image, so
        # threads would not run images side by side. One worker needs no second process.
        quiet = {} if any(arg.startswith("--default_sdk_harness_log_level") for arg in pipeline_args) else {
            "default_sdk_harness_log_level": "ERROR"}  # each worker's start-up warnings would bury the summary
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
    """A counter's total: committed where the runner reports it, else attempted."""
    for result in metrics["counters"]:
        if result.key.metric.name == name:
            return result.committed if result.committed is not None else result.attempted
    return 0


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
    prefix, scale = cli.weights_for(args.checkpoint, args.scale)
    planned, refused = plan(args, scale)
    # failures.csv is replaced on each run, but never an input nor anything but such a CSV.
    failures_output = outputs.Outputs(inputs=list(args.inputs) + [job.source for job in planned]
                                      + [source for source, _ in refused], overwrite=True)
    try:
        failures_output.check(args.failures, FAILURES)
    except OutputError as error:
        raise SRCNNError(f"{error}; pass another --failures") from None
    jobs.prepare_output(args.output)
    outputs.sweep(args.output)
    listing = write_listing(planned, args.output)
    importable_by_workers()
    try:
        with failures_output.writing(args.failures, FAILURES) as failures:
            pipeline = beam.Pipeline(options=pipeline_options(pipeline_args, args.workers))
            build(pipeline, listing, refused, make_handler(prefix, args), args, failures)
            result = pipeline.run()
            result.wait_until_finish()
    finally:
        os.remove(listing)
    metrics = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    done, skipped, failed = (counter(metrics, name) for name in ("done", "skipped", "failed"))
    total = len(planned) + len(refused)
    print(f"upscaled {done} of {total} images x{scale} into {os.path.join(args.output, '')}"
          + (f"; skipped {skipped} already there (--overwrite redoes them)" if skipped else "")
          + (f"; {failed} failed (listed in {args.failures})" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
