"""Which input changes replace a resource, per type token the program plans, and what a replacement or a
deletion costs: the data `mlp diff` classifies a change plan with (mlplatform/offline/diff.py).

Paths are Pulumi input names (camelCase; a Terraform block with MaxItems 1 is an object), dotted, list
positions left out. Each row cites the upstream schema it was read from:

- pulumi-aws 7.51.1 and pulumi-alicloud 4.0.0 bridge Terraform providers: a property replaces when its
  Terraform schema says `ForceNew: true` (SDKv2) or `RequiresReplace` (plugin framework). AWS rows:
  hashicorp/terraform-provider-aws v6 `internal/service/...`, each file read at the newest v6 version the
  search index stores (the exact upstream tag of pulumi-aws 7.51.1 is not readable offline: neither
  repository's snapshot fits, and the index holds no v7 `provider/go.mod`); inputs the pulumi_aws 7.51.1
  SDK has but those files lack are named in the row's comment as unverified. Since v6 every regional
  resource also replaces on `region` (`internal/provider/sdkv2/region.go` forceNewIfRegionChanges,
  `internal/provider/framework/region.go` resourceForceNewIfRegionChanges); IAM is global and has none.
  Alicloud rows: aliyun/terraform-provider-alicloud v1.289.0 (the release pulumi-alicloud 4.0.0 carries:
  its SDK has v1.289.0's new resources) `alicloud/resource_alicloud_<name>.go`.
- pulumi-kubernetes 4.34.2 replaces on `.metadata.name`/`.metadata.namespace` of every object plus the
  per-kind fields of `provider/pkg/provider/diff.go` (`forceNew`), and a Helm Release on `.name`/`.namespace`
  (`provider/pkg/provider/helm_release.go`, Diff).
"""

from __future__ import annotations

from dataclasses import dataclass

TF_AWS = "hashicorp/terraform-provider-aws@v6 internal/service/"
TF_ALICLOUD = "aliyun/terraform-provider-alicloud@v1.289.0 alicloud/resource_alicloud_"
PULUMI_K8S = "pulumi/pulumi-kubernetes@v4.34.2 provider/pkg/provider/diff.go"


@dataclass(frozen=True)
class Rule:
    """force_new: input paths whose change replaces the resource; name: the input holding the name the cloud
    knows it by (two copies in one scope cannot share it); autonamed: the Pulumi provider autonames that input, so a name
    the program sets makes the bridge replace delete-first (pulumi-terraform-bridge
    pkg/tfbridge/schema.go nameRequiresDeleteBeforeReplace); stateful: what a replacement or deletion loses."""

    force_new: tuple[str, ...]
    source: str
    name: str = ""
    scope: str = ""  # the input naming what the name is unique in (a namespace, a project, a cluster)
    autonamed: bool = False
    stateful: Stateful | None = None


@dataclass(frozen=True)
class Stateful:
    """What a replacement or deletion of a resource loses: `replaces <noun>: ...; <on_replace>`."""

    noun: str
    on_replace: str
    on_delete: str


BUCKET = Stateful("bucket", "its objects do not move to the new bucket", "its objects are deleted with it")
CLUSTER = Stateful(
    "cluster",
    "every workload, volume and in-cluster object is recreated on an empty cluster",
    "every workload, volume and in-cluster object on it goes with it",
)
NODES = Stateful(
    "node pool", "its nodes are drained and recreated; pods on them restart", "its nodes and their local disks go"
)
ROLE = Stateful(
    "role",
    "workloads that assume it lose their access until the new role and its grants exist",
    "workloads that assume it lose their access",
)
LOGS = Stateful("log store", "the logs it holds stay behind in the old one", "the logs it holds are deleted")
METRICS = Stateful("metrics store", "the metrics it holds stay behind", "the metrics it holds are deleted")

