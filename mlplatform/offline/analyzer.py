"""Run a CrossGuard policy pack over planned resources the way the Pulumi CLI does, without the CLI.

The CLI starts a Python pack as `python -u -m pulumi.policy <engine-address> .` in the pack's folder, with the
stack in PULUMI_PROJECT / PULUMI_STACK / PULUMI_DRY_RUN; the pack prints the port of its gRPC Analyzer
server on stdout. The CLI then asks GetAnalyzerInfo, fills each policy's config with its schema defaults
and the user's `--policy-pack-config`, sends ConfigureStack and Configure, calls Analyze on every resource's
inputs and AnalyzeStack once on every resource's outputs, and closes the plugin. This module builds those
requests and reads the verdicts; `packrun.py` holds the conversation with one pack process per preview.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import jsonschema
from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from mlplatform.conventions import SECRET_SIG, SIG_KEY
from mlplatform.offline.packprocess import PolicyPackError

LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
LEVEL_VALUES = {name: value for value, name in LEVELS.items()}


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    description: str
    enforcement_level: str  # the level the pack declares for this stack, before --policy-pack-config
    config_schema: dict


@dataclass(frozen=True)
class Violation:
    policy_name: str
    enforcement_level: str
    urn: str
    resource_type: str
    resource_name: str
    message: str
    description: str


@dataclass
class PolicyReport:
    pack_name: str
    pack_version: str
    pack_path: str
    policies: list[PolicyInfo] = field(default_factory=list)
    # What Configure sent: policy name -> {"enforcementLevel": ..., **properties}.
    config: dict[str, dict] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)

    @property
    def has_mandatory(self) -> bool:
        return any(v.enforcement_level == "mandatory" for v in self.violations)

    def sorted_violations(self) -> list[Violation]:
        """The CLI's order: enforcement level, policy name, resource URN."""
        return sorted(self.violations, key=lambda v: (v.enforcement_level, v.policy_name, v.urn))

    def to_json(self) -> dict:
        return {
            "policyPack": {"name": self.pack_name, "version": self.pack_version, "path": self.pack_path},
            "policies": [asdict(policy) for policy in self.policies],
            "config": self.config,
            "violations": [asdict(violation) for violation in self.sorted_violations()],
            "hasMandatory": self.has_mandatory,
        }

    def format(self) -> str:
        """The `Policies:` section of `pulumi preview`, without colours."""
        mark = "❌" if self.has_mandatory else "⚠️" if self.violations else "✅"
        lines = ["Policies:", f"    {mark} {self.pack_name}@v{self.pack_version} (local: {self.pack_path})"]
        for violation in self.sorted_violations():
            lines.append(
                f"        - [{violation.enforcement_level}]  {violation.policy_name}  "
                f"({violation.resource_type}: {violation.resource_name})"
            )
            lines.extend(f"          {line}" for line in violation.message.rstrip("\n").split("\n"))
        return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ engine-side data


