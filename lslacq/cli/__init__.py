"""The lslacq command: acquisition graphs, LSL and dareplane tools.

Sub-commands are plugins: every entry point in the ``lslacq.commands`` group
names a callable ``add_parser(subparsers)`` that adds one sub-command whose
parser sets ``func`` (called with the parsed arguments, returning an exit
code). Bridges add their commands the same way, so the core never imports them.
lslacq's own commands are the modules of this package, one per command, named
after it (``lslacq rda-emulator`` is :mod:`lslacq.cli.rda_emulator`; ``run`` and
``check`` share :mod:`lslacq.cli.graphfile`).

Exit status of every sub-command (docs/index.md, "The lslacq command"):

- 0: done, or stopped by Ctrl-C / SIGTERM while running (the normal way to stop
  ``demo``, ``run``, ``bridge``, ``view``...);
- 1: failed (the reason on one stderr line; ``-v`` adds the traceback, remote ones included),
  or a package of an extra is missing (the line names the ``pip install`` to run);
- 2: bad command line, invalid graph file (``lslacq check``) or a graph that cannot be built;
- 130: interrupted by Ctrl-C before it got going (while starting, or a one-shot command);
- 141: its output was closed early (``lslacq lsl list --json | head -3``), as for any Unix tool.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
import traceback
from importlib.metadata import entry_points

from .._extras import install_message

__all__ = [
    "main",
    "build_parser",
    "plain_text",
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
    "EXIT_BROKEN_PIPE",
]

COMMAND_GROUP = "lslacq.commands"

EXIT_OK = 0
"""Exit status: done, or stopped by Ctrl-C / SIGTERM while running."""
EXIT_FAILED = 1
"""Exit status: failed (the reason on one stderr line), or a package of an extra is missing."""
EXIT_USAGE = 2
"""Exit status: bad command line, invalid graph file, or a graph that cannot be built."""
EXIT_INTERRUPTED = 130
"""Exit status: interrupted by Ctrl-C before the command got going."""
EXIT_BROKEN_PIPE = 141
"""Exit status: the output was closed early (as for any Unix tool)."""

#: errors a command may end with that are about the environment (a busy port, no server, a remote failure), not
#: bugs: one line on stderr, the traceback with -v
_ONE_LINE_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError)


def _one_line_errors() -> tuple[type[BaseException], ...]:
    from ..errors import LslacqError

    return (*_ONE_LINE_ERRORS, LslacqError)


def _forget(subparsers, name: str, n_actions: int) -> None:
    """Remove what a plugin that failed halfway added (its parser and help line)."""
    subparsers.choices.pop(name, None)
    del subparsers._choices_actions[n_actions:]  # argparse keeps the help lines there


def _add_unavailable(subparsers, name: str, message: str) -> None:
    """Add a sub-command whose plugin cannot load for a missing extra: it prints ``message`` and exits 1."""
    parser = subparsers.add_parser(
        name, help=f"(not installed: {message.split(': ', 1)[-1]})", add_help=False, prefix_chars="\x00"
    )  # no options: every argument (--help too) is taken below
    parser.add_argument("rest", nargs=argparse.REMAINDER)

    def run(args) -> int:
        print(message, file=sys.stderr)
        return EXIT_FAILED

    parser.set_defaults(func=run)


_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`~?([^`<]*?)(?:\s*<[^>]*>)?`")  # :class:`~pkg.Name` -> pkg.Name


def plain_text(text: str | None) -> str | None:
    """Strip Sphinx/reST markup from help text.

    ``:class:`~lslacq_lsl.LslInlet``` -> ``LslInlet``, double backquotes -> the literal.
    """
    if not text:
        return text

    def role(match: re.Match) -> str:
        target = match.group(1).strip()
        return target.rsplit(".", 1)[-1] if match.group(0).split("`", 1)[1].startswith("~") else target

    text = _ROLE.sub(role, text)
    return text.replace("``", "")


def _plain_help(parser: argparse.ArgumentParser) -> None:
    """Strip markup from a parser's texts and its sub-parsers' (the plugins write docstrings as help)."""
    parser.description = plain_text(parser.description)
    parser.epilog = plain_text(parser.epilog)
    for action in parser._actions:
        if action.help not in (None, argparse.SUPPRESS):
            action.help = plain_text(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = plain_text(choice.help)
            for sub in set(action.choices.values()):
                _plain_help(sub)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every installed sub-command.

    A sub-command whose plugin needs a package of a missing extra is listed, and running it prints the
    ``pip install`` line (nothing is printed for the other commands).
    """
    parser = argparse.ArgumentParser(
        prog="lslacq",
        description=__doc__.splitlines()[0],
        epilog="Ctrl-C stops any command; exit status: 0 done or stopped, 1 failed, "
        "2 bad input, 130 interrupted while starting. See docs/index.md.",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log output (-vv for debug) and full tracebacks of failures",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        n_actions = len(subparsers._choices_actions)
        try:
            ep.load()(subparsers)
        except Exception as exc:  # a broken plugin must not break the other commands
            _forget(subparsers, ep.name, n_actions)
            message = install_message(f"lslacq {ep.name}", exc)
            if message is not None:
                _add_unavailable(subparsers, ep.name, message)
            else:
                logging.getLogger(__name__).warning("cannot load lslacq command %r (%s): %s", ep.name, ep.value, exc)
    _plain_help(parser)
    return parser


def _verbosity(argv: list[str] | None) -> int:
    """Count the -v options, read before the sub-commands are loaded."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("-v", "--verbose", action="count", default=0)
    return pre.parse_known_args(argv)[0].verbose


def _report(prog: str, exc: BaseException, verbose: int) -> None:
    """One line for an expected failure; the traceback (and a remote one) only with -v."""
    remote_type = getattr(exc, "remote_type", None)
    text = f"{remote_type}: {exc.remote_message}" if remote_type else str(exc) or type(exc).__name__
    print(f"{prog}: {text}", file=sys.stderr, flush=True)
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    else:
        print(f"{prog}: (run `lslacq -v ...` for the traceback)", file=sys.stderr, flush=True)


def _silence_stdout() -> None:
    """After a broken pipe: send what is left to /dev/null so the interpreter's final flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the ``lslacq`` command line; return the exit code (see the module docstring)."""
    verbose = _verbosity(argv)
    # native libraries' own logs (liblsl's INFO lines) stay quiet unless asked for with -v; the
    # bridges read this when the sub-commands are loaded, before any native call
    os.environ.setdefault("LSLACQ_LIBLSL_LOG_LEVEL", str([-2, 0, 1][min(verbose, 2)]))
    previous = None
    if threading.current_thread() is threading.main_thread():  # SIGTERM stops a command as Ctrl-C does
        previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    args = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_USAGE
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's final flush
        return code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except ImportError as exc:
        prog = f"lslacq {getattr(args, 'command', None) or ''}".rstrip()
        message = install_message(prog, exc)
        if message is None:
            raise
        print(message, file=sys.stderr, flush=True)
        if verbose:
            traceback.print_exception(exc, file=sys.stderr)
        return EXIT_FAILED
    except _one_line_errors() as exc:
        _report(f"lslacq {getattr(args, 'command', None) or ''}".rstrip(), exc, verbose)
        return EXIT_FAILED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
