"""The offline preview: what `pulumi up` would create for dev and prod, and every refusal as exit 2."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlplatform.cli import main

ROOT = Path(__file__).resolve().parents[2]


def edit(project: Path, stack: str, key: str, change) -> None:
    path = project / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    full = key if ":" in key else f"ml-platform:{key}"
    document["config"][full] = change(document["config"].get(full))
    path.write_text(yaml.safe_dump(document))


def preview(project: Path, stack: str, capsys) -> tuple[int, str, str]:
    code = main(
        ["--project-dir", str(project), "preview", "--stack", stack, "--out", str(project / "build"), "--no-policy"]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def resources(project: Path, stack: str) -> list[dict]:
    return json.loads((project / "build" / stack / "stack.json").read_text())["deployment"]["resources"]


def test_dev_plans_a_serverless_cluster_buckets_and_operators(project, capsys):
    code, out, _ = preview(project, "dev", capsys)
    assert code == 0
    assert "alicloud:cs/serverlessKubernetes:ServerlessKubernetes" in out
    assert "Resources:\n    + " in out
    types = {r["type"] for r in resources(project, "dev")}
    assert "alicloud:oss/bucketVersioning:BucketVersioning" in types
    assert "alicloud:oss/bucketServerSideEncryption:BucketServerSideEncryption" in types
    assert "kubernetes:helm.sh/v3:Release" in types and "kubernetes:kustomize/v2:Directory" in types
    assert not any(r.get("protect") for r in resources(project, "dev"))


def test_prod_plans_a_protected_managed_cluster_with_a_shared_gpu_pool(project, capsys):
    code, _out, _ = preview(project, "prod", capsys)
    assert code == 0
    by_type = {}
    for record in resources(project, "prod"):
        by_type.setdefault(record["type"], []).append(record)
    cluster = by_type["alicloud:cs/managedKubernetes:ManagedKubernetes"][0]
    assert cluster["protect"] and cluster["retainOnDelete"] and cluster["inputs"]["deletionProtection"]
    assert [addon["name"] for addon in cluster["inputs"]["addons"]] == [
        "terway-eniip",
        "csi-plugin",
        "managed-csiprovisioner",
        "ack-ai-installer",
    ]
    gpu_pool = next(p for p in by_type["alicloud:cs/nodePool:NodePool"] if p["inputs"].get("taints"))
    assert {"key": "ack.node.gpu.schedule", "value": "cgpu"} in gpu_pool["inputs"]["labels"]
    assert all(b["protect"] for b in by_type["alicloud:oss/bucket:Bucket"])
    reference = by_type["pulumi:pulumi:StackReference"][0]
    assert "color:v2" in reference["outputs"]["outputs"]["modelVersions"]


def test_stack_json_is_a_v3_deployment_with_parents_providers_and_no_plain_secrets(project, capsys):
    assert preview(project, "prod", capsys)[0] == 0
    deployment = json.loads((project / "build" / "prod" / "stack.json").read_text())
    assert deployment["version"] == 3
    records = deployment["deployment"]["resources"]
    urns = [r["urn"] for r in records]
    for index, record in enumerate(records):
        if "parent" in record:
            assert record["parent"] in urns[:index], record["urn"]
        if "provider" in record:
            assert record["provider"].rsplit("::", 1)[0] in urns[:index], record["urn"]
    provider = next(r for r in records if r["type"] == "pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"]["ciphertext"] == "[secret]"
    assert "value" not in provider["inputs"]["kubeconfig"]


def test_manifests_are_kubernetes_objects_with_integers_and_no_secrets(project, capsys):
    assert preview(project, "dev", capsys)[0] == 0
    manifests = project / "build" / "dev" / "manifests"
    # The notebook's Jupyter token is the one Secret dev renders (no stored cloud keys): written concealed.
    secret = yaml.safe_load((manifests / "notebooks" / "secret-data-science-jupyter-token.yaml").read_text())
    assert secret["kind"] == "Secret" and set(secret["stringData"].values()) == {"[secret]"}
    for path in manifests.rglob("*.yaml"):
        obj = yaml.safe_load(path.read_text())
        assert {"apiVersion", "kind", "metadata"} <= set(obj), path
        assert ".0\n" not in path.read_text(), path


@pytest.mark.parametrize(
    ("stack", "key", "change", "message"),
    [
        (
            "dev",
            "cluster",
            lambda c: {**c, "kind": "hyperscale"},
            "ml-platform:cluster.kind: 'hyperscale' is not one of 'managed', 'serverless', 'edge'",
        ),
        (
            "prod",
            "nodePools",
            lambda p: {**p, "gpu": {**p["gpu"], "minSize": 9}},
            "ml-platform:nodePools.gpu.minSize: minSize 9 is greater than maxSize 6",
        ),
        (
            "prod",
            "nodePools",
            lambda p: {**p, "gpu": {**p["gpu"], "instanceTypes": ["ecs.g7.xlarge"]}},
            "ml-platform:nodePools.gpu.instanceTypes[0]: 'ecs.g7.xlarge' is not a GPU instance type on alicloud",
        ),
        ("dev", "cloud", lambda _: "aws", None),
        (
            "prod",
            "servings",
            lambda s: {
                **s,
                "color": {
                    **s["color"],
                    "predictors": [{**s["color"]["predictors"][0], "traffic": 80}, s["color"]["predictors"][1]],
                },
            },
            "ml-platform:servings.color.predictors: traffic must sum to 100, got v1=80 + v2=10 = 90",
        ),
        (
            "prod",
            "servings",
            lambda s: {
                **s,
                "color": {
                    **s["color"],
                    "predictors": [s["color"]["predictors"][0], {**s["color"]["predictors"][1], "name": "v1"}],
                },
            },
            "ml-platform:servings.color.predictors[1].name: duplicate predictor name 'v1'",
        ),
        (
            "dev",
            "trainingJobs",
            lambda t: {"color-training": {**t["color-training"], "roles": {"Launcher": {}}}},
            "ml-platform:trainingJobs.color-training.roles.Launcher: tensorflow has no role 'Launcher'",
        ),
        (
            "dev",
            "notebooks",
            lambda n: {"data-science": {**n["data-science"], "resources": {"gpu": 1}}},
            "ml-platform:notebooks.data-science.resources.gpu: GPUs on a serverless cluster (ACK Serverless) are "
            "elastic container instances",
        ),
        (
            "dev",
            "servings",
            lambda s: {"color": {**s["color"], "predictors": [{**s["color"]["predictors"][0], "model": "color:v9"}]}},
            "ml-platform:servings.color.predictors[0].model: unknown model version 'color:v9'",
        ),
        (
            "prod",
            "servings",
            lambda s: {
                **s,
                "style": {**s["style"], "predictors": [{**s["style"]["predictors"][0], "model": "style:v7"}]},
            },
            "ml-platform:servings.style.predictors[0].model: model version 'style:v7' is not published by organization/ml-platform/dev",
        ),
    ],
    ids=[
        "unknown-cluster-kind",
        "min-over-max",
        "not-a-gpu-family",
        "edge-on-aws",
        "traffic-sum",
        "duplicate-predictor",
        "framework-role",
        "gpu-on-serverless",
        "unknown-model-version",
        "unpublished-in-prod",
    ],
)
def test_bad_config_exits_2_with_the_path_on_one_line_and_plans_nothing(project, capsys, stack, key, change, message):
    if key == "cloud":  # an edge cluster asked of AWS
        edit(project, stack, "cluster", lambda c: {**c, "kind": "edge"})
        message = "ml-platform:cluster.kind: edge clusters (ACK@Edge) exist only on alicloud"
    edit(project, stack, key, change)
    code, _out, err = preview(project, stack, capsys)
    assert code == 2
    # Each problem names the stack file and, where the file writes the value, its line and column.
    assert re.match(rf"error: Pulumi\.{stack}\.yaml:\d+:\d+: {re.escape(message)}", err), err
    # One problem a line, each once; dev on AWS also lacks the deploy runners of its private API and aws:region,
    # reported in the same run.
    assert err.count("\n") == (3 if key == "cloud" else 1) and "Traceback" not in err
    assert not (project / "build" / stack).exists()


def test_malformed_yaml_names_file_and_line(project, capsys):
    (project / "Pulumi.dev.yaml").write_text("config:\n  ml-platform:cloud: [alicloud\n")
    code, _, err = preview(project, "dev", capsys)
    assert code == 2
    assert err.startswith("error: Pulumi.dev.yaml:3:1: malformed YAML")


def test_unknown_stack(project, capsys):
    code, _, err = preview(project, "staging", capsys)
    assert (code, err) == (2, "error: unknown stack 'staging': the stacks are dev, prod\n")


def test_secure_values_stay_secret(project, capsys):
    edit(project, "dev", "alicloud:secretKey", lambda _: {"secure": "v1:abc"})
    code, out, _ = preview(project, "dev", capsys)
    assert code == 0
    assert "v1:abc" not in out
    assert "v1:abc" not in (project / "build" / "dev" / "stack.json").read_text()


def test_a_secure_value_where_it_would_leak_is_refused(project, capsys):
    edit(
        project,
        "dev",
        "webServices",
        lambda w: {"color-client": {**w["color-client"], "env": {"TOKEN": {"secure": "v1:abc"}}}},
    )
    code, out, err = preview(project, "dev", capsys)
    assert code == 2
    assert re.match(r"error: Pulumi\.dev\.yaml:\d+:3: ml-platform:webServices: takes no secure value", err), err
    assert "v1:abc" not in out + err


def test_command_line_exit_codes():
    ok = subprocess.run(
        [sys.executable, "-m", "mlplatform", "preview", "--stack", "nope"], cwd=ROOT, capture_output=True, text=True
    )
    assert (
        ok.returncode == 2 and ok.stderr == "error: unknown stack 'nope': the stacks are dev, dev-aws, prod, prod-aws\n"
    )
    usage = subprocess.run([sys.executable, "-m", "mlplatform", "preview"], cwd=ROOT, capture_output=True, text=True)
    assert usage.returncode == 2 and "--stack" in usage.stderr


def test_prod_serves_an_unpublished_version_only_when_the_config_says_so(project, capsys):
    def serve_v7(servings):
        style = servings["style"]
        return {**servings, "style": {**style, "predictors": [{**style["predictors"][0], "model": "style:v7"}]}}

    edit(project, "prod", "servings", serve_v7)
    edit(project, "prod", "promotion", lambda p: {**p, "allowUnpublished": ["style:v7"]})
    code, _, err = preview(project, "prod", capsys)
    assert (code, err) == (0, "")


def test_prod_servings_of_one_version_share_its_volume_per_namespace(project, capsys):
    def more_servings(servings):
        one = {"protocol": "tensorflow", "predictors": [{"name": "v1", "model": "color:v1", "replicas": 2}]}
        return {**servings, "color-b": one, "vision-color": {**one, "team": "vision"}}

    edit(project, "prod", "servings", more_servings)
    code, _, err = preview(project, "prod", capsys)
    assert (code, err) == (0, "")
    planned = resources(project, "prod")
    of_version = [r for r in planned if r["urn"].endswith("model-color-v1-pv")]
    assert sorted(r["inputs"]["metadata"]["name"] for r in of_version) == [
        "models-model-color-v1",
        "vision-models-model-color-v1",
    ]
    roles = [r["inputs"]["roleName"] for r in planned if r["type"] == "alicloud:ram/role:Role"]
    assert sorted(role for role in roles if "color-v1" in role and "promote" not in role) == [
        "mlp-prod-models-model-color-v1",
        "mlp-prod-vision-models-model-color-v1",
    ]
    [copy] = [r["urn"] for r in planned if r["urn"].endswith("::promote-color-v1-job")]
    for name, namespace in (("color", "models"), ("color-b", "models"), ("vision-color", "vision-models")):
        [sdep] = [r for r in planned if r["urn"].endswith(f"::{name}-seldondeployment")]
        assert sdep["inputs"]["metadata"]["namespace"] == namespace
        assert sdep["inputs"]["spec"]["predictors"][0]["graph"]["modelUri"] == "pvc://model-color-v1"
        assert copy in sdep["dependencies"]  # the promotion copy still gates every serving of the version


def test_stack_json_is_written_a_record_at_a_time_as_the_whole_document_would_be(tmp_path):
    import orjson

    from mlplatform.offline.preview import PreviewResult, _write_deployment

    records = [
        {"urn": "urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev", "custom": False, "type": "pulumi:pulumi:Stack"},
        {
            "urn": "urn:pulumi:dev::p::kubernetes:core/v1:ConfigMap::c",
            "custom": True,
            "inputs": {"data": {"a": "line one\nline two", "b": "ünïcode"}, "list": [], "map": {}, "n": 3},
            "dependencies": ["urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev"],
        },
    ]
    for resources in (records, []):
        result = PreviewResult(stack="dev", project="p", resources=resources, outputs={})
        path = tmp_path / "stack.json"
        _write_deployment(result, path)
        whole = orjson.loads(path.read_bytes())
        assert path.read_bytes() == orjson.dumps(whole, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
        assert whole["deployment"]["resources"] == resources