def wire_value(value: Any) -> Any:
    """A stack.json property value as the engine marshals it for an analyzer (secrets keep their signature)."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            if "plaintext" in value:
                return {SIG_KEY: SECRET_SIG, "value": wire_value(json.loads(value["plaintext"]))}
            return {SIG_KEY: SECRET_SIG, "value": wire_value(value.get("value", value.get("ciphertext")))}
        return {key: wire_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [wire_value(item) for item in value]
    return value


def wire_struct(properties: dict | None) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(wire_value(properties or {}))
    return struct


def _urn_parts(urn: str) -> tuple[str, str]:
    """(type, name) of a URN; the type is the last one of a `parent$child` chain."""
    parts = urn.split("::")
    return parts[2].split("$")[-1], parts[-1]


def _options(resource: dict) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=bool(resource.get("protect")),
        additionalSecretOutputs=list(resource.get("additionalSecretOutputs") or []),
        parent=resource.get("parent") or "",
    )


def _provider(resource: dict, by_urn: dict[str, dict]) -> analyzer_pb2.AnalyzerProviderResource | None:
    """The resource's provider (a `urn::id` reference) with the provider's inputs."""
    reference = resource.get("provider") or ""
    provider = by_urn.get(reference.rsplit("::", 1)[0]) if "::" in reference else None
    return None if provider is None else provider_resource(provider["urn"], wire_struct(provider.get("inputs")))


def provider_resource(urn: str, properties: struct_pb2.Struct) -> analyzer_pb2.AnalyzerProviderResource:
    type_, name = _urn_parts(urn)
    provider = analyzer_pb2.AnalyzerProviderResource(urn=urn, type=type_, name=name)
    provider.properties.CopyFrom(properties)
    return provider


def analyze_requests(resources: list[dict]) -> Iterator[analyzer_pb2.AnalyzeRequest]:
    """One Analyze call per registered resource, on its inputs, as the engine sends them before each step.

    Reads (`external`) are not registrations the program asks for: the engine only shows them to AnalyzeStack.
    """
    by_urn = {r["urn"]: r for r in resources}
    for resource in resources:
        if not resource.get("external"):
            yield analyze_request(resource, wire_struct(resource.get("inputs")), _provider(resource, by_urn))


def analyze_request(
    resource: dict, properties: struct_pb2.Struct, provider: analyzer_pb2.AnalyzerProviderResource | None
) -> analyzer_pb2.AnalyzeRequest:
    """The Analyze call on one resource (a deployment record: urn, type, parent, protect) and its inputs."""
    type_, name = _urn_parts(resource["urn"])
    request = analyzer_pb2.AnalyzeRequest(
        urn=resource["urn"], type=resource.get("type") or type_, name=name, options=_options(resource)
    )
    request.properties.CopyFrom(properties)
    if provider is not None:
        request.provider.CopyFrom(provider)
    return request


def analyze_stack_request(
    resources: list[dict], known: dict[str, bytes] | None = None
) -> analyzer_pb2.AnalyzeStackRequest:
    """The AnalyzeStack call: every resource's outputs (its inputs when the plan has no outputs for it);
    `known` holds outputs already serialized as Structs, by URN, and is emptied as they are parsed. Built in
    place (a list of resources handed to the request would be copied into it: the plan held twice more), each
    provider converted once."""
    by_urn = {r["urn"]: r for r in resources}
    known = known or {}
    providers: dict[str, analyzer_pb2.AnalyzerProviderResource | None] = {}
    request = analyzer_pb2.AnalyzeStackRequest()
    for resource in resources:
        type_, name = _urn_parts(resource["urn"])
        item = request.resources.add(
            urn=resource["urn"],
            type=resource.get("type") or type_,
            name=name,
            options=_options(resource),
            parent=resource.get("parent") or "",
            dependencies=list(resource.get("dependencies") or []),
        )
        wire = known.pop(resource["urn"], None)
        if wire is not None:
            item.properties.ParseFromString(wire)
        else:
            item.properties.CopyFrom(wire_struct(resource.get("outputs") or resource.get("inputs")))
        for key, urns in (resource.get("propertyDependencies") or {}).items():
            if urns:
                item.propertyDependencies[key].urns.extend(urns)
        reference = resource.get("provider") or ""
        if reference not in providers:
            providers[reference] = _provider(resource, by_urn)
        if providers[reference] is not None:
            item.provider.CopyFrom(providers[reference])
    return request


# ------------------------------------------------------------------ policy config, as the CLI reconciles it


def _normalize(user_config: dict) -> dict[str, dict]:
    """`--policy-pack-config` JSON ("policy": "mandatory" or {"enforcementLevel": ..., "key": value}) as dicts."""
    normalized = {}
    for name, value in user_config.items():
        entry = {"enforcementLevel": value} if isinstance(value, str) else dict(value)
        level = entry.get("enforcementLevel")
        if level is not None and level not in LEVEL_VALUES:
            raise PolicyPackError(f"policy config {name}: {level!r} is not an enforcement level")
        normalized[name] = entry
    return normalized


def reconcile_config(policies: list[PolicyInfo], user_config: dict | None) -> dict[str, dict]:
    """Schema defaults and declared levels, overlaid by the user's config (`all` first), then schema-checked."""
    result = {
        p.name: {"enforcementLevel": p.enforcement_level}
        | {
            key: schema["default"]
            for key, schema in p.config_schema.get("properties", {}).items()
            if "default" in schema
        }
        for p in policies
    }
    given = _normalize(user_config or {})
    if "all" in given and given["all"].get("enforcementLevel"):
        for entry in result.values():
            entry["enforcementLevel"] = given["all"]["enforcementLevel"]
    for name, entry in given.items():
        if name != "all":
            result.setdefault(name, {}).update({k: v for k, v in entry.items() if v is not None})
    errors = []
    for policy in policies:
        properties = {k: v for k, v in result[policy.name].items() if k != "enforcementLevel"}
        schema = {"type": "object", **policy.config_schema}
        errors += [f"{policy.name}: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(properties)]
    if errors:
        raise PolicyPackError("invalid policy pack config: " + "; ".join(errors))
    return result


def configure_request(config: dict[str, dict]) -> analyzer_pb2.ConfigureAnalyzerRequest:
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    for name, entry in config.items():
        policy = request.policyConfig[name]
        policy.enforcementLevel = LEVEL_VALUES[entry["enforcementLevel"]]
        policy.properties.update({k: v for k, v in entry.items() if k != "enforcementLevel"})
    return request


def violations_of(response, urn_of_resource: str, reported_urn_wins: bool) -> list[Violation]:
    """Diagnostics as violations; like the CLI, Analyze files them under the analyzed resource's URN."""
    violations = []
    for diagnostic in response.diagnostics:
        urn = diagnostic.urn if reported_urn_wins and diagnostic.urn else urn_of_resource
        type_, name = _urn_parts(urn)
        violations.append(
            Violation(
                policy_name=diagnostic.policyName,
                enforcement_level=LEVELS[diagnostic.enforcementLevel],
                urn=urn,
                resource_type=type_,
                resource_name=name,
                message=diagnostic.message,
                description=diagnostic.description,
            )
        )
    return violations


def stack_urn(resources: list[dict], stack: str, project: str) -> str:
    """Where the CLI files a stack violation that names no resource: the root Stack resource."""
    for resource in resources:
        if resource.get("type") == "pulumi:pulumi:Stack":
            return resource["urn"]
    return f"urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::{project}-{stack}"
