"""`mlp diff` as a change plan: create, update, replace (and in which order) or delete, as `pulumi preview`
classifies each difference, with replacements and deletions of stateful or protected resources flagged."""

import json
import shutil
from pathlib import Path

import pytest
import yaml
from test_diff import resource, write_stack_json

from mlplatform import cli
from mlplatform.offline.replacements import rule_for

REPO = Path(__file__).resolve().parents[2]
STATEFUL = "-!!    STATEFUL: "


def run(project: Path, capsys, *argv: str) -> str:
    code = cli.main(["--project-dir", str(project), *argv])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    return out


def planned_before(project: Path, capsys, stack: str) -> str:
    """The stack's preview as it stands, written to build/<stack> (the base of the change)."""
    run(project, capsys, "preview", "--stack", stack, "--out", str(project / "build"))
    return f"build/{stack}"


def edit_config(project: Path, stack: str, edit) -> None:
    path = project / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    edit(document["config"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def change_plan(project: Path, capsys, base: str, stack: str) -> tuple[str, dict]:
    text = run(project, capsys, "diff", base, stack)
    report = json.loads(run(project, capsys, "diff", base, stack, "--json"))
    return text, {(item["type"], item["name"]): item for item in report["resources"]}


def block(text: str, header: str) -> list[str]:
    """The lines of one resource in the text: its header line and the indented or flagged lines after it."""
    lines = text.splitlines()
    start = lines.index(header)
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(("      ", "-!!    "))), len(lines))
    return lines[start:end]


def test_renaming_a_bucket_replaces_it_and_flags_its_data(project, capsys):
    base = planned_before(project, capsys, "prod")
    edit_config(
        project, "prod", lambda config: config["ml-platform:buckets"]["models"].update(name="mlp-prod-models-2")
    )

    text, items = change_plan(project, capsys, base, "prod")

    assert block(text, "  +- alicloud:oss/bucket:Bucket  prod-models  [create-before-delete: Pulumi's default]") == [
        "  +- alicloud:oss/bucket:Bucket  prod-models  [create-before-delete: Pulumi's default]",
        f"{STATEFUL}replaces bucket: `bucket` forces a new resource; the old one is retained",
        "-!!    PROTECTED: `pulumi up` refuses to replace (delete) it until `protect` is removed",
        "      retained: Pulumi stops managing it and leaves it in place (retainOnDelete)",
        '      ~ bucket: "mlp-prod-models-hz" -> "mlp-prod-models-2"  (forces replacement)',
    ]
    bucket = items[("alicloud:oss/bucket:Bucket", "prod-models")]
    assert (bucket["action"], bucket["replaceMode"], bucket["forcedBy"], bucket["flagged"]) == (
        "replace",
        "create-before-delete",
        ["bucket"],
        True,
    )
    # The bucket's sub-resources name it (`bucket` ForceNew): replaced too, but they hold no data.
    versioning = items[("alicloud:oss/bucketVersioning:BucketVersioning", "prod-models-versioning")]
    assert (versioning["action"], versioning["flagged"]) == ("replace", False)
    assert "flagged: stateful or protected resources replaced or deleted" in text.splitlines()[-1]


def test_renaming_an_unprotected_bucket_says_the_data_does_not_move(project, capsys):
    base = planned_before(project, capsys, "dev")
    edit_config(project, "dev", lambda config: config["ml-platform:buckets"]["models"].update(name="mlp-dev-models-2"))

    text, items = change_plan(project, capsys, base, "dev")

    assert f"{STATEFUL}replaces bucket: `bucket` forces a new resource; its objects do not move to the new bucket" in (
        block(text, "  +- alicloud:oss/bucket:Bucket  dev-models  [create-before-delete: Pulumi's default]")
    )
    assert items[("alicloud:oss/bucket:Bucket", "dev-models")]["flags"] == [
        {
            "kind": "stateful",
            "reason": "replaces bucket: `bucket` forces a new resource; its objects do not move to the new bucket",
        }
    ]


