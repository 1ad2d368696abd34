"""A private, encrypted, versioned object-storage bucket for datasets or model versions (OSS or S3).

Both clouds are built from the same shape of companion resources (ACL / public-access block,
encryption, versioning, lifecycle) so a policy or a reviewer reads them alike. Noncurrent versions
expire after `noncurrent_version_days`, so versioning protects against overwrites without growing forever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud
import pulumi_aws as aws


@dataclass(frozen=True)
class BucketArgs:
    cloud: str  # "alicloud" or "aws"
    bucket_name: str
    kms_key_id: str | None = None
    noncurrent_version_days: int = 30
    # prod: the bucket survives `pulumi destroy` and refuses deletion until unprotected.
    protect: bool = False
    tags: dict[str, str] | None = None


class Bucket(pulumi.ComponentResource):
    """`bucket_name` (an Output) and `uri` (`oss://name` / `s3://name`) are what workloads refer to."""

    bucket_name: pulumi.Output[str]
    uri: pulumi.Output[str]

    def __init__(self, name: str, args: BucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:bucket:Bucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        kept = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect)
        if args.cloud == "alicloud":
            self.bucket_name = self._oss(name, args, child, kept)
            scheme = "oss"
        else:
            self.bucket_name = self._s3(name, args, child, kept)
            scheme = "s3"
        self.uri = self.bucket_name.apply(lambda bucket: f"{scheme}://{bucket}")
        self.register_outputs({"bucket_name": self.bucket_name, "uri": self.uri})

    @staticmethod
    def _oss(name, args: BucketArgs, child, kept) -> pulumi.Output[str]:
        bucket = alicloud.oss.Bucket(
            name,
            bucket=args.bucket_name,
            force_destroy=False,
            tags=args.tags,
            lifecycle_rules=[
                alicloud.oss.BucketLifecycleRuleArgs(
                    id="expire-noncurrent-versions",
                    enabled=True,
                    prefix="",
                    noncurrent_version_expirations=[
                        alicloud.oss.BucketLifecycleRuleNoncurrentVersionExpirationArgs(
                            days=args.noncurrent_version_days
                        )
                    ],
                )
            ],
            opts=kept,
        )
        on_bucket = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[bucket]))
        companion = companions(name, bucket.bucket, on_bucket)
        companion(alicloud.oss.BucketAcl, "acl", acl="private")
        companion(alicloud.oss.BucketPublicAccessBlock, "public-access-block", block_public_access=True)
        companion(
            alicloud.oss.BucketServerSideEncryption,
            "encryption",
            sse_algorithm="KMS" if args.kms_key_id else "AES256",
            kms_master_key_id=args.kms_key_id,
        )
        companion(alicloud.oss.BucketVersioning, "versioning", status="Enabled")
        return bucket.bucket

    @staticmethod
    def _s3(name, args: BucketArgs, child, kept) -> pulumi.Output[str]:
        bucket = aws.s3.Bucket(name, bucket=args.bucket_name, force_destroy=False, tags=args.tags, opts=kept)
        companion = companions(name, bucket.id, child)
        ownership = aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced")
        companion(aws.s3.BucketOwnershipControls, "ownership", rule=ownership)
        companion(
            aws.s3.BucketPublicAccessBlock,
            "public-access-block",
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        companion(
            aws.s3.BucketServerSideEncryptionConfiguration,
            "encryption",
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms" if args.kms_key_id else "AES256",
                        kms_master_key_id=args.kms_key_id,
                    ),
                    bucket_key_enabled=bool(args.kms_key_id),
                )
            ],
        )
        enabled = aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled")
        versioning = companion(aws.s3.BucketVersioning, "versioning", versioning_configuration=enabled)
        companion(
            aws.s3.BucketLifecycleConfiguration,
            "lifecycle",
            # S3 rejects lifecycle rules on a bucket whose versioning is still being enabled.
            after=versioning,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=args.noncurrent_version_days
                    ),
                )
            ],
        )
        return bucket.bucket


def companions(name: str, bucket: pulumi.Input[str], opts: pulumi.ResourceOptions):
    """What creates the companion resources of one bucket (ACL, public-access block, encryption, versioning,
    lifecycle): each named `<name>-<role>`, on `bucket`, with `opts` (and after the resource `after`)."""

    def companion(
        resource: Callable[..., pulumi.CustomResource], role: str, after: pulumi.Resource | None = None, **inputs
    ) -> pulumi.CustomResource:
        options = opts
        if after is not None:
            options = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[after]))
        return resource(f"{name}-{role}", bucket=bucket, opts=options, **inputs)

    return companion


def internal_endpoint(cloud: str, region: str) -> str:
    """The in-region object-storage endpoint pods reach the buckets at (OSS's `-internal` VPC endpoint)."""
    if cloud == "alicloud":
        return f"https://oss-{region}-internal.aliyuncs.com"
    return f"https://s3.{region}.amazonaws.com"