RULES: dict[str, Rule] = {
    # ---- Alibaba Cloud (ForceNew in aliyun/terraform-provider-alicloud v1.289.0)
    "alicloud:arms/prometheus:Prometheus": Rule(
        ("clusterId", "clusterName", "clusterType", "securityGroupId", "vpcId", "vswitchId"),
        TF_ALICLOUD + "arms_prometheus.go",
        stateful=METRICS,
    ),
    # Every input but the labels, annotations, notify settings and status forces a new rule.
    "alicloud:arms/prometheusAlertRule:PrometheusAlertRule": Rule(
        ("clusterId", "duration", "expression", "message", "prometheusAlertRuleName", "type"),
        TF_ALICLOUD + "arms_prometheus_alert_rule.go",
    ),
    "alicloud:arms/prometheusMonitoring:PrometheusMonitoring": Rule(
        ("clusterId", "type"), TF_ALICLOUD + "arms_prometheus_monitoring.go"
    ),
    "alicloud:cs/kubernetesAddon:KubernetesAddon": Rule(
        ("clusterId", "name"), TF_ALICLOUD + "cs_kubernetes_addon.go", name="name", scope="clusterId", autonamed=True
    ),
    "alicloud:cs/kubernetesPermission:KubernetesPermission": Rule(
        ("uid",), TF_ALICLOUD + "cs_kubernetes_permissions.go"
    ),
    "alicloud:cs/managedKubernetes:ManagedKubernetes": Rule(
        (
            "apiAudiences",
            "autoMode.enabled",
            "clusterDomain",
            "ipStack",
            "nodeCidrMask",
            "podCidr",
            "profile",
            "proxyMode",
            "serviceAccountIssuer",
            "serviceCidr",
        ),
        TF_ALICLOUD + "cs_managed_kubernetes.go",
        stateful=CLUSTER,
    ),
    "alicloud:cs/serverlessKubernetes:ServerlessKubernetes": Rule(
        ("endpointPublicAccessEnabled", "securityGroupId", "serviceCidr", "vpcId", "vswitchIds"),
        TF_ALICLOUD + "cs_serverless_kubernetes.go",
        stateful=CLUSTER,
    ),
    "alicloud:cs/nodePool:NodePool": Rule(
        (
            "autoMode.enabled",
            "cisEnabled",
            "clusterId",
            "deploymentSetId",
            "instanceMetadataOptions.httpTokens",
            "loginAsNonRoot",
            "nodeNameMode",
            "ramRoleName",
            "securityGroupId",
            "securityGroupIds",
            "securityHardeningOs",
            "socEnabled",
            "teeConfig.teeEnable",
            "type",
        ),
        TF_ALICLOUD + "cs_kubernetes_node_pool.go",
        stateful=NODES,
    ),
    "alicloud:ims/oidcProvider:OidcProvider": Rule(
        ("issuerUrl", "oidcProviderName"), TF_ALICLOUD + "ims_oidc_provider.go", name="oidcProviderName"
    ),
    "alicloud:log/project:Project": Rule(
        ("name", "projectName"), TF_ALICLOUD + "log_project.go", name="projectName", stateful=LOGS
    ),
    "alicloud:log/store:Store": Rule(
        (
            "encryptConf.encryptType",
            "encryptConf.userCmkInfo",
            "logstoreName",
            "name",
            "project",
            "projectName",
            "shardCount",
            "telemetryType",
        ),
        TF_ALICLOUD + "log_store.go",
        name="logstoreName",
        scope="projectName",
        stateful=LOGS,
    ),
    "alicloud:oss/bucket:Bucket": Rule(
        ("bucket", "redundancyType", "storageClass"), TF_ALICLOUD + "oss_bucket.go", name="bucket", stateful=BUCKET
    ),
    "alicloud:oss/bucketAcl:BucketAcl": Rule(("bucket",), TF_ALICLOUD + "oss_bucket_acl.go"),
    "alicloud:oss/bucketPublicAccessBlock:BucketPublicAccessBlock": Rule(
        ("bucket",), TF_ALICLOUD + "oss_bucket_public_access_block.go"
    ),
    "alicloud:oss/bucketServerSideEncryption:BucketServerSideEncryption": Rule(
        ("bucket",), TF_ALICLOUD + "oss_bucket_server_side_encryption.go"
    ),
    "alicloud:oss/bucketVersioning:BucketVersioning": Rule(("bucket",), TF_ALICLOUD + "oss_bucket_versioning.go"),
    "alicloud:ram/policy:Policy": Rule(("name", "policyName"), TF_ALICLOUD + "ram_policy.go", name="policyName"),
    "alicloud:ram/role:Role": Rule(("name", "roleName"), TF_ALICLOUD + "ram_role.go", name="roleName", stateful=ROLE),
    "alicloud:ram/rolePolicyAttachment:RolePolicyAttachment": Rule(
        ("policyName", "policyType", "roleName"), TF_ALICLOUD + "ram_role_policy_attachment.go"
    ),
    "alicloud:vpc/network:Network": Rule(("ipv6CidrBlock", "isDefault", "userCidrs"), TF_ALICLOUD + "vpc.go"),
    "alicloud:vpc/switch:Switch": Rule(
        ("availabilityZone", "cidrBlock", "isDefault", "vpcId", "zoneId"), TF_ALICLOUD + "vswitch.go"
    ),
    # ---- AWS (ForceNew / RequiresReplace in hashicorp/terraform-provider-aws v6, plus `region`, see above)
    "aws:amp/scraper:Scraper": Rule(("region", "source"), TF_AWS + "amp/scraper.go"),
    # unsetting a set alias also replaces (CustomizeDiff ForceNewIfChange).
    "aws:amp/ruleGroupNamespace:RuleGroupNamespace": Rule(
        ("name", "region", "workspaceId"),
        TF_AWS + "amp/rule_group_namespace.go",
        name="name",
        scope="workspaceId",
    ),
    "aws:amp/workspace:Workspace": Rule(("kmsKeyArn", "region"), TF_AWS + "amp/workspace.go", stateful=METRICS),
    "aws:cloudwatch/eventRule:EventRule": Rule(
        ("eventBusName", "name", "namePrefix", "region"), TF_AWS + "events/rule.go", name="name", autonamed=True
    ),
    "aws:cloudwatch/eventTarget:EventTarget": Rule(
        ("eventBusName", "region", "rule", "targetId"), TF_AWS + "events/target.go"
    ),
    "aws:cloudwatch/logGroup:LogGroup": Rule(
        ("logGroupClass", "name", "namePrefix", "region"),
        TF_AWS + "logs/group.go",
        name="name",
        autonamed=True,
        stateful=LOGS,
    ),
    # customer_owned_ipv4_pool is not ForceNew (and no update touches it); ipam_pool_id is not in the stored
    # ec2_eip.go versions (added by upstream PR #39604), so its row entry is unverified.
    "aws:ec2/eip:Eip": Rule(
        ("address", "domain", "ipamPoolId", "networkBorderGroup", "publicIpv4Pool", "region"),
        TF_AWS + "ec2/ec2_eip.go",
    ),
    "aws:ec2/internetGateway:InternetGateway": Rule(("region",), TF_AWS + "ec2/vpc_internet_gateway.go"),
    # CustomizeDiff also replaces on a changed secondary_private_ip_address_count of a private gateway and on
    # availability_zone_address going empty <-> set on a regional one (regional_nat_gateway_auto_mode).
    "aws:ec2/natGateway:NatGateway": Rule(
        ("allocationId", "availabilityMode", "connectivityType", "privateIp", "region", "subnetId", "vpcId"),
        TF_AWS + "ec2/vpc_nat_gateway.go",
    ),
    "aws:ec2/routeTable:RouteTable": Rule(("region", "vpcId"), TF_AWS + "ec2/vpc_route_table.go"),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": Rule(
        ("gatewayId", "region", "subnetId"), TF_AWS + "ec2/vpc_route_table_association.go"
    ),
    # the SDK's ipv4IpamPoolId/ipv4NetmaskLength/ipv6IpamPoolId/ipv6NetmaskLength are newer than the stored
    # vpc_subnet.go: unverified.
    "aws:ec2/subnet:Subnet": Rule(
        ("availabilityZone", "availabilityZoneId", "cidrBlock", "ipv6Native", "outpostArn", "region", "vpcId"),
        TF_AWS + "ec2/vpc_subnet.go",
    ),
    "aws:ec2/vpc:Vpc": Rule(("cidrBlock", "ipv4IpamPoolId", "ipv4NetmaskLength", "region"), TF_AWS + "ec2/vpc_.go"),
    "aws:eks/accessEntry:AccessEntry": Rule(
        ("clusterName", "principalArn", "region", "type"), TF_AWS + "eks/access_entry.go"
    ),
    "aws:eks/addon:Addon": Rule(("addonName", "clusterName", "namespaceConfig", "region"), TF_AWS + "eks/addon.go"),
    # vpc_config.subnet_ids and security_group_ids are updatable in v6 (UpdateClusterConfig); removing
    # encryption_config also replaces (CustomizeDiff ForceNewIfChange), and so, per the pulumi_aws 7.51.1 docs,
    # does vpcConfig.controlPlaneEgressMode going CUSTOMER_ROUTED -> AWS_MANAGED (newer than the stored
    # cluster.go, as are kube*Config and defaultAddonsToRemoves: unverified).
    "aws:eks/cluster:Cluster": Rule(
        (
            "accessConfig.bootstrapClusterCreatorAdminPermissions",
            "bootstrapSelfManagedAddons",
            "kubernetesNetworkConfig.ipFamily",
            "kubernetesNetworkConfig.serviceIpv4Cidr",
            "name",
            "outpostConfig.controlPlaneInstanceType",
            "outpostConfig.controlPlanePlacement.groupName",
            "region",
            "roleArn",
        ),
        TF_AWS + "eks/cluster.go",
        name="name",
        autonamed=True,
        stateful=CLUSTER,
    ),
    # nodeRepairConfig and warmPoolConfig are newer than the stored node_group.go: unverified.
    "aws:eks/nodeGroup:NodeGroup": Rule(
        (
            "amiType",
            "capacityType",
            "clusterName",
            "diskSize",
            "instanceTypes",
            "launchTemplate.id",
            "launchTemplate.name",
            "nodeGroupName",
            "nodeGroupNamePrefix",
            "nodeRoleArn",
            "region",
            "remoteAccess",
            "subnetIds",
        ),
        TF_AWS + "eks/node_group.go",
        name="nodeGroupName",
        scope="clusterName",
        stateful=NODES,
    ),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": Rule(
        ("clusterName", "namespace", "region", "serviceAccount"), TF_AWS + "eks/pod_identity_association.go"
    ),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": Rule(("url",), TF_AWS + "iam/openid_connect_provider.go"),
    "aws:iam/role:Role": Rule(
        ("name", "namePrefix", "path"), TF_AWS + "iam/role.go", name="name", autonamed=True, stateful=ROLE
    ),
    "aws:iam/rolePolicy:RolePolicy": Rule(
        ("name", "namePrefix", "role"), TF_AWS + "iam/role_policy.go", name="name", autonamed=True
    ),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": Rule(
        ("policyArn", "role"), TF_AWS + "iam/role_policy_attachment.go"
    ),
    # bucketNamespace is newer than the stored bucket.go: unverified.
    "aws:s3/bucket:Bucket": Rule(
        ("bucket", "bucketPrefix", "objectLockConfiguration.objectLockEnabled", "objectLockEnabled", "region"),
        TF_AWS + "s3/bucket.go",
        name="bucket",
        autonamed=True,
        stateful=BUCKET,
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": Rule(
        ("bucket", "expectedBucketOwner", "region"), TF_AWS + "s3/bucket_lifecycle_configuration.go"
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": Rule(
        ("bucket", "region"), TF_AWS + "s3/bucket_ownership_controls.go"
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": Rule(
        ("bucket", "region"), TF_AWS + "s3/bucket_public_access_block.go"
    ),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": Rule(
        ("bucket", "expectedBucketOwner", "region"), TF_AWS + "s3/bucket_server_side_encryption_configuration.go"
    ),
    "aws:s3/bucketVersioning:BucketVersioning": Rule(
        ("bucket", "expectedBucketOwner", "region"), TF_AWS + "s3/bucket_versioning.go"
    ),
    "aws:sqs/queue:Queue": Rule(
        ("fifoQueue", "name", "namePrefix", "region"),
        TF_AWS + "sqs/queue.go",
        name="name",
        autonamed=True,
        stateful=Stateful(
            "queue", "the messages waiting in it stay in the old queue", "the messages waiting in it are lost"
        ),
    ),
    "aws:sqs/queuePolicy:QueuePolicy": Rule(("queueUrl", "region"), TF_AWS + "sqs/queue_policy.go"),
    # ModifyPlan also replaces when the source kind changes (cidrIpv4 / cidrIpv6 / prefixListId /
    # referencedSecurityGroupId: "you cannot change the rule's source type").
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": Rule(
        ("region", "securityGroupId"), TF_AWS + "ec2/vpc_security_group_ingress_rule.go"
    ),
    # ---- random (pulumi-random 4.21.4): every input of a random value forces a new one
    "random:index/randomPassword:RandomPassword": Rule(
        ("*",), "pulumi/pulumi-random (terraform-provider-random: every argument RequiresReplace)"
    ),
    "random:index/randomString:RandomString": Rule(
        ("*",), "pulumi/pulumi-random (terraform-provider-random: every argument RequiresReplace)"
    ),
}

