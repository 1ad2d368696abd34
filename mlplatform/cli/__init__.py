"""`mlp` (also `python -m mlplatform`): the offline commands around the stack files.

Exit codes: 0 success, 1 a mandatory policy violated, 2 usage or config error, 3 an unexpected error
(one line; `--debug` shows the traceback). Never a traceback otherwise. When the reader of the output goes
away first (`mlp preview -s prod | head`), 141 and nothing more, as a Unix tool killed by SIGPIPE (128 + 13)
exits: the output was cut, so not 0 (`set -o pipefail` sees it as it sees `cat`'s). With `--json`, an error of
exit 2 is also printed on standard output: `{"errors": [{"file", "line", "column", "path", "message"}]}`.

Each subcommand is a module of this package named in COMMANDS: it defines `add_parser(commands, common)`,
which adds its parser (with `common` among its parents) and sets `handler` to a function of the parsed
arguments that returns the exit code. A new command is one module and one line here.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import select
import sys
from pathlib import Path

from mlplatform.cli.output import COLOR_CHOICES, Style, wants_color
from mlplatform.config import ConfigError

EXIT_OK, EXIT_POLICY, EXIT_USAGE, EXIT_UNEXPECTED = 0, 1, 2, 3
EXIT_PIPE = 128 + 13  # SIGPIPE: the reader of the output went away
PROG = "mlp"

# name -> module; the order is the order of `mlp --help`.
COMMANDS: dict[str, str] = {
    "preview": "mlplatform.cli.preview",
    "diff": "mlplatform.cli.diff",
    "cost": "mlplatform.cli.cost",
    "endpoints": "mlplatform.cli.endpoints",
    "images": "mlplatform.cli.images",
    "promote": "mlplatform.cli.promote",
    "traffic": "mlplatform.cli.traffic",
    "schema": "mlplatform.cli.schema",
    "crds": "mlplatform.cli.crds",
}


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own exit code is 2 as well; keep the message to one line
        self.exit(EXIT_USAGE, f"error: {message} (see `{self.prog} --help`)\n")


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """Options taken before or after the command (`mlp --color never preview ...` or `mlp preview --color never`)."""

    def default(value):
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "-C", "--project-dir", type=Path, default=default(Path.cwd()), help="folder holding Pulumi.yaml (default: here)"
    )
    parser.add_argument(
        "--color",
        choices=COLOR_CHOICES,
        default=default("auto"),
        help="colour and emoji: auto (on a terminal, unless NO_COLOR is set), always or never",
    )
    parser.add_argument(
        "--debug", action="store_true", default=default(False), help="show the traceback of an unexpected error"
    )


def add_stack_option(
    parser: argparse.ArgumentParser,
    required: bool = True,
    help: str = "the stack, as in Pulumi.STACK.yaml (any stack of the project)",
) -> None:
    """`-s/--stack`, as Pulumi's commands take it."""
    parser.add_argument("-s", "--stack", required=required, help=help)


def add_json_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON (machine-readable)")


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Offline tools for the ml-platform Pulumi project: plan, compare, promote, find endpoints.",
        epilog="Exit codes: 0 ok, 1 a mandatory policy violated, 2 usage or config error, 3 unexpected error, "
        "141 the reader of the output went away (`| head`).",
    )
    _global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for module in COMMANDS.values():
        importlib.import_module(module).add_parser(commands, common)
    return parser


def _located(error: ConfigError, args: argparse.Namespace) -> ConfigError:
    """A config error raised without its file (a cross-check of the program) located in the command's stack file."""
    stack = getattr(args, "stack", None)
    if error.located or not stack or not isinstance(stack, str):
        return error
    from mlplatform.config.loading import ConfigSource

    source = ConfigSource.of(args.project_dir, stack)
    return error.locate(source.where) if source.stack_file.is_file() else error


def command() -> None:
    """The `mlp` command: `main()`, then exit without tearing the interpreter down.

    After a large plan, freeing every object one by one at shutdown took about a second; everything worth
    keeping is written and flushed by then (files are closed as they are written, the policy pack's process
    is stopped, the validation worker ends when its input closes)."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:  # the reader went away before the end of the output (`mlp preview | head`)
            code = EXIT_PIPE if stream is sys.stdout else code
        except OSError:
            pass
    os._exit(code)


def _reader_gone() -> bool:
    """Whether standard output is a pipe whose reader has closed it (poll says POLLERR on its write end)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no fileno (captured output), no poll (Windows)
        return False


def _quiet_pipe() -> int:
    """Exit as a Unix tool whose reader went away: no message; later flushes write to /dev/null."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_PIPE


_POSITION = re.compile(r"^(?P<file>[^\s:]+):(?P<line>[0-9]+):(?P<column>[0-9]+): (?P<message>.*)$", re.DOTALL)


def _json_error(where: str, path: str | None, message: str) -> dict:
    """One error for `--json`: `where` is `file:line:column`, or a file name, or empty."""
    file, _, position = where.partition(":")
    line, _, column = position.partition(":")
    return {
        "file": file or None,
        "line": int(line) if line.isdigit() else None,
        "column": int(column) if column.isdigit() else None,
        "path": path,
        "message": message,
    }


def _error_documents(error: BaseException) -> list[dict]:
    """The errors of a refused command as `--json` reports them: each config problem with its file position and
    config path; another error (a YAML mistake, a usage error) with the position its message starts with."""
    if isinstance(error, ConfigError):
        return [_json_error(problem.where, problem.key, problem.reason) for problem in error.problems]
    text = str(error)
    found = _POSITION.match(text)
    if found:
        return [_json_error(f"{found['file']}:{found['line']}:{found['column']}", None, found["message"])]
    return [_json_error("", None, text)]


def _refused(error: BaseException, args: argparse.Namespace) -> int:
    """A usage or config error: one line per problem on standard error; with `--json`, the errors on standard
    output too, for scripts."""
    lines = [str(problem) for problem in error.problems] if isinstance(error, ConfigError) else [str(error)]
    for line in lines:
        print(args.style.error(line), file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"errors": _error_documents(error)}, indent=2, ensure_ascii=False))
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if argv is None and not args.debug:
        # Run as a command: an event loop of the Pulumi runtime left open by a failed run would complain at exit.
        sys.unraisablehook = lambda unraisable: None
    style = Style(wants_color(args.color))
    args.style = style
    from mlplatform.offline.stackfiles import UsageError

    expected: tuple[type[BaseException], ...] = (UsageError,)
    try:
        from mlplatform.offline.analyzer import PolicyPackError
        from mlplatform.validation import CrdsMissing, InvalidObjects, crds

        expected += (PolicyPackError, CrdsMissing, InvalidObjects)
        with crds.for_project(args.project_dir):
            return args.handler(args)
    except ConfigError as error:
        return _refused(_located(error, args), args)
    except expected as error:
        return _refused(error, args)
    except KeyboardInterrupt:
        print(style.error("interrupted"), file=sys.stderr)
        return 130
    except Exception as error:
        if isinstance(error, BrokenPipeError) and _reader_gone():
            return _quiet_pipe()
        if args.debug:
            raise
        detail = str(error).strip().splitlines()
        print(
            style.error(
                f"unexpected {type(error).__name__}"
                + (f": {detail[0]}" if detail else "")
                + f" (rerun with --debug for the traceback: {PROG} --debug {args.command} ...)"
            ),
            file=sys.stderr,
        )
        return EXIT_UNEXPECTED
