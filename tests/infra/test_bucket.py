"""Buckets: private, encrypted, versioned, public access blocked, noncurrent versions expired, prod-protected."""

import pytest

from mlplatform.infra.bucket import Bucket, BucketArgs


def _plan(plan, cloud, **overrides):
    args = BucketArgs(cloud=cloud, bucket_name="mlp-models", **overrides)
    return plan(lambda: Bucket("models", args))


def test_oss_bucket_is_private_encrypted_versioned_and_blocks_public_access(plan):
    monitor = _plan(plan, "alicloud")
    bucket = monitor.named("models")
    assert bucket.type == "alicloud:oss/bucket:Bucket"
    assert bucket.inputs["bucket"] == "mlp-models"
    assert bucket.inputs["lifecycleRules"][0]["noncurrentVersionExpirations"] == [{"days": 30}]
    assert monitor.named("models-acl").inputs["acl"] == "private"
    assert monitor.named("models-public-access-block").inputs["blockPublicAccess"] is True
    assert monitor.named("models-encryption").inputs["sseAlgorithm"] == "AES256"
    assert monitor.named("models-versioning").inputs["status"] == "Enabled"
    for child in ("models-acl", "models-encryption", "models-versioning", "models-public-access-block"):
        assert monitor.named(child).parent == monitor.component("models").urn


def test_oss_bucket_uses_kms_key_when_given(plan):
    monitor = _plan(plan, "alicloud", kms_key_id="key-123")
    encryption = monitor.named("models-encryption").inputs
    assert encryption["sseAlgorithm"] == "KMS"
    assert encryption["kmsMasterKeyId"] == "key-123"


def test_s3_bucket_blocks_every_public_path_and_expires_noncurrent_versions(plan):
    monitor = _plan(plan, "aws", noncurrent_version_days=7)
    assert monitor.named("models").type == "aws:s3/bucket:Bucket"
    block = monitor.named("models-public-access-block").inputs
    assert all(
        block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    rule = monitor.named("models-encryption").inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert rule["sseAlgorithm"] == "AES256"
    versioning = monitor.named("models-versioning").inputs["versioningConfiguration"]
    assert versioning["status"] == "Enabled"
    lifecycle = monitor.named("models-lifecycle")
    assert lifecycle.inputs["rules"][0]["noncurrentVersionExpiration"] == {"noncurrentDays": 7}
    assert monitor.named("models-versioning").urn in lifecycle.dependencies
    ownership = monitor.named("models-ownership").inputs["rule"]
    assert ownership["objectOwnership"] == "BucketOwnerEnforced"


@pytest.mark.parametrize("cloud", ["alicloud", "aws"])
def test_protected_bucket_is_protected_and_retained(plan, cloud):
    monitor = _plan(plan, cloud, protect=True)
    bucket = monitor.named("models")
    assert bucket.protect and bucket.retain_on_delete
    assert bucket.inputs["forceDestroy"] is False


def test_unprotected_bucket_is_disposable(plan):
    bucket = _plan(plan, "alicloud").named("models")
    assert not bucket.protect and not bucket.retain_on_delete


# What each provider's docs ask of a bucket beside its standalone resources, by the standalone resource's type.
# pulumi-alicloud 4.0.0 `oss.Bucket` (from terraform-provider-alicloud `oss_bucket`): "you **must** add a
# `lifecycle` block with `ignore_changes` for the corresponding attribute on `oss.Bucket`".
OSS_OWNED_ATTRIBUTES = {
    "alicloud:oss/bucketAcl:BucketAcl": "acl",
    "alicloud:oss/bucketVersioning:BucketVersioning": "versioning",
    "alicloud:oss/bucketServerSideEncryption:BucketServerSideEncryption": "serverSideEncryptionRule",
    "alicloud:oss/bucketPolicy:BucketPolicy": "policy",
    "alicloud:oss/bucketLogging:BucketLogging": "logging",
    "alicloud:oss/bucketCors:BucketCors": "corsRules",
    "alicloud:oss/bucketWebsite:BucketWebsite": "website",
    "alicloud:oss/bucketReferer:BucketReferer": "refererConfig",
    "alicloud:oss/bucketTransferAcceleration:BucketTransferAcceleration": "transferAcceleration",
}
# pulumi-aws 7.51.1 `s3.Bucket`: each inline argument is deprecated for its standalone resource ("Use the resource
# `s3.BucketVersioning` instead"), and "the provider will only perform drift detection if a configuration value
# is provided": beside the standalone resource, the bucket leaves it unset.
S3_INLINE_ARGUMENTS = {
    "aws:s3/bucketVersioning:BucketVersioning": ("versioning",),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "serverSideEncryptionConfiguration",
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ("lifecycleRules",),
    "aws:s3/bucketAcl:BucketAcl": ("acl", "grants"),
    "aws:s3/bucketPolicy:BucketPolicy": ("policy",),
    "aws:s3/bucketLogging:BucketLogging": ("logging",),
}
BUCKET_TYPES = ("alicloud:oss/bucket:Bucket", "aws:s3/bucket:Bucket")


def sub_resource_fights(registrations) -> list[str]:
    """Each bucket setting that both the bucket and a standalone resource beside it (same parent) would manage."""
    fights = []
    for bucket in (r for r in registrations if r.type in BUCKET_TYPES):
        for companion in (r for r in registrations if r.parent == bucket.parent and r is not bucket):
            owned = OSS_OWNED_ATTRIBUTES.get(companion.type)
            if owned and owned not in bucket.ignore_changes:
                fights.append(f"{bucket.name}: ignore_changes lacks {owned!r} ({companion.type})")
            for argument in S3_INLINE_ARGUMENTS.get(companion.type, ()):
                if argument in bucket.inputs:
                    fights.append(f"{bucket.name}: sets {argument!r} beside {companion.type}")
    return sorted(fights)


@pytest.mark.parametrize("cloud", ["alicloud", "aws"])
def test_each_bucket_setting_has_one_owner(plan, cloud):
    monitor = _plan(plan, cloud, protect=True, kms_key_id="key-123")
    registrations = list(monitor.registrations.values())
    assert sub_resource_fights(registrations) == []
    if cloud == "alicloud":
        assert set(monitor.named("models").ignore_changes) == {"acl", "versioning", "serverSideEncryptionRule"}


def test_a_bucket_that_fights_its_sub_resources_is_caught(plan):
    registrations = list(_plan(plan, "alicloud").registrations.values())
    bucket = next(r for r in registrations if r.type == "alicloud:oss/bucket:Bucket")
    bucket.ignore_changes = ["acl"]
    assert sub_resource_fights(registrations) == [
        "models: ignore_changes lacks 'serverSideEncryptionRule' "
        "(alicloud:oss/bucketServerSideEncryption:BucketServerSideEncryption)",
        "models: ignore_changes lacks 'versioning' (alicloud:oss/bucketVersioning:BucketVersioning)",
    ]
    s3 = list(_plan(plan, "aws").registrations.values())
    next(r for r in s3 if r.type == "aws:s3/bucket:Bucket").inputs["versioning"] = {"enabled": True}
    assert sub_resource_fights(s3) == ["models: sets 'versioning' beside aws:s3/bucketVersioning:BucketVersioning"]
