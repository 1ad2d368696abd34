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

from mlplatform.config import StackConfig


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


def storage_endpoint(settings: StackConfig) -> str:
    if settings.cloud == "alicloud":
        return f"https://oss-{settings.region}-internal.aliyuncs.com"
    return f"https://s3.{settings.region}.amazonaws.com"


def storage_credentials(settings: StackConfig, key_id, key_secret) -> dict[str, pulumi.Input[str]]:
    """The Secret entries each consumer of the buckets reads, under the names it expects.

    Seldon's rclone storage initializer: RCLONE_CONFIG_<SCHEME>_*; ACK's OSS CSI driver: akId/akSecret;
    training code and the S3 CSI driver: the AWS SDK variables.
    """
    scheme = "OSS" if settings.cloud == "alicloud" else "S3"
    rclone = {
        f"RCLONE_CONFIG_{scheme}_TYPE": "s3",
        f"RCLONE_CONFIG_{scheme}_PROVIDER": "Alibaba" if settings.cloud == "alicloud" else "AWS",
        f"RCLONE_CONFIG_{scheme}_ENV_AUTH": "false",
        f"RCLONE_CONFIG_{scheme}_ACCESS_KEY_ID": key_id,
        f"RCLONE_CONFIG_{scheme}_SECRET_ACCESS_KEY": key_secret,
        f"RCLONE_CONFIG_{scheme}_ENDPOINT": storage_endpoint(settings),
    }
    return {
        **rclone,
        "akId": key_id,
        "akSecret": key_secret,
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": key_secret,
    }
