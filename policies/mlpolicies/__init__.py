"""The ml-platform CrossGuard policies, importable without starting a policy pack server."""

from pulumi_policy import EnforcementLevel

from mlpolicies.clusters import kubernetes_end_of_support, kubernetes_support_window, private_api_endpoint
from mlpolicies.cost import budget
from mlpolicies.hardening import notebook_sso, pod_hardening
from mlpolicies.identity import no_access_keys, pod_identity_scoped, serving_roles_read_only
from mlpolicies.infrastructure import (
    bucket_security,
    gpu_node_cap,
    kubernetes_version,
    prod_private_endpoints,
    prod_protection,
)
from mlpolicies.props import environment_of_stack
from mlpolicies.serving import prod_serving_availability, promoted_model_versions, serving_traffic_split
from mlpolicies.tenancy import namespaces_fenced
from mlpolicies.workloads import container_resources, images_pinned, no_plaintext_secrets, notebook_access

PACK_NAME = "ml-platform-policies"
PACK_DESCRIPTION = "Guard rails for the ml-platform stacks: clusters, buckets, training, serving and notebooks."
# Stacks where a violation is reported and the change still goes ahead.
ADVISORY_STACKS = ("dev",)

# In the order of issue 6.
POLICIES = [
    serving_traffic_split,
    images_pinned,
    container_resources,
    bucket_security,
    prod_protection,
    prod_serving_availability,
    notebook_access,
    prod_private_endpoints,
    kubernetes_version,
    gpu_node_cap,
    no_plaintext_secrets,
    promoted_model_versions,
    budget,  # issue 17
    kubernetes_end_of_support,
    kubernetes_support_window,
    private_api_endpoint,
    no_access_keys,
    serving_roles_read_only,
    namespaces_fenced,  # issue 12
    pod_hardening,  # issue 12
    notebook_sso,  # issue 12
    pod_identity_scoped,  # issue 21
]


def enforcement_level_for(stack: str) -> EnforcementLevel:
    """The pack's default level for a stack: advisory in dev, mandatory everywhere else (prod, or no stack)."""
    return EnforcementLevel.ADVISORY if environment_of_stack(stack) in ADVISORY_STACKS else EnforcementLevel.MANDATORY
