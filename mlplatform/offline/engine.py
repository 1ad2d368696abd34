"""The Pulumi SDK's mock runtime, extended to record what the engine would be asked to do.

`pulumi.runtime.set_mocks` answers every registration without a cloud. `RecordingMonitor` also keeps
what the mock monitor throws away (parent, protect, dependencies, provider, secrets), so the offline
preview can write a `pulumi stack export`-shaped plan and tests can assert on registered resources.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pulumi
from google.protobuf import struct_pb2
from pulumi.runtime import mocks, settings
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime.proto import resource_pb2, source_pb2
from pulumi.runtime.sync_await import _sync_await

from mlplatform.conventions import COMPUTED, SECRET_SIG, SIG_KEY, plain_json

__all__ = [
    "COMPUTED",
    "SECRET_SIG",
    "SIG_KEY",
    "PlanMocks",
    "RecordingMonitor",
    "Registration",
    "plain_json",
    "run_program",
    "start",
]


def _struct_to_json(struct) -> dict:
    """A protobuf Struct as plain JSON, integral numbers as ints: what `plain_json(MessageToDict(struct))` gives,
    without json_format's generic (and, for thousands of resources, slow) message walk."""
    return {key: _value_to_json(value) for key, value in struct.fields.items()}


def _value_to_json(value):
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "struct_value":
        return _struct_to_json(value.struct_value)
    if kind == "number_value":
        return plain_json(value.number_value)
    if kind == "list_value":
        return [_value_to_json(item) for item in value.list_value.values]
    if kind == "bool_value":
        return value.bool_value
    return None


@dataclass
class Registration:
    """One resource as the engine would receive it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict
    outputs: dict = field(default_factory=dict)
    id: str = ""
    protect: bool = False
    retain_on_delete: bool = False
    delete_before_replace: bool = False
    replace_on_changes: list[str] = field(default_factory=list)
    ignore_changes: list[str] = field(default_factory=list)
    external: bool = False
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider: str = ""
    # The URNs the resource had before (its `aliases`), as `pulumi stack export` lists them.
    aliases: list[str] = field(default_factory=list)


def _cloud_outputs(type_: str, name: str, inputs: dict) -> dict:
    """Outputs the cloud computes for the few types the program reads back."""
    if type_ in ("random:index/randomPassword:RandomPassword", "random:index/randomString:RandomString"):
        return {"result": COMPUTED}
    if type_ == "aws:amp/workspace:Workspace":
        return {"arn": COMPUTED, "prometheusEndpoint": COMPUTED}
    if type_ in (
        "alicloud:cs/managedKubernetes:ManagedKubernetes",
        "alicloud:cs/serverlessKubernetes:ServerlessKubernetes",
    ):
        metadata = ("ramOidcProviderArn", "ramOidcProviderName", "rrsaOidcIssuerUrl")
        rrsa = {"rrsaMetadata": {"enabled": True, **dict.fromkeys(metadata, COMPUTED)}}
        if type_.endswith("ServerlessKubernetes"):  # the group ASK creates for its pods unless one is given
            return {**rrsa, "securityGroupId": inputs.get("securityGroupId") or COMPUTED}
        return rrsa
    if type_ == "aws:eks/cluster:Cluster":
        return {
            "endpoint": COMPUTED,
            "certificateAuthority": {"data": COMPUTED},
            "arn": COMPUTED,
            "vpcConfig": {**inputs.get("vpcConfig", {}), "clusterSecurityGroupId": COMPUTED},
        }
    if type_ == "aws:sqs/queue:Queue":
        return {"arn": COMPUTED, "url": COMPUTED}
    if type_ == "aws:cloudwatch/eventRule:EventRule":
        return {"arn": COMPUTED, "name": inputs.get("name") or COMPUTED}
    if type_ == "alicloud:ram/role:Role":  # acs:ram::<account>:role/<name>, the account unknown offline
        return {"arn": COMPUTED}
    if type_ == "aws:iam/role:Role":
        return {"arn": f"arn:aws:iam::000000000000:role/{name}", "name": inputs.get("name") or COMPUTED}
    if type_ == "kubernetes:core/v1:Service" and inputs.get("spec", {}).get("type") == "LoadBalancer":
        # The address the cloud's load balancer gets; pulumi-kubernetes creates the Service only once it has one.
        return {"status": {"loadBalancer": {"ingress": [{"hostname": COMPUTED}]}}}
    return {}


def _new_id(type_: str, name: str) -> str:
    """A cloud assigns the ids of new resources (subnet-0abc..., c-xyz...): offline they are unknown.
    Kubernetes objects and the engine's own resources keep a readable stand-in."""
    return COMPUTED if type_.startswith(("aws:", "alicloud:")) else f"{name}-id"


