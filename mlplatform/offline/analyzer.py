"""Run a CrossGuard policy pack over planned resources the way the Pulumi CLI does, without the CLI.

The CLI starts a Python pack as `python -u -m pulumi.policy <engine-address> .` in the pack's folder, with the
stack in PULUMI_PROJECT / PULUMI_STACK / PULUMI_DRY_RUN; the pack prints the port of its gRPC Analyzer
server on stdout. The CLI then asks GetAnalyzerInfo, fills each policy's config with its schema defaults
and the user's `--policy-pack-config`, sends ConfigureStack and Configure, calls Analyze on every resource's
inputs and AnalyzeStack once on every resource's outputs, and closes the plugin. This module does the same
in one pack process per preview.
"""

from __future__ import annotations

import collections
import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc
import jsonschema
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from mlplatform.conventions import SECRET_SIG, SIG_KEY, plain_json
from mlplatform.offline.packprocess import PackProcess as _PackProcess
from mlplatform.offline.packprocess import PolicyPackError, _pack_project

LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
LEVEL_VALUES = {name: value for value, name in LEVELS.items()}
START_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 60.0
# Analyze calls in flight at once: the pack works on one while the next requests are built and sent
# (the CLI's engine also analyzes steps concurrently); verdicts are still collected in plan order.
ANALYZE_IN_FLIGHT = 16
# AnalyzeStack judges every resource in one call: its deadline grows with the plan (16,000 resources take
# the pack over a minute on a busy 2-core machine).
STACK_CALL_S_PER_RESOURCE = 0.05
# The CLI lets messages grow to 400 MiB; a stack of a few hundred resources stays far below.
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 400 * 1024 * 1024)]


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


def analyze_requests(resources: list[dict]) -> list[analyzer_pb2.AnalyzeRequest]:
    """One Analyze call per registered resource, on its inputs, as the engine sends them before each step.

    Reads (`external`) are not registrations the program asks for: the engine only shows them to AnalyzeStack.
    """
    return list(_analyze_requests(resources))


