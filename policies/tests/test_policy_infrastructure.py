"""bucket-security, prod-protection, prod-private-endpoints, kubernetes-version and gpu-node-cap."""

from mlpolicies.infrastructure import (
    bucket_security,
    gpu_node_cap,
    kubernetes_version,
    prod_private_endpoints,
    prod_protection,
)
from policy_harness import UNKNOWN, check, check_stack, resource_args, stack_resource

OSS_BUCKET = "alicloud:oss/bucket:Bucket"
S3_BUCKET = "aws:s3/bucket:Bucket"
ACK = "alicloud:cs/managedKubernetes:ManagedKubernetes"
EKS = "aws:eks/cluster:Cluster"
RELEASE = "kubernetes:helm.sh/v3:Release"
SERVICE = "kubernetes:core/v1:Service"
INTRANET = {"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type": "intranet"}


# ------------------------------------------------------------------ bucket-security


def oss_bucket(stack="prod", encryption="AES256", versioning="Enabled", block=True):
    """An OSS bucket and its companions, each tied to it through its `bucket` input's dependency."""
    bucket = stack_resource(OSS_BUCKET, {"bucket": "mlp-prod-models"}, stack=stack, name="models")
    on_bucket = {"bucket": [bucket]}
    companions = {
        "alicloud:oss/bucketAcl:BucketAcl": {"acl": "private"},
        "alicloud:oss/bucketPublicAccessBlock:BucketPublicAccessBlock": {"blockPublicAccess": block},
        "alicloud:oss/bucketServerSideEncryption:BucketServerSideEncryption": {"sseAlgorithm": encryption},
        "alicloud:oss/bucketVersioning:BucketVersioning": {"status": versioning},
    }
    return [bucket] + [
        stack_resource(
            type_, {"bucket": "models-id", **props}, stack=stack, name=type_.rsplit(":", 1)[-1], depends_on=on_bucket
        )
        for type_, props in companions.items()
    ]


def test_oss_bucket_with_companions_passes():
    assert check_stack(bucket_security, oss_bucket()) == []


def test_oss_bucket_without_encryption_or_public_access_block_is_reported():
    [message] = check_stack(bucket_security, oss_bucket(encryption="", block=False))
    assert message.startswith(
        "Bucket models is not encrypted and does not block public access: add server-side encryption"
    )


def test_unversioned_buckets_are_reported_in_prod_only():
    [message] = check_stack(bucket_security, oss_bucket(versioning="Suspended"))
    assert "is not versioned: enable versioning" in message
    assert check_stack(bucket_security, oss_bucket(stack="dev", versioning="Suspended")) == []


def test_s3_bucket_with_inline_settings_passes_and_a_public_acl_is_reported():
    inline = {
        "bucket": "mlp-models",
        "serverSideEncryptionConfiguration": {
            "rule": {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}
        },
        "versioning": {"enabled": True},
    }
    block = {
        flag: True for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    }
    bucket = stack_resource(S3_BUCKET, inline, name="models")
    access = stack_resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", {"bucket": "mlp-models", **block})
    assert check_stack(bucket_security, [bucket, access]) == []
    public = stack_resource(S3_BUCKET, {**inline, "acl": "public-read"}, name="models")
    [message] = check_stack(bucket_security, [public, access])
    assert "is not private: set its ACL to private" in message


def test_companion_values_unknown_during_preview_are_not_judged():
    assert check_stack(bucket_security, oss_bucket(encryption=UNKNOWN)) == []


# ------------------------------------------------------------------ prod-protection


def test_protected_prod_cluster_with_deletion_protection_passes():
    cluster = {"version": "1.31.1-aliyun.1", "deletionProtection": True}
    assert check(prod_protection, resource_args(ACK, cluster, protect=True)) == []


def test_unprotected_prod_cluster_and_force_destroyed_bucket_are_reported():
    messages = check(prod_protection, resource_args(EKS, {"version": "1.31"}, name="eks"))
    assert messages == [
        "Cluster eks is not protected; register it with ResourceOptions(protect=True) so it cannot be deleted.",
        "Cluster eks has no deletion protection; set deletionProtection: true.",
    ]
    [message] = check(prod_protection, resource_args(OSS_BUCKET, {"forceDestroy": True}, protect=True))
    assert "sets forceDestroy" in message


def test_protection_does_not_apply_in_dev():
    assert check(prod_protection, resource_args(ACK, {}, stack="dev")) is None


# ------------------------------------------------------------------ prod-private-endpoints


