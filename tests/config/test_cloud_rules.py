"""Config that knows each cloud: what its cluster API accepts, refused before anything is planned."""

import copy

import pytest
from support import eks_stack

from mlplatform import catalog
from mlplatform import config as cfg
from mlplatform.config import ConfigError
from stacks import environment_of
from stacks.prod import check_shape

ACK = {
    "cloud": "alicloud",
    "cluster": {
        "kind": "managed",
        "kubernetesVersion": "1.36.1-aliyun.1",
        "network": {"zones": [{"zone": "cn-hangzhou-i", "cidr": "10.0.1.0/24"}]},
    },
}
EKS = eks_stack()


def parsed(base: dict, **changes) -> cfg.StackConfig:
    raw = copy.deepcopy(base)
    for path, value in changes.items():
        node = raw
        *parents, last = path.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return cfg.parse(raw)


def refused(base: dict, **changes) -> str:
    with pytest.raises(ConfigError) as caught:
        parsed(base, **changes)
    return str(caught.value)


def test_the_shipped_versions_are_accepted():
    assert parsed(ACK).cluster.kubernetes_version == "1.36.1-aliyun.1"
    assert parsed(EKS).cluster.kubernetes_version == "1.35"


def test_an_end_of_life_version_is_refused_with_the_supported_list():
    message = refused(ACK, cluster__kubernetesVersion="1.31.1-aliyun.1")
    assert "ml-platform:cluster.kubernetesVersion: Kubernetes 1.31.1-aliyun.1 is not supported on alicloud" in message
    assert "supported: 1.35.1-aliyun.1" in message and "1.36.1-aliyun.1" in message


def test_the_catalog_follows_the_calendar(monkeypatch):
    monkeypatch.setenv("MLP_TODAY", "2027-03-01")  # ACK 1.35 ended 2027-02-28
    assert "its support ended 2027-02-28" in refused(ACK, cluster__kubernetesVersion="1.35.7-aliyun.1")
    monkeypatch.setenv("MLP_TODAY", "2026-11-30")
    assert catalog.days_left("aws", "1.34") == 2
    assert catalog.version_problem("aws", "1.34") is None


def test_one_clouds_values_are_refused_on_the_other():
    assert "write it as 1.35" in refused(EKS, cluster__kubernetesVersion="1.31.1-aliyun.1")
    assert "write it as 1.35.7-aliyun.1" in refused(ACK, cluster__kubernetesVersion="1.36")
    pool = {"instanceTypes": ["ecs.g7.xlarge"], "minSize": 0, "maxSize": 2}
    assert "nodePools.cpu.instanceTypes[0]: 'ecs.g7.xlarge' is not an instance type on aws" in refused(
        EKS, nodePools={"cpu": pool}
    )
    pool = {"instanceTypes": ["m6i.large"], "minSize": 0, "maxSize": 2}
    assert "is not an instance type on alicloud" in refused(ACK, nodePools={"cpu": pool})


CGPU_POOL = {
    "instanceTypes": ["ecs.gn7i-c8g1.2xlarge"],
    "minSize": 0,
    "maxSize": 2,
    "gpu": True,
    "gpuSharing": "cgpu",
}


def test_cgpu_needs_a_managed_ack_pro_cluster():
    serverless = {**ACK["cluster"], "kind": "serverless"}
    message = refused(ACK, cluster=serverless, nodePools={"gpu": CGPU_POOL})
    assert "nodePools.gpu.gpuSharing: cgpu (ACK shared GPU scheduling) needs a managed ACK Pro cluster" in message


def test_a_cgpu_pool_offers_gpu_memory_not_whole_gpus():
    serving = {"predictors": [{"name": "v1", "model": "color:v1", "resources": {"gpu": 1}}]}
    message = refused(ACK, nodePools={"gpu": CGPU_POOL}, models=["color:v1"], servings={"color": serving})
    assert "servings.color.predictors[0].resources.gpu" in message and "ask for gpuMemoryGb" in message


def test_eks_has_no_fargate_only_kind():
    assert "EKS has no serverless kind" in refused(EKS, cluster={**EKS["cluster"], "kind": "serverless"})