# ---- Kubernetes: `.metadata.name` and `.metadata.namespace` replace every object (provider.go Diff); the
# kinds below add theirs (diff.go `forceNew`). A Secret's data and a ConfigMap's data replace it unless the
# provider sets enableSecretMutable / enableConfigMapMutable (diff.go forceNewProperties).
K8S_IDENTITY = ("metadata.name", "metadata.namespace")
_SELECTOR = ("spec.selector",)
K8S_KINDS: dict[str, tuple[str, ...]] = {
    "apps/v1:Deployment": _SELECTOR,
    "apps/v1:DaemonSet": _SELECTOR,
    "apps/v1:StatefulSet": (
        *_SELECTOR,
        "spec.podManagementPolicy",
        "spec.revisionHistoryLimit",
        "spec.serviceName",
        "spec.volumeClaimTemplates",
    ),
    "batch/v1:Job": (*_SELECTOR, "spec.completions", "spec.parallelism", "spec.template"),
    "core/v1:PersistentVolume": tuple(
        f"spec.{source}"
        for source in (
            "awsElasticBlockStore",
            "azureDisk",
            "azureFile",
            "cephfs",
            "cinder",
            "csi",
            "fc",
            "flexVolume",
            "flocker",
            "gcePersistentDisk",
            "glusterfs",
            "hostPath",
            "iscsi",
            "local",
            "nfs",
            "photonPersistentDisk",
            "portworxVolume",
            "quobyte",
            "rbd",
            "scaleIO",
            "storageos",
            "vsphereVolume",
        )
    ),
    "core/v1:PersistentVolumeClaim": ("spec.accessModes", "spec.selector", "spec.storageClassName", "spec.volumeName"),
    "core/v1:ResourceQuota": ("spec.scopes",),
    "core/v1:Secret": ("type",),
    "core/v1:Service": ("spec.clusterIP",),
    "rbac.authorization.k8s.io/v1:RoleBinding": ("roleRef",),
    "rbac.authorization.k8s.io/v1:ClusterRoleBinding": ("roleRef",),
    # reclaimPolicy and volumeBindingMode are immutable in the API too, but pulumi-kubernetes does not force
    # them: it sends an update the API server refuses.
    "storage.k8s.io/v1:StorageClass": ("parameters", "provisioner"),
}
K8S_MUTABLE_DATA = {
    "core/v1:Secret": ("enableSecretMutable", ("data", "stringData")),
    "core/v1:ConfigMap": ("enableConfigMapMutable", ("binaryData", "data")),
}
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
HELM_FORCE_NEW = ("name", "namespace")  # helm_release.go Diff: forceNewFields; DeleteBeforeReplace false
HELM_SOURCE = "pulumi/pulumi-kubernetes@v4.34.2 provider/pkg/provider/helm_release.go"

