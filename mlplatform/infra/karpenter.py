"""Karpenter v1.14: the node autoscaler of EKS stacks, installed with its IAM and spot-interruption queue.

After Karpenter's "Getting Started with Karpenter" at v1.14.1 (aws/karpenter-provider-aws@v1.14.1,
`website/content/en/docs/getting-started/getting-started-with-karpenter/`: `cloudformation.yaml` and
`scripts/step08-apply-helm-chart.sh`; published as karpenter.sh/v1.14/getting-started/getting-started-with-karpenter/):
- the controller role (here through EKS Pod Identity for `kube-system/karpenter`) carries upstream's controller
  statements Sid by Sid (`upstream_statements`), less the ones `OMITTED` names with a reason; upstream attaches
  them as six managed policies, here they are one inline policy of the role (same statements; within IAM's
  10,240 characters of inline policy per role, reference_iam-quotas, for a 100-character cluster name);
- the node role (worker, CNI, ECR pull-only, SSM) joins the cluster through an EC2_LINUX access entry;
- an SQS queue named after the cluster receives EC2 spot-interruption, rebalance, state-change, capacity
  reservation interruption and AWS Health events (EventBridge rules), so Karpenter drains a node before it is
  reclaimed;
- the chart `oci://public.ecr.aws/karpenter/karpenter` at 1.14.1, values `settings.clusterName` and
  `settings.interruptionQueue`, after its CRDs from the chart `oci://public.ecr.aws/karpenter/karpenter-crd` at
  the same version. The controller chart carries the CRDs in `crds/`, which Helm installs once and never
  upgrades ("Subsequent chart upgrades will not add or remove CRDs, even if the CRDs have changed": Karpenter's
  `website/content/en/docs/upgrading/upgrade-guide.md` "CRD Upgrades" at v1.14.1, after Helm's "Custom Resource
  Definitions" best practices), so it is installed with `skip_crds` and `karpenter-crd`, whose CRDs are
  templates (`charts/karpenter-crd/templates/`), upgrades them with each version; its `additionalAnnotations`
  (the chart's only value) annotates them `helm.sh/resource-policy: keep`, so no uninstall deletes the
  NodePools. A cluster whose CRDs the controller chart installed refuses the CRD chart until they carry its
  ownership metadata (the upgrade guide's troubleshooting, "Helm Error when installing the `karpenter-crd`
  chart": label `app.kubernetes.io/managed-by=Helm`, annotate `meta.helm.sh/release-name=karpenter-crd` and
  `meta.helm.sh/release-namespace=kube-system`; docs/operations.md). With `operators.imageRegistry` the controller's
  image comes through the mirror (`controller.image.repository`; the chart keeps its tag and digest,
  `mlplatform/images.py` KARPENTER).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlplatform import images
from mlplatform.infra import helm
from mlplatform.infra.aws_iam import pod_identity_role, service_role

CHART = "oci://public.ecr.aws/karpenter/karpenter"
CRD_CHART = "oci://public.ecr.aws/karpenter/karpenter-crd"
VERSION = "1.14.1"
CRD_RELEASE = "karpenter-crd"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "karpenter"
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
)
# Upstream's EventBridge rules (cloudformation.yaml ScheduledChangeRule, SpotInterruptionRule, RebalanceRule,
# InstanceStateChangeRule, CapacityReservationInterruptionRule), each with one target: the queue.
INTERRUPTION_EVENTS = {
    "health": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
    "capacity-interruption": {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Capacity Reservation Instance Interruption Warning"],
    },
}
QUEUE_TARGET_ID = "KarpenterInterruptionQueueTarget"
# Our deviations from upstream's controller statements, by Sid, each with its reason.
OMITTED = {
    "AllowZonalShiftStatusReadOnly": (
        "settings.enableZonalShift is not set (chart default false at 1.14.1): the controller then uses a no-op "
        "zonal-shift provider and never calls arc-zonal-shift:GetManagedResource (pkg/operator/operator.go@v1.14.1)"
    ),
}


@dataclass(frozen=True)
class KarpenterArgs:
    cluster_name: pulumi.Input[str]
    cluster_arn: pulumi.Input[str]
    region: str
    # What the controller needs running first: the system nodes and the Pod Identity agent.
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    # The registry the controller's image is pulled through (`operators.imageRegistry`); None: the chart's own.
    image_registry: str | None = None


@dataclass(frozen=True)
class ControllerScope:
    """What upstream's `!Sub` fills in: ${AWS::Partition}, ${AWS::Region}, ${AWS::AccountId}, ${ClusterName},
    the cluster's ARN, ${KarpenterNodeRole.Arn} and ${KarpenterInterruptionQueue.Arn}."""

    partition: str
    region: str
    account: str
    cluster_name: str
    cluster_arn: str
    node_role_arn: str
    queue_arn: str


