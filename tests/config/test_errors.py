"""Config errors as a user reads them: every problem of a file in one run, with file, line, column and a hint."""

import json
import re
from pathlib import Path

import pulumi
import pytest

from mlplatform import cli, config
from mlplatform.config import ConfigError
from mlplatform.offline import engine as offline
from mlplatform.offline import stackfiles

ROOT = Path(__file__).resolve().parents[2]


def edit(project: Path, stack: str, old: str, new: str) -> None:
    path = project / f"Pulumi.{stack}.yaml"
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def line_of(project: Path, stack: str, text: str) -> int:
    lines = (project / f"Pulumi.{stack}.yaml").read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def values(project: Path, stack: str) -> dict:
    return stackfiles.load(project, stack).namespace_values()


def test_two_typos_in_one_file_are_both_reported_with_file_line_and_suggestion(project, capsys):
    edit(project, "dev", "  ml-platform:servings:\n", "  ml-platform:servingz:\n")
    edit(project, "dev", "      port: 3333\n", "      prot: 3333\n")

    code = cli.main(["--project-dir", str(project), "preview", "-s", "dev", "--no-policy", "--out", "build"])

    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"error: Pulumi.dev.yaml:{line_of(project, 'dev', 'servingz')}:3: ml-platform:servingz: "
        "unknown key (did you mean 'servings'?)",
        f"error: Pulumi.dev.yaml:{line_of(project, 'dev', 'prot:')}:7: ml-platform:webServices.color-client.prot: "
        "unknown key (did you mean 'port'?)",
    ]
    assert not (project / "build").exists()


def test_a_misspelt_required_key_is_one_problem_not_two(project):
    edit(project, "dev", "      image: fogdong/color-serving:v1\n", "      imag: fogdong/color-serving:v1\n")
    with pytest.raises(ConfigError) as raised:
        stackfiles.load(project, "dev").settings()
    assert [str(p) for p in raised.value.problems] == [
        f"Pulumi.dev.yaml:{line_of(project, 'dev', 'imag:')}:7: ml-platform:webServices.color-client.imag: "
        "unknown key (did you mean 'image'?)"
    ]


def test_a_nested_typo_names_the_predictor_path(project):
    edit(project, "prod", "          traffic: 90\n", "          trafic: 90\n")
    with pytest.raises(ConfigError) as raised:
        stackfiles.load(project, "prod").settings()
    assert (
        f"Pulumi.prod.yaml:{line_of(project, 'prod', 'trafic')}:11: "
        "ml-platform:servings.color.predictors[0].trafic: unknown key (did you mean 'traffic'?)"
    ) in str(raised.value)


def test_numbers_that_pulumi_config_set_path_stores_are_accepted(project):
    """`pulumi config set --path '...cpu' 2` writes an integer; env values may be numbers or booleans."""
    raw = values(project, "dev")
    raw["trainingJobs"]["color-training"]["roles"]["Worker"]["resources"]["cpu"] = 2
    raw["notebooks"]["data-science"]["resources"]["cpu"] = 0.5
    raw["webServices"]["color-client"]["env"] = {"PORT": 8080, "DEBUG": True}
    settings = config.parse(raw)
    assert settings.training_jobs["color-training"].roles["Worker"].resources.cpu == "2"
    assert settings.notebooks["data-science"].resources.cpu == "0.5"
    assert settings.web_services["color-client"].env == {"PORT": "8080", "DEBUG": "true"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("memory", "2GB", "'2GB' is not a Kubernetes quantity: write 2Gi (2 x 2^30 bytes) or 2G (2 x 10^9 bytes)"),
        ("memory", "4gi", "'4gi' is not a Kubernetes quantity: write 4Gi (4 x 2^30 bytes) or 4G (4 x 10^9 bytes)"),
        ("memory", 2, "2 would mean 2 bytes: add a unit, 2Gi (gibibytes, 2^30 bytes) or 2G (10^9 bytes)"),
        ("cpu", "2G", "'2G' is not a CPU amount: write cores (2, 0.5) or millicores (500m)"),
        ("cpu", 0, "cpu 0 is not a positive number of cores"),
    ],
)
def test_quantities_are_explained(project, field, value, message):
    raw = values(project, "dev")
    raw["notebooks"]["data-science"]["resources"][field] = value
    with pytest.raises(ConfigError) as raised:
        config.parse(raw)
    assert str(raised.value) == f"ml-platform:notebooks.data-science.resources.{field}: {message}"


