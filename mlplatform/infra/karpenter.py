"""Karpenter v1.14: the node autoscaler of EKS stacks, installed with its IAM and spot-interruption queue.

After Karpenter's "Getting Started with Karpenter" for v1.14 (karpenter.sh/v1.14/getting-started/
getting-started-with-karpenter/, its cloudformation.yaml and step08-apply-helm-chart.sh):
- the controller role (here through EKS Pod Identity for `kube-system/karpenter`) may launch and terminate
  instances it tags for this cluster, manage the instance profiles of the node role, pass that role,
  describe the cluster, read SSM AMI parameters and prices, and read the interruption queue;
- the node role (worker, CNI, ECR pull-only, SSM) joins the cluster through an EC2_LINUX access entry;
- an SQS queue named after the cluster receives EC2 spot-interruption, rebalance, state-change and AWS
  Health events (EventBridge rules), so Karpenter drains a spot node before it is reclaimed;
- the chart `oci://public.ecr.aws/karpenter/karpenter` at 1.14.1, values `settings.clusterName` and
  `settings.interruptionQueue`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlplatform.infra import helm
from mlplatform.infra.aws_iam import pod_identity_role, service_role

CHART = "oci://public.ecr.aws/karpenter/karpenter"
VERSION = "1.14.1"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "karpenter"
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
)
INTERRUPTION_EVENTS = {
    "health": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
}


@dataclass(frozen=True)
class KarpenterArgs:
    cluster_name: pulumi.Input[str]
    cluster_arn: pulumi.Input[str]
    region: str
    # What the controller needs running first: the system nodes and the Pod Identity agent.
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


def controller_policy(cluster_name: str, cluster_arn: str, node_role_arn: str, queue_arn: str, region: str) -> str:
    owned = {"StringEquals": {f"aws:RequestTag/kubernetes.io/cluster/{cluster_name}": "owned"}}
    ec2 = f"arn:aws:ec2:{region}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "LaunchFromExistingResources",
                    "Effect": "Allow",
                    "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
                    "Resource": [
                        f"{ec2}::image/*",
                        f"{ec2}::snapshot/*",
                        f"{ec2}:*:security-group/*",
                        f"{ec2}:*:subnet/*",
                        f"{ec2}:*:capacity-reservation/*",
                    ],
                },
                {
                    "Sid": "CreateOnlyTaggedForThisCluster",
                    "Effect": "Allow",
                    "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate", "ec2:CreateTags"],
                    "Resource": [
                        f"{ec2}:*:fleet/*",
                        f"{ec2}:*:instance/*",
                        f"{ec2}:*:volume/*",
                        f"{ec2}:*:network-interface/*",
                        f"{ec2}:*:launch-template/*",
                        f"{ec2}:*:spot-instances-request/*",
                    ],
                    "Condition": owned,
                },
                {
                    "Sid": "TerminateOwnNodes",
                    "Effect": "Allow",
                    "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned"}},
                },
                {
                    "Sid": "InstanceProfiles",
                    "Effect": "Allow",
                    "Action": [
                        "iam:CreateInstanceProfile",
                        "iam:TagInstanceProfile",
                        "iam:AddRoleToInstanceProfile",
                        "iam:RemoveRoleFromInstanceProfile",
                        "iam:DeleteInstanceProfile",
                        "iam:GetInstanceProfile",
                        "iam:ListInstanceProfiles",
                    ],
                    "Resource": "*",
                },
                {
                    "Sid": "PassNodeRole",
                    "Effect": "Allow",
                    "Action": "iam:PassRole",
                    "Resource": node_role_arn,
                    "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
                },
                {"Sid": "Cluster", "Effect": "Allow", "Action": "eks:DescribeCluster", "Resource": cluster_arn},
                {
                    "Sid": "Discovery",
                    "Effect": "Allow",
                    "Action": [
                        "ec2:DescribeCapacityReservations",
                        "ec2:DescribeImages",
                        "ec2:DescribeInstances",
                        "ec2:DescribeInstanceTypeOfferings",
                        "ec2:DescribeInstanceTypes",
                        "ec2:DescribeLaunchTemplates",
                        "ec2:DescribePlacementGroups",
                        "ec2:DescribeSecurityGroups",
                        "ec2:DescribeSpotPriceHistory",
                        "ec2:DescribeSubnets",
                        "pricing:GetProducts",
                    ],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
                },
                {
                    "Sid": "AmiParameters",
                    "Effect": "Allow",
                    "Action": "ssm:GetParameter",
                    "Resource": f"arn:aws:ssm:{region}::parameter/aws/service/*",
                },
                {
                    "Sid": "Interruption",
                    "Effect": "Allow",
                    "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
                    "Resource": queue_arn,
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
            f"{name}-interruptions",
            queue_url=queue.url,
            policy=queue.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                                "Action": "sqs:SendMessage",
                                "Resource": arn,
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        for event, pattern in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(f"{name}-{event}", event_pattern=json.dumps(pattern), opts=child)
            aws.cloudwatch.EventTarget(f"{name}-{event}", rule=rule.name, arn=queue.arn, opts=child)
        controller = pod_identity_role(
            f"{name}-controller",
            inline_policy=pulumi.Output.all(args.cluster_name, args.cluster_arn, node_role.arn, queue.arn).apply(
                lambda values: controller_policy(*values, region=args.region)
            ),
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
        self.release = helm.pinned_release(
            f"{name}-controller",
            "karpenter",
            CHART,
            VERSION,
            NAMESPACE,
            values,
            self,
            depends_on=[*args.depends_on, association],
        )
        self.node_role_name = node_role.role.name
        self.register_outputs({"node_role_name": self.node_role_name})