def test_edge_needs_a_login():
    edge = {**ACK["cluster"], "kind": "edge"}
    assert "cluster.edgeKeyPair: an ACK@Edge cluster needs a login" in refused(ACK, cluster=edge)
    assert parsed(ACK, cluster={**edge, "edgeKeyPair": "ops"}).cluster.edge_key_pair == "ops"


def test_a_new_aws_vpc_needs_public_subnets_for_load_balancers_and_nat():
    zones = [{"zone": "us-west-2a", "cidr": "10.0.0.0/20"}]
    message = refused(EKS, cluster={**EKS["cluster"], "network": {"zones": zones}})
    assert "cluster.network.zones[0].publicCidr: a new AWS VPC needs a public subnet per zone" in message


def test_a_public_eks_endpoint_needs_its_cidrs_and_prod_never_opens_it_to_all():
    assert "cluster.apiAccessCidrs" in refused(EKS, cluster={**EKS["cluster"], "publicEndpoint": True})
    open_to_all = {**EKS["cluster"], "publicEndpoint": True, "apiAccessCidrs": ["0.0.0.0/0"]}
    settings = parsed(EKS, cluster=open_to_all, promotion={"stack": "dev-aws"})
    with pytest.raises(ConfigError, match=r"never open to 0\.0\.0\.0/0"):
        check_shape(settings)


def test_eks_pools_scale_from_zero():
    pool = {"instanceTypes": ["m6i.large"], "minSize": 1, "maxSize": 2}
    assert "nodePools.cpu.minSize: EKS pools are Karpenter NodePools" in refused(EKS, nodePools={"cpu": pool})


def test_the_environment_comes_from_config_not_the_stack_name():
    assert environment_of("prod-eu", parsed(EKS, environment="prod")) == "prod"
    assert environment_of("dev", parsed(EKS)) == "dev"
    with pytest.raises(ConfigError, match="ml-platform:environment: stack 'prod-eu' needs an environment"):
        environment_of("prod-eu", parsed(EKS))


def test_a_small_alicloud_disk_is_refused():
    notebook = {"image": "jupyter:v1", "volumeSize": "10Gi"}
    message = refused(ACK, notebooks={"alice": notebook})
    assert "notebooks.alice.volumeSize: 10Gi is below the smallest Alibaba Cloud disk (ESSD PL1)" in message
    assert parsed(ACK, notebooks={"alice": {"image": "jupyter:v1"}}).notebooks["alice"].volume_size == "20Gi"


def test_the_region_is_set_once(monkeypatch):
    from stacks import with_region

    monkeypatch.setattr("pulumi.Config.get", lambda self, key: "us-west-2" if self.name == "aws" else None)
    assert with_region(parsed(EKS)).region == "us-west-2"
    with pytest.raises(ConfigError, match="'eu-west-1' differs from aws:region 'us-west-2': set the region once"):
        with_region(parsed(EKS, region="eu-west-1"))
    monkeypatch.setattr("pulumi.Config.get", lambda self, key: None)
    with pytest.raises(ConfigError, match="aws:region: the region is not set"):
        with_region(parsed(EKS))


def test_edge_clusters_run_no_bucket_workloads_without_rrsa():
    edge = {**ACK["cluster"], "kind": "edge", "edgeKeyPair": "ops"}
    notebook = {"alice": {"image": "jupyter:v1"}}
    assert "notebooks: ACK@Edge clusters have no RRSA" in refused(ACK, cluster=edge, notebooks=notebook)


def test_a_private_eks_api_names_the_runners_that_deploy_it():
    assert parsed(EKS).cluster.network.deploy_runners.cidrs == ["10.0.240.0/24"]
    by_group = parsed(EKS, cluster__network__deployRunners={"securityGroupIds": ["sg-0123456789abcdef0"]})
    assert by_group.cluster.network.deploy_runners.security_group_ids == ["sg-0123456789abcdef0"]
    message = refused(EKS, cluster__network__deployRunners={})
    assert "ml-platform:cluster.network.deployRunners: the EKS API is private (publicEndpoint: false)" in message
    # A public endpoint restricted to apiAccessCidrs is reached from those: runner sources are optional there.
    public = {**EKS["cluster"], "publicEndpoint": True, "apiAccessCidrs": ["203.0.113.0/24"]}
    public["network"] = {**public["network"], "deployRunners": {}}
    assert parsed(EKS, cluster=public).cluster.public_endpoint


