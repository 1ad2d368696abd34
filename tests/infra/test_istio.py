"""Istio's control plane: one component owns it, whichever of Seldon's istio ingress and KServe needs it, and it
keeps the URNs of the objects KServe or the Operators created before (aliases), so nothing is replaced."""

from mlplatform.infra.istio import KSERVE_TYPE, OPERATORS_TYPE, Istio, IstioArgs
from mlplatform.offline.preview import run_preview

RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
MIRROR = "registry-vpc.cn-hangzhou.aliyuncs.com/mirror"

# The URNs prod's Istio objects had under KServe, as the preview before the Istio component wrote them, and the
# ones they had under the Operators with `operators.seldon.ingress: istio`.
UNDER_KSERVE = {
    "namespace": "urn:pulumi:prod::ml-platform::mlplatform:kserve:KServe$kubernetes:core/v1:Namespace"
    "::prod-kserve-istio-system-ns",
    "base": "urn:pulumi:prod::ml-platform::mlplatform:kserve:KServe$kubernetes:helm.sh/v3:Release::prod-kserve-istio-base",
    "istiod": "urn:pulumi:prod::ml-platform::mlplatform:kserve:KServe$kubernetes:helm.sh/v3:Release::prod-kserve-istiod",
}
UNDER_OPERATORS = {
    "namespace": "urn:pulumi:prod::ml-platform::mlplatform:operators:Operators$kubernetes:core/v1:Namespace"
    "::prod-operators-istio-system",
    "base": "urn:pulumi:prod::ml-platform::mlplatform:operators:Operators$kubernetes:helm.sh/v3:Release"
    "::prod-operators-istio-base",
    "istiod": "urn:pulumi:prod::ml-platform::mlplatform:operators:Operators$kubernetes:helm.sh/v3:Release"
    "::prod-operators-istio-istiod",
}


def _istio(plan, **args):
    return plan(lambda: Istio("prod-istio", IstioArgs(**args)), stack="prod")


def test_base_then_istiod_pinned_in_istio_system(plan):
    monitor = _istio(plan)
    [namespace] = monitor.of_type(NAMESPACE)
    assert namespace.inputs["metadata"]["name"] == "istio-system"
    base, istiod = monitor.named("prod-istio-base"), monitor.named("prod-istio-istiod")
    for release, chart in ((base, "base"), (istiod, "istiod")):
        assert (release.inputs["chart"], release.inputs["version"], release.inputs["namespace"]) == (
            chart,
            "1.31.1",
            "istio-system",
        )
        assert release.inputs["repositoryOpts"]["repo"] == "https://blob.istio.io/istio-release/charts"
    assert (base.inputs["name"], istiod.inputs["name"]) == ("istio-base", "istiod")  # the Helm release names kept
    assert base.urn in istiod.dependencies
    assert istiod.inputs["values"] == {}


def test_the_mirror_serves_istiods_images(plan):
    istiod = _istio(plan, image_registry=MIRROR).named("prod-istio-istiod")
    assert istiod.inputs["values"] == {"global": {"hub": f"{MIRROR}/istio"}}


def test_each_object_names_its_urns_under_both_former_owners(plan):
    monitor = _istio(plan, former_owners={KSERVE_TYPE: "prod-kserve", OPERATORS_TYPE: "prod-operators"})
    objects = {
        "namespace": monitor.of_type(NAMESPACE)[0],
        "base": monitor.named("prod-istio-base"),
        "istiod": monitor.named("prod-istio-istiod"),
    }
    assert {child: sorted(r.aliases) for child, r in objects.items()} == {
        child: sorted([UNDER_KSERVE[child], UNDER_OPERATORS[child]]) for child in objects
    }


def test_without_former_owners_there_is_nothing_to_alias(plan):
    monitor = _istio(plan)
    assert not [r.name for r in monitor.registrations.values() if r.aliases]


def _istio_objects(result) -> dict[str, list[str]]:
    """The URNs of every Namespace istio-system and every istio-base/istiod release of a plan, by object."""
    found: dict[str, list[str]] = {"namespace": [], "base": [], "istiod": []}
    for record in result.resources:
        inputs = record.get("inputs") or {}
        if record["type"] == NAMESPACE and inputs["metadata"]["name"] == "istio-system":
            found["namespace"].append(record["urn"])
        elif record["type"] == RELEASE and inputs["name"] in ("istio-base", "istiod"):
            found["base" if inputs["name"] == "istio-base" else "istiod"].append(record["urn"])
    return found


def test_switching_seldons_ingress_to_istio_keeps_every_istio_object_with_one_owner(project):
    """prod as shipped (Emissary for Seldon, KServe on Istio), then with Seldon's ingress switched to Istio."""
    before = run_preview("prod", project)
    path = project / "Pulumi.prod.yaml"
    text = path.read_text()
    anchor = "  ml-platform:operators:\n"  # the shipped stack sets only its image mirror there
    assert text.count(anchor) == 1 and "seldon:" not in text
    path.write_text(text.replace(anchor, anchor + "    seldon:\n      ingress: istio\n"))
    after = run_preview("prod", project)
    assert _istio_objects(before) == _istio_objects(after)
    owned = _istio_objects(after)
    assert {child: len(urns) for child, urns in owned.items()} == {"namespace": 1, "base": 1, "istiod": 1}
    assert all("::mlplatform:istio:Istio$" in urn for urns in owned.values() for urn in urns)
    # The switch happened: Seldon's gateway release runs on that Istio, Emissary is gone.
    releases = {p.get("name"): p for p in after.packages}
    assert releases["istio-ingressgateway"]["namespace"] == "istio-system"
    assert "emissary-ingress" not in releases and "emissary-ingress" in {p.get("name") for p in before.packages}


def test_the_prod_plan_aliases_the_objects_kserve_created_before(shipped):
    aliases = {
        record["urn"].rsplit("::", 1)[-1]: set(record.get("aliases", ()))
        for record in shipped("prod").resources
        if "::mlplatform:istio:Istio$" in record["urn"]
    }
    assert {name: UNDER_KSERVE[name.removeprefix("prod-istio-")] in urns for name, urns in aliases.items()} == {
        "prod-istio-namespace": True,
        "prod-istio-base": True,
        "prod-istio-istiod": True,
    }
