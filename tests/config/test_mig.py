"""MIG on EKS: `gpuSharing: mig` with a profile on A100/H100/H200 pools, workloads and quotas that ask for its
instances, refused on instance types without MIG and on Alibaba Cloud (where cGPU shares GPUs)."""

import shutil
from pathlib import Path

import pytest
from support import ack_stack, config_error, eks_stack

from mlplatform import cli
from mlplatform.config import parse
from mlplatform.infra.nodepool import mig_user_data
from mlplatform.workloads.scheduling import GpuScheduling, placement

ROOT = Path(__file__).resolve().parents[2]
MIG_POOL = {
    "instanceTypes": ["p4de.24xlarge", "p5.48xlarge"],
    "minSize": 0,
    "maxSize": 2,
    "gpu": True,
    "gpuSharing": "mig",
    "migProfile": "1g.10gb",
}
NOTEBOOK = {"image": "jupyter/base-notebook:2024-01-01", "resources": {"gpu": 2, "migProfile": "1g.10gb"}}


def test_a_mig_pool_on_a100_and_h100_types_offers_its_profile_to_workloads_and_quotas():
    settings = parse(
        eks_stack(
            nodePools={"mig": MIG_POOL},
            notebooks={"lab": NOTEBOOK},
            teams={"default": {"quota": {"cpu": "8", "memory": "32Gi", "mig": {"1g.10gb": 7}}}},
        )
    )
    assert settings.mig_profiles() == {"1g.10gb"}
    assert settings.all_teams["default"].quota.hard()["requests.nvidia.com/mig-1g.10gb"] == "7"
    placed = placement(settings.notebooks["lab"].resources, GpuScheduling())
    assert placed.resources["limits"]["nvidia.com/mig-1g.10gb"] == "2"
    assert "nvidia.com/gpu" not in placed.resources["limits"]
    assert placed.tolerations and placed.node_selector  # on the GPU pool like any GPU pod


@pytest.mark.parametrize(
    ("changes", "path", "words"),
    [
        ({"instanceTypes": ["p4d.24xlarge", "g5.2xlarge"]}, "nodePools.mig.instanceTypes[1]", "no MIG-capable GPU"),
        (
            {"instanceTypes": ["p4d.24xlarge"], "migProfile": "3g.40gb"},
            "nodePools.mig.migProfile",
            "not a MIG profile of the A100 40GB",
        ),
        ({"migProfile": None}, "nodePools.mig.migProfile", "needs the MIG profile"),
        ({"migProfile": "1g.10"}, "nodePools.mig.migProfile", "not a MIG profile such as 1g.10gb"),
    ],
)
def test_mig_pools_are_refused_where_the_gpus_do_not_split_so(changes, path, words):
    error = config_error(eks_stack(nodePools={"mig": {**MIG_POOL, **changes}}))
    assert path in str(error) and words in str(error)


def test_mig_on_alibaba_cloud_is_refused_naming_cgpu():
    pool = {**MIG_POOL, "instanceTypes": ["ecs.gn7i-c8g1.2xlarge"]}
    error = str(config_error(ack_stack(nodePools={"gpu": pool})))
    assert "nodePools.gpu.gpuSharing" in error and "gpuSharing: cgpu" in error


def test_workloads_and_quotas_name_a_profile_a_pool_offers():
    error = str(
        config_error(
            eks_stack(
                nodePools={"mig": MIG_POOL},
                notebooks={"lab": {**NOTEBOOK, "resources": {"gpu": 1, "migProfile": "3g.40gb"}}},
            )
        )
    )
    assert "notebooks.lab.resources.migProfile" in error and "1g.10gb" in error
    error = str(
        config_error(eks_stack(nodePools={"mig": MIG_POOL}, notebooks={"lab": {**NOTEBOOK, "resources": {"gpu": 1}}}))
    )
    assert "notebooks.lab.resources.gpu" in error and "migProfile" in error  # a MIG pool offers no whole GPU
    error = str(config_error(eks_stack(teams={"default": {"quota": {"mig": {"1g.10gb": 1}}}})))
    assert 'teams.default.quota.mig["1g.10gb"]' in error
    over = eks_stack(
        nodePools={"mig": MIG_POOL},
        notebooks={"lab": NOTEBOOK},
        teams={"default": {"quota": {"mig": {"1g.10gb": 1}}}},
    )
    error = str(config_error(over))
    assert (
        "notebooks.lab" in error and "2 1g.10gb MIG instances" in error and "quota.mig.1g.10gb" in error
    )  # where to raise it


def test_the_pool_partitions_its_gpus_when_a_node_boots():
    script = mig_user_data("3g.40gb")
    assert script.startswith("MIME-Version: 1.0\n") and "text/x-shellscript" in script
    assert 'nvidia-smi -i "$gpu" -mig 1' in script
    assert 'nvidia-smi mig -i "$gpu" -cgi 3g.40gb -C' in script


@pytest.fixture
def aws_project(tmp_path) -> Path:
    for name in (
        "Pulumi.yaml",
        "Pulumi.dev.yaml",
        "Pulumi.prod.yaml",
        "Pulumi.dev-aws.yaml",
        "Pulumi.prod-aws.yaml",
        "__main__.py",
    ):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("stacks", "policies"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__", "venv", "tests"))
    return tmp_path


def _add_pool(project: Path, stack: str, instance_type: str) -> None:
    path = project / f"Pulumi.{stack}.yaml"
    pool = (
        f"    mig:\n      instanceTypes:\n        - {instance_type}\n      minSize: 0\n      maxSize: 1\n"
        "      gpu: true\n      gpuSharing: mig\n      migProfile: 1g.10gb\n"
    )
    text = path.read_text()
    assert "  ml-platform:nodePools:\n" in text
    path.write_text(text.replace("  ml-platform:nodePools:\n", "  ml-platform:nodePools:\n" + pool, 1))


def _preview(project: Path, stack: str) -> int:
    return cli.main(["--project-dir", str(project), "preview", "-s", stack, "--out", str(project / "build")])


def test_prod_aws_plans_a_mig_pool_on_p5_and_refuses_one_on_g5(aws_project, capsys):
    _add_pool(aws_project, "prod-aws", "p5.48xlarge")
    assert _preview(aws_project, "prod-aws") == 0
    plan = (aws_project / "build" / "prod-aws" / "releases.yaml").read_text()
    assert "migStrategy: mixed" in plan
    capsys.readouterr()
    refused = aws_project / "refused"
    shutil.copytree(aws_project, refused, ignore=shutil.ignore_patterns("build"))
    (refused / "Pulumi.prod-aws.yaml").write_text(
        (refused / "Pulumi.prod-aws.yaml").read_text().replace("p5.48xlarge", "g5.12xlarge")
    )
    assert _preview(refused, "prod-aws") == 2
    assert "ml-platform:nodePools.mig.instanceTypes[0]" in capsys.readouterr().err


def test_prod_on_alibaba_cloud_refuses_a_mig_pool_naming_the_path(aws_project, capsys):
    _add_pool(aws_project, "prod", "ecs.gn7i-c8g1.2xlarge")
    assert _preview(aws_project, "prod") == 2
    assert "ml-platform:nodePools.mig.gpuSharing" in capsys.readouterr().err
