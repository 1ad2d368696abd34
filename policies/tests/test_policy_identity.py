"""Identity policies: no cloud access keys anywhere, and serving roles that cannot write to the buckets."""

import json

from mlpolicies.identity import no_access_keys, serving_roles_read_only
from policy_harness import check, check_stack, resource_args, stack_resource

SECRET = "kubernetes:core/v1:Secret"


def test_workload_identity_passes_and_an_access_key_is_reported():
    assert check(no_access_keys, resource_args("alicloud:ram/role:Role", {"roleName": "mlp-dev-color"})) == []
    [message] = check(no_access_keys, resource_args("aws:iam/accessKey:AccessKey", {"user": "ml"}, name="key"))
    assert message.startswith("AccessKey key is a long-lived cloud access key")


def test_a_secret_holding_cloud_keys_is_reported_and_other_secrets_pass():
    token = {"metadata": {"name": "jupyter"}, "stringData": {"token": "x"}}
    assert check(no_access_keys, resource_args(SECRET, token)) == []
    keys = {"metadata": {"name": "storage"}, "stringData": {"akId": "x", "akSecret": "y"}}
    [message] = check(no_access_keys, resource_args(SECRET, keys, name="storage"))
    assert "stores cloud keys (akId, akSecret)" in message


def role(purpose: str, name: str = "mlp-prod-models-model-color-v1"):
    return stack_resource(
        "alicloud:ram/role:Role", {"roleName": name, "tags": {"mlplatform.io/purpose": purpose}}, name=name
    )


def oss_policy(*actions: str, name: str = "mlp-prod-models-model-color-v1"):
    document = json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": ["*"]}]}
    )
    return [
        stack_resource(
            "alicloud:ram/policy:Policy", {"policyName": name, "policyDocument": document}, name=f"{name}-p"
        ),
        stack_resource(
            "alicloud:ram/rolePolicyAttachment:RolePolicyAttachment",
            {"roleName": name, "policyName": name, "policyType": "Custom"},
            name=f"{name}-a",
        ),
    ]


def test_a_read_only_serving_role_passes():
    assert (
        check_stack(serving_roles_read_only, [role("serving"), *oss_policy("oss:GetObject", "oss:ListObjects")]) == []
    )


def test_a_serving_role_that_can_write_is_reported_and_a_training_role_may_write():
    [message] = check_stack(serving_roles_read_only, [role("serving"), *oss_policy("oss:GetObject", "oss:PutObject")])
    assert message.startswith(
        "Role mlp-prod-models-model-color-v1 serves models but its policy lets it write or delete"
    )
    assert check_stack(serving_roles_read_only, [role("training"), *oss_policy("oss:PutObject")]) == []


def test_an_eks_serving_role_with_an_inline_write_policy_is_reported():
    iam = stack_resource(
        "aws:iam/role:Role", {"name": "mlp-prod-aws-color", "tags": {"mlplatform.io/purpose": "serving"}}
    )
    document = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "*"}]}
    )
    inline = stack_resource("aws:iam/rolePolicy:RolePolicy", {"role": "mlp-prod-aws-color", "policy": document})
    assert len(check_stack(serving_roles_read_only, [iam, inline])) == 1