def emissary(annotations: dict) -> dict:
    values = {"service": {"type": "LoadBalancer", "annotations": annotations}}
    return {"chart": "emissary-ingress", "name": "emissary-ingress", "namespace": "emissary", "values": values}


def test_internal_load_balancers_pass():
    service = {"metadata": {"name": "api", "annotations": INTRANET}, "spec": {"type": "LoadBalancer"}}
    assert check(prod_private_endpoints, resource_args(SERVICE, service)) == []
    internal = {"service.beta.kubernetes.io/aws-load-balancer-internal": "true"}
    assert check(prod_private_endpoints, resource_args(RELEASE, emissary(internal))) == []


def test_the_scheme_annotation_alone_leaves_an_eks_load_balancer_public():
    # Only the AWS Load Balancer Controller reads aws-load-balancer-scheme; the platform does not install it.
    scheme_only = {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}
    [message] = check(prod_private_endpoints, resource_args(RELEASE, emissary(scheme_only), name="emissary"))
    assert "reachable from the internet" in message and 'aws-load-balancer-internal: "true"' in message


def test_public_ingress_is_reported_unless_allow_listed():
    [message] = check(prod_private_endpoints, resource_args(RELEASE, emissary({}), name="emissary"))
    assert message.startswith("Release emissary makes an ingress load balancer reachable from the internet")
    allowed = {"allowedPublicEndpoints": ["emissary/emissary-ingress"]}
    assert check(prod_private_endpoints, resource_args(RELEASE, emissary({}), config=allowed)) == []


