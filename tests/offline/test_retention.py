"""Data survives a later `pulumi up`: in the four shipped plans, what holds users' data or cluster-wide definitions
is kept when the program stops declaring it (docs/operations.md)."""

import pytest

from mlplatform.infra.kserve import KServe, KServeArgs

STACKS = ("dev", "prod", "dev-aws", "prod-aws")
RELEASE = "kubernetes:helm.sh/v3:Release"
KEEP = {"helm.sh/resource-policy": "keep"}

# Charts whose CRDs are templates (uninstalling the release deletes them, and every custom resource of their kinds,
# other users' too), with the values path that annotates them `keep`, if the chart at its pin has one. A chart
# without one must be retained on delete.
CRD_CHARTS = {
    # charts/karpenter-crd/values.yaml at aws/karpenter-provider-aws v1.14.1: `additionalAnnotations`
    "oci://public.ecr.aws/karpenter/karpenter-crd": ("additionalAnnotations",),
    # kedacore/charts v2.20.2 keda/values.yaml `crds.additionalAnnotations`, merged by every templates/crds/ file
    "keda": ("crds", "additionalAnnotations"),
    # seldon-core-operator 1.17.1 `crd.annotations`
    "seldon-core-operator": ("crd", "annotations"),
    # kserve/kserve v0.20.0 charts/kserve-crd, kserve-localmodel-crd: empty values.yaml
    "oci://ghcr.io/kserve/charts/kserve-crd": None,
    "oci://ghcr.io/kserve/charts/kserve-localmodel-crd": None,
    # kubeflow/trainer v2.3.0 charts/kubeflow-trainer templates/crd/: `crds.enabled` only
    "oci://ghcr.io/kubeflow/charts/kubeflow-trainer": None,
    # emissary-ingress/emissary v4.1.0 charts/emissary-crds/values.yaml: no annotation value
    "oci://ghcr.io/emissary-ingress/emissary-crds-chart": None,
}
# Charts that keep their CRDs themselves: cert-manager (`crds.keep`, default true, here stated), Istio's `base`
# (every CRD of files/crd-all.gen.yaml is annotated `helm.sh/resource-policy: keep`, istio/istio release-1.31).
SELF_KEEPING = {"cert-manager": {"crds": {"enabled": True, "keep": True}}, "base": None}
# Charts whose CRDs sit in `crds/`, which Helm installs once and never upgrades: skipped, another chart owns them.
CRDS_FOLDER = {"oci://public.ecr.aws/karpenter/karpenter": "oci://public.ecr.aws/karpenter/karpenter-crd"}
# Charts without CRDs.
NO_CRDS = {
    "oci://ghcr.io/emissary-ingress/emissary-ingress",
    "nvidia-device-plugin",
    "dcgm-exporter",
    "prometheus",
    "istiod",
    "oci://ghcr.io/kserve/charts/kserve-resources",
    "oci://ghcr.io/kserve/charts/kserve-runtime-configs",
    "oci://ghcr.io/kserve/charts/kserve-localmodel-resources",
}


def _at(values: dict, path: tuple[str, ...]):
    for key in path:
        values = values.get(key) if isinstance(values, dict) else None
    return values


def crds_at_risk(releases: list[dict]) -> list[str]:
    """Releases (deployment records) whose removal from the program would delete CRDs, or that install CRDs Helm
    never upgrades."""
    charts = {release["inputs"]["chart"] for release in releases}
    problems = []
    for release in releases:
        inputs, name = release["inputs"], release["urn"].rsplit("::", 1)[1]
        chart, values = inputs["chart"], inputs.get("values") or {}
        if chart in CRD_CHARTS:
            path = CRD_CHARTS[chart]
            if not release.get("retainOnDelete") and not (path and _at(values, path) == KEEP):
                problems.append(f"{name}: uninstalling {chart} deletes its CRDs")
        elif chart in CRDS_FOLDER:
            if not inputs.get("skipCrds") or CRDS_FOLDER[chart] not in charts:
                problems.append(f"{name}: {chart} installs CRDs Helm never upgrades")
        elif chart in SELF_KEEPING:
            expected = SELF_KEEPING[chart]
            if expected and _at(values, ("crds",)) != expected["crds"]:
                problems.append(f"{name}: {chart} must keep its CRDs")
        elif chart not in NO_CRDS:
            problems.append(f"{name}: {chart} is not classified (does it install CRDs?)")
    return problems


