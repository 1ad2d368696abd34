"""The CI stack matrix (.github/scripts/stacks.py): every Pulumi.<stack>.yaml, the AWS stacks included."""

from __future__ import annotations

import json
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".github" / "scripts" / "stacks.py"
stacks = runpy.run_path(str(SCRIPT), run_name="ci_stacks")


def run(project: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--project-dir", str(project), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )


def outputs(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


def as_aws(text: str, region: str = "us-west-2") -> str:
    """A stack file turned into an EKS one, as Pulumi.dev-aws.yaml / Pulumi.prod-aws.yaml will be."""
    doc = yaml.safe_load(text)
    config = doc["config"]
    config.pop("alicloud:region", None)
    config.update({"aws:region": region, "ml-platform:cloud": "aws", "ml-platform:region": region})
    return "# an EKS variant\n" + yaml.safe_dump(doc, sort_keys=False)


@pytest.fixture
def project_with_aws_stacks(tmp_path: Path) -> Path:
    for path in ROOT.glob("Pulumi*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    for stack in ("dev", "prod"):
        (tmp_path / f"Pulumi.{stack}-aws.yaml").write_text(as_aws((ROOT / f"Pulumi.{stack}.yaml").read_text()))
    return tmp_path


def test_the_repository_stacks_are_listed_with_their_cloud_region_and_stage():
    listed = json.loads(outputs(run(ROOT))["stacks"])
    files = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))
    assert [s["stack"] for s in listed] == files
    for entry in listed:
        config = yaml.safe_load((ROOT / f"Pulumi.{entry['stack']}.yaml").read_text())["config"]
        assert entry["cloud"] == config["ml-platform:cloud"]
        assert entry["region"] == config[f"{entry['cloud']}:region"]
        assert entry["stage"] == ("prod" if entry["stack"].startswith("prod") else "dev")


def test_the_aws_stacks_join_every_matrix_when_their_files_are_added(project_with_aws_stacks):
    out = outputs(run(project_with_aws_stacks))
    listed = {s["stack"]: s for s in json.loads(out["stacks"])}
    assert set(listed) == {"dev", "prod", "dev-aws", "prod-aws"}
    assert out["names"].split() == sorted(listed)
    assert listed["dev-aws"] == {"stack": "dev-aws", "cloud": "aws", "region": "us-west-2", "stage": "dev"}
    assert listed["prod-aws"]["stage"] == "prod"
    clouds = {c["cloud"]: c for c in json.loads(out["clouds"])}
    assert [s["stack"] for s in clouds["aws"]["dev"]] == ["dev-aws"]
    assert [s["stack"] for s in clouds["aws"]["prod"]] == ["prod-aws"]
    assert [s["stack"] for s in clouds["alicloud"]["dev"]] == ["dev"]
    assert [s["stack"] for s in clouds["alicloud"]["prod"]] == ["prod"]


def test_outputs_are_appended_to_github_output(project_with_aws_stacks, tmp_path):
    github_output = tmp_path / "github_output"
    github_output.write_text("earlier=1\n")
    env = {"GITHUB_OUTPUT": str(github_output), "PATH": "/usr/bin:/bin"}
    result = run(project_with_aws_stacks, "--github-output", env=env)
    assert result.returncode == 0, result.stderr
    written = dict(line.split("=", 1) for line in github_output.read_text().splitlines())
    assert set(written) == {"earlier", "stacks", "names", "clouds"}
    assert len(json.loads(written["stacks"])) == 4


def test_the_config_reader_agrees_with_yaml_on_every_stack_file(project_with_aws_stacks):
    for path in project_with_aws_stacks.glob("Pulumi.*.yaml"):
        config = yaml.safe_load(path.read_text())["config"]
        scalars = {k: str(v) for k, v in config.items() if not isinstance(v, (dict, list))}
        assert stacks["config_scalars"](path.read_text()) == scalars, path.name


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("dev", "config:\n  ml-platform:region: x\n", "ml-platform:cloud must be one of"),
        ("dev", "config:\n  ml-platform:cloud: gcp\n  ml-platform:region: x\n", "got 'gcp'"),
        ("dev", "config:\n  ml-platform:cloud: aws\n", "no aws:region"),
        ("dev$(id)", "config:\n  ml-platform:cloud: aws\n  ml-platform:region: x\n", "not a plain stack name"),
    ],
)
def test_a_stack_file_ci_cannot_use_is_refused_with_one_line(tmp_path, name, text, message):
    (tmp_path / f"Pulumi.{name}.yaml").write_text(text)
    result = run(tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_no_stack_file_is_an_error(tmp_path):
    assert run(tmp_path).returncode == 2