def _allow(sid: str, action: str | list[str], resource: str | list[str], condition: dict | None = None) -> dict:
    statement = {"Sid": sid, "Effect": "Allow", "Action": action, "Resource": resource}
    return {**statement, "Condition": condition} if condition else statement


def upstream_statements(scope: ControllerScope) -> list[dict]:
    """The controller's statements of upstream's cloudformation.yaml at v1.14.1, in its order and by its Sids."""
    ec2 = f"arn:{scope.partition}:ec2:{scope.region}"
    profiles = f"arn:{scope.partition}:iam::{scope.account}:instance-profile/*"
    cluster_tag = f"kubernetes.io/cluster/{scope.cluster_name}"
    launch = ["ec2:RunInstances", "ec2:CreateFleet"]
    launched = [
        f"{ec2}:*:{kind}/*"
        for kind in ("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request")
    ]
    # Resources Karpenter launched for this cluster and one of its NodePools (or EC2NodeClasses).
    owned = {f"aws:ResourceTag/{cluster_tag}": "owned"}
    of_nodepool = {"aws:ResourceTag/karpenter.sh/nodepool": "*"}
    tagging = {f"aws:RequestTag/{cluster_tag}": "owned", "aws:RequestTag/eks:eks-cluster-name": scope.cluster_name}
    profile_owned = {**owned, "aws:ResourceTag/topology.kubernetes.io/region": scope.region}
    profile_tagging = {**tagging, "aws:RequestTag/topology.kubernetes.io/region": scope.region}
    of_nodeclass = {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"}
    tags_nodeclass = {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}
    return [
        # KarpenterControllerNodeLifecyclePolicy
        _allow(
            "AllowScopedEC2InstanceAccessActions",
            launch,
            [
                f"{ec2}::image/*",
                f"{ec2}::snapshot/*",
                *(
                    f"{ec2}:*:{kind}/*"
                    for kind in ("security-group", "subnet", "capacity-reservation", "placement-group")
                ),
            ],
        ),
        _allow(
            "AllowScopedEC2LaunchTemplateAccessActions",
            launch,
            f"{ec2}:*:launch-template/*",
            {"StringEquals": owned, "StringLike": of_nodepool},
        ),
        _allow(
            "AllowScopedEC2InstanceActionsWithTags",
            [*launch, "ec2:CreateLaunchTemplate"],
            launched,
            {"StringEquals": tagging, "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}},
        ),
        _allow(
            "AllowScopedResourceCreationTagging",
            "ec2:CreateTags",
            launched,
            {
                "StringEquals": {
                    **tagging,
                    "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"],
                },
                "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
            },
        ),
        # The tagging controller names the instance and records its NodeClaim after launch.
        _allow(
            "AllowScopedResourceTagging",
            "ec2:CreateTags",
            f"{ec2}:*:instance/*",
            {
                "StringEquals": owned,
                "StringLike": of_nodepool,
                "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": scope.cluster_name},
                "ForAllValues:StringEquals": {
                    "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]
                },
            },
        ),
        _allow(
            "AllowScopedDeletion",
            ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
            [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
            {"StringEquals": owned, "StringLike": of_nodepool},
        ),
        # KarpenterControllerIAMIntegrationPolicy
        _allow(
            "AllowPassingInstanceRole",
            "iam:PassRole",
            scope.node_role_arn,
            {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]}},
        ),
        _allow(
            "AllowScopedInstanceProfileCreationActions",
            ["iam:CreateInstanceProfile"],
            profiles,
            {"StringEquals": profile_tagging, "StringLike": tags_nodeclass},
        ),
        _allow(
            "AllowScopedInstanceProfileTagActions",
            ["iam:TagInstanceProfile"],
            profiles,
            {"StringEquals": {**profile_owned, **profile_tagging}, "StringLike": {**of_nodeclass, **tags_nodeclass}},
        ),
        _allow(
            "AllowScopedInstanceProfileActions",
            ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
            profiles,
            {"StringEquals": profile_owned, "StringLike": of_nodeclass},
        ),
        # KarpenterControllerEKSIntegrationPolicy
        _allow("AllowAPIServerEndpointDiscovery", "eks:DescribeCluster", scope.cluster_arn),
        # KarpenterControllerInterruptionPolicy
        _allow(
            "AllowInterruptionQueueActions",
            ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
            scope.queue_arn,
        ),
        # KarpenterControllerZonalShiftPolicy
        _allow(
            "AllowZonalShiftStatusReadOnly",
            ["arc-zonal-shift:GetManagedResource"],
            "*",
            {"StringEquals": {"arc-zonal-shift:ResourceIdentifier": scope.cluster_arn}},
        ),
        # KarpenterControllerResourceDiscoveryPolicy
        _allow(
            "AllowRegionalReadActions",
            [
                "ec2:DescribeCapacityReservations",
                "ec2:DescribeImages",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceStatus",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribePlacementGroups",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeSubnets",
            ],
            "*",
            {"StringEquals": {"aws:RequestedRegion": scope.region}},
        ),
        _allow(
            "AllowSSMReadActions",
            "ssm:GetParameter",
            f"arn:{scope.partition}:ssm:{scope.region}::parameter/aws/service/*",
        ),
        # The controller calls the Pricing API in us-east-1, ap-south-1, eu-central-1 or cn-northwest-1, whatever
        # its own region (pkg/providers/pricing/pricing.go `NewAPI` at v1.14.1): no region condition.
        _allow("AllowPricingReadActions", "pricing:GetProducts", "*"),
        _allow("AllowUnscopedInstanceProfileListAction", "iam:ListInstanceProfiles", "*"),
        _allow("AllowInstanceProfileReadActions", "iam:GetInstanceProfile", profiles),
    ]


