"""The policy pack's calls streamed from the running program are the calls the finished plan gives."""

from pathlib import Path

from mlplatform.offline import analyzer
from mlplatform.offline.analysis import PlanAnalysis
from mlplatform.offline.preview import run_preview

ROOT = Path(__file__).resolve().parents[2]


class _Recorded:
    """Stands in for a PolicyPackRun: keeps what would be sent."""

    def __init__(self):
        self.requests: list = []
        self.stack_request = None

    def submit(self, request) -> None:
        self.requests.append(request)

    def submit_stack(self, request, resources) -> None:
        self.stack_request = request


def _by_urn(messages) -> dict[str, bytes]:
    return {message.urn: message.SerializeToString(deterministic=True) for message in messages}


def test_streamed_requests_are_the_finished_plans():
    recorded = _Recorded()
    result = run_preview("prod", ROOT, PlanAnalysis(recorded))

    streamed, planned = _by_urn(recorded.requests), _by_urn(analyzer.analyze_requests(result.resources))
    assert len(recorded.requests) == len(streamed), "one Analyze call per resource"
    assert streamed.keys() == planned.keys()
    assert [urn for urn in planned if streamed[urn] != planned[urn]] == []
    # Secrets reach the pack concealed, on both paths (prod's SSO client secret, its notebook tokens).
    secret_text = b"[secret]"
    assert any(secret_text in request for request in streamed.values())

    whole = analyzer.analyze_stack_request(result.resources)
    assert recorded.stack_request.SerializeToString(deterministic=True) == whole.SerializeToString(deterministic=True)
