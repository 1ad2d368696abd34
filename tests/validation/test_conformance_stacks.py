"""Both committed stacks render only objects the API server and the operators' webhooks accept."""

from collections import Counter
from pathlib import Path

import pytest

from mlplatform import validation as conformance
from mlplatform.offline.preview import run_preview

ROOT = Path(__file__).resolve().parents[2]
CUSTOM_KINDS = {"TFJob", "PyTorchJob", "XGBoostJob", "MPIJob", "SeldonDeployment", "Notebook"}


@pytest.fixture(scope="module", params=["dev", "prod"])
def rendered(request):
    return run_preview(request.param, ROOT)


def test_every_rendered_object_validates(rendered):
    problems = {
        f"{m['kind']}/{m['metadata'].get('namespace', '')}/{m['metadata']['name']}": errors
        for m in rendered.manifests
        if (errors := conformance.validate(m))
    }
    assert problems == {}


def test_the_stacks_render_the_custom_resources_of_the_demo(rendered):
    kinds = Counter(m["kind"] for m in rendered.manifests)
    if rendered.stack == "dev":
        assert kinds["TFJob"] == 1 and kinds["SeldonDeployment"] == 1 and kinds["Notebook"] == 1
        job = next(m for m in rendered.manifests if m["kind"] == "TFJob")
        assert job["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 3
    else:
        assert kinds["SeldonDeployment"] == 2 and not kinds["TFJob"]
        color = next(
            m for m in rendered.manifests if m["kind"] == "SeldonDeployment" and m["metadata"]["name"] == "color"
        )
        split = {p["name"]: p["traffic"] for p in color["spec"]["predictors"]}
        assert split == {"v1": 90, "v2": 10}
        style = next(
            m for m in rendered.manifests if m["metadata"]["name"] == "style" and m["kind"] == "SeldonDeployment"
        )
        assert style["spec"]["annotations"]["seldon.io/ambassador-header"] == "style: transfer"
        assert style["spec"]["annotations"]["seldon.io/ambassador-service-name"] == "color"
    assert set(kinds) & CUSTOM_KINDS


def test_a_serving_waits_for_the_training_job_it_depends_on():
    result = run_preview("dev", ROOT)
    by_name = {r["urn"].split("::")[-1]: r for r in result.resources}
    job = next(r for r in result.resources if r["type"] == "kubernetes:kubeflow.org/v1:TFJob")
    assert job["inputs"]["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Succeeded"
    serving = by_name["color-seldondeployment"]
    assert job["urn"] in serving.get("dependencies", [])
