"""Policies on the clusters themselves: a supported Kubernetes version and a private API endpoint."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from mlpolicies.props import UNKNOWN, as_list, dig, is_prod, label, plain
from mlpolicies.vendor.catalog import WARN_DAYS, days_left, release, today

CLOUD_OF_CLUSTER = {
    "alicloud:cs/managedKubernetes:ManagedKubernetes": "alicloud",
    "alicloud:cs/serverlessKubernetes:ServerlessKubernetes": "alicloud",
    "alicloud:cs/edgeKubernetes:EdgeKubernetes": "alicloud",
    "aws:eks/cluster:Cluster": "aws",
}


def _version(args: ResourceValidationArgs) -> tuple[str, str] | None:
    """(cloud, version) of a cluster resource, or None when it is not a cluster or the version is unknown."""
    cloud = CLOUD_OF_CLUSTER.get(args.resource_type)
    version = plain(args.props).get("version") if cloud else None
    return (cloud, version) if isinstance(version, str) else None


def _validate_end_of_support(args: ResourceValidationArgs, report: ReportViolation) -> None:
    found = _version(args)
    if found is None:
        return
    cloud, version = found
    left = days_left(cloud, version)
    who = label(args.resource_type, args.name)
    if left is None:
        report(f"{who} runs Kubernetes {version}, which {cloud} does not list as supported; pick a supported version.")
    elif left < 0:
        ended = release(cloud, version).end_of_support
        report(f"{who} runs Kubernetes {version}, whose support on {cloud} ended {ended}; upgrade it.")


kubernetes_end_of_support = ResourceValidationPolicy(
    name="kubernetes-end-of-support",
    description="Clusters run a Kubernetes version their cloud still supports (the project's version catalog).",
    validate=_validate_end_of_support,
)


def _validate_support_window(args: ResourceValidationArgs, report: ReportViolation) -> None:
    found = _version(args)
    left = days_left(*found) if found else None
    if left is not None and 0 <= left <= WARN_DAYS:
        cloud, version = found
        report(
            f"{label(args.resource_type, args.name)} runs Kubernetes {version}, whose support on {cloud} ends in "
            f"{left} days ({release(cloud, version).end_of_support}, counted from {today()}); plan the upgrade."
        )


kubernetes_support_window = ResourceValidationPolicy(
    name="kubernetes-support-window",
    description=f"Warns when a cluster's Kubernetes version leaves support within {WARN_DAYS} days.",
    validate=_validate_support_window,
    enforcement_level=EnforcementLevel.ADVISORY,
)


def _validate_api_endpoint(args: ResourceValidationArgs, report: ReportViolation) -> None:
    cloud = CLOUD_OF_CLUSTER.get(args.resource_type)
    if cloud is None:
        return
    if not is_prod(args.urn):
        args.not_applicable("only prod's API endpoint must stay private")
    props, who = plain(args.props), label(args.resource_type, args.name)
    if cloud == "aws":
        if dig(props, "vpcConfig", "endpointPublicAccess") is not True:  # EKS's default is public: say false
            if dig(props, "vpcConfig", "endpointPublicAccess") is None:
                report(f"{who} leaves endpointPublicAccess unset, which EKS opens to the internet; set it.")
            return
        cidrs = dig(props, "vpcConfig", "publicAccessCidrs")
        if cidrs is UNKNOWN:
            return
        if not as_list(cidrs) or "0.0.0.0/0" in as_list(cidrs):
            report(
                f"{who} has a public API endpoint open to 0.0.0.0/0; list the runners' CIDRs in publicAccessCidrs "
                "or make it private."
            )
    elif props.get("slbInternetEnabled") is True or props.get("endpointPublicAccessEnabled") is True:
        report(f"{who} exposes its API server on the internet; keep it private and deploy from inside the VPC.")


private_api_endpoint = ResourceValidationPolicy(
    name="private-api-endpoint",
    description="Prod clusters keep their Kubernetes API private, or open only to named CIDRs (EKS).",
    validate=_validate_api_endpoint,
)