def controller_policy(scope: ControllerScope) -> str:
    """The controller's inline policy: upstream's statements less `OMITTED`."""
    statements = [s for s in upstream_statements(scope) if s["Sid"] not in OMITTED]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def queue_policy(queue_arn: str) -> str:
    """Upstream's KarpenterInterruptionQueuePolicy: EventBridge may send; nothing reaches the queue without TLS."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": "EC2InterruptionPolicy",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                },
                {
                    "Sid": "DenyHTTP",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sqs:*",
                    "Resource": queue_arn,
                    "Condition": {"Bool": {"aws:SecureTransport": False}},
                },
            ],
        }
    )


class Karpenter(pulumi.ComponentResource):
    """Outputs `node_role_name` (for EC2NodeClass `role`) and `release` (NodePools depend on it)."""

    node_role_name: pulumi.Output[str]
    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:karpenter:Karpenter", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        node_role = service_role(f"{name}-node-role", "ec2.amazonaws.com", NODE_POLICIES, self)
        aws.eks.AccessEntry(
            f"{name}-node-access",
            cluster_name=args.cluster_name,
            principal_arn=node_role.arn,
            type="EC2_LINUX",
            opts=child,
        )
        queue = aws.sqs.Queue(
            f"{name}-interruptions",
            name=args.cluster_name,
            message_retention_seconds=300,
            sqs_managed_sse_enabled=True,
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-interruptions", queue_url=queue.url, policy=queue.arn.apply(queue_policy), opts=child
        )
        for event, pattern in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(f"{name}-{event}", event_pattern=json.dumps(pattern), opts=child)
            aws.cloudwatch.EventTarget(
                f"{name}-{event}", rule=rule.name, target_id=QUEUE_TARGET_ID, arn=queue.arn, opts=child
            )
        # Upstream's ${AWS::Partition} and ${AWS::AccountId}: those of the credentials that create this role.
        invoke = pulumi.InvokeOutputOptions(parent=self)
        scope = pulumi.Output.all(
            partition=aws.get_partition_output(opts=invoke).partition,
            account=aws.get_caller_identity_output(opts=invoke).account_id,
            cluster_name=args.cluster_name,
            cluster_arn=args.cluster_arn,
            node_role_arn=node_role.arn,
            queue_arn=queue.arn,
        )
        controller = pod_identity_role(
            f"{name}-controller",
            (args.cluster_name, NAMESPACE, SERVICE_ACCOUNT),
            inline_policy=scope.apply(lambda values: controller_policy(ControllerScope(region=args.region, **values))),
            parent=self,
        )
        association = aws.eks.PodIdentityAssociation(
            f"{name}-controller",
            cluster_name=args.cluster_name,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            role_arn=controller.arn,
            opts=child,
        )
        values = {
            "settings": {"clusterName": args.cluster_name, "interruptionQueue": queue.name},
            "serviceAccount": {"name": SERVICE_ACCOUNT},
            "controller": {"resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}},
        }
        crds = helm.pinned_release(
            f"{name}-crd",
            CRD_RELEASE,
            CRD_CHART,
            VERSION,
            NAMESPACE,
            {"additionalAnnotations": dict(helm.HELM_KEEP)},
            self,
            depends_on=args.depends_on,
        )
        self.release = helm.pinned_release(
            f"{name}-controller",
            "karpenter",
            CHART,
            VERSION,
            NAMESPACE,
            images.merged(values, images.mirror_values(images.KARPENTER, args.image_registry)),
            self,
            depends_on=[*args.depends_on, association, crds],
            skip_crds=True,
        )
        self.node_role_name = node_role.role.name
        self.register_outputs({"node_role_name": self.node_role_name})
