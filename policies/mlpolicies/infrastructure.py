"""Policies on the platform itself: clusters, node pools, buckets, load balancers and operators."""

from __future__ import annotations

from collections.abc import Callable

from pulumi_policy import (
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from mlpolicies.props import (
    UNKNOWN,
    as_dict,
    as_list,
    config_path,
    dig,
    is_prod,
    label,
    parse_minor_version,
    plain,
    setting,
    string_list,
    verdict,
    whole_number,
    within,
)
from mlpolicies.vendor.rules import GPU_INSTANCE_PREFIXES, INTERNAL_LOAD_BALANCER, is_internal_load_balancer

CLUSTERS = (
    "alicloud:cs/managedKubernetes:ManagedKubernetes",
    "alicloud:cs/serverlessKubernetes:ServerlessKubernetes",
    "alicloud:cs/edgeKubernetes:EdgeKubernetes",
    "aws:eks/cluster:Cluster",
)
OSS_BUCKET = "alicloud:oss/bucket:Bucket"
S3_BUCKET = "aws:s3/bucket:Bucket"
BUCKETS = (OSS_BUCKET, S3_BUCKET)
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
SERVICE = "kubernetes:core/v1:Service"

# ------------------------------------------------------------------ 4. bucket security

OSS_ACL = "alicloud:oss/bucketAcl:BucketAcl"
OSS_PUBLIC_ACCESS_BLOCK = "alicloud:oss/bucketPublicAccessBlock:BucketPublicAccessBlock"
OSS_ACCOUNT_PUBLIC_ACCESS_BLOCK = "alicloud:oss/accountPublicAccessBlock:AccountPublicAccessBlock"
OSS_ENCRYPTION = "alicloud:oss/bucketServerSideEncryption:BucketServerSideEncryption"
OSS_VERSIONING = "alicloud:oss/bucketVersioning:BucketVersioning"
S3_ACL = "aws:s3/bucketAcl:BucketAcl"
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
S3_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
S3_BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
OSS_ALGORITHMS = ("AES256", "KMS", "SM4")
S3_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")


def _companions(bucket: PolicyResource, resources: list[PolicyResource]) -> dict[str, list[dict]]:
    """Companion resources of `bucket` by type: their `bucket` input depends on it, or names it."""
    name = dig(plain(bucket.props), "bucket")
    found: dict[str, list[dict]] = {}
    for resource in resources:
        props = plain(resource.props)
        depends = any(dep.urn == bucket.urn for dep in resource.property_dependencies.get("bucket", []))
        if depends or (isinstance(name, str) and props.get("bucket") == name and resource is not bucket):
            found.setdefault(resource.resource_type, []).append(props)
    return found


def _judge(values: list, holds: Callable[[object], bool], when_absent: bool) -> bool | None:
    """Whether every configured value holds; `when_absent` if none is configured; None if one is unknown."""
    values = [v for v in values if v is not None]
    if not values:
        return when_absent
    if UNKNOWN in values:
        return None
    return all(holds(v) for v in values)


def _oss_findings(bucket: dict, companions: dict[str, list[dict]], account_blocked: bool) -> dict[str, bool | None]:
    acls = [bucket.get("acl")] + [c.get("acl") for c in companions.get(OSS_ACL, [])]
    algorithms = [dig(bucket, "serverSideEncryptionRule", "sseAlgorithm")]
    algorithms += [c.get("sseAlgorithm") for c in companions.get(OSS_ENCRYPTION, [])]
    versioning = [dig(bucket, "versioning", "status")] + [c.get("status") for c in companions.get(OSS_VERSIONING, [])]
    blocks = [c.get("blockPublicAccess") for c in companions.get(OSS_PUBLIC_ACCESS_BLOCK, [])]
    return {
        # OSS creates buckets private; only an explicit ACL can open one.
        "private": _judge(acls, lambda acl: acl == "private", when_absent=True),
        "encrypted": _judge(algorithms, lambda algorithm: algorithm in OSS_ALGORITHMS, when_absent=False),
        "blocks public access": account_blocked or _judge(blocks, lambda on: on is True, when_absent=False),
        "versioned": _judge(versioning, lambda status: status == "Enabled", when_absent=False),
    }


def _s3_findings(bucket: dict, companions: dict[str, list[dict]]) -> dict[str, bool | None]:
    acls = [bucket.get("acl")] + [c.get("acl") for c in companions.get(S3_ACL, [])]
    by_default = "applyServerSideEncryptionByDefault"
    algorithms = [dig(bucket, "serverSideEncryptionConfiguration", "rule", by_default, "sseAlgorithm")]
    algorithms += [
        dig(rule, by_default, "sseAlgorithm")
        for c in companions.get(S3_ENCRYPTION, [])
        for rule in as_list(c.get("rules"))
    ]
    inline = dig(bucket, "versioning", "enabled")
    versioning = [{True: "Enabled", False: "Suspended"}.get(inline, inline)]
    versioning += [dig(c, "versioningConfiguration", "status") for c in companions.get(S3_VERSIONING, [])]
    blocks = [c.get(flag) for c in companions.get(S3_PUBLIC_ACCESS_BLOCK, []) for flag in S3_BLOCK_FLAGS]
    return {
        "private": _judge(acls, lambda acl: acl == "private", when_absent=True),
        "encrypted": _judge(algorithms, lambda algorithm: algorithm in S3_ALGORITHMS, when_absent=False),
        "blocks public access": _judge(blocks, lambda on: on is True, when_absent=False),
        "versioned": _judge(versioning, lambda status: status == "Enabled", when_absent=False),
    }


# What a bucket that fails a finding is, as a sentence reads it.
BUCKET_SHORTCOMINGS = {
    "private": "is not private",
    "encrypted": "is not encrypted",
    "blocks public access": "does not block public access",
    "versioned": "is not versioned",
}
BUCKET_FIXES = {
    "private": "set its ACL to private (BucketAcl acl: private)",
    "encrypted": "add server-side encryption (AES256 or KMS)",
    "blocks public access": "add a public access block with every flag on",
    "versioned": "enable versioning (status: Enabled)",
}


def _validate_buckets(args: StackValidationArgs, report: ReportViolation) -> None:
    account_blocked = any(
        r.resource_type == OSS_ACCOUNT_PUBLIC_ACCESS_BLOCK and plain(r.props).get("blockPublicAccess") is True
        for r in args.resources
    )
    for bucket in (r for r in args.resources if r.resource_type in BUCKETS):
        props, companions = plain(bucket.props), _companions(bucket, args.resources)
        if bucket.resource_type == OSS_BUCKET:
            findings = _oss_findings(props, companions, account_blocked)
        else:
            findings = _s3_findings(props, companions)
        if not is_prod(bucket.urn):
            findings.pop("versioned")
        failed = [what for what, holds in findings.items() if holds is False]
        if failed:
            report(
                f"{label(bucket.resource_type, bucket.name)} {_and(BUCKET_SHORTCOMINGS[what] for what in failed)}: "
                + "; ".join(BUCKET_FIXES[what] for what in failed)
                + ".",
                bucket.urn,
            )


def _and(phrases) -> str:
    """'a', 'a and b', 'a, b and c'."""
    phrases = list(phrases)
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


bucket_security = StackValidationPolicy(
    name="bucket-security",
    description="Buckets are private, encrypted and block public access; prod buckets are versioned.",
    validate=_validate_buckets,
)

# ------------------------------------------------------------------ 5. prod protection


def _validate_protection(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in CLUSTERS + BUCKETS:
        return
    if not is_prod(args.urn):
        args.not_applicable("only prod clusters and buckets must be protected")
    props = plain(args.props)
    who = label(args.resource_type, args.name)
    if not args.opts.protect:
        report(f"{who} is not protected; register it with ResourceOptions(protect=True) so it cannot be deleted.")
    if args.resource_type in CLUSTERS and props.get("deletionProtection") not in (True, UNKNOWN):
        report(f"{who} has no deletion protection; set deletionProtection: true.")
    if args.resource_type in BUCKETS and props.get("forceDestroy") is True:
        report(f"{who} sets forceDestroy, which deletes its objects on destroy; set forceDestroy: false.")


prod_protection = ResourceValidationPolicy(
    name="prod-protection",
    description="Prod clusters and buckets are protected, with the cloud's deletion protection where it exists.",
    validate=_validate_protection,
)

# ------------------------------------------------------------------ 8. prod private endpoints

ENDPOINTS_SCHEMA = {
    "allowedPublicEndpoints": string_list(
        [],
        "Services or Helm releases allowed a public load balancer in prod: the Pulumi resource name, the "
        "Kubernetes name or namespace/name.",
    ),
    "ingressCharts": string_list(
        ["emissary-ingress", "ambassador", "gateway", "ingress-nginx"],
        "Helm charts whose `service` values make a load balancer (type defaults to LoadBalancer).",
    ),
}


GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"


def chart_name(chart: object) -> object:
    """The chart's own name, however a Release names it: `emissary-ingress`, `repo/emissary-ingress` or
    `oci://ghcr.io/emissary-ingress/emissary-ingress` (Emissary 4 publishes only OCI charts)."""
    return chart.rstrip("/").rsplit("/", 1)[-1] if isinstance(chart, str) else chart


def is_internal(annotations: dict) -> bool | None:
    """Whether load-balancer annotations keep it on the private network; None when unknown."""
    if annotations is UNKNOWN:
        return None
    if UNKNOWN in [annotations.get(key) for key, _ in INTERNAL_LOAD_BALANCER.values()]:
        return None
    return is_internal_load_balancer(annotations)


def _public_load_balancer(args: ResourceValidationArgs, props: dict, charts: list[str]) -> tuple[str, list] | None:
    """(what, names it may be allow-listed by) when the resource makes an internet-facing load balancer."""
    metadata = as_dict(props.get("metadata"))
    if args.resource_type == SERVICE:
        service_type, annotations = dig(props, "spec", "type"), as_dict(metadata.get("annotations"))
        names = [metadata.get("name"), f"{metadata.get('namespace', 'default')}/{metadata.get('name')}"]
    elif args.resource_type == GATEWAY:
        # Gateway API implementations (Istio, Envoy Gateway) deploy a LoadBalancer Service per Gateway and copy
        # `spec.infrastructure.annotations` onto it (the KServe Gateway).
        service_type, annotations = "LoadBalancer", as_dict(dig(props, "spec", "infrastructure", "annotations"))
        names = [metadata.get("name"), f"{metadata.get('namespace', 'default')}/{metadata.get('name')}"]
    elif args.resource_type == HELM_RELEASE and chart_name(props.get("chart")) in charts:
        service = as_dict(dig(props, "values", "service"))
        service_type, annotations = service.get("type", "LoadBalancer"), as_dict(service.get("annotations"))
        names = [props.get("name"), f"{props.get('namespace', 'default')}/{props.get('name')}"]
    else:
        return None
    if service_type == "LoadBalancer" and is_internal(annotations) is False:
        what = {SERVICE: "a LoadBalancer service", GATEWAY: "a Gateway's load balancer"}
        return what.get(args.resource_type, "an ingress load balancer"), names
    return None


def _validate_endpoints(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (SERVICE, HELM_RELEASE, GATEWAY):
        return
    if not is_prod(args.urn):
        args.not_applicable("only prod endpoints must stay private")
    config = args.get_config()
    props = plain(args.props)
    public = _public_load_balancer(args, props, setting(config, ENDPOINTS_SCHEMA, "ingressCharts"))
    if public is None:
        return
    what, names = public
    if set(setting(config, ENDPOINTS_SCHEMA, "allowedPublicEndpoints")) & {args.name, *names}:
        return
    allow = f"add {args.name!r} to the policy's allowedPublicEndpoints"
    path = config_path(props)
    if path:  # a workload's `expose: true` with `public: true`
        text = f"makes {what} reachable from the internet; drop `public: true` (an exposed load balancer is then internal), or {allow}"
        report(verdict(within(path, "public"), label(args.resource_type, args.name), text))
        return
    report(
        f"{label(args.resource_type, args.name)} makes {what} reachable from the internet; annotate it as internal "
        '(alibaba-cloud-loadbalancer-address-type: intranet / aws-load-balancer-internal: "true"; a workload\'s '
        f"`expose` without `public: true` is) or {allow}."
    )


prod_private_endpoints = ResourceValidationPolicy(
    name="prod-private-endpoints",
    description="Prod model endpoints are not exposed through a public load balancer unless allow-listed.",
    validate=_validate_endpoints,
    config_schema=PolicyConfigSchema(ENDPOINTS_SCHEMA),
)

# ------------------------------------------------------------------ 9. Kubernetes version and Seldon ingress

VERSION_SCHEMA = {
    "minimumKubernetesVersion": {
        "type": "string",
        "pattern": r"^\d+\.\d+$",
        "default": "1.30",
        "description": "Oldest Kubernetes minor version a cluster may run.",
    },
}
SELDON_CHART = "seldon-core-operator"
EMISSARY_CHARTS = ("emissary-ingress", "ambassador")


def _seldon_ingress_problem(values: dict, releases: list[dict]) -> str | None:
    """Why the Seldon operator's ingress settings do not match the installed ingress, or None."""
    ambassador, istio = dig(values, "ambassador", "enabled"), dig(values, "istio", "enabled")
    if UNKNOWN in (ambassador, istio):
        return None
    if (ambassador is True) == (istio is True):
        return "enables both ambassador and istio" if ambassador is True else "enables no ingress (ambassador or istio)"
    if ambassador is True:
        if dig(values, "ambassador", "version") != "v2":
            return (
                "runs ambassador without `ambassador.version: v2`, the only API Emissary serves on Kubernetes >= 1.22"
            )
        if not any(chart_name(r.get("chart")) in EMISSARY_CHARTS for r in releases):
            return "uses ambassador but the stack installs no emissary-ingress release"
    elif not dig(values, "istio", "gateway"):
        return "uses istio without `istio.gateway`"
    return None


def _validate_versions(args: StackValidationArgs, report: ReportViolation) -> None:
    minimum = parse_minor_version(setting(args.get_config(), VERSION_SCHEMA, "minimumKubernetesVersion"))
    releases = [(r, plain(r.props)) for r in args.resources if r.resource_type == HELM_RELEASE]
    for cluster in (r for r in args.resources if r.resource_type in CLUSTERS):
        version = plain(cluster.props).get("version")
        running = parse_minor_version(version)
        if running is not None and minimum is not None and running < minimum:
            report(
                f"{label(cluster.resource_type, cluster.name)} runs Kubernetes {version}, older than the minimum "
                f"{minimum[0]}.{minimum[1]}; upgrade its version.",
                cluster.urn,
            )
    for release, props in releases:
        if chart_name(props.get("chart")) != SELDON_CHART:
            continue
        problem = _seldon_ingress_problem(as_dict(props.get("values")), [p for _, p in releases])
        if problem:
            report(f"{label(release.resource_type, release.name)} (Seldon operator) {problem}.", release.urn)


kubernetes_version = StackValidationPolicy(
    name="kubernetes-version",
    description="Clusters run at least the configured Kubernetes version and Seldon's ingress matches the "
    "installed one.",
    validate=_validate_versions,
    config_schema=PolicyConfigSchema(VERSION_SCHEMA),
)

# ------------------------------------------------------------------ 10. GPU node pool cap

OSS_NODE_POOL = "alicloud:cs/nodePool:NodePool"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
CAP_SCHEMA = {
    "maxGpuNodes": {
        "type": "integer",
        "minimum": 0,
        "default": 8,
        "description": "Most nodes one GPU node pool may scale to.",
    },
    "gpuInstanceTypePrefixes": string_list(
        [prefix for prefixes in GPU_INSTANCE_PREFIXES.values() for prefix in prefixes],
        "Instance type prefixes that carry GPUs.",
    ),
}


def _max_nodes(resource_type: str, props: dict) -> int | None:
    scaling = as_dict(props.get("scalingConfig"))
    counts = [scaling.get("maxSize"), scaling.get("desiredSize")]
    if resource_type == OSS_NODE_POOL:
        counts += [props.get("desiredSize"), props.get("nodeCount")]
    numbers = []
    for count in counts:
        if isinstance(count, str) and count.isdigit():
            count = int(count)
        if whole_number(count) is not None:
            numbers.append(whole_number(count))
    return max(numbers, default=None)


def _is_gpu_pool(props: dict, prefixes: list[str]) -> bool:
    types = [t for t in as_list(props.get("instanceTypes")) if isinstance(t, str)]
    ami = props.get("amiType")
    return any(t.startswith(tuple(prefixes)) for t in types) or (
        isinstance(ami, str) and any(word in ami.upper() for word in ("GPU", "NVIDIA"))
    )


def _validate_gpu_cap(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (OSS_NODE_POOL, EKS_NODE_GROUP):
        return
    config = args.get_config()
    props = plain(args.props)
    if not _is_gpu_pool(props, setting(config, CAP_SCHEMA, "gpuInstanceTypePrefixes")):
        return
    cap, nodes = setting(config, CAP_SCHEMA, "maxGpuNodes"), _max_nodes(args.resource_type, props)
    if nodes is not None and nodes > cap:
        text = (
            f"a GPU pool that can grow to {nodes} nodes, above the cap of {cap}; set it to {cap} or fewer, or raise "
            "the policy's maxGpuNodes"
        )
        rendered = f"{label(args.resource_type, args.name)} scalingConfig.maxSize"
        report(verdict(within(config_path(props), "maxSize"), rendered, text))


gpu_node_cap = ResourceValidationPolicy(
    name="gpu-node-cap",
    description="GPU node pools stay under the configured maximum node count (cost guard).",
    validate=_validate_gpu_cap,
    config_schema=PolicyConfigSchema(CAP_SCHEMA),
)
