"""The offline preview runs the policy pack over the plan, as `pulumi preview --policy-pack policies` would."""

import json
import sys
from pathlib import Path

import pytest
import yaml

from mlplatform.cli import main
from mlplatform.conventions import CONFIG_PATH_ANNOTATION

ROOT = Path(__file__).resolve().parents[2]


def run(project: Path, stack: str, capsys) -> tuple[int, str]:
    code = main(["--project-dir", str(project), "preview", "--stack", stack, "--out", str(project / "build")])
    return code, capsys.readouterr().out


def edit_prod(project: Path, edit) -> None:
    path = project / "Pulumi.prod.yaml"
    document = yaml.safe_load(path.read_text())
    edit(document["config"])
    path.write_text(yaml.safe_dump(document))


def verdicts(project: Path, stack: str) -> dict[str, list[str]]:
    """Policy -> the messages of its violations in the preview's policy.json (after the policy's description, which
    the engine puts first)."""
    report = json.loads((project / "build" / stack / "policy.json").read_text())
    found: dict[str, list[str]] = {}
    for violation in report["violations"]:
        found.setdefault(violation["policy_name"], []).append(violation["message"].rsplit("\n", 1)[-1])
    return found


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
    def edit(config: dict) -> None:
        predictor = config["ml-platform:servings"]["color"]["predictors"][0]
        predictor.pop("server", None)
        predictor.pop("batching", None)
        predictor["image"] = "registry.example.com/color-model:latest"

    edit_prod(project, edit)
    code, out = run(project, "prod", capsys)
    assert code == 1
    assert "images-pinned" in out and "mandatory" in out
    [message] = verdicts(project, "prod")["images-pinned"]
    # The verdict leads with the config setting the user wrote, the rendered field following.
    assert message.startswith("servings.color.predictors[0].image: image '")  # as pulled, through the mirror
    assert "/color-model:latest' uses the moving tag 'latest'" in message
    assert message.endswith(
        "(SeldonDeployment color-seldondeployment predictor v1 componentSpecs[0] container 'color')."
    )


def test_policy_verdicts_speak_in_config_settings_with_integers(project, capsys):
    """What the pack finds in a prod plan is said as what to set in config, numbers as the user writes them."""

    def edit(config: dict) -> None:
        config["ml-platform:servings"]["color"]["predictors"][0]["autoscaling"]["minReplicas"] = 1
        config["ml-platform:nodePools"]["gpu"]["maxSize"] = 12

    edit_prod(project, edit)
    code, out = run(project, "prod", capsys)
    assert code == 1, out
    found = verdicts(project, "prod")
    assert found["prod-serving-availability"] == [
        "servings.color.predictors[0].autoscaling.minReplicas: autoscales down to 1 replica(s); prod predictors run "
        "at least 2: set it to 2 or more (SeldonDeployment color-seldondeployment predictor v1 hpaSpec.minReplicas)."
    ]
    assert found["gpu-node-cap"] == [
        "nodePools.gpu.maxSize: a GPU pool that can grow to 12 nodes, above the cap of 8; set it to 8 or fewer, or "
        "raise the policy's maxGpuNodes (NodePool prod-gpu scalingConfig.maxSize)."
    ]
    assert ".0" not in "".join(found["prod-serving-availability"] + found["gpu-node-cap"])


def test_the_pack_names_the_config_path_annotation_the_components_write():
    sys.path.insert(0, str(ROOT / "policies"))
    try:
        from mlpolicies.props import CONFIG_PATH_ANNOTATION as pack_copy
    finally:
        sys.path.remove(str(ROOT / "policies"))
    assert pack_copy == CONFIG_PATH_ANNOTATION


# What the platform renders from a config entry, by resource type, and the config section of that entry.
RENDERED_FROM_CONFIG = {
    "kubernetes:machinelearning.seldon.io/v1:SeldonDeployment": "servings",
    "kubernetes:serving.kserve.io/v1beta1:InferenceService": "servings",
    "kubernetes:kubeflow.org/v1:Notebook": "notebooks",
    "kubernetes:trainer.kubeflow.org/v1alpha1:TrainJob": "trainingJobs",
    "kubernetes:kubeflow.org/v1:TFJob": "trainingJobs",
    "kubernetes:kubeflow.org/v1:PyTorchJob": "trainingJobs",
    "kubernetes:karpenter.sh/v1:NodePool": "nodePools",
    "alicloud:cs/nodePool:NodePool": "nodePools",
}


@pytest.mark.parametrize("stack", ["dev", "prod", "dev-aws", "prod-aws"])
def test_every_resource_rendered_from_config_names_its_config_entry(shipped, stack):
    """The policy pack leads its verdicts with this path: an annotation on objects, a tag on the ACK node pool."""
    checked = 0
    for record in shipped(stack).resources:
        section = RENDERED_FROM_CONFIG.get(record["type"])
        if section is None:
            continue
        inputs = record["inputs"]
        held = inputs.get("tags") if record["type"].startswith("alicloud:") else inputs["metadata"].get("annotations")
        assert (held or {}).get(CONFIG_PATH_ANNOTATION, "").startswith(f"{section}."), record["urn"]
        checked += 1
    assert checked
