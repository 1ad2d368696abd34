"""Each resource's properties converted once per Analyze/AnalyzeStack call, not once per policy.

pulumi-policy 1.21.0's analyzer (`pulumi_policy/policy.py`, `_PolicyAnalyzerServicer`) converts the request
inside its loop over policies: `Analyze` runs `deserialize_properties(json_format.MessageToDict(...))` on the
resource (and its provider) for every resource policy, and `AnalyzeStack` converts every resource of the stack
for every stack policy, each time also wrapping it in a fresh `unknown_checking_proxy`. With 14 resource and 7
stack policies, converting was most of the pack's work on a large plan. `convert_once_per_call()` makes those
two calls remember each conversion, and each resource's options and provider objects, for the length of one
request, so every policy reads the same objects (`props.plain` likewise). Verdicts are unchanged: the validators only read `props`, never write them.
`Remediate` is left as it is (remediations rewrite properties between policies).

If the pinned pulumi-policy ever lacks these names, nothing is patched and the pack simply converts as before.
"""

from __future__ import annotations

import functools
import threading

from google.protobuf import json_format
from pulumi_policy import policy as analyzer

_call = threading.local()  # the gRPC server runs concurrent calls on several threads


def once_per_call(compute, value, *args):
    """`compute(value, *args)`, remembered for the call in progress (by the identity of `value`, which the
    memo holds so that its id is not reused); outside a call, simply computed."""
    memo = getattr(_call, "memo", None)
    if memo is None:
        return compute(value, *args)
    key = (compute, id(value), *args)
    held = memo.get(key)
    if held is None or held[0] is not value:
        held = memo[key] = (value, compute(value, *args))
    return held[1]


class _JsonFormatOncePerCall:
    """`json_format` as `pulumi_policy.policy` uses it, with `MessageToDict` remembered within a call."""

    def __getattr__(self, name: str):
        return getattr(json_format, name)

    @staticmethod
    def MessageToDict(message, *args, **kwargs):  # the name pulumi_policy calls
        if args or kwargs:
            return json_format.MessageToDict(message, *args, **kwargs)
        return once_per_call(json_format.MessageToDict, message)


def _once_per_call(function):
    @functools.wraps(function)
    def remembered(value, *args):
        return once_per_call(function, value, *args)

    return remembered


def _method_once_per_call(method):
    """A servicer method of one request message (`_get_resource_options`, `_get_provider_resource`) remembered
    within a call: every policy reads the same options and provider objects, which none of them writes."""

    def compute(request, servicer):
        return method(servicer, request)

    @functools.wraps(method)
    def remembered(self, request):
        return once_per_call(compute, request, self)

    return remembered


def _scoped(method):
    """The servicer method with a fresh memo for its request, dropped when it returns."""

    @functools.wraps(method)
    def call(self, request, context):
        _call.memo = {}
        try:
            return method(self, request, context)
        finally:
            _call.memo = None

    return call


def convert_once_per_call() -> bool:
    """Patch the pack's analyzer; True when it was patched (only once per process)."""
    servicer = getattr(analyzer, "_PolicyAnalyzerServicer", None)
    needed = ("Analyze", "AnalyzeStack")
    per_request = ("_get_resource_options", "_get_provider_resource")
    patched = ("json_format", "deserialize_properties", "unknown_checking_proxy")
    if servicer is None or not all(hasattr(analyzer, name) for name in patched):
        return False
    if not all(hasattr(servicer, name) for name in (*needed, *per_request)):
        return False
    if getattr(servicer, "_mlp_converts_once", False):
        return False
    analyzer.json_format = _JsonFormatOncePerCall()
    analyzer.deserialize_properties = _once_per_call(analyzer.deserialize_properties)
    analyzer.unknown_checking_proxy = _once_per_call(analyzer.unknown_checking_proxy)
    for name in per_request:
        setattr(servicer, name, _method_once_per_call(getattr(servicer, name)))
    for name in needed:
        setattr(servicer, name, _scoped(getattr(servicer, name)))
    servicer._mlp_converts_once = True
    return True
