"""Whole-plan properties of the four shipped stacks: no input is null or empty (a value the cloud computes reads
`(known after apply)`), nothing is read from the cluster, and objects an operator creates are never also rendered
by the plan (one owner)."""

import copy
import json
import re
from collections.abc import Iterator

import pytest
from services import plan_services

STACKS = ("dev", "prod", "dev-aws", "prod-aws")


def nulls(value, path: str = "") -> Iterator[str]:
    """Paths of the nulls in `value`, looking into JSON documents held as strings (IAM/RAM policies)."""
    if value is None:
        yield path or "(the value)"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from nulls(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from nulls(item, f"{path}[{index}]")
    elif isinstance(value, str) and value[:1] in "{[":
        try:
            document = json.loads(value)
        except ValueError:
            return
        yield from nulls(document, path)


def null_inputs(records: list[dict]) -> list[str]:
    """Every null input, and every resource planned with no inputs (components and the engine's own are skipped)."""
    found = []
    for record in records:
        if not record.get("custom", True) or record["type"].startswith("pulumi:"):
            continue
        name = record["urn"].rsplit("::", 1)[-1]
        inputs = record.get("inputs") or {}
        if not inputs:
            found.append(f"{record['type']} {name}: no inputs")
        found += [f"{record['type']} {name}{path}" for path in nulls(inputs)]
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_no_plan_input_is_null_or_empty(shipped, stack):
    assert null_inputs(shipped(stack).resources) == []


def reads(records: list[dict]) -> list[str]:
    """The resources a plan reads rather than manages (`external`, as `pulumi stack export` marks a `.get`), but
    StackReferences: the engine reads those from the backend, never from a cloud or a cluster."""
    return [r["urn"] for r in records if r.get("external") and r["type"] != "pulumi:pulumi:StackReference"]


@pytest.mark.parametrize("stack", STACKS)
def test_no_plan_reads_an_object_that_may_not_exist(shipped, stack):
    """The engine runs a read during preview too, and fails when the object is not there yet (a first `up` that
    stopped midway, the PR that adds the first KServe serving): addresses come from Services the plan owns."""
    assert reads(shipped(stack).resources) == []


def test_a_read_is_found(shipped):
    records = [
        *shipped("prod").resources,
        {
            "urn": "urn:pulumi:prod::p::kubernetes:core/v1:Service::in",
            "type": "kubernetes:core/v1:Service",
            "external": True,
        },
    ]
    assert reads(records) == ["urn:pulumi:prod::p::kubernetes:core/v1:Service::in"]


def test_a_null_inside_a_policy_document_is_found():
    policy = json.dumps({"Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": None}]})
    records = [
        {"type": "aws:sqs/queuePolicy:QueuePolicy", "urn": "urn:pulumi:s::p::t::queue", "inputs": {"policy": policy}},
        {"type": "aws:cloudwatch/eventTarget:EventTarget", "urn": "urn:pulumi:s::p::t::target", "inputs": {}},
    ]
    assert null_inputs(records) == [
        "aws:sqs/queuePolicy:QueuePolicy queue.policy.Statement[0].Resource",
        "aws:cloudwatch/eventTarget:EventTarget target: no inputs",
    ]


@pytest.mark.parametrize("stack", ["prod"])
def test_kserve_creates_no_route_of_its_own_beside_the_ones_the_plan_renders(shipped, stack):
    """KServe 0.20 creates an HTTPRoute named after each InferenceService unless `disableIngressCreation`
    (`reconcilers/ingress/httproute_reconciler.go` Reconcile); the plan renders those routes itself."""
    result = shipped(stack)
    services = {
        (m["metadata"]["namespace"], m["metadata"]["name"]) for m in result.manifests if m["kind"] == "InferenceService"
    }
    routes = {(m["metadata"]["namespace"], m["metadata"]["name"]) for m in result.manifests if m["kind"] == "HTTPRoute"}
    assert services and services <= routes
    [controller] = [p for p in result.packages if p.get("name") == "kserve-resources"]
    assert controller["values"]["kserve"]["controller"]["gateway"]["disableIngressCreation"] is True


IN_CLUSTER_HOST = re.compile(
    r"\b([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.cluster\.local)?\b"
)


# The API server's Service, which every cluster has (the AMP collector scrapes cAdvisor through it).
KUBERNETES_API = ("default", "kubernetes")


def unresolved_addresses(result) -> list[str]:
    """Every `<service>.<namespace>.svc` the plan hands out (manifests, release values, outputs) that names no
    Service the plan renders or makes its charts and operators create."""
    services = plan_services(result.manifests, result.packages)
    text = json.dumps([result.manifests, [p.get("values") for p in result.packages], result.outputs])
    hosts = {(match.group(3), match.group(1)) for match in IN_CLUSTER_HOST.finditer(text)}
    return sorted(f"{name}.{namespace}.svc" for namespace, name in hosts - services - {KUBERNETES_API})


@pytest.mark.parametrize("stack", STACKS)
def test_every_in_cluster_address_names_a_service_of_the_plan(shipped, stack):
    assert unresolved_addresses(shipped(stack)) == []


def test_an_address_no_service_answers_is_found(shipped):
    result = copy.deepcopy(shipped("prod"))
    result.outputs["endpoints"] = {"color": "http://prometheus-operated.monitoring.svc:9090/api"}
    assert unresolved_addresses(result) == ["prometheus-operated.monitoring.svc"]
