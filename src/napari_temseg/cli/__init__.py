"""`temseg`: the command line over the same core API the widgets use.

Errors caused by input print one line and exit with status 2; nothing here
does work of its own beyond reading arguments and writing files. One module per
group of subcommands; `parser` holds them all.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import TemsegError
from .parser import build_parser
from .train import Terminated, cmd_train, training_state_saved

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # tifffile's own warnings and errors about a damaged file come before, and say less than, our line on it
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)
    try:
        return args.func(args)
    except TemsegError as err:
        print(f"temseg: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as err:
        resume = ("; the last finished epoch is kept: go on with the same command and --resume (without --weights)"
                  if args.func is cmd_train and training_state_saved(Path(args.out)) else "")
        print(f"\ntemseg: {'terminated' if isinstance(err, Terminated) else 'interrupted'}{resume}", file=sys.stderr)
        return 143 if isinstance(err, Terminated) else 130
    except BrokenPipeError:  # `temseg models classical | head`: no traceback; the shell's status for it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except OSError as err:  # the file system's answer (read-only, full, a file where a folder goes): no bug
        where = f"{err.filename}: " if err.filename else ""
        print(f"temseg: error: {where}{err.strerror or err}", file=sys.stderr)
        return 1