@pytest.mark.parametrize(
    ("stack", "cluster", "path"),
    [
        ("prod", ("alicloud:cs/managedKubernetes:ManagedKubernetes", "prod-cluster"), "serviceCidr"),
        ("prod-aws", ("aws:eks/cluster:Cluster", "prod-aws-cluster"), "kubernetesNetworkConfig.serviceIpv4Cidr"),
    ],
)
def test_a_cluster_force_new_change_is_a_flagged_replace(project, capsys, stack, cluster, path):
    for name in ("dev-aws", "prod-aws"):  # prod-aws reads dev-aws's outputs (promotion)
        shutil.copy(REPO / f"Pulumi.{name}.yaml", project)
    base = planned_before(project, capsys, stack)
    edit_config(project, stack, lambda config: config["ml-platform:cluster"].update(serviceCidr="172.31.0.0/16"))

    text, items = change_plan(project, capsys, base, stack)

    item = items[cluster]
    assert (item["action"], item["forcedBy"], item["flagged"]) == ("replace", [path], True)
    assert {
        "kind": "stateful",
        "reason": f"replaces cluster: `{path}` forces a new resource; the old one is retained",
    } in (item["flags"])
    assert {"kind": "protected", "reason": "`pulumi up` refuses to replace (delete) it until `protect` is removed"} in (
        item["flags"]
    )
    if stack == "prod-aws":  # the program names the EKS cluster, which pulumi-aws autonames: delete first
        assert item["replaceMode"] == "delete-before-replace"
        assert "  +- aws:eks/cluster:Cluster  prod-aws-cluster  [delete-before-replace: the program names it" in text


def test_a_replica_count_is_an_update_not_a_replace(project, capsys):
    base = planned_before(project, capsys, "prod")

    def more_replicas(config):
        config["ml-platform:servings"]["color"]["predictors"][0]["replicas"] = 3

    edit_config(project, "prod", more_replicas)
    text, items = change_plan(project, capsys, base, "prod")

    seldon = items[("kubernetes:machinelearning.seldon.io/v1:SeldonDeployment", "color-seldondeployment")]
    assert (seldon["action"], seldon["replaceMode"], seldon["flags"]) == ("update", None, [])
    assert "  ~ kubernetes:machinelearning.seldon.io/v1:SeldonDeployment  color-seldondeployment" in text
    assert not [item for item in items.values() if item["action"] in ("replace", "delete")]


@pytest.mark.parametrize("retained", [False, True])
def test_removing_a_notebook_deletes_it_and_its_home_unless_retained(project, capsys, retained):
    base = planned_before(project, capsys, "dev")
    stack_json = project / base / "stack.json"
    document = json.loads(stack_json.read_text())
    workspace = next(r for r in document["deployment"]["resources"] if r["urn"].endswith("::data-science-workspace"))
    workspace.pop("retainOnDelete", None)
    workspace.update({"retainOnDelete": True} if retained else {})
    stack_json.write_text(json.dumps(document))
    edit_config(project, "dev", lambda config: config.pop("ml-platform:notebooks"))

    text, items = change_plan(project, capsys, base, "dev")

    notebook = {key: item for key, item in items.items() if "data-science" in key[1]}
    assert notebook and {item["action"] for item in notebook.values()} == {"delete"}
    home = block(text, "  - kubernetes:core/v1:PersistentVolumeClaim  data-science-workspace")
    if retained:
        assert home[1:] == ["      retained: Pulumi stops managing it and leaves it in place (retainOnDelete)"]
    else:
        assert home[1:] == [
            f"{STATEFUL}deletes volume claim: a dynamically provisioned volume (reclaimPolicy Delete) and the data "
            "on it go with it"
        ]
    assert items[("kubernetes:core/v1:PersistentVolumeClaim", "data-science-workspace")]["flagged"] is not retained


def kubernetes(name: str, kind: str, api: str, metadata: dict, **fields) -> dict:
    group = api.split("/")[0] if "/" in api else "core"
    version = api.split("/")[-1]
    inputs = {"apiVersion": api, "kind": kind, "metadata": metadata, **fields}
    return resource("prod", f"kubernetes:{group}/{version}:{kind}", name, inputs)


def test_kubernetes_replacements_and_their_order(tmp_path, capsys):
    """A new metadata.name is created before the old object goes; a field that forces replacement under the
    same name deletes first (pulumi-kubernetes Diff); ConfigMap data is immutable unless the provider says not."""
    claim = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}
    base = [
        kubernetes("settings", "ConfigMap", "v1", {"name": "settings", "namespace": "models"}, data={"batch": "32"}),
        kubernetes("home", "PersistentVolumeClaim", "v1", {"name": "home", "namespace": "notebooks"}, spec=claim),
        kubernetes("sa", "ServiceAccount", "v1", {"name": "runner", "namespace": "models"}),
    ]
    head = [
        kubernetes("settings", "ConfigMap", "v1", {"name": "settings", "namespace": "models"}, data={"batch": "64"}),
        kubernetes(
            "home",
            "PersistentVolumeClaim",
            "v1",
            {"name": "home", "namespace": "notebooks"},
            spec={**claim, "storageClassName": "fast"},
        ),
        kubernetes("sa", "ServiceAccount", "v1", {"name": "runner-2", "namespace": "models"}),
    ]
    write_stack_json(tmp_path / "old", "prod", base, {})
    write_stack_json(tmp_path / "new", "prod", head, {})

    text = run(tmp_path, capsys, "diff", "old", "new")

    assert "  +- kubernetes:core/v1:ServiceAccount  sa  [create-before-delete: Pulumi's default]" in text
    assert '      ~ metadata.name: "runner" -> "runner-2"  (forces replacement)' in text
    assert (
        "  +- kubernetes:core/v1:ConfigMap  settings  [delete-before-replace: pulumi-kubernetes deletes first: "
        "the replacement keeps the name models/settings]"
    ) in text
    assert block(
        text,
        "  +- kubernetes:core/v1:PersistentVolumeClaim  home  [delete-before-replace: pulumi-kubernetes deletes "
        "first: the replacement keeps the name notebooks/home]",
    )[1:] == [
        f"{STATEFUL}replaces volume claim: `spec.storageClassName` forces a new resource; a dynamically "
        "provisioned volume (reclaimPolicy Delete) and the data on it go with the old claim",
        '      + spec.storageClassName: "fast"  (forces replacement)',
    ]


