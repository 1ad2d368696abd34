"""A key written twice in a stack file is refused by every command, with its file, line and column, as
Pulumi's YAML parser refuses the file (PyYAML alone would keep the last value silently)."""

import json
from pathlib import Path

import pytest

from mlplatform import cli
from mlplatform.offline.stackfiles import UsageError, read_yaml

DUPLICATED = (
    "Pulumi.prod.yaml:{line}:11: duplicate key 'traffic' (first at line {first}): Pulumi refuses a key written twice"
)


@pytest.fixture
def doubled(project) -> tuple[Path, str]:
    """The project with `traffic` written twice in prod's first predictor, and the message that refuses it."""
    path = project / "Pulumi.prod.yaml"
    text = path.read_text()
    old = "          traffic: 90\n"
    assert text.count(old) == 1
    path.write_text(text.replace(old, old + old))  # the same value: PyYAML alone would plan it
    first = text.splitlines().index(old.rstrip("\n")) + 1
    return project, DUPLICATED.format(line=first + 1, first=first)


def test_read_yaml_refuses_a_duplicated_key_with_its_place(doubled):
    project, message = doubled
    with pytest.raises(UsageError) as refused:
        read_yaml(project / "Pulumi.prod.yaml")
    assert str(refused.value) == message


def test_merge_keys_may_still_be_overridden(tmp_path):
    path = tmp_path / "Pulumi.yaml"
    path.write_text("base: &base {a: 1, b: 2}\nmerged:\n  <<: *base\n  b: 3\n")
    assert read_yaml(path)["merged"] == {"a": 1, "b": 3}


@pytest.mark.parametrize(
    "argv",
    [
        ["preview", "-s", "prod", "--no-policy"],
        ["traffic", "-s", "prod", "--serving", "color", "v1=80", "v2=20"],
        ["promote", "--model", "color:v2", "--from", "dev", "--to", "prod"],
        ["endpoints", "-s", "prod"],
    ],
    ids=lambda argv: argv[0],
)
def test_every_command_refuses_a_duplicated_key(doubled, capsys, argv):
    project, message = doubled
    before = (project / "Pulumi.prod.yaml").read_bytes()

    code = cli.main(["--color", "never", "-C", str(project), *argv])

    out, err = capsys.readouterr()
    assert (code, out, err) == (2, "", f"error: {message}\n")
    assert (project / "Pulumi.prod.yaml").read_bytes() == before


def test_json_reports_the_duplicate_with_its_place(doubled, capsys):
    project, message = doubled

    assert cli.main(["-C", str(project), "endpoints", "-s", "prod", "--json"]) == 2

    [error] = json.loads(capsys.readouterr().out)["errors"]
    where, _, text = message.partition(": ")
    file, line, column = where.split(":")
    assert error == {"file": file, "line": int(line), "column": int(column), "path": None, "message": text}
