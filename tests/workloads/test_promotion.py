"""Promotion completes itself: prod copies each published version from dev's bucket, checked, before serving it."""

import re

from support import oss_storage, ram_policies

from mlplatform import validation
from mlplatform.config import Serving
from mlplatform.workloads.promotion import COPY_SCRIPT, ModelCopy, ModelCopyArgs, copy_name, copy_namespaces

STORAGE = oss_storage("mlp-prod-datasets", "mlp-prod-models", stack="prod")


def test_the_copy_reads_dev_writes_prod_and_verifies_checksums(plan):
    def program():
        ModelCopy("promote-color-v2", ModelCopyArgs("color:v2", "mlp-dev-models", STORAGE, "models"))

    monitor = plan(program)
    [job] = monitor.of_type("kubernetes:batch/v1:Job")
    assert job.inputs["metadata"]["name"] == "promote-color-v2"
    assert job.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Complete"
    [container] = job.inputs["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["sh", "-c", COPY_SCRIPT] and "sha256sum -c" in COPY_SCRIPT
    assert validation.validate(job.inputs, strict=True) == []
    volumes = {
        v.inputs["metadata"]["name"]: v.inputs["spec"]["csi"]["volumeAttributes"]
        for v in monitor.of_type("kubernetes:core/v1:PersistentVolume")
    }
    assert volumes["models-promote-color-v2-source"]["bucket"] == "mlp-dev-models"
    assert volumes["models-promote-color-v2-source"]["path"] == "/color/v2/"
    assert volumes["models-promote-color-v2-target"]["bucket"] == "mlp-prod-models"
    documents = ram_policies(monitor)
    source, target = documents["mlp-prod-promote-color-v2-source"], documents["mlp-prod-promote-color-v2-target"]
    assert source["Statement"][1] == {
        "Effect": "Allow",
        "Action": ["oss:GetObject"],
        "Resource": ["acs:oss:*:*:mlp-dev-models/color/v2/*"],
    }
    assert "oss:DeleteObject" not in target["Statement"][1]["Action"]  # prod never deletes


def test_copy_names_fit_kubernetes_and_ram_for_any_version():
    assert copy_name("color:v2") == "promote-color-v2"
    dotted = copy_name("style:2024.1_rc")
    assert re.fullmatch(r"promote-style-2024-1-rc-[0-9a-f]{8}", dotted)  # RAM policy names: letters, digits, '-'
    assert copy_name("color:v2.1") != copy_name("color:v2-1")


def test_prod_serves_a_promoted_version_only_after_its_copy(shipped):
    prod = shipped("prod")
    jobs = {r["urn"]: r for r in prod.resources if r["type"] == "kubernetes:batch/v1:Job"}
    copies = {r["inputs"]["metadata"]["annotations"]["mlplatform.io/model-version"]: urn for urn, r in jobs.items()}
    assert {"color:v1", "color:v2", "style:v1"} <= set(copies)
    color = next(r for r in prod.resources if r["urn"].endswith("::color-seldondeployment"))
    # A dependency on the copy component reaches the engine as its resources, the Job among them.
    assert {copies["color:v1"], copies["color:v2"]} <= set(color["dependencies"])


def test_a_version_two_namespaces_serve_is_copied_once_wherever_the_servings_are_listed():
    def serving(namespace: str, *models: str) -> Serving:
        predictors = [{"name": f"p{i}", "model": m, "traffic": 100 // len(models)} for i, m in enumerate(models)]
        # As stacks/workloads.py `placed` gives it: the Kubernetes namespace of the serving's team.
        return Serving.model_validate({"predictors": predictors}).model_copy(update={"namespace": namespace})

    servings = [serving("vision-models", "color:v1"), serving("models", "color:v2", "color:v1"), serving("a", "x:v1")]
    promoted = {"color:v1", "color:v2", "style:v1"}
    copies = copy_namespaces(servings, promoted)
    assert copies == {"color:v1": "models", "color:v2": "models"}  # `models` sorts before `vision-models`
    assert copy_namespaces(servings[::-1], promoted) == copies
    assert copy_namespaces(servings[:1], promoted) == {"color:v1": "vision-models"}
    assert copy_namespaces(servings, {"color:v2"}) == {"color:v2": "models"}  # only what was promoted