def test_configmap_data_is_an_update_when_the_provider_allows_it(tmp_path, capsys):
    provider_urn = "urn:pulumi:prod::ml-platform::pulumi:providers:kubernetes::prod-k8s"
    provider = resource("prod", "pulumi:providers:kubernetes", "prod-k8s", {"enableConfigMapMutable": "true"})
    for name, batch in (("old", "32"), ("new", "64")):
        settings = kubernetes("settings", "ConfigMap", "v1", {"name": "settings"}, data={"batch": batch})
        settings["provider"] = f"{provider_urn}::k8s-id"
        write_stack_json(tmp_path / name, "prod", [provider, settings], {})

    assert "  ~ kubernetes:core/v1:ConfigMap  settings\n" in run(tmp_path, capsys, "diff", "old", "new")


def test_a_namespace_moved_to_another_owner_collides(tmp_path, capsys):
    """The Istio case of issue 22: the same Namespace under a new URN is created before the old one is deleted."""
    old_owner = kubernetes("prod-kserve-istio-system", "Namespace", "v1", {"name": "istio-system"})
    new_owner = kubernetes("prod-mesh-istio-system", "Namespace", "v1", {"name": "istio-system"})
    write_stack_json(tmp_path / "old", "prod", [old_owner], {})
    write_stack_json(tmp_path / "new", "prod", [new_owner], {})

    text = run(tmp_path, capsys, "diff", "old", "new")

    assert block(text, "  + kubernetes:core/v1:Namespace  prod-mesh-istio-system")[1:] == [
        "-!!    COLLISION: istio-system is still held by prod-kserve-istio-system, which is deleted only after this "
        "create: the create fails (AlreadyExists); move it with `aliases`"
    ]
    assert block(text, "  - kubernetes:core/v1:Namespace  prod-kserve-istio-system")[1:] == [
        f"{STATEFUL}deletes namespace: every object in it is deleted with it"
    ]
    assert text.endswith(
        "Summary: 1 to create, 0 to update, 0 to replace, 1 to delete, 0 unchanged; 0 stack output changes\n"
        "-!! 2 flagged: stateful or protected resources replaced or deleted, or names that collide\n"
    )


@pytest.mark.parametrize("stack", ["dev", "prod", "dev-aws", "prod-aws"])
def test_every_type_a_stack_plans_has_a_replacement_rule(shipped, stack):
    planned = {r["type"] for r in shipped(stack).resources if r.get("custom")}
    engine_types = {t for t in planned if t.startswith(("pulumi:providers:", "pulumi:pulumi:"))}
    assert sorted(t for t in planned - engine_types if rule_for(t) is None) == []


def test_an_aliased_move_and_ignored_changes_are_no_change(tmp_path, capsys):
    """With `aliases` the moved Namespace is the same resource (no create, no delete); a property under
    `ignoreChanges` is left out of the diff, as the engine does."""
    old_owner = kubernetes("prod-kserve-istio-system", "Namespace", "v1", {"name": "istio-system"})
    new_owner = kubernetes("prod-mesh-istio-system", "Namespace", "v1", {"name": "istio-system"})
    new_owner["aliases"] = [old_owner["urn"]]
    old_bucket = resource("prod", "alicloud:oss/bucket:Bucket", "prod-models", {"bucket": "b", "acl": "private"})
    new_bucket = {**old_bucket, "inputs": {"bucket": "b", "acl": "public-read"}, "ignoreChanges": ["acl"]}
    write_stack_json(tmp_path / "old", "prod", [old_owner, old_bucket], {})
    write_stack_json(tmp_path / "new", "prod", [new_owner, new_bucket], {})

    text = run(tmp_path, capsys, "diff", "old", "new")

    assert text.endswith(
        "Summary: 0 to create, 0 to update, 0 to replace, 0 to delete, 2 unchanged; 0 stack output changes\n"
    )