def _analyze_requests(resources: list[dict]) -> Iterator[analyzer_pb2.AnalyzeRequest]:
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
    `known` holds outputs already serialized as Structs, by URN."""
    by_urn = {r["urn"]: r for r in resources}
    known = known or {}
    items = []
    for resource in resources:
        type_, name = _urn_parts(resource["urn"])
        wire = known.get(resource["urn"])
        item = analyzer_pb2.AnalyzerResource(
            urn=resource["urn"],
            type=resource.get("type") or type_,
            name=name,
            options=_options(resource),
            parent=resource.get("parent") or "",
            dependencies=list(resource.get("dependencies") or []),
        )
        if wire is not None:
            item.properties.ParseFromString(wire)
        else:
            item.properties.CopyFrom(wire_struct(resource.get("outputs") or resource.get("inputs")))
        for key, urns in (resource.get("propertyDependencies") or {}).items():
            if urns:
                item.propertyDependencies[key].urns.extend(urns)
        provider = _provider(resource, by_urn)
        if provider is not None:
            item.provider.CopyFrom(provider)
        items.append(item)
    return analyzer_pb2.AnalyzeStackRequest(resources=items)


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


def _configure_request(config: dict[str, dict]) -> analyzer_pb2.ConfigureAnalyzerRequest:
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    for name, entry in config.items():
        policy = request.policyConfig[name]
        policy.enforcementLevel = LEVEL_VALUES[entry["enforcementLevel"]]
        policy.properties.update({k: v for k, v in entry.items() if k != "enforcementLevel"})
    return request


def _violations(response, urn_of_resource: str, reported_urn_wins: bool) -> list[Violation]:
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


def _stack_urn(resources: list[dict], stack: str, project: str) -> str:
    """Where the CLI files a stack violation that names no resource: the root Stack resource."""
    for resource in resources:
        if resource.get("type") == "pulumi:pulumi:Stack":
            return resource["urn"]
    return f"urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::{project}-{stack}"


def run_policy_pack(
    pack_dir: Path, stack: str, project: str, resources: list[dict], config: dict | None = None
) -> PolicyReport:
    """Analyze `resources` (deployment-v3 records of one stack) with the pack in `pack_dir`.

    `config` is what `--policy-pack-config` would hold. Raises PolicyPackError when the pack cannot run.
    """
    run = PolicyPackRun(pack_dir, stack, project)
    try:
        return run.analyze(resources, config)
    finally:
        run.stop()


_DONE = object()


class PolicyPackRun:
    """A pack process started before the plan exists, so that its start-up overlaps the planning.

    One thread talks to it: it connects, configures the pack, then sends each Analyze request handed to
    `submit` as soon as it comes (several in flight), and AnalyzeStack when `submit_stack` is called;
    `report()` waits for the verdicts. `analyze(resources)` does all of that for finished records.
    """

    def __init__(self, pack_dir: Path, stack: str, project: str):
        self.pack_dir = Path(pack_dir).resolve()
        self.version = str(_pack_project(self.pack_dir).get("version") or "")
        self.stack, self.project = stack, project
        self.pack = _PackProcess(self.pack_dir, project, stack)
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._talker: threading.Thread | None = None
        self._report: PolicyReport | None = None
        self._error: PolicyPackError | None = None

    def start(self, config: dict | None = None) -> None:
        """Connect and configure in the background; Analyze requests submitted meanwhile wait their turn."""
        self._talker = threading.Thread(target=self._talk, args=(config,), name="policy-pack", daemon=True)
        self._talker.start()

    def submit(self, request: analyzer_pb2.AnalyzeRequest) -> None:
        self._requests.put(request)

    def submit_stack(self, request: analyzer_pb2.AnalyzeStackRequest, resources: list[dict]) -> None:
        """The last call: AnalyzeStack, after every Analyze request (`resources` names the root Stack)."""
        self._requests.put((request, _stack_urn(resources, self.stack, self.project)))
        self._requests.put(_DONE)

    def report(self) -> PolicyReport:
        """The verdicts, once AnalyzeStack has answered; PolicyPackError when the pack failed."""
        assert self._talker is not None, "start() first"
        self._talker.join()
        if self._error is not None:
            raise self._error
        assert self._report is not None
        return self._report

    def analyze(self, resources: list[dict], config: dict | None = None) -> PolicyReport:
        """The verdicts on finished records: one Analyze per resource, then AnalyzeStack."""
        self.start(config)
        self.analyze_later(resources)
        return self.report()

    def analyze_later(self, resources: list[dict]) -> None:
        """Queue the calls on finished records (after `start`); `report()` gives the verdicts."""
        for request in _analyze_requests(resources):
            self.submit(request)
        self.submit_stack(analyze_stack_request(resources), resources)

    def _talk(self, config: dict | None) -> None:
        port = None
        try:
            port = self.pack.port(START_TIMEOUT_S)
            with grpc.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS) as channel:
                grpc.channel_ready_future(channel).result(timeout=START_TIMEOUT_S)
                self._report = _converse(analyzer_pb2_grpc.AnalyzerStub(channel), self, config)
        except PolicyPackError as error:
            self._error = error
        except grpc.RpcError as error:
            self._error = PolicyPackError(f"policy pack failed: {error.details()}\n{self.pack.stderr()}".rstrip())
        except grpc.FutureTimeoutError:
            self._error = PolicyPackError(f"policy pack did not answer on port {port}\n{self.pack.stderr()}".rstrip())
        finally:
            if self._error is not None:  # nobody waits for the rest: let submitters carry on
                self._requests = _Discard()

    def stop(self) -> None:
        self._requests.put(_DONE)  # a talker still waiting for requests ends
        self.pack.stop()


class _Discard:
    """Where requests go once the pack has failed."""

    def put(self, _item) -> None:
        pass


def _configure(analyzer, stack: str, project: str, config: dict[str, dict]) -> None:
    stack_configure = analyzer_pb2.AnalyzerStackConfigureRequest(
        stack=stack, project=project, organization="organization", dry_run=True
    )
    try:
        analyzer.ConfigureStack(stack_configure, timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.UNIMPLEMENTED:
            raise
    analyzer.Configure(_configure_request(config), timeout=CALL_TIMEOUT_S)


def _converse(analyzer, run: PolicyPackRun, config: dict | None) -> PolicyReport:
    """GetAnalyzerInfo and configuration, then the queued calls in order: Analyze (several in flight),
    AnalyzeStack last."""
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=CALL_TIMEOUT_S)
    report = PolicyReport(pack_name=info.name, pack_version=run.version or info.version, pack_path=run.pack_dir.name)
    report.policies = [
        PolicyInfo(
            name=p.name,
            description=p.description,
            enforcement_level=LEVELS[p.enforcementLevel],
            config_schema=plain_json(json_format.MessageToDict(p.configSchema)),
        )
        for p in info.policies
    ]
    report.config = reconcile_config(report.policies, config)
    _configure(analyzer, run.stack, run.project, report.config)
    in_flight: collections.deque = collections.deque()
    while (item := run._requests.get()) is not _DONE:
        if isinstance(item, tuple):  # AnalyzeStack: after every Analyze has answered
            while in_flight:
                urn, call = in_flight.popleft()
                report.violations += _violations(call.result(), urn, reported_urn_wins=False)
            request, stack_urn = item
            timeout = max(CALL_TIMEOUT_S, STACK_CALL_S_PER_RESOURCE * len(request.resources))
            response = analyzer.AnalyzeStack(request, timeout=timeout)
            report.violations += _violations(response, stack_urn, reported_urn_wins=True)
            continue
        in_flight.append((item.urn, analyzer.Analyze.future(item, timeout=CALL_TIMEOUT_S)))
        if len(in_flight) >= ANALYZE_IN_FLIGHT:
            urn, call = in_flight.popleft()
            report.violations += _violations(call.result(), urn, reported_urn_wins=False)
    return report
