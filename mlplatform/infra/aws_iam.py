"""IAM roles that AWS services assume (EKS, Fargate, EC2 nodes), ready only once their policies are attached.

After pulumi-eks `servicerole.ts`: a consumer that takes `ServiceRole.arn` depends on every attachment, so
EKS never sees a role whose permissions are still being attached (a common first-deploy failure).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from mlplatform.rules import pod_identity_trust


def assume_role_policy(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


@dataclass(frozen=True)
class ServiceRole:
    role: aws.iam.Role
    # The role's ARN, resolved only after every policy attachment exists.
    arn: pulumi.Output[str]


def service_role(name: str, service: str, policies: tuple[str, ...], parent: pulumi.Resource) -> ServiceRole:
    """An IAM role `service` assumes, with AWS-managed `policies` attached."""
    role = aws.iam.Role(
        name, assume_role_policy=assume_role_policy(service), opts=pulumi.ResourceOptions(parent=parent)
    )
    attachments = [
        aws.iam.RolePolicyAttachment(
            f"{name}-{policy}",
            role=role.name,
            policy_arn=f"arn:aws:iam::aws:policy/{policy}",
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for policy in policies
    ]
    ready = pulumi.Output.all(role.arn, *(attachment.id for attachment in attachments)).apply(lambda values: values[0])
    return ServiceRole(role, ready)


def pod_identity_trust_policy(
    cluster_name: pulumi.Input[str], namespace: str, service_account: str
) -> pulumi.Output[str]:
    """The trust of a role that only `namespace`/`service_account` on `cluster_name` assumes (rules.py)."""
    return pulumi.Output.from_input(cluster_name).apply(
        lambda cluster: json.dumps(pod_identity_trust(cluster, namespace, service_account))
    )


def pod_identity_role(
    name: str,
    account: tuple[pulumi.Input[str], str, str],
    policy_arns: tuple[str, ...] = (),
    inline_policy: pulumi.Input[str] | None = None,
    parent: pulumi.Resource | None = None,
) -> aws.iam.Role:
    """A role for one service account, `account` = (cluster name, namespace, service account), through EKS Pod
    Identity, with managed and/or inline permissions."""
    opts = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(name, assume_role_policy=pod_identity_trust_policy(*account), opts=opts)
    for policy_arn in policy_arns:
        aws.iam.RolePolicyAttachment(
            f"{name}-{policy_arn.rsplit('/', 1)[-1]}", role=role.name, policy_arn=policy_arn, opts=opts
        )
    if inline_policy is not None:
        aws.iam.RolePolicy(name, role=role.name, policy=inline_policy, opts=opts)
    return role
