"""A private, encrypted, versioned object-storage bucket for datasets or model versions (OSS or S3).

Both clouds are built from the same shape of companion resources (ACL / public-access block,
encryption, versioning, lifecycle) so a policy or a reviewer reads them alike. Noncurrent versions
expire after `noncurrent_version_days`, so versioning protects against overwrites without growing forever.

Each setting has one owner, the standalone resource, as the providers' docs ask:
- pulumi-alicloud 4.0.0 `oss.Bucket` (the terraform-provider-alicloud `oss_bucket` docs it is bridged from):
  "When using standalone sub-resources (e.g., `oss.BucketVersioning`, `oss.BucketServerSideEncryption`,
  `oss.BucketAcl`, ...) alongside `oss.Bucket`, you **must** add a `lifecycle` block with `ignore_changes` for
  the corresponding attribute on `oss.Bucket`", or each `up` reverts the sub-resource's setting. The bucket
  ignores `acl`, `versioning` and `server_side_encryption_rule` (`OSS_SUB_RESOURCE_ATTRIBUTES`); the public
  access block has no bucket attribute, and the lifecycle rules are the bucket's own (`lifecycle_rules`).
- pulumi-aws 7.51.1 `s3.Bucket`: the inline `acl`, `versioning`, `server_side_encryption_configuration`,
  `lifecycle_rules`, ... are deprecated ("Use the resource `s3.BucketVersioning` instead"), and "the provider
  will only perform drift detection if a configuration value is provided": the bucket sets none of them, so no
  `ignore_changes` is needed and the standalone resources own each setting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud
import pulumi_aws as aws

# The standalone OSS resources and the `oss.Bucket` attribute each one owns (pulumi-alicloud 4.0.0 `oss.Bucket` docs:
# "ignore_changes for the corresponding attribute").
OSS_SUB_RESOURCE_ATTRIBUTES = {
    alicloud.oss.BucketAcl: "acl",
    alicloud.oss.BucketVersioning: "versioning",
    alicloud.oss.BucketServerSideEncryption: "server_side_encryption_rule",
}


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
        owned = [
            (alicloud.oss.BucketAcl, "acl", {"acl": "private"}),
            (alicloud.oss.BucketPublicAccessBlock, "public-access-block", {"block_public_access": True}),
            (
                alicloud.oss.BucketServerSideEncryption,
                "encryption",
                {"sse_algorithm": "KMS" if args.kms_key_id else "AES256", "kms_master_key_id": args.kms_key_id},
            ),
            (alicloud.oss.BucketVersioning, "versioning", {"status": "Enabled"}),
        ]
        # What the standalone resources own, the bucket leaves alone (module docstring).
        ignored = [OSS_SUB_RESOURCE_ATTRIBUTES[kind] for kind, _, _ in owned if kind in OSS_SUB_RESOURCE_ATTRIBUTES]
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
            opts=pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(ignore_changes=ignored)),
        )
        on_bucket = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[bucket]))
        companion = companions(name, bucket.bucket, on_bucket)
        for kind, role, inputs in owned:
            companion(kind, role, **inputs)
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
