"""The offline preview runs the policy pack over the plan, as `pulumi preview --policy-pack policies` would."""

import json
from pathlib import Path

import pytest
import yaml

from mlplatform.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(project: Path, stack: str, capsys) -> tuple[int, str]:
    code = main(["--project-dir", str(project), "preview", "--stack", stack, "--out", str(project / "build")])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_committed_stacks_pass_with_no_mandatory_violation(project, capsys, stack):
    code, out = run(project, stack, capsys)
    assert code == 0, out
    assert "Policies:" in out
    report = json.loads((project / "build" / stack / "policy.json").read_text())
    assert not [v for v in report["violations"] if v["enforcement_level"] == "mandatory"]
    names = [policy["name"] for policy in report["policies"]]  # every policy of the pack answered, once
    assert len(names) == len(set(names))
    assert {"serving-traffic-split", "promoted-model-versions", "budget"} <= set(names)


def test_an_image_tagged_latest_in_prod_fails_the_preview_and_names_the_policy(project, capsys):
    path = project / "Pulumi.prod.yaml"
    document = yaml.safe_load(path.read_text())
    predictor = document["config"]["ml-platform:servings"]["color"]["predictors"][0]
    predictor.pop("server", None)
    predictor.pop("batching", None)
    predictor["image"] = "registry.example.com/color-model:latest"
    path.write_text(yaml.safe_dump(document))
    code, out = run(project, "prod", capsys)
    assert code == 1
    assert "images-pinned" in out and "mandatory" in out
    report = json.loads((project / "build" / "prod" / "policy.json").read_text())
    assert any(v["policy_name"] == "images-pinned" for v in report["violations"])
