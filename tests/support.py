"""Test support: bucket storage as the stack hands it to workloads, minimal raw stack configs and the error one
raises, and the strings in rendered objects."""

from collections.abc import Callable, Iterator

import pytest

from mlplatform.config import ConfigError, parse
from mlplatform.workloads.identity import BucketIdentity
from mlplatform.workloads.volumes import BucketStorage

RRSA_PROVIDER = "acs:ram::1:oidc-provider/ack-rrsa-c1"
RRSA_ISSUER = "https://oidc-ack.cn-hangzhou.aliyuncs.com/c1"


def oss_storage(
    datasets: str = "acme-datasets", models: str = "acme-models", stack: str = "dev", allow_delete: bool = False
) -> BucketStorage:
    identity = BucketIdentity(
        cloud="alicloud",
        oidc_provider_arn=RRSA_PROVIDER,
        oidc_issuer_url=RRSA_ISSUER,
        allow_delete=allow_delete,
        stack=stack,
    )
    return BucketStorage(datasets, models, "oss", "https://oss-cn-hangzhou-internal.aliyuncs.com", identity)


def s3_storage(datasets: str = "acme-datasets", models: str = "acme-models", stack: str = "dev") -> BucketStorage:
    identity = BucketIdentity(cloud="aws", cluster_name=f"{stack}-cluster", stack=stack)
    return BucketStorage(datasets, models, "s3", "https://s3.us-west-2.amazonaws.com", identity)


def ack_stack(**sections) -> dict:
    """Raw config of a minimal managed ACK stack, with `sections` (servings, models, nodePools...) added."""
    return {
        "cloud": "alicloud",
        "region": "cn-hangzhou",
        "cluster": {
            "kind": "managed",
            "kubernetesVersion": "1.36.1-aliyun.1",
            "network": {"zones": [{"zone": "cn-hangzhou-i", "cidr": "10.0.1.0/24"}]},
        },
        **sections,
    }


def eks_stack(**sections) -> dict:
    """Raw config of a minimal managed EKS stack, with `sections` added; no region (the stack's aws:region sets it)."""
    return {
        "cloud": "aws",
        "cluster": {
            "kind": "managed",
            "kubernetesVersion": "1.35",
            "network": {
                "zones": [{"zone": "us-west-2a", "cidr": "10.0.0.0/20", "publicCidr": "10.0.128.0/24"}],
                "deployRunners": {"cidrs": ["10.0.240.0/24"]},
            },
        },
        **sections,
    }


def config_error(raw: dict) -> ConfigError:
    """The ConfigError parsing the raw stack config `raw` raises (the test fails if it parses)."""
    with pytest.raises(ConfigError) as error:
        parse(raw)
    return error.value


def strings(value, skip: Callable[[dict], bool] = lambda node: False) -> Iterator[str]:
    """Every string in nested dicts and lists (registrations, JSON output), but none inside a dict `skip` picks."""
    if isinstance(value, dict):
        if skip(value):
            return
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            yield from strings(item, skip)
    elif isinstance(value, str):
        yield value


def ram_policies(monitor) -> dict[str, dict]:
    """Policy name -> its parsed document, for every RAM policy a plan registered."""
    import json

    return {
        r.inputs["policyName"]: json.loads(r.inputs["policyDocument"])
        for r in monitor.of_type("alicloud:ram/policy:Policy")
    }
