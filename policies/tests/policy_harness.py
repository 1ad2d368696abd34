"""Build validator arguments exactly as the policy SDK's analyzer server does from an engine request.

Properties go through a protobuf Struct (every number becomes a double, as on the wire) and the SDK's own
deserializer and unknown-checking proxy, so secrets and preview unknowns reach a policy as they would under
`pulumi preview --policy-pack policies`.
"""

from __future__ import annotations

from google.protobuf import json_format, struct_pb2
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

PROJECT = "ml-platform"
UNKNOWN = UNKNOWN_STRING_VALUE
# The annotation naming the config entry the platform rendered an object (or predictor) from.
CONFIG_PATH = "mlplatform.io/config-path"


def secret(value):
    """A secret property value as the engine marshals it (KeepSecrets)."""
    return {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": value}


def urn(stack: str, type_: str, name: str) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{type_}::{name}"


def wire(props: dict):
    struct = struct_pb2.Struct()
    struct.update(props)
    return deserialize_properties(json_format.MessageToDict(struct))


def _options(protect: bool) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def resource_args(type_: str, props: dict, *, stack="prod", name="subject", protect=False, config=None):
    return ResourceValidationArgs(
        type_, unknown_checking_proxy(wire(props)), urn(stack, type_, name), name, _options(protect), None, config
    )


def stack_resource(type_: str, props: dict, *, stack="prod", name="subject", depends_on=None) -> PolicyResource:
    """A resource as AnalyzeStack hands it over; `depends_on` maps a property to the resources it came from."""
    return PolicyResource(
        type_,
        unknown_checking_proxy(wire(props)),
        urn(stack, type_, name),
        name,
        _options(False),
        None,
        None,
        [],
        dict(depends_on or {}),
    )


def check(policy, args) -> list[str] | None:
    """The messages a policy reports for `args`, or None when it declares itself not applicable."""
    messages: list[str] = []
    try:
        policy.validate(args, lambda message, urn=None: messages.append(message))
    except _NotApplicableError:
        return None
    return messages


def check_stack(policy, resources: list[PolicyResource], config=None) -> list[str] | None:
    return check(policy, StackValidationArgs(resources, config))


def container(name="main", image="registry.example.com/team/app:v1", **extra) -> dict:
    resources = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}
    return {"name": name, "image": image, "resources": resources, **extra}


def deployment(*containers: dict, **pod) -> dict:
    return {"metadata": {"name": "web"}, "spec": {"template": {"spec": {"containers": list(containers), **pod}}}}


def seldon(*predictors: dict, path: str | None = None) -> dict:
    """A SeldonDeployment; `path`: the config entry it was rendered from (`servings.color`)."""
    metadata = {"name": "color", "namespace": "models"} | ({"annotations": {CONFIG_PATH: path}} if path else {})
    return {"metadata": metadata, "spec": {"predictors": list(predictors)}}


def predictor(
    name="v1", traffic=100, replicas=2, version="color:v1", hpa=(2, 4), path: str | None = None, **extra
) -> dict:
    """A Seldon predictor; `path`: its config entry (`servings.color.predictors[0]`), as the platform annotates it."""
    component = {"spec": {"containers": [container("model")]}}
    if hpa:
        component["hpaSpec"] = {"minReplicas": hpa[0], "maxReplicas": hpa[1]}
    return {
        "name": name,
        "traffic": traffic,
        "replicas": replicas,
        "annotations": {"mlplatform.io/model-version": version} | ({CONFIG_PATH: path} if path else {}),
        "graph": {"name": "model", "type": "MODEL", "modelUri": "oss://models/color/v1"},
        "componentSpecs": [component],
        **extra,
    }
