"""`diff`: two previews compared for a PR reviewer, from stack.json files or by planning stacks."""

import json
import shutil
from pathlib import Path

import pytest

from mlplatform import cli

REPO = Path(__file__).resolve().parents[2]
SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}


def secret(ciphertext: str) -> dict:
    return {**SIG, "ciphertext": ciphertext}


def resource(stack: str, type_: str, name: str, inputs: dict, parent_type: str = "", **options) -> dict:
    chain = f"{parent_type}${type_}" if parent_type else type_
    urn = f"urn:pulumi:{stack}::ml-platform::{chain}::{name}"
    record = {
        "urn": urn,
        "custom": not type_.startswith("mlplatform:"),
        "type": type_,
        "id": f"{name}-id",
        "parent": f"urn:pulumi:{stack}::ml-platform::pulumi:pulumi:Stack::ml-platform-{stack}",
        "inputs": inputs,
        "outputs": {**inputs, "id": f"{name}-id"},
        "provider": f"urn:pulumi:{stack}::ml-platform::pulumi:providers:kubernetes::{stack}-k8s::k8s-id",
        "dependencies": [],
        "propertyDependencies": {},
    }
    return {**record, **options}


def seldon(stack: str, split: dict[str, int]) -> dict:
    predictors = [
        {
            "name": name,
            "traffic": traffic,
            "replicas": 2,
            "graph": {"name": "model", "modelUri": f"oss://mlp-{stack}-models-hz/color/{name}"},
        }
        for name, traffic in split.items()
    ]
    return resource(
        stack,
        "kubernetes:machinelearning.seldon.io/v1:SeldonDeployment",
        "color",
        {
            "apiVersion": "machinelearning.seldon.io/v1",
            "kind": "SeldonDeployment",
            "metadata": {"name": "color", "namespace": "models"},
            "spec": {"protocol": "tensorflow", "predictors": predictors},
        },
        parent_type="mlplatform:serving:Serving",
    )


def write_stack_json(folder: Path, stack: str, resources: list[dict], outputs: dict) -> Path:
    """A `pulumi stack export` (deployment version 3): the Stack resource first, holding the outputs."""
    stack_resource = {
        "urn": f"urn:pulumi:{stack}::ml-platform::pulumi:pulumi:Stack::ml-platform-{stack}",
        "custom": False,
        "type": "pulumi:pulumi:Stack",
        "outputs": outputs,
    }
    document = {
        "version": 3,
        "deployment": {
            "manifest": {"time": "2025-01-01T00:00:00Z", "magic": "", "version": "v3.272.0"},
            "secrets_providers": {"type": "service"},
            "resources": [stack_resource, *resources],
        },
    }
    folder.mkdir(parents=True)
    (folder / "stack.json").write_text(json.dumps(document, indent=2))
    return folder


def common(stack: str, protect_bucket: bool) -> list[dict]:
    return [
        resource(
            stack,
            "pulumi:providers:kubernetes",
            f"{stack}-k8s",
            {"kubeconfig": secret(f"kubeconfig-of-{stack}"), "enableServerSideApply": "true"},
        ),
        resource(
            stack,
            "alicloud:oss/bucket:Bucket",
            f"{stack}-models",
            {"bucket": f"mlp-{stack}-models-hz", "tags": {"environment": stack}},
            **({"protect": True, "retainOnDelete": True} if protect_bucket else {}),
        ),
        resource(
            stack,
            "kubernetes:core/v1:Namespace",
            "models",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}},
        ),
    ]


@pytest.fixture
def previews(tmp_path: Path) -> Path:
    """build/prod as planned before a promotion, build/prod-next after it, build/dev for the other stack."""
    build = tmp_path / "build"
    old_client = resource(
        "prod",
        "kubernetes:apps/v1:Deployment",
        "color-client",
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "color-client", "namespace": "models"}},
        protect=True,
    )
    write_stack_json(
        build / "prod",
        "prod",
        [
            *common("prod", protect_bucket=False),
            seldon("prod", {"v1": 90, "v2": 10}),
            old_client,
            resource("prod", "kubernetes:core/v1:Secret", "models-storage", {"stringData": secret("AAAA")}),
        ],
        {"environment": "prod", "kubeconfig": secret("kc1"), "endpoints": {"color": "http://prod/seldon/models/color"}},
    )
    write_stack_json(
        build / "prod-next",
        "prod",
        [
            *common("prod", protect_bucket=True),
            seldon("prod", {"v1": 81, "v2": 9, "v3": 10}),
            resource("prod", "kubernetes:core/v1:ConfigMap", "color-v3-settings", {"data": {"batch": "32"}}),
            resource("prod", "kubernetes:core/v1:Secret", "models-storage", {"stringData": secret("BBBB")}),
        ],
        {
            "environment": "prod",
            "kubeconfig": secret("kc1"),
            "endpoints": {"color": "http://prod/seldon/models/color", "style": "http://prod/seldon/models/style"},
            "modelUris": {"color:v3": "oss://mlp-prod-models-hz/color/v3/"},
        },
    )
    write_stack_json(
        build / "dev",
        "dev",
        [*common("dev", protect_bucket=False), seldon("dev", {"v1": 90, "v2": 10})],
        {
            "environment": "dev",
            "kubeconfig": secret("kc-dev"),
            "endpoints": {"color": "http://prod/seldon/models/color"},
        },
    )
    return tmp_path