def test_memory_2G_is_a_valid_decimal_quantity(project):
    raw = values(project, "dev")
    raw["notebooks"]["data-science"]["resources"]["memory"] = "2G"
    assert config.parse(raw).notebooks["data-science"].resources.memory == "2G"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda raw: raw["servings"].update(Color=raw["servings"].pop("color")),
            "ml-platform:servings.Color: the name 'Color' is not valid: expected a name of lowercase letters, digits "
            "and '-', starting with a letter, ending with a letter or digit, at most 63 characters (a DNS label)",
        ),
        (
            lambda raw: raw["trainingJobs"]["color-training"].update(model="color"),
            "ml-platform:trainingJobs.color-training.model: 'color': expected a model version (name:version, e.g. "
            "color:v2 (a lowercase name, a colon, then letters, digits, '-', '.' or '_'))",
        ),
        (
            lambda raw: raw["cluster"].update(kind="manged"),
            "ml-platform:cluster.kind: 'manged' is not one of 'managed', 'serverless', 'edge' (did you mean 'managed'?)",
        ),
        (
            lambda raw: raw["servings"]["color"]["predictors"][0].update(traffic="ninety"),
            "ml-platform:servings.color.predictors[0].traffic: 'ninety' is not a whole number",
        ),
    ],
    ids=["dns-label", "model-version", "choice", "integer"],
)
def test_messages_say_what_a_value_should_look_like_never_a_regex(project, change, message):
    raw = values(project, "dev")
    change(raw)
    with pytest.raises(ConfigError) as raised:
        config.parse(raw)
    assert str(raised.value) == message
    assert not re.search(r"pattern|\^|\$|\[a-z", str(raised.value))


# ---------------------------------------------------------------- under `pulumi up`: config.load()


def _run_load(project: Path, stack: str, flat: dict[str, str], secret_keys=()):
    """`config.load()` as the Pulumi program runs it: the CLI's config map (PULUMI_CONFIG), cwd at the project."""
    offline.start("ml-platform", stack)
    pulumi.runtime.set_all_config(flat, list(secret_keys))
    return config.load()


def test_load_reads_every_key_of_the_namespace_and_refuses_a_misspelt_one(project, monkeypatch):
    monkeypatch.chdir(project)
    edit(project, "dev", "  ml-platform:servings:\n", "  ml-platform:servingz:\n")
    flat = stackfiles.load(project, "dev").config
    assert "ml-platform:servingz" in flat

    with pytest.raises(ConfigError) as raised:
        _run_load(project, "dev", flat)

    assert str(raised.value) == (
        f"Pulumi.dev.yaml:{line_of(project, 'dev', 'servingz')}:3: ml-platform:servingz: "
        "unknown key (did you mean 'servings'?)"
    )


def test_load_accepts_numbers_as_the_pulumi_cli_hands_them(project, monkeypatch):
    monkeypatch.chdir(project)
    flat = stackfiles.load(project, "dev").config
    jobs = json.loads(flat["ml-platform:trainingJobs"])
    jobs["color-training"]["roles"]["Worker"]["resources"]["cpu"] = 2
    flat["ml-platform:trainingJobs"] = json.dumps(jobs)

    settings = _run_load(project, "dev", flat)

    assert settings.training_jobs["color-training"].roles["Worker"].resources.cpu == "2"


def test_load_refuses_a_secure_value_in_the_namespace(project, monkeypatch):
    monkeypatch.chdir(project)
    flat = stackfiles.load(project, "dev").config
    with pytest.raises(ConfigError) as raised:
        _run_load(project, "dev", flat, secret_keys=["ml-platform:webServices"])
    assert str(raised.value).startswith(
        f"Pulumi.dev.yaml:{line_of(project, 'dev', 'ml-platform:webServices')}:3: ml-platform:webServices: "
        "takes no secure value"
    )


