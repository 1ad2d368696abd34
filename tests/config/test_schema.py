"""`mlp schema`: the JSON Schema of a whole stack file, from the config models, for editors and CI."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import regress
import yaml

from mlplatform import cli
from mlplatform.config.base import Model

ROOT = Path(__file__).resolve().parents[2]
STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))


@pytest.fixture(scope="module")
def schema() -> dict:
    return _printed_schema()


def _printed_schema() -> dict:
    import contextlib
    import io

    stream = io.StringIO()
    with contextlib.redirect_stdout(stream):
        assert cli.main(["--project-dir", str(ROOT), "schema"]) == 0
    return json.loads(stream.getvalue())


def errors(schema: dict, document: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_it_is_a_draft_2020_12_schema(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", STACK_FILES, ids=[p.name for p in STACK_FILES])
def test_every_shipped_stack_file_validates(schema, path):
    assert errors(schema, yaml.safe_load(path.read_text())) == []


def _patterns(node):
    """Every regular expression of a schema: `pattern` values and `patternProperties` keys."""
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield node["pattern"]
        yield from node.get("patternProperties") or {}
        for value in node.values():
            yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


def test_every_pattern_is_an_ecma_262_regular_expression(schema):
    """JSON Schema patterns are ECMA-262 (draft 2020-12, "Regular Expressions"): editors (yaml-language-server)
    and check-jsonschema compile them as JavaScript does. `regress` is the ECMA-262 engine check-jsonschema uses,
    with the `u` flag as it does; Python's `(?P<name>...)` is refused there."""
    refused = {}
    for pattern in set(_patterns(schema)):
        try:
            regress.Regex(pattern, flags="u")
        except regress.RegressError as error:
            refused[pattern] = str(error)
    assert refused == {}
    model_version = schema["$defs"]["TrainingJob"]["properties"]["model"]["pattern"]
    assert regress.Regex(model_version, flags="u").find("color:v2")
    assert not regress.Regex(model_version, flags="u").find("color")


def test_check_jsonschema_accepts_every_shipped_stack_file_as_the_readme_runs_it(tmp_path):
    """`mlp schema > stack.schema.json; check-jsonschema --schemafile stack.schema.json Pulumi.*.yaml` (README):
    the schema itself is checked against the draft 2020-12 metaschema, its patterns as ECMA-262."""
    schema_file = tmp_path / "stack.schema.json"
    schema_file.write_text(json.dumps(_printed_schema()))
    tool = Path(sys.executable).parent / "check-jsonschema"
    ran = subprocess.run(
        [str(tool), "--schemafile", str(schema_file), *map(str, STACK_FILES)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text(STACK_FILES[0].read_text().replace("color:v1", "color", 1))
    ran = subprocess.run([str(tool), "--schemafile", str(schema_file), str(bad)], capture_output=True, text=True)
    assert ran.returncode == 1 and "'color' does not match" in ran.stdout, ran.stdout + ran.stderr


def prod() -> dict:
    return yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())


def test_it_refuses_a_word_for_a_number(schema):
    document = prod()
    document["config"]["ml-platform:servings"]["color"]["predictors"][0]["traffic"] = "ninety"
    assert errors(schema, document) == [
        "config/ml-platform:servings/color/predictors/0/traffic: 'ninety' is not of type 'integer'"
    ]


def test_it_refuses_unknown_keys_at_every_level_and_lets_other_providers_pass(schema):
    document = prod()
    document["config"]["ml-platform:servingz"] = {}
    document["config"]["ml-platform:servings"]["color"]["predictors"][0]["trafic"] = 5
    document["config"]["kubernetes:context"] = "prod"
    found = errors(schema, document)
    assert len(found) == 2
    assert any("ml-platform:servingz" in e for e in found)
    assert any("'trafic' was unexpected" in e for e in found)


def test_numbers_where_pulumi_stores_them_are_valid(schema):
    document = prod()
    document["config"]["ml-platform:servings"]["style"]["predictors"][0]["resources"]["cpu"] = 2
    assert errors(schema, document) == []
    document["config"]["ml-platform:servings"]["style"]["predictors"][0]["resources"]["memory"] = "4GB"
    assert len(errors(schema, document)) == 1


def test_names_of_servings_must_be_dns_labels(schema):
    document = prod()
    servings = document["config"]["ml-platform:servings"]
    servings["Color"] = copy.deepcopy(servings["color"])
    assert len(errors(schema, document)) == 1


def _properties(node, path=""):
    if isinstance(node, dict):
        for key, value in (node.get("properties") or {}).items():
            yield f"{path}/{key}", value
        for key, value in node.items():
            yield from _properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for item in node:
            yield from _properties(item, path)


def test_every_field_carries_a_description(schema):
    undocumented = [path for path, value in _properties(schema) if not value.get("description")]
    assert undocumented == []
    cluster = schema["$defs"]["Cluster"]["properties"]["kind"]["description"]
    assert cluster.startswith("managed (ACK or EKS")


def _models(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _models(sub)


def test_every_config_model_field_has_a_docstring():
    """A field without a docstring under it has no description in the schema editors show."""
    import mlplatform.config  # noqa: F401  (every model registered)

    missing = [
        f"{model.__module__}.{model.__name__}.{name}"
        for model in _models(Model)
        for name, field in model.model_fields.items()
        if not field.description
    ]
    assert missing == []