class PlanMocks(pulumi.runtime.Mocks):
    """Answers registrations with their inputs (the same dict, when the cloud adds nothing), cloud-computed
    outputs and referenced stacks' outputs."""

    def __init__(self, stack_outputs: dict[str, dict] | None = None):
        # "org/project/stack" -> that stack's outputs, for StackReference reads.
        self.stack_outputs = stack_outputs or {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if args.typ == "pulumi:pulumi:StackReference":
            name = args.inputs.get("name") or args.name
            return name, {"name": name, "outputs": self.stack_outputs.get(name, {}), "secretOutputNames": []}
        computed = _cloud_outputs(args.typ, args.name, args.inputs)
        state = {**args.inputs, **computed} if computed else args.inputs
        return args.resource_id or _new_id(args.typ, args.name), state

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "alicloud:cs/getClusterCredential:getClusterCredential":
            return {"clusterId": args.args.get("clusterId"), "kubeConfig": COMPUTED, "id": args.args.get("clusterId")}
        if args.token == "aws:index/getPartition:getPartition":  # the credentials' partition and account
            return dict.fromkeys(("id", "partition", "dnsSuffix", "reverseDnsPrefix"), COMPUTED)
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return dict.fromkeys(("id", "accountId", "arn", "userId"), COMPUTED)
        return {}


# Called with each new registration, its RegisterResourceRequest and the response (the preview streams the
# policy pack's Analyze calls from it, as the engine analyzes each step while the program still runs).
Listener = Callable[[Registration, resource_pb2.RegisterResourceRequest, resource_pb2.RegisterResourceResponse], None]


class RecordingMonitor(mocks.MockMonitor):
    """A MockMonitor that keeps every registration with its options, in order.

    It answers RegisterResource itself rather than through `MockMonitor`, which turns every request into
    Python values and the mock's answer back into a protobuf Struct: here the request is read once (into the
    dict that is recorded and that the mocks see), and an answer that only echoes the inputs is the request's
    own Struct. What the program gets back is the same; for thousands of resources it is much less work.
    """

    def __init__(self, plan_mocks: pulumi.runtime.Mocks, listener: Listener | None = None):
        super().__init__(plan_mocks)
        self.registrations: dict[str, Registration] = {}
        self.listener = listener

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN the engine gives: a child of the root Stack has no parent type in it (pulumi/pulumi
        `sdk/go/common/resource/urn.go` NewURN), which `pulumi.create_urn` (and so an alias) also assumes."""
        if parent.split("::")[2:3] == ["pulumi:pulumi:Stack"]:
            parent = ""
        return super().make_urn(parent, type_, name)

    def _aliases(self, request) -> list[str]:
        """The alias URNs of a registration: each spec resolved as the engine does (the name, type and parent
        it omits are the resource's own)."""
        urns = []
        for alias in getattr(request, "aliases", []):
            if alias.urn:
                urns.append(alias.urn)
                continue
            spec = alias.spec
            parent = "" if spec.noParent else (spec.parentUrn or request.parent)
            urns.append(self.make_urn(parent, spec.type or request.type, spec.name or request.name))
        return urns

    def _record(self, request, response_urn: str, external: bool, id_: str, inputs: dict | None = None) -> None:
        if inputs is None:
            inputs = _struct_to_json(request.properties if external else request.object)
        self.registrations[response_urn] = Registration(
            urn=response_urn,
            type=request.type,
            name=request.name,
            custom=getattr(request, "custom", True) or external,
            parent=request.parent,
            inputs=inputs,
            id=id_,
            protect=getattr(request, "protect", False),
            retain_on_delete=getattr(request, "retainOnDelete", False),
            delete_before_replace=getattr(request, "deleteBeforeReplace", False),
            replace_on_changes=list(getattr(request, "replaceOnChanges", [])),
            ignore_changes=list(getattr(request, "ignoreChanges", [])),
            external=external,
            dependencies=list(getattr(request, "dependencies", [])),
            property_dependencies={
                key: list(deps.urns) for key, deps in getattr(request, "propertyDependencies", {}).items()
            },
            provider=request.provider,
            aliases=self._aliases(request),
        )

    def RegisterResource(self, request):
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            response = resource_pb2.RegisterResourceResponse(urn=urn)
            self._record(request, urn, external=False, id_="", inputs={})
            if self.listener is not None:
                self.listener(self.registrations[urn], request, response)
            return response
        inputs = _struct_to_json(request.object)
        id_, state = self.mocks.new_resource(
            pulumi.runtime.MockResourceArgs(
                typ=request.type,
                name=request.name,
                inputs=inputs,
                provider=request.provider,
                resource_id=request.importId,
                custom=request.custom or False,
            )
        )
        self.resources[urn] = mocks.MockMonitor.ResourceRegistration(urn, id_, state)
        response = resource_pb2.RegisterResourceResponse(urn=urn, id=id_)
        if state is inputs:  # the mocks echoed the inputs: the outputs are the same dict and the same Struct
            response.object.CopyFrom(request.object)
        else:
            response.object.CopyFrom(_to_struct(state))
        self._record(request, urn, external=False, id_=id_, inputs=inputs)
        registration = self.registrations[urn]
        registration.outputs = state
        if self.listener is not None:
            self.listener(registration, request, response)
        return response

    def ReadResource(self, request):
        response = super().ReadResource(request)
        self._record(request, response.urn, external=True, id_=request.id)
        self.registrations[response.urn].outputs = _struct_to_json(response.properties)
        return response

    def RegisterResourceOutputs(self, request):
        if request.urn in self.registrations:
            self.registrations[request.urn].outputs = _struct_to_json(request.outputs)
        return super().RegisterResourceOutputs(request)

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations.values() if r.type == type_]

    def named(self, name: str) -> Registration:
        """The provider resource called `name` (a component and its main child often share a name)."""
        matches = [r for r in self.registrations.values() if r.name == name]
        return next((r for r in matches if r.custom), matches[0])

    def component(self, name: str) -> Registration:
        return next(r for r in self.registrations.values() if r.name == name and not r.custom)


def _to_struct(values: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def _no_stack_trace() -> source_pb2.StackTrace:
    return source_pb2.StackTrace()


def start(
    project: str, stack: str, stack_outputs: dict[str, dict] | None = None, listener: Listener | None = None
) -> RecordingMonitor:
    """Point the Pulumi runtime at a fresh recording mock engine, as `pulumi up` (not preview) would run."""
    # The SDK captures the program's call stack on every registration (`traceback.extract_stack`) so that the
    # engine can show where a resource was declared; a mock monitor drops it, and on a large plan capturing
    # it was a tenth of the work. Offline, registrations carry an empty stack trace.
    if hasattr(sdk_resource, "_get_stack_trace"):
        sdk_resource._get_stack_trace = _no_stack_trace
    monitor = RecordingMonitor(PlanMocks(stack_outputs), listener)
    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(monitor.mocks, project=project, stack=stack, preview=False, monitor=monitor)
    return monitor


def run_program(program) -> None:
    """Run a Pulumi program function inside a root Stack and wait for every registration to finish."""
    from pulumi.runtime.stack import run_in_stack

    settings.set_root_resource(None)
    _sync_await(run_in_stack(program))
