"""The docs name what exists: every repository path and every `mlp` command that README.md, docs/*.md and
policies/README.md name; and what they say of the stacks matches the stacks.

A reference is a backticked span or a link target. It names a path of this repository when its first segment
is an entry of the repository's root (`mlplatform/`, `docs/`, `tests/`, `stacks/`, `Pulumi.dev.yaml`, ...),
of a package folder the docs write paths in (`infra/kserve.py` in `mlplatform/`, `mlpolicies/` in
`policies/`) or of the document's own folder, and it must then exist in one of them. Not checked:
placeholders (`<stack>`, `...`, `$VAR`), what `.gitignore` ignores (`build/prod`: a run makes it), URLs, and
another repository's file, which the docs write right after that repository's name
(`awslabs/mountpoint-s3-csi-driver v2 `docs/CONFIGURATION.md``, `kserve/kserve@v0.20.0 `config/...``).
A glob (`Pulumi.*.yaml`) must match something. An `mlp` command (`mlp ...`, `python -m mlplatform ...`)
must be a command of `mlp --help` and name only options it takes; a line of code (a code block, `$ mlp ...`)
without placeholders must be accepted by `mlp`'s own parser.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import itertools
import re
import shlex
from pathlib import Path

import pytest
import yaml

from mlplatform import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "policies" / "README.md"]
IGNORED = {".git"}

FENCE = re.compile(r"^```.*?^```", re.S | re.M)
SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)|\]\(([^)\s]+)\)")
# `owner/repo`, optionally `@tag` or ` v1.2`, right before a span: the span is that repository's file.
UPSTREAM = re.compile(r"[\w.-]+/[\w.-]+(@[\w.-]+)?( v?\d[\w.]*)? $")
PLACEHOLDER = re.compile(r"[<>{}$]|\.\.\.|…")
COMMAND = re.compile(r"(?:\bmlp|python3? -m mlplatform)\b(?P<rest>[^`|;&\n]*)")


def entries(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name not in IGNORED}


def generated(path: str) -> bool:
    """Whether `.gitignore` ignores `path`: made by a run (`build/prod`, `policies/venv`), not committed."""
    patterns = [line.strip().rstrip("/") for line in (ROOT / ".gitignore").read_text().splitlines()]
    parts = path.rstrip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(
        fnmatch.fnmatch(prefix if "/" in pattern else prefix.rsplit("/", 1)[-1], pattern)
        for pattern in patterns
        if pattern and not pattern.startswith("#")
        for prefix in prefixes
    )


def bases(doc: Path) -> list[Path]:
    """The folders a document's paths are relative to."""
    return [ROOT, ROOT / "mlplatform", ROOT / "policies", doc.parent]


