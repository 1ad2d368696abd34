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
