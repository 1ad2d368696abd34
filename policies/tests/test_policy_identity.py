"""Identity policies: no cloud access keys anywhere, serving roles that cannot write to the buckets, and EKS Pod
Identity scoped to the pods that mount with it."""

import json

from mlpolicies.identity import no_access_keys, pod_identity_scoped, serving_roles_read_only
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


# ------------------------------------------------------------------ pod-identity-scoped

SCOPED = {
    "aws:RequestTag/eks-cluster-name": "prod-aws-cluster",
    "aws:RequestTag/kubernetes-namespace": "training",
    "aws:RequestTag/kubernetes-service-account": "color-train",
}


def pod_identity_role(condition: dict | None, name: str = "mlp-prod-color-train"):
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        **({"Condition": {"StringEquals": condition}} if condition else {}),
    }
    trust = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    return stack_resource("aws:iam/role:Role", {"name": name, "assumeRolePolicy": trust}, name=name)


def s3_volume(claim: str = "color-train-dataset") -> list:
    """A Mountpoint S3 volume mounting with the pod's own identity, and its claim in `training`."""
    csi = {"driver": "s3.csi.aws.com", "volumeAttributes": {"bucketName": "d", "authenticationSource": "pod"}}
    volume = {"metadata": {"name": f"training-{claim}"}, "spec": {"csi": csi}}
    bound = {"metadata": {"name": claim, "namespace": "training"}, "spec": {"volumeName": f"training-{claim}"}}
    return [
        stack_resource("kubernetes:core/v1:PersistentVolume", volume, name=f"training-{claim}"),
        stack_resource("kubernetes:core/v1:PersistentVolumeClaim", bound, name=claim),
    ]


ASSOCIATION = stack_resource(
    "aws:eks/podIdentityAssociation:PodIdentityAssociation",
    {"namespace": "training", "serviceAccount": "color-train", "clusterName": "prod-aws-cluster"},
    name="color-train-identity",
)


def mpi_job(launcher_account: str | None):
    """An MPIJob whose launcher and workers mount the dataset claim."""

    def replica(account: str | None) -> dict:
        pod = {
            "containers": [{"name": "mpi"}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "color-train-dataset"}}],
        }
        return {"template": {"spec": {**pod, **({"serviceAccountName": account} if account else {})}}}

    spec = {"mpiReplicaSpecs": {"Launcher": replica(launcher_account), "Worker": replica("color-train")}}
    props = {"metadata": {"name": "color-train", "namespace": "training"}, "spec": spec}
    return stack_resource("kubernetes:kubeflow.org/v1:MPIJob", props, name="color-train-mpijob")


def test_scoped_trust_and_pods_running_as_the_associated_account_pass():
    resources = [pod_identity_role(SCOPED), ASSOCIATION, *s3_volume(), mpi_job("color-train")]
    assert check_stack(pod_identity_scoped, resources) == []


def test_a_trust_policy_without_namespace_and_service_account_conditions_is_reported():
    only_cluster = {"aws:RequestTag/eks-cluster-name": "prod-aws-cluster"}
    for condition in (None, only_cluster):
        [message] = check_stack(pod_identity_scoped, [pod_identity_role(condition)])
        assert message.startswith("Role mlp-prod-color-train trusts EKS Pod Identity without naming the pods")
        assert "aws:RequestTag/kubernetes-namespace, aws:RequestTag/kubernetes-service-account" in message


def test_an_mpi_launcher_under_the_operators_account_cannot_mount_the_jobs_volumes():
    [message] = check_stack(pod_identity_scoped, [pod_identity_role(SCOPED), ASSOCIATION, *s3_volume(), mpi_job(None)])
    assert message == (
        "MPIJob color-train-mpijob Launcher replicas: its pods mount S3 volumes with the pod's identity "
        "(color-train-dataset) but run as the default account, which no Pod Identity association grants; "
        "run them as the workload's associated service account."
    )


def test_a_trainjob_launcher_patched_without_the_account_is_reported():
    def job(name: str, account: str | None) -> dict:
        pod = {"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "color-train-dataset"}}]}
        pod |= {"serviceAccountName": account} if account else {}
        return {"name": name, "template": {"spec": {"template": {"spec": pod}}}}

    def trainjob(*jobs: dict):
        patch = {
            "manager": "mlplatform.io/ml-platform",
            "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": list(jobs)}}},
        }
        props = {"metadata": {"name": "color-train", "namespace": "training"}, "spec": {"runtimePatches": [patch]}}
        return stack_resource("kubernetes:trainer.kubeflow.org/v1alpha1:TrainJob", props, name="color-train-trainjob")

    base = [ASSOCIATION, *s3_volume()]
    assert (
        check_stack(pod_identity_scoped, [*base, trainjob(job("node", "color-train"), job("launcher", "color-train"))])
        == []
    )
    [message] = check_stack(
        pod_identity_scoped, [*base, trainjob(job("node", "color-train"), job("launcher", "other"))]
    )
    assert "replicated job launcher: its pods mount S3 volumes" in message and "run as other" in message
