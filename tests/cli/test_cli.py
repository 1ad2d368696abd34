"""The `mlp` command itself: installable, Pulumi-like flags, exit codes, never a traceback, no colour in a pipe."""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mlplatform import cli
from mlplatform.cli.output import Style, wants_color

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_installs_the_mlp_command_with_its_data():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["build-system"]["build-backend"] == "setuptools.build_meta"
    assert project["project"]["scripts"] == {"mlp": "mlplatform.cli:command"}
    assert project["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}
    assert "*.json" in project["tool"]["setuptools"]["package-data"]["*"]  # mlplatform/validation/crd-sources.json
    assert (ROOT / "mlplatform" / "validation" / "crd-sources.json").is_file()


def test_the_command_exits_with_the_code_and_output_of_main():
    # `command` skips the interpreter's teardown: what main printed is flushed and its code is the exit code.
    done = subprocess.run(
        [sys.executable, "-m", "mlplatform", "preview", "-s", "nope"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "unknown stack 'nope'" in done.stderr


def test_help_lists_the_commands():
    done = subprocess.run([sys.executable, "-m", "mlplatform", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0
    for command in ("preview", "diff", "endpoints", "promote", "traffic", "schema"):
        assert f"    {command}" in done.stdout
    assert "Exit codes: 0 ok, 1 a mandatory policy violated, 2 usage or config error" in done.stdout


def test_a_usage_error_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["preview"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "-s/--stack" in err


def test_an_unexpected_error_is_one_line_with_a_hint(monkeypatch, capsys):
    def broken(args):
        raise KeyError("boom")

    monkeypatch.setattr("mlplatform.cli.schema.run", broken)
    assert cli.main(["--color", "never", "schema"]) == 3
    err = capsys.readouterr().err
    assert err == "error: unexpected KeyError: 'boom' (rerun with --debug for the traceback: mlp --debug schema ...)\n"

    with pytest.raises(KeyError):
        cli.main(["--debug", "schema"])


def test_global_options_go_before_or_after_the_command(capsys):
    assert cli.main(["schema", "--color", "never", "--project-dir", str(ROOT)]) == 0
    assert json.loads(capsys.readouterr().out)["$schema"].endswith("2020-12/schema")


def test_colour_only_on_a_terminal_and_never_under_no_color(monkeypatch):
    class Terminal:
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert wants_color("auto", Terminal())
    with open(__file__) as a_file:  # a file, not a terminal
        assert not wants_color("auto", a_file)
        assert wants_color("always", a_file) and not wants_color("never", Terminal())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not wants_color("auto", Terminal())


def test_without_colour_the_policy_summary_has_words_not_emoji():
    report = "Policies:\n    ❌ ml-platform-policies@v0.1.0 (local: policies)\n        - [mandatory]  bucket-security"
    plain = Style(color=False).plan(report)
    assert "❌" not in plain and "[failed] ml-platform-policies" in plain and "\x1b" not in plain
    coloured = Style(color=True).plan(report)
    assert "❌" in coloured and "\x1b[31m" in coloured


def test_preview_json_with_a_policy_pack_config(tmp_path, capsys):
    import shutil

    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "__main__.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("stacks", "policies"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    (tmp_path / "policy-config.json").write_text(json.dumps({"all": "disabled"}))

    code = cli.main(
        ["-C", str(tmp_path), "preview", "-s", "dev", "--json", "--policy-pack-config", "policy-config.json"]
    )

    out, err = capsys.readouterr()
    document = json.loads(out)
    assert (code, err, document["exitCode"]) == (0, "", 0)
    assert document["stack"] == "dev" and document["written"]["stackJson"].endswith("build/dev/stack.json")
    assert document["outputs"]["kubeconfig"] == "[secret]"
    levels = {entry["enforcementLevel"] for entry in document["policy"]["config"].values()}
    assert levels == {"disabled"}
