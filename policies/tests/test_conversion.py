"""Within one analyzer call every policy reads one conversion of a resource; between calls, nothing is kept."""

from google.protobuf import json_format, struct_pb2
from mlpolicies import conversion
from mlpolicies.props import plain
from pulumi_policy import policy as analyzer


def _struct(values: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def test_the_pack_analyzer_is_patched_once():
    conversion.convert_once_per_call()  # what policies/__main__.py does before it builds the pack
    assert conversion.convert_once_per_call() is False  # already patched: not wrapped twice
    assert isinstance(analyzer.json_format, conversion._JsonFormatOncePerCall)


def test_a_call_converts_each_message_once_and_forgets_it_afterwards(monkeypatch):
    calls = []
    real = json_format.MessageToDict
    monkeypatch.setattr(json_format, "MessageToDict", lambda message: calls.append(message) or real(message))
    message = _struct({"spec": {"replicas": 2}})

    @conversion._scoped
    def analyze(_servicer, request, _context):
        once = conversion._JsonFormatOncePerCall()
        first, second = once.MessageToDict(request), once.MessageToDict(request)
        assert first is second and plain(first) is plain(second)
        return first

    assert analyze(None, message, None) == {"spec": {"replicas": 2.0}}
    assert len(calls) == 1
    analyze(None, message, None)  # a new call converts again: the memo lives for one request
    assert len(calls) == 2


def test_outside_a_call_nothing_is_remembered():
    values = {"a": [1, 2]}
    assert plain(values) == {"a": [1, 2]} and plain(values) is not plain(values)


def test_each_resources_options_are_read_once_per_call_for_every_policy():
    conversion.convert_once_per_call()
    built = []

    class Servicer:
        @conversion._method_once_per_call
        def _get_resource_options(self, request):
            built.append(request)
            return object()

    servicer, request = Servicer(), _struct({"name": "color"})

    @conversion._scoped
    def analyze_stack(_servicer, _request, _context):
        # as pulumi_policy's AnalyzeStack does, once per stack policy
        return [servicer._get_resource_options(request) for _policy in range(7)]

    options = analyze_stack(None, None, None)
    assert len(built) == 1 and all(option is options[0] for option in options)
    analyze_stack(None, None, None)
    assert len(built) == 2  # a new call reads them again
    assert servicer._get_resource_options(request) is not servicer._get_resource_options(request)  # outside a call