@pytest.mark.parametrize(
    ("runners", "reason"),
    [
        ({"cidrs": ["10.0.240.0"]}, "cluster.network.deployRunners.cidrs: '10.0.240.0' is not a CIDR"),
        ({"cidrs": ["10.0.240.1/24"]}, "'10.0.240.1/24' is not a CIDR"),
        ({"cidrs": ["0.0.0.0/0"]}, "name the runners' own IPv4 range, not all addresses"),
        ({"cidrs": ["fd00::/64"]}, "not IPv6"),
        ({"securityGroupIds": ["runners"]}, "'runners' is not a security group ID"),
    ],
)
def test_runner_sources_are_cidrs_and_security_group_ids(runners, reason):
    assert reason in refused(EKS, cluster__network__deployRunners=runners)


def test_ack_needs_no_runner_rule_its_private_api_is_an_internal_clb():
    message = refused(ACK, cluster__network__deployRunners={"cidrs": ["10.0.240.0/24"]})
    assert "cluster.network.deployRunners: runner sources are admitted on EKS only" in message
    assert parsed(ACK).cluster.network.deploy_runners.cidrs == []


ASK = {**ACK, "cluster": {**ACK["cluster"], "kind": "serverless"}}
GPU_POOL = {"instanceTypes": ["ecs.gn7i-c8g1.2xlarge"], "minSize": 0, "maxSize": 2, "gpu": True}


def test_a_serverless_cluster_takes_no_node_pools_and_says_why():
    """ASK runs every pod as an elastic container instance on virtual nodes: an ACK node pool has no cluster to join."""
    message = refused(ASK, nodePools={"gpu": GPU_POOL})
    assert message == (
        "ml-platform:nodePools: a serverless cluster (ACK Serverless) has no node pools: every pod runs as an elastic "
        "container instance on virtual nodes; remove nodePools, or use cluster.kind: managed for pools of your own"
    )
    assert parsed(ACK, nodePools={"gpu": GPU_POOL}).node_pools["gpu"].gpu


def test_a_gpu_request_on_a_serverless_cluster_is_refused_with_the_eci_explanation():
    notebook = {"image": "jupyter:v1", "resources": {"gpu": 1}}
    message = refused(ASK, notebooks={"alice": notebook})
    assert message.startswith(
        "ml-platform:notebooks.alice.resources.gpu: GPUs on a serverless cluster (ACK Serverless) are elastic "
        "container instances whose GPU instance type each pod names in its k8s.aliyun.com/eci-use-specs annotation"
    )
    assert "no node pool has gpu: true" not in message


def test_a_gpu_pool_on_the_serverless_dev_stack_is_refused_before_anything_is_planned(project, capsys):
    from mlplatform import cli

    path = project / "Pulumi.dev.yaml"
    text = path.read_text()
    pool = "  ml-platform:nodePools:\n    gpu:\n      instanceTypes: [ecs.gn7i-c8g1.2xlarge]\n      minSize: 0\n"
    pool += "      maxSize: 2\n      gpu: true\n"
    text = text.replace("  ml-platform:operators:\n", pool + "  ml-platform:operators:\n", 1)
    assert text.endswith(
        '  ml-platform:notebooks:\n    data-science:\n      image: kubeflownotebookswg/jupyter-tensorflow-full:v1.9.2\n      resources:\n        cpu: "1"\n        memory: 4Gi\n'
    )
    path.write_text(text + "        gpu: 1\n")  # the notebook's resources end the file

    code = cli.main(["--project-dir", str(project), "preview", "-s", "dev", "--no-policy", "--out", "build"])

    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    lines = path.read_text().splitlines()
    pools = next(n for n, line in enumerate(lines, 1) if "ml-platform:nodePools" in line)
    assert [line.split(": ", 3)[1:3] for line in err.splitlines()] == [
        [f"Pulumi.dev.yaml:{pools}:3", "ml-platform:nodePools"],
        [f"Pulumi.dev.yaml:{len(lines)}:9", "ml-platform:notebooks.data-science.resources.gpu"],
    ]
    assert not (project / "build").exists()
