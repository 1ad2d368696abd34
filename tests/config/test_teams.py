"""Teams in config: which namespace each workload lands in, and the quota and identity errors a user reads."""

import copy
import shutil
from pathlib import Path

import pytest

from mlplatform import cli, config
from mlplatform.config import ConfigError
from mlplatform.offline import stackfiles

ROOT = Path(__file__).resolve().parents[2]


def values(stack: str) -> dict:
    return copy.deepcopy(stackfiles.load(ROOT, stack).namespace_values())


def refused(raw: dict) -> tuple[str, str]:
    with pytest.raises(ConfigError) as error:
        config.parse(raw)
    return error.value.path.removeprefix("ml-platform:"), error.value.reason


def test_the_default_team_keeps_todays_namespaces_and_a_named_team_gets_its_own():
    raw = values("dev")
    raw["teams"]["vision"] = {"quota": {"cpu": "8", "memory": "32Gi"}}
    raw["notebooks"]["data-science"]["team"] = "vision"
    settings = config.parse(raw)
    assert settings.namespace_of("trainingJobs", settings.training_jobs["color-training"]) == "training"
    assert settings.namespace_of("servings", settings.servings["color"]) == "models"
    assert settings.namespace_of("webServices", settings.web_services["color-client"]) == "models"
    assert settings.namespace_of("notebooks", settings.notebooks["data-science"]) == "vision-notebooks"
    assert sorted(settings.team_namespaces()) == [
        "models",
        "notebooks",
        "training",
        "vision-models",
        "vision-notebooks",
        "vision-training",
    ]


def test_a_stack_without_teams_has_an_implicit_default_team_with_a_quota():
    raw = values("dev")
    del raw["teams"]
    settings = config.parse(raw)
    assert list(settings.all_teams) == ["default"]
    assert settings.all_teams["default"].quota.hard() == {
        "requests.cpu": "256",
        "requests.memory": "1Ti",
        "pods": "500",
    }


def test_a_workload_naming_an_unknown_team_is_refused_at_its_team_key():
    raw = values("dev")
    raw["servings"]["color"]["team"] = "visoin"
    assert refused(raw) == ("servings.color.team", "no team named 'visoin' (teams: default)")


def test_workloads_over_their_namespace_quota_are_refused_at_the_one_that_tips_it():
    raw = values("dev")
    raw["teams"]["default"]["quota"]["cpu"] = "10"  # color-training 3 x 2 CPUs, sentiment-training 2 x 4 CPUs
    path, reason = refused(raw)
    assert path == "trainingJobs.sentiment-training"
    assert reason == (
        "with the other workloads of namespace training (team default) it asks for 14 CPUs at its most replicas, "
        "over the quota of 10: raise teams.default.quota.cpu or ask for less"
    )


def test_an_autoscaled_predictor_counts_at_its_most_replicas():
    raw = values("prod")
    raw["teams"]["default"]["quotas"]["models"]["cpu"] = "25"  # color: 2 predictors x up to 10 replicas x 1 CPU
    path, reason = refused(raw)
    assert path == "servings.style"
    assert "asks for 28 CPUs at its most replicas, over the quota of 25" in reason
    assert "raise teams.default.quotas.models.cpu" in reason


def test_shared_gpu_memory_is_quota_checked_too():
    raw = values("prod")
    raw["teams"]["default"]["quotas"]["models"]["gpuMemoryGb"] = 8  # style: up to 4 replicas x 4 GiB
    assert refused(raw) == (
        "servings.style",
        "with the other workloads of namespace models (team default) it asks for 16 GiB of GPU memory at its most "
        "replicas, over the quota of 8: raise teams.default.quotas.models.gpuMemoryGb or ask for less",
    )


def test_a_gpu_quota_needs_a_pool_with_that_resource():
    raw = values("dev")  # ASK: no GPU node pool
    raw["teams"]["default"]["quota"]["gpus"] = 2
    assert refused(raw)[0] == "teams.default.quota.gpus"
    raw = values("dev-aws")  # EKS: time-sliced whole GPUs, no cGPU memory slices
    raw["teams"]["default"]["quota"]["gpuMemoryGb"] = 8
    path, reason = refused(raw)
    assert path == "teams.default.quota.gpuMemoryGb"
    assert "gpuSharing: cgpu" in reason


def test_team_members_are_ram_ids_on_alicloud_and_iam_arns_on_aws():
    raw = values("prod")
    raw["teams"]["vision"]["groups"] = ["ram-role:300800000000001", "ram-user:200300000000002"]
    assert [m for m in config.parse(raw).teams["vision"].groups] == raw["teams"]["vision"]["groups"]
    raw["teams"]["vision"]["groups"] = ["arn:aws:iam::123456789012:role/vision"]
    path, reason = refused(raw)
    assert path == "teams.vision.groups[0]"
    assert "ram-user:<RAM user ID>" in reason
    aws = values("prod-aws")
    aws["teams"]["vision"] = {"groups": ["ram-role:300800000000001"]}
    assert refused(aws)[0] == "teams.vision.groups[0]"
    aws["teams"]["vision"] = {"groups": ["arn:aws:iam::123456789012:role/vision"]}
    assert config.parse(aws).teams["vision"].groups == ["arn:aws:iam::123456789012:role/vision"]


def test_one_identity_belongs_to_one_team():
    raw = values("prod")
    raw["teams"]["default"]["groups"] = ["ram-role:300800000000001"]
    raw["teams"]["vision"]["groups"] = ["ram-role:300800000000001"]
    path, reason = refused(raw)
    assert path == "teams.vision.groups[0]"
    assert reason.startswith("'ram-role:300800000000001' already belongs to team 'default'")


def test_a_header_route_stays_inside_one_team():
    raw = values("prod")
    raw["servings"]["style"]["team"] = "vision"
    path, reason = refused(raw)
    assert path == "servings.style.team"
    assert "both servings belong to one team (default)" in reason


def test_container_defaults_cannot_request_more_than_their_limit():
    raw = values("dev")
    raw["teams"]["default"]["defaults"] = {"memory": "8Gi", "memoryLimit": "4Gi"}
    assert refused(raw) == ("teams.default.defaults.memory", "above the default limit memoryLimit 4Gi")


def test_a_quota_error_is_a_config_error_with_file_and_line_and_exit_2(tmp_path, capsys):
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "__main__.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks", ignore=shutil.ignore_patterns("__pycache__"))
    stack_file = tmp_path / "Pulumi.dev.yaml"
    text = stack_file.read_text()
    stack_file.write_text(text.replace("      serving: color\n", "      serving: color\n      team: nlp\n", 1))

    code = cli.main(["--project-dir", str(tmp_path), "preview", "-s", "dev", "--no-policy", "--out", "build"])

    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    line = next(n for n, text in enumerate(stack_file.read_text().splitlines(), 1) if "team: nlp" in text)
    assert err.strip() == (
        f"error: Pulumi.dev.yaml:{line}:7: ml-platform:webServices.color-client.team: "
        "no team named 'nlp' (teams: default)"
    )