def references(doc: Path) -> list[tuple[int, str]]:
    """(line, text) of each backticked span and link target outside fenced blocks."""
    text = FENCE.sub(lambda block: "\n" * block.group().count("\n"), doc.read_text())
    found = []
    for match in SPAN.finditer(text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        if match.group(1) is not None and UPSTREAM.search(text[line_start : match.start()]):
            continue
        found.append((text.count("\n", 0, match.start()) + 1, match.group(1) or match.group(2)))
    return found


def repository_path(doc: Path, text: str) -> str | None:
    """The path `text` names in this repository, or None when it names none (see the module docstring)."""
    text = text.strip()
    if " " in text or PLACEHOLDER.search(text) or re.match(r"[a-z]+:", text) or text.startswith("#"):
        return None
    path = re.sub(r"::.*$|#.*$|:\d+$", "", text).removeprefix("./")
    first = path.split("/")[0]
    if generated(path):
        return None
    if any(first in entries(base) for base in bases(doc) if base.is_dir()):
        return path
    if "/" not in path and "*" in path and any(ROOT.glob(path)):
        return path
    return None


def exists(doc: Path, path: str) -> bool:
    return any(any(base.glob(path)) if "*" in path else (base / path).exists() for base in bases(doc))


def missing_paths(docs: list[Path]) -> list[tuple[str, str]]:
    return [
        (f"{doc.relative_to(ROOT) if doc.is_relative_to(ROOT) else doc.name}:{line}", path)
        for doc in docs
        for line, text in references(doc)
        if (path := repository_path(doc, text)) is not None and not exists(doc, path)
    ]


def test_every_path_the_docs_name_exists():
    assert missing_paths(DOCS) == []


def test_the_rule_checks_this_repository_and_skips_others(tmp_path):
    doc = ROOT / "docs" / "ci.md"
    assert repository_path(doc, "mlplatform/analyzer.py") == "mlplatform/analyzer.py"
    assert not exists(doc, "mlplatform/analyzer.py")
    assert repository_path(doc, "tests/cli/test_walkthrough.py::test_the_readme_walkthrough_runs_as_written")
    assert repository_path(doc, "Pulumi.*.yaml") == "Pulumi.*.yaml" and exists(doc, "Pulumi.*.yaml")
    assert repository_path(doc, "promotion.md") == "promotion.md" and exists(doc, "promotion.md")
    assert repository_path(doc, "infra/kserve.py") == "infra/kserve.py" and exists(doc, "infra/kserve.py")
    for other in (
        "build/prod",
        "policies/venv",
        "pkg/oss/nodeserver.go",
        "charts/kserve-resources/values.yaml",
        "Pulumi.<stack>.yaml",
        "DIR/x",
    ):
        assert repository_path(doc, other) is None, other
    sample = tmp_path / "sample.md"
    sample.write_text(
        "awslabs/mountpoint-s3-csi-driver v2 `docs/CONFIGURATION.md`, kserve/kserve@v0.20.0 `config/crd`,\n"
        "but `docs/CONFIGURATION.md` and [here](docs/MISSING.md) alone are ours.\n"
    )
    assert [text for _, text in references(sample)] == ["docs/CONFIGURATION.md", "docs/MISSING.md"]
    assert missing_paths([sample]) == [("sample.md:2", "docs/CONFIGURATION.md"), ("sample.md:2", "docs/MISSING.md")]


def commands(docs: list[Path]) -> list[tuple[str, str, bool]]:
    """(where, the command line after `mlp`, whether it is a line of code) of every `mlp` command the docs
    show. A line of code (in a fenced block, indented as a code block, or after `$ `) is a whole command; in
    prose, `mlp cost --against` may name a command and an option only."""
    found = []
    for doc in docs:
        text = doc.read_text()
        fenced = {
            text.count("\n", 0, m.start()) + i for m in FENCE.finditer(text) for i in range(m.group().count("\n"))
        }
        for number, line in enumerate(text.splitlines(), 1):
            code = number - 1 in fenced or line.startswith("    ") or line.startswith("$ ")
            for match in COMMAND.finditer(line):
                rest = match.group("rest").split("#")[0].split(" (")[0].strip()
                if rest and not PLACEHOLDER.match(rest):
                    found.append(
                        (f"{doc.relative_to(ROOT) if doc.is_relative_to(ROOT) else doc.name}:{number}", rest, code)
                    )
    return found


def wrong_commands(docs: list[Path]) -> list[str]:
    """What is wrong with the `mlp` commands the docs show: a command `mlp --help` does not list, an option the
    command does not take, a line of code its parser refuses."""
    parser = cli._parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    wrong = []
    for where, rest, code in commands(docs):
        words = rest.split()
        if words[0].startswith("-"):  # a global option: `mlp --help`, `mlp -C <project>`
            continue
        if words[0] not in cli.COMMANDS:
            wrong.append(f"{where}: mlp {rest}: no such command")
            continue
        options = {word.split("=")[0] for word in words[1:] if word.startswith("-") and word != "-"}
        unknown = sorted(options - set(subparsers[words[0]]._option_string_actions))
        if unknown:
            wrong.append(f"{where}: mlp {rest}: mlp {words[0]} takes no {', '.join(unknown)}")
        elif code and not PLACEHOLDER.search(rest) and "[" not in rest:
            try:
                parser.parse_args(shlex.split(rest))
            except SystemExit:
                wrong.append(f"{where}: mlp {rest}: refused by mlp's parser")
    return wrong


def test_every_mlp_command_the_docs_show_exists(capsys):
    assert len(commands(DOCS)) > 20
    assert wrong_commands(DOCS) == []


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("`mlp analyze -s dev`", "no such command"),
        ("python -m mlplatform preview --stak dev", "takes no --stak"),
        ("`mlp cost --stak dev`", "takes no --stak"),
        ("\n    mlp promote --model color:v2 --to\n", "refused"),
        ("\n```\n$ mlp traffic -s prod\n```\n", "refused"),
        ("`mlp preview -s <stack>`, `mlp --help`, `mlp cost --against`, `mlp ...`", None),
    ],
)
def test_a_wrong_command_is_found(tmp_path, capsys, line, found):
    doc = tmp_path / "doc.md"
    doc.write_text(f"Run {line} first.\n")
    wrong = wrong_commands([doc])
    assert (found in wrong[0]) if found else wrong == []


