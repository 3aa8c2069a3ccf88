"""The `keelson` command: parse arguments, call the module that does the work, map errors to
one line and an exit code (a traceback only with --debug)."""

import os
import sys
from collections.abc import Sequence

from keelson import runner
from keelson.cli.parser import build_parser
from keelson.errors import KeelsonError, one_line

# An error keelson has no name for (a bug): one line, and this code (EX_SOFTWARE).
UNEXPECTED_EXIT_CODE = 70
# What a shell reports for a program that SIGPIPE ended (128 + 13): the reader of its output left.
SIGPIPE_EXIT_CODE = 141


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeelsonError as exc:
        if args.debug:
            raise
        print(f"keelson: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("keelson: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`keelson runs show ID | head`): stop quietly, as a program
        # killed by SIGPIPE does, and keep Python from failing again on its final flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_EXIT_CODE
    except Exception as exc:  # a bug, or a failure keelson does not know yet: one line too
        if args.debug:
            raise
        during = f"; during run {runner.LAST_RUN_ID}" if runner.LAST_RUN_ID else ""
        print(
            f"keelson: error: unexpected {type(exc).__name__}: {one_line(exc)}{during}"
            " (run again with --debug for the traceback)",
            file=sys.stderr,
        )
        return UNEXPECTED_EXIT_CODE
