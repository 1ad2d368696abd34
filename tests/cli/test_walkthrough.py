"""The README's promotion walkthrough, run command by command on a copy of the project: it cannot rot.

Between `<!-- walkthrough: start -->` and `<!-- walkthrough: end -->`, a line `$ mlp ...` is a command
and the lines after it its expected output: a line `...` stands for any number of lines, and `...`
inside a line for any text; output after the lines shown is left out. Every command must exit 0.
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
