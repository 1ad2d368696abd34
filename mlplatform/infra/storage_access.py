"""Credentials that let workloads read datasets and read/write model versions, and nothing else.

A RAM user (Alibaba Cloud) or IAM user (AWS) whose only policy grants object access to the two
platform buckets. Its access key secret is a secret output: it reaches Kubernetes only as a
Secret's data, never in plain text. (Pod identities — ACK RRSA, EKS IRSA — would avoid a long-lived
key; the storage initializer of Seldon Core v1 and the OSS CSI driver both take keys, so keys it is.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud
import pulumi_aws as aws


@dataclass(frozen=True)
class StorageAccessArgs:
    cloud: str
    bucket_names: list[pulumi.Input[str]]


def _alicloud_policy(buckets: list[str]) -> str:
    resources = [f"acs:oss:*:*:{b}" for b in buckets] + [f"acs:oss:*:*:{b}/*" for b in buckets]
    return json.dumps(
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    # ossfs renames by copy-then-delete; checkpoints rename files.
                    "Action": [
                        "oss:GetObject",
                        "oss:PutObject",
                        "oss:DeleteObject",
                        "oss:ListObjects",
                        "oss:GetBucketInfo",
                    ],
                    "Resource": resources,
                }
            ],
        }
    )


def _aws_policy(buckets: list[str]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [f"arn:aws:s3:::{b}" for b in buckets]},
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                    "Resource": [f"arn:aws:s3:::{b}/*" for b in buckets],
                },
            ],
        }
    )


class StorageAccess(pulumi.ComponentResource):
    """Outputs `access_key_id` and the secret `access_key_secret`."""

    access_key_id: pulumi.Output[str]
    access_key_secret: pulumi.Output[str]

    def __init__(self, name: str, args: StorageAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:storage_access:StorageAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        buckets = pulumi.Output.all(*args.bucket_names)
        if args.cloud == "alicloud":
            user = alicloud.ram.User(name, name=name, comments="ml-platform workloads: bucket access", opts=child)
            policy = alicloud.ram.Policy(
                f"{name}-buckets",
                policy_name=f"{name}-buckets",
                policy_document=buckets.apply(_alicloud_policy),
                opts=child,
            )
            alicloud.ram.UserPolicyAttachment(
                f"{name}-buckets",
                user_name=user.name,
                policy_name=policy.policy_name,
                policy_type="Custom",
                opts=child,
            )
            key = alicloud.ram.AccessKey(name, user_name=user.name, opts=child)
        else:
            user = aws.iam.User(name, name=name, opts=child)
            aws.iam.UserPolicy(f"{name}-buckets", user=user.name, policy=buckets.apply(_aws_policy), opts=child)
            key = aws.iam.AccessKey(name, user=user.name, opts=child)
        self.access_key_id = key.id
        self.access_key_secret = pulumi.Output.secret(key.secret)
        self.register_outputs({"access_key_id": self.access_key_id, "access_key_secret": self.access_key_secret})
