"""Talking to the policy pack's process: configure it, send each Analyze call as it comes, AnalyzeStack last.

`PolicyPackRun` starts the pack (`packprocess.py`) before the plan exists, and one thread of it holds the
gRPC conversation, so that the program's planning never waits for the pack; `analyzer.py` builds the
requests and reads the verdicts.
"""

from __future__ import annotations

import collections
import queue
import threading
from pathlib import Path

import grpc
from google.protobuf import empty_pb2, json_format
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from mlplatform.conventions import plain_json
from mlplatform.offline.analyzer import (
    LEVELS,
    PolicyInfo,
    PolicyReport,
    analyze_requests,
    analyze_stack_request,
    configure_request,
    reconcile_config,
    stack_urn,
    violations_of,
)
from mlplatform.offline.packprocess import PackProcess, PolicyPackError, pack_project

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
        self.version = str(pack_project(self.pack_dir).get("version") or "")
        self.stack, self.project = stack, project
        self.pack = PackProcess(self.pack_dir, project, stack)
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._talker: threading.Thread | None = None
        self._report: PolicyReport | None = None
        self._error: Exception | None = None

    def start(self, config: dict | None = None) -> None:
        """Connect and configure in the background; Analyze requests submitted meanwhile wait their turn."""
        self._talker = threading.Thread(target=self._talk, args=(config,), name="policy-pack", daemon=True)
        self._talker.start()

    def submit(self, request: analyzer_pb2.AnalyzeRequest) -> None:
        self._requests.put(request)

    def submit_stack(self, request: analyzer_pb2.AnalyzeStackRequest, resources: list[dict]) -> None:
        """The last call: AnalyzeStack, after every Analyze request (`resources` names the root Stack)."""
        self._requests.put((request, stack_urn(resources, self.stack, self.project)))
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
        for request in analyze_requests(resources):
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
        except Exception as error:  # a bug of ours: `report()` raises it where the preview waits for it
            self._error = error
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
    analyzer.Configure(configure_request(config), timeout=CALL_TIMEOUT_S)


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
                report.violations += violations_of(call.result(), urn, reported_urn_wins=False)
            request, stack_urn = item
            timeout = max(CALL_TIMEOUT_S, STACK_CALL_S_PER_RESOURCE * len(request.resources))
            response = analyzer.AnalyzeStack(request, timeout=timeout)
            report.violations += violations_of(response, stack_urn, reported_urn_wins=True)
            continue
        in_flight.append((item.urn, analyzer.Analyze.future(item, timeout=CALL_TIMEOUT_S)))
        if len(in_flight) >= ANALYZE_IN_FLIGHT:
            urn, call = in_flight.popleft()
            report.violations += violations_of(call.result(), urn, reported_urn_wins=False)
    return report
