"""The README's commands, run on a copy of the project: they cannot rot.

The promotion walkthrough: between `<!-- walkthrough: start -->` and `<!-- walkthrough: end -->`, a line
`$ mlp ...` is a command and the lines after it its expected output: a line `...` stands for any number of
lines, and `...` inside a line for any text; output after the lines shown is left out. Every command must
exit 0. Every other `mlp` command in a code block of the README (the install line, `mlp schema -o ...`) runs
offline with exit 0 too, unless its line ends `# needs a cloud`.
"""

import re
import shlex
import shutil
from pathlib import Path

import pytest

from mlplatform import cli

ROOT = Path(__file__).resolve().parents[2]


def walkthrough() -> list[tuple[list[str], list[str]]]:
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- walkthrough: start -->", 1)[1].split("<!-- walkthrough: end -->", 1)[0]
    lines = [line for line in block.strip().splitlines() if not line.startswith("```")]
    steps: list[tuple[list[str], list[str]]] = []
    for line in lines:
        if line.startswith("$ "):
            steps.append((shlex.split(line[2:]), []))
        else:
            steps[-1][1].append(line)
    return steps


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether `actual` begins as `expected` reads, `...` lines and in-line `...` standing for anything."""
    if not expected:
        return True  # what follows the shown output is left out
    head, rest = expected[0], expected[1:]
    if head == "...":
        return any(matches(rest, actual[start:]) for start in range(len(actual) + 1))
    pattern = ".*".join(re.escape(part) for part in head.split("...")) + r"\s*"
    return bool(actual) and re.fullmatch(pattern, actual[0]) is not None and matches(rest, actual[1:])


@pytest.fixture
def project(tmp_path) -> Path:
    for name in ["Pulumi.yaml", "__main__.py", *(p.name for p in ROOT.glob("Pulumi.*.yaml"))]:
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("stacks", "policies"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    return tmp_path


def test_the_readme_walkthrough_runs_as_written(project, capsys):
    steps = walkthrough()
    assert [argv[:2] for argv, _ in steps] == [
        ["mlp", "preview"],
        ["mlp", "promote"],
        ["mlp", "traffic"],
        ["mlp", "diff"],
    ]
    for argv, expected in steps:
        code = cli.main(["--project-dir", str(project), "--color", "never", *argv[1:]])
        out, err = capsys.readouterr()
        assert (code, err) == (0, ""), f"$ {shlex.join(argv)}\n{err}"
        assert matches(expected, out.splitlines()), f"$ {shlex.join(argv)} printed:\n{out}"


MLP = re.compile(r"(?:^|[\s/])(?:mlp|python3? -m mlplatform)\s+(?P<rest>[^&|;#\n]+)")
NEEDS_A_CLOUD = "# needs a cloud"


def code_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of the README's code: fenced blocks, and blocks indented four spaces."""
    lines, fenced, found = text.splitlines(), False, []
    for number, line in enumerate(lines, 1):
        if line.startswith("```"):
            fenced = not fenced
        elif fenced or line.startswith("    "):
            found.append((number, line))
    return found


def readme_commands() -> list[tuple[int, list[str] | None]]:
    """(line, the arguments after `mlp`, or None for one marked as needing a cloud) of every `mlp` command in
    the README's code outside the walkthrough (which its own test runs in order)."""
    text = (ROOT / "README.md").read_text()
    start, end = (text[: text.index(marker)].count("\n") + 1 for marker in ("walkthrough: start", "walkthrough: end"))
    found = []
    for number, line in code_lines(text):
        if start <= number <= end:
            continue
        for match in MLP.finditer(line):
            found.append((number, None if NEEDS_A_CLOUD in line else shlex.split(match.group("rest"))))
    return found


def test_every_mlp_command_of_the_readme_runs_offline(project, capsys):
    commands = readme_commands()
    assert [argv[:1] for _, argv in commands if argv] == [["preview"], ["schema"]]
    for number, argv in commands:
        if argv is None:
            continue
        code = cli.main(["--project-dir", str(project), "--color", "never", *argv])
        err = capsys.readouterr().err
        assert (code, err) == (0, ""), f"README.md:{number}: $ mlp {shlex.join(argv)}\n{err}"
    assert (project / "build" / "dev" / "stack.json").is_file()
    assert (project / "stack.schema.json").is_file()


def test_code_lines_and_marks():
    text = "Run\n\n    .venv/bin/pip install . && .venv/bin/mlp preview -s dev\n\n```\nmlp diff a b  # needs a cloud\n```\n"
    assert [line for _, line in code_lines(text)] == [
        "    .venv/bin/pip install . && .venv/bin/mlp preview -s dev",
        "mlp diff a b  # needs a cloud",
    ]
    assert [m.group("rest").strip() for _, line in code_lines(text) for m in MLP.finditer(line)] == [
        "preview -s dev",
        "diff a b",
    ]