def diff(project: Path, capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["--project-dir", str(project), "diff", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_diff_of_a_promotion_reads_as_a_review(previews, capsys):
    code, out, err = diff(previews, capsys, "build/prod", "build/prod-next")

    assert (code, err) == (0, "")
    assert (
        out
        == """\
Comparing build/prod -> build/prod-next (stack names in URNs ignored)

Resources to create (1):
  + kubernetes:core/v1:ConfigMap  color-v3-settings

Resources to update (2):
  ~ alicloud:oss/bucket:Bucket  prod-models
      ~ protect: false -> true
      ~ retainOnDelete: false -> true
  ~ kubernetes:machinelearning.seldon.io/v1:SeldonDeployment  color
      ~ spec.predictors[0].traffic: 90 -> 81
      ~ spec.predictors[1].traffic: 10 -> 9
      + spec.predictors[2].name: "v3"
      + spec.predictors[2].traffic: 10
      + spec.predictors[2].replicas: 2
      + spec.predictors[2].graph.name: "model"
      + spec.predictors[2].graph.modelUri: "oss://mlp-prod-models-hz/color/v3"

Resources to replace (1):
  +- kubernetes:core/v1:Secret  models-storage  [create-before-delete: Pulumi's default]
      ~ stringData: "[secret]" -> "[secret]"  (forces replacement)

Resources to delete (1):
  - kubernetes:apps/v1:Deployment  color-client
-!!    PROTECTED: `pulumi up` refuses to delete it until `protect` is removed

Stack outputs (2 changed):
  + endpoints.style: "http://prod/seldon/models/style"
  + modelUris: {"color:v3": "oss://mlp-prod-models-hz/color/v3/"}

Summary: 1 to create, 2 to update, 1 to replace, 1 to delete, 2 unchanged; 2 stack output changes
-!! 1 flagged: stateful or protected resources replaced or deleted, or names that collide
"""
    )
    assert "AAAA" not in out and "BBBB" not in out and "kc1" not in out


def test_diff_pairs_resources_across_stacks(previews, capsys):
    code, out, _ = diff(previews, capsys, "build/dev", "build/prod")

    assert code == 0
    # dev-models and prod-models are the same resource in two environments: replaced (`bucket` forces a new
    # bucket), not removed and added.
    assert "  +- alicloud:oss/bucket:Bucket  prod-models  [create-before-delete: Pulumi's default]\n" in out
    assert '      ~ bucket: "mlp-dev-models-hz" -> "mlp-prod-models-hz"  (forces replacement)\n' in out
    assert (
        '      ~ spec.predictors[0].graph.modelUri: "oss://mlp-dev-models-hz/color/v1" -> "oss://mlp-prod-models-hz/color/v1"\n'
        in out
    )
    assert '      ~ kubeconfig: "[secret]" -> "[secret]"\n' in out
    assert "  + kubernetes:apps/v1:Deployment  color-client  \n" not in out
    assert "Summary: 2 to create, 2 to update, 1 to replace, 0 to delete, 1 unchanged; 2 stack output changes\n" in out
    assert "kubeconfig-of" not in out and "kc-dev" not in out


def test_diff_of_identical_previews(previews, capsys):
    code, out, _ = diff(previews, capsys, "build/prod", str(previews / "build" / "prod" / "stack.json"))
    assert code == 0
    assert out.endswith(
        "Summary: 0 to create, 0 to update, 0 to replace, 0 to delete, 6 unchanged; 0 stack output changes\n"
    )


def test_diff_as_json(previews, capsys):
    from argparse import Namespace

    from mlplatform.offline.diff import diff_command

    args = Namespace(project_dir=previews, base="build/prod", head="build/prod-next", json=True)
    assert diff_command(args) == 0
    report = json.loads(capsys.readouterr().out)

    assert report["summary"] == {
        "create": 1,
        "update": 2,
        "replace": 1,
        "delete": 1,
        "unchanged": 2,
        "flagged": 1,
        "outputsChanged": 2,
    }
    by_name = {item["name"]: item for item in report["resources"]}
    deleted = by_name["color-client"]
    assert (deleted["action"], deleted["protect"], deleted["flagged"]) == ("delete", True, True)
    assert deleted["flags"] == [
        {"kind": "protected", "reason": "`pulumi up` refuses to delete it until `protect` is removed"}
    ]
    seldon = by_name["color"]
    assert (seldon["action"], seldon["replaceMode"], seldon["forcedBy"]) == ("update", None, [])
    assert seldon["changes"][0] == {"change": "~", "path": "spec.predictors[0].traffic", "old": 90, "new": 81}
    # A Secret's data replaces it unless the provider sets enableSecretMutable (pulumi-kubernetes diff.go).
    secret = by_name["models-storage"]
    assert (secret["action"], secret["replaceMode"], secret["forcedBy"]) == (
        "replace",
        "create-before-delete",
        ["stringData"],
    )
    assert secret["changes"] == [{"change": "~", "path": "stringData", "old": "[secret]", "new": "[secret]"}]


@pytest.mark.parametrize(
    ("write", "argument", "message"),
    [
        (None, "build/staging", "'build/staging' is neither a stack (dev, prod) nor a folder holding stack.json"),
        (
            "",
            "build/empty",
            "{build}/empty/stack.json: no such file (write it with `python -m mlplatform preview --stack <stack>`)",
        ),
        (
            "{not json",
            "build/broken",
            "{build}/broken/stack.json:1:2: not JSON: Expecting property name enclosed in double quotes",
        ),
        (
            '{"version": 2, "deployment": {}}',
            "build/old",
            "{build}/old/stack.json: not a deployment of version 3 (the format of `pulumi stack export`)",
        ),
    ],
)
def test_diff_errors_exit_2_on_one_line(previews, capsys, write, argument, message):
    for stack in ("dev", "prod"):
        shutil.copy(REPO / f"Pulumi.{stack}.yaml", previews)
    shutil.copy(REPO / "Pulumi.yaml", previews)
    if write is not None:
        (previews / argument).mkdir()
        if write:
            (previews / argument / "stack.json").write_text(write)

    code, out, err = diff(previews, capsys, "build/prod", argument)

    assert (code, out) == (2, "")
    assert err == f"error: {message.format(build=previews / 'build')}\n"


def test_diff_of_real_stacks(tmp_path, capsys):
    """Plans dev and prod with the offline preview: dev's serverless cluster becomes prod's managed one,
    and a stack compares equal to its own earlier preview."""
    assert cli.main(["--project-dir", str(REPO), "preview", "--stack", "prod", "--out", str(tmp_path)]) == 0
    capsys.readouterr()

    code, out, err = diff(REPO, capsys, "dev", "prod")
    assert (code, err) == (0, "")
    assert "  + alicloud:cs/managedKubernetes:ManagedKubernetes  prod-cluster\n" in out
    assert "  - alicloud:cs/serverlessKubernetes:ServerlessKubernetes  dev-cluster\n" in out
    assert "      ~ protect: false -> true\n" in out

    code, out, _ = diff(REPO, capsys, str(tmp_path / "prod"), "prod")
    assert code == 0
    assert "Summary: 0 to create, 0 to update, 0 to replace, 0 to delete," in out


def test_long_strings_are_shortened_in_text_and_whole_in_json(tmp_path, capsys):
    from argparse import Namespace

    from mlplatform.offline.diff import diff_command

    script = "#!/bin/sh\n" + "echo warming the model cache\n" * 10
    for name, text in (("old", script), ("new", script + "exit 0\n")):
        startup = resource("prod", "kubernetes:core/v1:ConfigMap", "startup", {"data": {"start.sh": text}})
        write_stack_json(tmp_path / name, "prod", [startup], {})

    code, out, _ = diff(tmp_path, capsys, "old", "new")
    line = next(line for line in out.splitlines() if "start.sh" in line)
    assert code == 0
    assert line.startswith('      ~ data["start.sh"]: "#!/bin/sh\\necho warming the model cache\\n')
    assert f'…" ({len(script)} characters) -> "#!/bin/sh' in line
    # ConfigMap data replaces the ConfigMap unless the provider sets enableConfigMapMutable (pulumi-kubernetes).
    assert line.endswith(f'…" ({len(script) + 7} characters)  (forces replacement)')
    assert "exit 0" not in line  # the tail of the new script is cut off

    assert diff_command(Namespace(project_dir=tmp_path, base="old", head="new", json=True)) == 0
    change = json.loads(capsys.readouterr().out)["resources"][0]["changes"][0]
    assert change == {"change": "~", "path": 'data["start.sh"]', "old": script, "new": script + "exit 0\n"}