K8S_STATEFUL = {
    "core/v1:Namespace": Stateful(
        "namespace", "every object in it is deleted with the old one", "every object in it is deleted with it"
    ),
    "core/v1:PersistentVolumeClaim": Stateful(
        "volume claim",
        "a dynamically provisioned volume (reclaimPolicy Delete) and the data on it go with the old claim",
        "a dynamically provisioned volume (reclaimPolicy Delete) and the data on it go with it",
    ),
    "apiextensions.k8s.io/v1:CustomResourceDefinition": Stateful(
        "CRD",
        "every custom resource of its kind, cluster-wide, is deleted",
        "every custom resource of its kind, cluster-wide, is deleted with it",
    ),
}
RELEASE_STATEFUL = Stateful(
    "Helm release",
    "the old release is uninstalled with everything the chart installed",
    "uninstalling deletes what the chart installed (templated CRDs take every custom resource of their kinds)",
)


def kubernetes_kind(type_: str) -> str:
    """kubernetes:core/v1:Namespace -> core/v1:Namespace."""
    return type_.removeprefix("kubernetes:")


def rule_for(type_: str) -> Rule | None:
    """The replacement rule of a custom resource's type; None for a type the table does not know."""
    if type_ in RULES:
        return RULES[type_]
    if type_ == HELM_RELEASE:
        return Rule(HELM_FORCE_NEW, HELM_SOURCE, name="name", scope="namespace", stateful=RELEASE_STATEFUL)
    if type_.startswith("kubernetes:"):
        kind = kubernetes_kind(type_)
        force_new = (*K8S_IDENTITY, *K8S_KINDS.get(kind, ()))
        return Rule(
            force_new, PULUMI_K8S, name="metadata.name", scope="metadata.namespace", stateful=K8S_STATEFUL.get(kind)
        )
    return None