def test_an_error_in_devs_file_names_devs_file_in_a_prod_preview(project, capsys):
    """A prod preview plans dev first (prod reads what dev publishes): dev's mistakes point at dev's file."""
    edit(project, "dev", "      port: 3333\n", "      port: http\n")

    code = cli.main(["--project-dir", str(project), "preview", "-s", "prod", "--no-policy", "--out", "build"])

    assert code == 2
    assert capsys.readouterr().err == (
        f"error: Pulumi.dev.yaml:{line_of(project, 'dev', 'port: http')}:7: ml-platform:webServices.color-client.port: "
        "'http' is not a whole number\n"
    )


# ---------------------------------------------------------------- one pass: every independent problem at once


def position(project: Path, stack: str, text: str) -> str:
    """`Pulumi.<stack>.yaml:<line>:<column>` of the first line holding `text`, at the key it starts with."""
    lines = (project / f"Pulumi.{stack}.yaml").read_text().splitlines()
    number, line = next((n, line) for n, line in enumerate(lines, 1) if text in line)
    return f"Pulumi.{stack}.yaml:{number}:{len(line) - len(line.lstrip(' -')) + 1}"


def test_a_field_error_an_environment_rule_and_an_unpublished_version_are_reported_in_one_run(project, capsys):
    """Three independent mistakes of a prod stack: a memory that is no quantity (the models), a single replica (prod's
    rule), a version dev never published (the promotion, read through the StackReference): one run, in file order."""
    # Lines apart from the repository's own Pulumi.prod.yaml: each place comes from the project's file.
    edit(project, "prod", "\nconfig:\n", "\n# Three mistakes, one run.\nconfig:\n")
    edit(project, "prod", "          model: color:v2\n", "          model: fraud:v1\n")
    edit(
        project,
        "prod",
        "            memory: 4Gi\n            gpuMemoryGb: 4\n",
        "            memory: 4GB\n            gpuMemoryGb: 4\n",
    )
    edit(project, "prod", "          replicas: 2\n    # An assistant", "          replicas: 1\n    # An assistant")

    code = cli.main(["--project-dir", str(project), "preview", "-s", "prod", "--no-policy", "--out", "build"])

    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"error: {position(project, 'prod', 'model: fraud:v1')}: ml-platform:servings.color.predictors[1].model: "
        "model version 'fraud:v1' is not published by organization/ml-platform/dev (published: color:v1, color:v2, "
        "qwen2-5-7b-instruct:v1, sentiment:v1, sentiment:v2, style:v1); promote it from dev first or list it in "
        "promotion.allowUnpublished",
        f"error: {position(project, 'prod', 'memory: 4GB')}: ml-platform:servings.style.predictors[0].resources.memory: "
        "'4GB' is not a Kubernetes quantity: write 4Gi (4 x 2^30 bytes) or 4G (4 x 10^9 bytes)",
        f"error: {position(project, 'prod', 'replicas: 1')}: ml-platform:servings.sentiment.predictors[1].replicas: "
        "prod predictors run at least 2 replicas, not 1",
    ]
    assert not (project / "build").exists()


def test_a_rule_never_judges_the_default_that_took_a_refused_values_place(project):
    from stacks.prod import shape_problems

    raw = values(project, "prod")
    raw["servings"]["sentiment"]["predictors"][1]["replicas"] = "one"
    reading = config.read(raw)
    assert reading.settings.servings["sentiment"].predictors[1].replicas == 1  # the default, judged by no rule
    assert [str(p) for p in reading.adding(shape_problems(reading.settings)).problems] == [
        "ml-platform:servings.sentiment.predictors[1].replicas: 'one' is not a whole number"
    ]


def test_a_value_without_a_default_to_give_way_to_leaves_the_rules_nothing_to_judge(project):
    raw = values(project, "dev")
    raw["servingz"] = raw.pop("servings")  # the web service's serving would be judged missing
    reading = config.read(raw)
    assert reading.settings is None
    assert [p.key for p in reading.problems] == ["ml-platform:servingz"]


def test_a_cycle_through_a_web_services_serving_is_a_config_error_not_a_crash():
    from support import ack_stack, config_error

    serving = {
        "protocol": "tensorflow",
        "dependsOn": ["client"],
        "predictors": [{"name": "v1", "model": "color:v1", "server": "TENSORFLOW_SERVER"}],
    }
    client = {"image": "client:v1", "port": 3333, "serving": "color"}
    raw = ack_stack(models=["color:v1"], servings={"color": serving}, webServices={"client": client})
    message = str(config_error(raw))
    assert "dependency cycle" in message and "color" in message and "client" in message
