"""The paper's studies: train each network at one budget, evaluate, and write docs/paper.md.

    python paper_studies.py                    # every study (hours on 2 cores); rerun to continue
    python paper_studies.py --study filter-sizes --study depth
    python paper_studies.py --plan             # what is done and left, with the expected time
    python paper_studies.py --page             # docs/paper.md from the runs done so far; trains nothing

Runs live in --runs-dir (checkpoints, logs, samples); each complete one leaves a result.json
there, copied with its history.csv to docs/paper/runs/. A killed study continues where it
stopped: a run already complete is skipped, a run stopped midway resumes from its checkpoint.
The studies, the paper's figures and their sources: srcnn/commands/studies.py and paper.py.
"""

import argparse
import os
import sys

from srcnn.core.errors import OutputError, exit_on_interrupt, exit_on_user_error
from srcnn.core.flags import positive_int
from srcnn.commands import paper, studies


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--study", action="append", choices=studies.STUDY_KEYS, default=None,
                        help="a study to run (repeatable; default every one)")
    parser.add_argument("--runs-dir", default=os.path.join("runs", "paper"),
                        help="the runs' checkpoints, logs and results")
    parser.add_argument("--epochs", type=positive_int, default=studies.EPOCHS, help="the budget of every run")
    parser.add_argument("--train-dir", default="Train", help="training images")
    parser.add_argument("--test-root", default="Test", help="a folder holding Set5/ and Set14/")
    parser.add_argument("--docs-root", default=".", help="where docs/paper.md and docs/paper/ are written")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--plan", action="store_true", help="say what is done and left; train nothing")
    mode.add_argument("--page", action="store_true",
                      help="write docs/paper.md from the runs done so far (and docs/paper/runs/); train nothing")
    return parser.parse_args(argv)


@exit_on_interrupt("the run in progress resumes from its last checkpoint; rerun paper_studies.py")
@exit_on_user_error(hints={OutputError: "move what is in the way, or pass another --docs-root"})
def main(argv=None):
    args = parse_args(argv)
    folder = studies.StudyFolder(args.runs_dir, args.train_dir, args.test_root, args.epochs)
    runs = studies.planned_runs(args.study or studies.STUDY_KEYS)
    every = studies.planned_runs(studies.STUDY_KEYS)
    folder.check(every if args.page else runs, training=not (args.plan or args.page))
    if not args.plan:
        paper.check_page_outputs(args.docs_root, every)  # before any run: a page it could not write is said now
    if args.plan:
        print("\n".join(studies.plan(folder, runs)))
        return 0
    if args.page:
        paper.copy_results(folder, studies.planned_runs(studies.STUDY_KEYS), args.docs_root)
    else:
        # The page follows the study: rewritten after each run, so a stopped study leaves it current.
        studies.run_studies(folder, runs, say=print, done=lambda run: publish(folder, run, args))
    print(f"wrote {paper.write_page(args.docs_root, args.epochs)}")
    return 0


def publish(folder, run, args):
    paper.copy_results(folder, [run], args.docs_root)
    paper.write_page(args.docs_root, args.epochs)


if __name__ == "__main__":
    sys.exit(main())