def proxy_service(annotations: dict) -> dict:
    """A notebook's SSO proxy Service as `expose: true` renders it on EKS: an HTTPS listener with the ACM
    certificate, plus the internal annotation unless the notebook sets `public: true`."""
    tls = {
        "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": "arn:aws:acm:us-east-1:1:certificate/c",
        "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "443",
        "service.beta.kubernetes.io/aws-load-balancer-backend-protocol": "http",
    }
    metadata = {"name": "alice-sso", "namespace": "notebooks", "annotations": {**tls, **annotations}}
    return {"metadata": metadata, "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}}


def test_an_exposed_workload_passes_in_prod_and_a_public_one_is_refused():
    internal = {"service.beta.kubernetes.io/aws-load-balancer-internal": "true"}
    assert check(prod_private_endpoints, resource_args(SERVICE, proxy_service(internal))) == []
    [message] = check(prod_private_endpoints, resource_args(SERVICE, proxy_service({}), name="alice-sso-service"))
    assert message.startswith("Service alice-sso-service makes a LoadBalancer service reachable from the internet")
    assert "without `public: true`" in message


def test_a_public_web_service_is_named_by_its_config_setting():
    metadata = {"name": "client", "annotations": {"mlplatform.io/config-path": "webServices.client"}}
    service = {"metadata": metadata, "spec": {"type": "LoadBalancer"}}
    [message] = check(prod_private_endpoints, resource_args(SERVICE, service, name="client-service"))
    assert message == (
        "webServices.client.public: makes a LoadBalancer service reachable from the internet; drop `public: true` "
        "(an exposed load balancer is then internal), or add 'client-service' to the policy's "
        "allowedPublicEndpoints (Service client-service)."
    )


def test_public_services_are_allowed_in_dev():
    service = {"metadata": {"name": "api"}, "spec": {"type": "LoadBalancer"}}
    assert check(prod_private_endpoints, resource_args(SERVICE, service, stack="dev")) is None


# ------------------------------------------------------------------ kubernetes-version


def seldon_operator(**values) -> object:
    return stack_resource(RELEASE, {"chart": "seldon-core-operator", "values": values}, name="seldon")


AMBASSADOR = {"ambassador": {"enabled": True, "version": "v2"}, "istio": {"enabled": False}}


def test_current_cluster_and_seldon_on_emissary_pass():
    cluster = stack_resource(ACK, {"version": "1.31.1-aliyun.1"})
    ingress = stack_resource(RELEASE, {"chart": "emissary-ingress"}, name="emissary")
    assert check_stack(kubernetes_version, [cluster, seldon_operator(**AMBASSADOR), ingress]) == []


def test_old_cluster_is_reported_against_the_configured_minimum():
    [message] = check_stack(kubernetes_version, [stack_resource(EKS, {"version": "1.29"}, name="eks")])
    assert message == "Cluster eks runs Kubernetes 1.29, older than the minimum 1.30; upgrade its version."
    config = {"minimumKubernetesVersion": "1.28"}
    assert check_stack(kubernetes_version, [stack_resource(EKS, {"version": "1.29"})], config) == []


def test_seldon_ingress_that_does_not_match_the_installed_one_is_reported():
    [message] = check_stack(kubernetes_version, [seldon_operator(**AMBASSADOR)])
    assert (
        message
        == "Release seldon (Seldon operator) uses ambassador but the stack installs no emissary-ingress release."
    )
    both = {"ambassador": {"enabled": True, "version": "v2"}, "istio": {"enabled": True}}
    [message] = check_stack(kubernetes_version, [seldon_operator(**both)])
    assert "enables both ambassador and istio" in message
    [message] = check_stack(
        kubernetes_version, [seldon_operator(ambassador={"enabled": False}, istio={"enabled": True})]
    )
    assert "uses istio without `istio.gateway`" in message


# ------------------------------------------------------------------ gpu-node-cap


def ack_pool(max_size: int, instance_type="ecs.gn7i-c8g1.2xlarge", **extra) -> dict:
    scaling = {"enable": True, "minSize": 1, "maxSize": max_size}
    return {"instanceTypes": [instance_type], "scalingConfig": scaling, **extra}


def test_gpu_pool_under_the_cap_and_cpu_pools_pass():
    assert check(gpu_node_cap, resource_args("alicloud:cs/nodePool:NodePool", ack_pool(6))) == []
    assert check(gpu_node_cap, resource_args("alicloud:cs/nodePool:NodePool", ack_pool(50, "ecs.g7.xlarge"))) == []


def test_gpu_pool_over_the_cap_is_reported():
    [message] = check(gpu_node_cap, resource_args("alicloud:cs/nodePool:NodePool", ack_pool(12), name="gpu"))
    assert message.startswith("NodePool gpu scalingConfig.maxSize: a GPU pool that can grow to 12 nodes, above the cap")
    eks_group = {"amiType": "AL2023_x86_64_NVIDIA", "instanceTypes": ["g5.xlarge"], "scalingConfig": {"maxSize": 4}}
    [message] = check(gpu_node_cap, resource_args("aws:eks/nodeGroup:NodeGroup", eks_group, config={"maxGpuNodes": 2}))
    assert "can grow to 4 nodes, above the cap of 2" in message


def test_a_pool_over_the_cap_is_named_by_its_config_setting():
    # The ACK pool carries the config path as a tag (mlplatform/infra/nodepool.py); the CLI hands the policy's
    # config over as JSON doubles, which read as integers.
    tagged = ack_pool(12, tags={"stack": "prod", "mlplatform.io/config-path": "nodePools.gpu"})
    [message] = check(
        gpu_node_cap,
        resource_args("alicloud:cs/nodePool:NodePool", tagged, name="prod-gpu", config={"maxGpuNodes": 8.0}),
    )
    assert message == (
        "nodePools.gpu.maxSize: a GPU pool that can grow to 12 nodes, above the cap of 8; set it to 8 or fewer, or "
        "raise the policy's maxGpuNodes (NodePool prod-gpu scalingConfig.maxSize)."
    )


# ------------------------------------------------------------------ charts named by OCI reference (Emissary 4)

EMISSARY_OCI = "oci://ghcr.io/emissary-ingress/emissary-ingress"


def test_an_oci_emissary_chart_is_judged_like_a_repository_chart():
    public = {**emissary({}), "chart": EMISSARY_OCI}
    [message] = check(prod_private_endpoints, resource_args(RELEASE, public, name="emissary"))
    assert message.startswith("Release emissary makes an ingress load balancer reachable from the internet")
    internal = {**emissary({"service.beta.kubernetes.io/aws-load-balancer-internal": "true"}), "chart": EMISSARY_OCI}
    assert check(prod_private_endpoints, resource_args(RELEASE, internal)) == []


def test_seldon_on_an_oci_emissary_chart_passes():
    ingress = stack_resource(RELEASE, {"chart": EMISSARY_OCI}, name="emissary")
    assert check_stack(kubernetes_version, [seldon_operator(**AMBASSADOR), ingress]) == []
    crds_only = stack_resource(RELEASE, {"chart": "oci://ghcr.io/emissary-ingress/emissary-crds-chart"})
    [message] = check_stack(kubernetes_version, [seldon_operator(**AMBASSADOR), crds_only])
    assert "installs no emissary-ingress release" in message