def test_the_readme_lists_every_command():
    readme = (ROOT / "README.md").read_text()
    listed = re.search(r"`mlp --help` lists the commands: (.*?)\.\n", readme, re.S)
    assert listed is not None
    assert re.findall(r"`(\w+)`", listed.group(1)) == list(cli.COMMANDS)


def test_the_readme_layout_names_modules_that_exist():
    """A row of the README's Layout table for a package (`mlplatform/infra/`) names its modules in backticks."""
    readme = (ROOT / "README.md").read_text()
    layout = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    named = {}
    for row in layout.splitlines():
        cells = row.split(" | ")
        folder = re.fullmatch(r"\| `([\w/]+/)`", cells[0])
        if folder and len(cells) > 1:
            named[folder.group(1)] = re.findall(r"`([a-z_]+)`", cells[1])
    assert named["mlplatform/infra/"] and named["mlplatform/workloads/"]
    missing = [f"{folder}{name}.py" for folder, names in named.items() for name in names]
    assert [path for path in missing if not (ROOT / path).is_file()] == []


def test_no_doc_asks_for_a_long_lived_cloud_key():
    """CI assumes roles by OIDC (docs/ci.md): a paragraph naming a cloud key's variable says to delete it."""
    keys = re.compile(r"ACCESS_KEY|AWS_SECRET_ACCESS_KEY|ALICLOUD_SECRET_KEY")
    asking = [
        f"{doc.relative_to(ROOT)}: {paragraph.strip()[:80]}"
        for doc in DOCS
        for paragraph in re.split(r"\n\s*\n", doc.read_text())
        if keys.search(paragraph) and "delete" not in paragraph
    ]
    assert asking == []


def test_the_aws_region_is_the_aws_stacks_region():
    """The bootstrap example and the CI setup name the region the AWS stacks run in."""
    stacks = {
        path.name.removeprefix("Pulumi.").removesuffix(".yaml"): yaml.safe_load(path.read_text())["config"]
        for path in ROOT.glob("Pulumi.*.yaml")
    }
    regions = {config["aws:region"] for config in stacks.values() if "aws:region" in config}
    assert regions
    example = yaml.safe_load((ROOT / "bootstrap" / "Pulumi.example.yaml").read_text())["config"]
    assert example["aws:region"] in regions
    for name, spec in example["ml-platform-ci:stacks"].items():
        assert spec.get("region", stacks[name].get("aws:region")) == stacks[name].get("aws:region"), name
    aws_region = re.compile(r"\b(?:us|eu|ap|ca|sa|me|af|il|mx)-[a-z]+-\d\b")
    named = set(aws_region.findall((ROOT / "docs" / "ci.md").read_text()))
    named |= {m for doc in DOCS for m in re.findall(r"AWS stacks run in (\S+?)[),.]", doc.read_text())}
    assert named and named <= regions


def test_the_training_examples_are_the_jobs_dev_trains():
    """docs/training.md's v1 and v2 examples are dev's jobs as the stack file has them, so they validate there."""
    blocks = re.findall(
        r"```yaml\n(ml-platform:trainingJobs:\n.*?)```", (ROOT / "docs" / "training.md").read_text(), re.S
    )
    shown = {name: job for block in blocks for name, job in yaml.safe_load(block)["ml-platform:trainingJobs"].items()}
    dev = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]["ml-platform:trainingJobs"]
    assert set(shown) == {"color-training", "sentiment-training"}
    assert shown == {name: dev[name] for name in shown}


def test_each_config_field_has_one_docstring():
    """A field's docstring is its schema description: a second string under it is never read."""
    doubled = []
    for path in sorted((ROOT / "mlplatform" / "config").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                for first, second in itertools.pairwise(node.body):
                    if all(isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) for s in (first, second)):
                        doubled.append(f"{path.name}:{second.lineno}")
    assert doubled == []


def test_the_readme_counts_the_policies_the_pack_has():
    import re
    import sys

    sys.path.insert(0, str(ROOT / "policies"))
    import mlpolicies

    [count] = re.findall(r"with (\d+) policies:", (ROOT / "README.md").read_text())
    assert int(count) == len(mlpolicies.POLICIES)