def _records(registrations) -> list[dict]:
    return [
        {"urn": r.urn, "type": r.type, "inputs": r.inputs, "retainOnDelete": r.retain_on_delete}
        for r in registrations
        if r.type == RELEASE
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_no_release_deletes_cluster_wide_crds_when_the_stack_stops_using_it(shipped, stack):
    releases = [r for r in shipped(stack).resources if r["type"] == RELEASE]
    assert releases and crds_at_risk(releases) == []


def test_kserve_with_its_local_model_cache_keeps_every_crd(plan):
    monitor = plan(lambda: KServe("kserve", KServeArgs(local_model_cache=True)))
    releases = _records(monitor.registrations.values())
    charts = {r["inputs"]["chart"] for r in releases}
    assert {"oci://ghcr.io/kserve/charts/kserve-crd", "oci://ghcr.io/kserve/charts/kserve-localmodel-crd"} <= charts
    assert crds_at_risk(releases) == []


def test_a_release_that_would_delete_crds_is_caught(shipped):
    releases = [dict(r) for r in shipped("dev").resources if r["type"] == RELEASE]
    trainer = next(r for r in releases if r["inputs"]["chart"].endswith("kubeflow-trainer"))
    trainer.pop("retainOnDelete")
    karpenter = {
        "urn": "urn:pulumi:dev::ml-platform::kubernetes:helm.sh/v3:Release::dev-karpenter-controller",
        "inputs": {"chart": "oci://public.ecr.aws/karpenter/karpenter", "values": {}},
    }
    unknown = {"urn": "urn:pulumi:dev::ml-platform::x::dev-other", "inputs": {"chart": "other"}}
    assert crds_at_risk([*releases, karpenter, unknown]) == [
        "dev-trainer-kubeflow-trainer: uninstalling oci://ghcr.io/kubeflow/charts/kubeflow-trainer deletes its CRDs",
        "dev-karpenter-controller: oci://public.ecr.aws/karpenter/karpenter installs CRDs Helm never upgrades",
        "dev-other: other is not classified (does it install CRDs?)",
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_notebook_homes_and_their_disks_outlive_the_notebooks(shipped, stack):
    resources = shipped(stack).resources
    [disk_class] = [r for r in resources if r["type"] == "kubernetes:storage.k8s.io/v1:StorageClass"]
    assert disk_class["inputs"]["reclaimPolicy"] == "Retain"
    # Every dynamically provisioned claim (a notebook's workspace); bucket volumes bind static volumes (class "").
    claims = [
        r
        for r in resources
        if r["type"] == "kubernetes:core/v1:PersistentVolumeClaim" and r["inputs"]["spec"].get("storageClassName")
    ]
    assert all(claim.get("retainOnDelete") for claim in claims)
    assert claims or not any(r["type"] == "kubernetes:kubeflow.org/v1:Notebook" for r in resources)


@pytest.mark.parametrize("stack", ["prod", "prod-aws"])
def test_prod_buckets_and_clusters_are_protected_and_retained(shipped, stack):
    resources = shipped(stack).resources
    kept = {
        "aws:s3/bucket:Bucket",
        "alicloud:oss/bucket:Bucket",
        "aws:eks/cluster:Cluster",
        "alicloud:cs/managedKubernetes:ManagedKubernetes",
    }
    stateful = [r for r in resources if r["type"] in kept]
    assert len(stateful) == 3  # datasets, models, the cluster
    assert all(r.get("protect") and r.get("retainOnDelete") for r in stateful)


def test_the_gateway_api_crds_applied_from_a_file_are_retained_on_delete():
    import pulumi

    from mlplatform.infra.kserve import CRD_TYPE, retain_crds

    def transformed(type_: str):
        args = pulumi.ResourceTransformArgs(
            custom=True, type_=type_, name="crd", props={}, opts=pulumi.ResourceOptions()
        )
        return retain_crds(args)

    assert transformed(CRD_TYPE).opts.retain_on_delete is True
    assert transformed("kubernetes:core/v1:Namespace") is None
