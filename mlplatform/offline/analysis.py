"""The policy pack's Analyze calls made while the program runs, as the engine makes them.

The Pulumi engine analyzes each resource when the program registers it, and the whole stack once the
program has finished. `PlanAnalysis` does the same offline: it watches the plan (`preview.PlanWatcher`) and
hands a `PolicyPackRun` one Analyze request per registration, the moment it is made, so that the pack's
process judges the plan on the second core while the program is still planning; AnalyzeStack goes out
once the plan's records are complete. The requests are those `analyzer.analyze_requests(records)` would
build from the finished plan (a test holds the two to each other); they are built from the registration's
own protobuf Struct, so a resource is not converted again on the program's side.
"""

from __future__ import annotations

import threading

from pulumi.runtime.proto import analyzer_pb2

from mlplatform.conventions import SECRET_SIG
from mlplatform.offline import analyzer
from mlplatform.offline.engine import Registration
from mlplatform.offline.packrun import PolicyPackRun
from mlplatform.offline.preview import default_provider, export_secrets, uses_default_provider

_SECRET = SECRET_SIG.encode()


class PlanAnalysis:
    """A `preview.PlanWatcher` feeding `run` (a started PolicyPackRun)."""

    def __init__(self, run: PolicyPackRun):
        self.run = run
        self._lock = threading.Lock()  # the mock engine registers from several threads
        self._providers: dict[str, analyzer_pb2.AnalyzerProviderResource] = {}  # by URN
        # The registration's Struct is what the engine hands an analyzer, unless it holds a secret (then the value
        # is concealed, as the plan writes it); outputs that echo it, serialized, by URN, for AnalyzeStack.
        self._outputs: dict[str, bytes] = {}
        self._stack_urn = ""

    def registered(self, registration: Registration, request, response) -> None:
        record = {"urn": registration.urn, "type": registration.type, "protect": registration.protect}
        if registration.type == "pulumi:pulumi:Stack":
            if self._stack_urn:  # the SDK registers the root Stack again when the program's run ends
                return
            self._stack_urn = registration.urn
        else:
            record["parent"] = registration.parent or self._stack_urn
        wire = request.object.SerializeToString()
        properties = (
            request.object if _SECRET not in wire else analyzer.wire_struct(export_secrets(registration.inputs))
        )
        if properties is request.object and registration.custom and registration.outputs is registration.inputs:
            # Kept as bytes: a Struct taken from the request would keep the whole request alive until the end.
            self._outputs[registration.urn] = wire  # (components register their outputs later)
        with self._lock:
            if registration.type.startswith("pulumi:providers:"):
                self._providers[registration.urn] = analyzer.provider_resource(registration.urn, properties)
            provider = self._provider(registration)
        self.run.submit(analyzer.analyze_request(record, properties, provider))

    def _provider(self, registration: Registration) -> analyzer_pb2.AnalyzerProviderResource | None:
        if not uses_default_provider(registration):
            return self._providers.get(registration.provider.rsplit("::", 1)[0]) if registration.provider else None
        stack, project = _stack_and_project(registration.urn)
        default = default_provider(stack, project, registration.type.split(":")[0])
        if default["urn"] not in self._providers:  # the engine registers, and so analyzes, it first
            properties = analyzer.wire_struct(default["inputs"])
            self._providers[default["urn"]] = analyzer.provider_resource(default["urn"], properties)
            self.run.submit(analyzer.analyze_request(default, properties, None))
        return self._providers[default["urn"]]

    def planned(self, records: list[dict]) -> None:
        outputs, self._outputs = self._outputs, {}
        self.run.submit_stack(analyzer.analyze_stack_request(records, outputs), records)


def _stack_and_project(urn: str) -> tuple[str, str]:
    stack, project = urn.split("::")[:2]
    return stack.removeprefix("urn:pulumi:"), project
