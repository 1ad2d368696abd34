"""`promote`: a model version published by dev becomes a prod predictor, the file edited in place."""

import copy
import itertools
import re
import shlex
import shutil
from pathlib import Path

import pytest

from mlplatform import cli, config
from mlplatform.offline import stackfiles

REPO = Path(__file__).resolve().parents[2]
# The stacks of the project, as an unknown stack's message lists them.
STACKS = ", ".join(
    sorted(path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in REPO.glob("Pulumi.*.yaml"))
)


# ---------------------------------------------------------------- helpers shared with test_traffic.py


def copy_project(folder: Path) -> Path:
    """A scratch copy of the project's Pulumi files, edited by the commands under test."""
    for path in [REPO / "Pulumi.yaml", *REPO.glob("Pulumi.*.yaml")]:
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path)


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"expected exactly one {old!r}"
    return text.replace(old, new)


def edit(project: Path, stack: str, old: str, new: str) -> None:
    path = project / f"Pulumi.{stack}.yaml"
    path.write_text(replace_once(path.read_text(), old, new))


def publish(project: Path, *versions: str) -> None:
    """Make dev publish more model versions (as if trained there)."""
    edit(project, "dev", "    - style:v1\n", "    - style:v1\n" + "".join(f"    - {v}\n" for v in versions))


def run(project: Path, capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["--project-dir", str(project), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(project: Path, capsys, argv: list[str], message: str) -> None:
    """Exit 2, the message on one line, nothing on stdout, every file untouched byte for byte."""
    before = {path.name: path.read_bytes() for path in project.iterdir()}
    code, out, err = run(project, capsys, *argv)
    assert (code, err, out) == (2, f"error: {message}\n", "")
    assert {path.name: path.read_bytes() for path in project.iterdir()} == before


def namespace_values(project: Path, stack: str) -> dict:
    return stackfiles.load(project, stack).namespace_values()


def printed_commands(out: str) -> list[list[str]]:
    return [shlex.split(line) for line in out.splitlines() if line.strip().startswith("pulumi config set")]


def parse_property_path(path: str) -> list:
    """Pulumi's property path syntax: names, [index] and ["quoted.key"]."""
    token = re.compile(r'(?:^|\.)(?P<name>[^.\[\]"]+)|\[(?P<index>[0-9]+)\]|\[(?P<quoted>"(?:[^"\\]|\\.)*")\]')
    parts, position = [], 0
    while position < len(path):
        match = token.match(path, position)
        assert match, f"bad property path {path!r} at {position}"
        if match["name"] is not None:
            parts.append(match["name"])
        elif match["index"] is not None:
            parts.append(int(match["index"]))
        else:
            parts.append(match["quoted"][1:-1].replace('\\"', '"'))
        position = match.end()
    return parts


def pulumi_config_set(values: dict, command: list[str]) -> None:
    """Apply `pulumi config set --path [--type string] KEY VALUE` to a stack's namespace values.

    The CLI's semantics: with --path, "true"/"false" become booleans and integers (without a leading
    zero) numbers unless --type string; missing maps and lists are created on the way; an index equal
    to the list's length appends, a larger one is an error.
    """
    assert command[:3] == ["pulumi", "config", "set"] and "--path" in command
    key, text = command[-2:]
    namespace, _, path = key.partition(":")
    assert namespace == config.NAMESPACE
    if "--type" in command:
        assert command[command.index("--type") + 1] == "string"
        value = text
    elif text in ("true", "false"):
        value = text == "true"
    elif re.fullmatch(r"[-+]?[0-9]+", text) and not re.match(r"0.", text):
        value = int(text)
    else:
        value = text
    parts = parse_property_path(path)
    cursor = values
    for part, following in itertools.pairwise(parts):
        if isinstance(cursor, dict):
            child = cursor.get(part)
        else:
            assert 0 <= part <= len(cursor), "array index out of range"
            child = cursor[part] if part < len(cursor) else None
        if child is None:
            child = [] if isinstance(following, int) else {}
            _put(cursor, part, child)
        assert isinstance(child, list if isinstance(following, int) else dict), f"type mismatch at {part!r}"
        cursor = child
    _put(cursor, parts[-1], value)


def _put(container, key, value) -> None:
    if isinstance(container, list):
        assert 0 <= key <= len(container), "array index out of range"
        if key == len(container):
            container.append(value)
        else:
            container[key] = value
    else:
        container[key] = value


def assert_same_as_pulumi_config_set(project: Path, stack: str, original: dict, commands: list[list[str]]) -> None:
    """The edited file parses to what the commands would have made of the original values."""
    expected = copy.deepcopy(original)
    for command in commands:
        pulumi_config_set(expected, command)
    assert namespace_values(project, stack) == expected
    assert config.parse(namespace_values(project, stack)) == config.parse(expected)


# ---------------------------------------------------------------- promote


PROMOTE = ["promote", "--model", "color:v3", "--from", "dev", "--to", "prod"]
SECOND_COLOR_SERVING = (
    "    style:\n",
    "    color-gpu:\n      predictors:\n        - name: v1\n          model: color:v1\n    style:\n",
)
# v1 takes all traffic and v2 mirrors it.
V2_AS_SHADOW = [
    ("          traffic: 90\n", "          traffic: 100\n"),
    ("          traffic: 10\n", "          shadow: true\n"),
]
V3_PREDICTOR = """\
        - name: v3
          model: color:v3
          traffic: 10
          replicas: 2
          autoscaling:
            minReplicas: 2
            maxReplicas: 10
            cpuUtilization: 70
          batching:
            maxBatchSize: 32
            maxLatencyMs: 20
"""


def test_promote_adds_the_version_with_the_settings_of_the_busiest_predictor(project, capsys):
    publish(project, "color:v3")
    edit(project, "prod", "traffic: 90\n", "traffic: 90  # the stable version\n")
    edit(project, "prod", "maxBatchSize: 32\n", "maxBatchSize: 32  # tuned on T4\n")
    edit(project, "prod", "    style:\n", "    # the style-transfer A/B test\n    style:\n")
    original_text = (project / "Pulumi.prod.yaml").read_text()
    original = namespace_values(project, "prod")

    code, out, err = run(project, capsys, "promote", "--model", "color:v3", "--from", "dev", "--to", "prod")

    assert (code, err) == (0, "")
    # Only the two rebalanced traffic lines change, and the new predictor is appended as the last one,
    # before the comment that introduces the next serving; the header comment, inline comments (not
    # copied with the settings), quoting and every other line stay byte for byte.
    expected = replace_once(original_text, "traffic: 90  # the stable version\n", "traffic: 81  # the stable version\n")
    expected = replace_once(expected, "          traffic: 10\n", "          traffic: 9\n")
    expected = replace_once(expected, "    # the style-transfer", V3_PREDICTOR + "    # the style-transfer")
    assert (project / "Pulumi.prod.yaml").read_text() == expected
    assert expected.startswith("# prod: a managed ACK cluster")
    assert 'header: "style: transfer"' in expected
    color = config.parse(namespace_values(project, "prod")).servings["color"]
    assert [(p.name, p.model, p.traffic) for p in color.predictors] == [
        ("v1", "color:v1", 81),
        ("v2", "color:v2", 9),
        ("v3", "color:v3", 10),
    ]
    assert color.predictors[2].model_dump(exclude={"name", "model", "traffic"}) == color.predictors[0].model_dump(
        exclude={"name", "model", "traffic"}
    )
    assert "--- a/Pulumi.prod.yaml\n+++ b/Pulumi.prod.yaml\n" in out
    assert "-          traffic: 90  # the stable version\n+          traffic: 81  # the stable version\n" in out
    assert_same_as_pulumi_config_set(project, "prod", original, printed_commands(out))


def test_promote_of_a_served_version_sets_its_traffic_as_pulumi_config_set_would(project, capsys):
    original_text = (project / "Pulumi.prod.yaml").read_text()
    original = namespace_values(project, "prod")

    code, out, _ = run(
        project, capsys, "promote", "--model", "color:v2", "--from", "dev", "--to", "prod", "--traffic", "20"
    )

    assert code == 0
    expected = replace_once(original_text, "          traffic: 90\n", "          traffic: 80\n")
    expected = replace_once(expected, "          traffic: 10\n", "          traffic: 20\n")
    assert (project / "Pulumi.prod.yaml").read_text() == expected
    commands = [
        ["pulumi", "config", "set", "--path", "ml-platform:servings.color.predictors[1].traffic", "20"],
        ["pulumi", "config", "set", "--path", "ml-platform:servings.color.predictors[0].traffic", "80"],
    ]
    assert_same_as_pulumi_config_set(project, "prod", original, commands)
    assert [command[-2:] for command in printed_commands(out)] == [command[-2:] for command in commands]


def test_rebalancing_gives_leftover_percents_to_the_largest_remainders(project, capsys):
    publish(project, "color:v3", "color:v4")
    assert run(project, capsys, "promote", "--model", "color:v3", "--from", "dev", "--to", "prod")[0] == 0
    assert run(project, capsys, "traffic", "--stack", "prod", "--serving", "color", "v1=34", "v2=33", "v3=33")[0] == 0

    code, _, _ = run(project, capsys, "promote", "--model", "color:v4", "--from", "dev", "--to", "prod")

    # 90% over 34/33/33 is 30.6/29.7/29.7: rounded down 30/29/29, the 2 left over go to the .7s.
    color = config.parse(namespace_values(project, "prod")).servings["color"]
    assert code == 0
    assert [(p.name, p.traffic) for p in color.predictors] == [("v1", 30), ("v2", 30), ("v3", 30), ("v4", 10)]


def test_string_values_that_look_like_numbers_are_printed_with_type_string(project, capsys):
    publish(project, "style:v2")
    original = namespace_values(project, "prod")

    code, out, _ = run(project, capsys, "promote", "--model", "style:v2", "--from", "dev", "--to", "prod")

    assert code == 0
    assert (
        "pulumi config set --stack prod --path --type string 'ml-platform:servings.style.predictors[1].resources.cpu' 2"
        in out
    )
    assert '            cpu: "2"\n' in (project / "Pulumi.prod.yaml").read_text().split("- name: v2")[-1]
    assert_same_as_pulumi_config_set(project, "prod", original, printed_commands(out))


def test_promote_into_a_named_serving_when_two_serve_the_model(project, capsys):
    publish(project, "color:v3")
    edit(project, "prod", *SECOND_COLOR_SERVING)

    code, _, _ = run(
        project, capsys, "promote", "--model", "color:v3", "--from", "dev", "--to", "prod", "--serving", "color-gpu"
    )

    servings = config.parse(namespace_values(project, "prod")).servings
    assert code == 0
    assert [(p.name, p.traffic) for p in servings["color-gpu"].predictors] == [("v1", 90), ("v3", 10)]
    assert [p.name for p in servings["color"].predictors] == ["v1", "v2"]


def test_promote_that_changes_nothing_leaves_the_file_alone(project, capsys):
    before = (project / "Pulumi.prod.yaml").read_bytes()

    code, out, _ = run(
        project, capsys, "promote", "--model", "color:v2", "--from", "dev", "--to", "prod", "--traffic", "10"
    )

    assert (code, out) == (0, "Pulumi.prod.yaml: already as asked, nothing to change\n")
    assert (project / "Pulumi.prod.yaml").read_bytes() == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["promote", "--model", "color:v9", "--from", "dev", "--to", "prod"],
            "unknown model version 'color:v9': stack dev publishes color:V3, color:v1, color:v2, color:v3, fresh:v1, "
            "qwen2-5-7b-instruct:v1, sentiment:v1, sentiment:v2, style:v1",
        ),
        (
            ["promote", "--model", "color", "--from", "dev", "--to", "prod"],
            "--model 'color' is not a model version (name:version, e.g. color:v2)",
        ),
        ([*PROMOTE, "--traffic", "0"], "--traffic 0 is outside 1..100"),
        ([*PROMOTE, "--traffic", "101"], "--traffic 101 is outside 1..100"),
        (
            [*PROMOTE, "--serving", "colour"],
            "unknown serving 'colour' in stack prod (did you mean 'color'?): its servings are color, style, sentiment, assistant",
        ),
        (
            ["promote", "--model", "color:v3", "--from", "dev", "--to", "staging"],
            f"unknown stack 'staging': the stacks are {STACKS}",
        ),
        (
            ["promote", "--model", "color:v3", "--from", "qa", "--to", "prod"],
            f"unknown stack 'qa': the stacks are {STACKS}",
        ),
        (["promote", "--model", "color:v3", "--from", "prod", "--to", "prod"], "--from and --to both name stack prod"),
        (
            ["promote", "--model", "fresh:v1", "--from", "dev", "--to", "prod"],
            "no serving in stack prod serves model 'fresh'; name one with --serving",
        ),
        (
            ["promote", "--model", "color:V3", "--from", "dev", "--to", "prod"],
            "predictor name 'V3' (the version of color:V3) is not a DNS label",
        ),
    ],
)
def test_promote_refuses_and_writes_nothing(project, capsys, argv, message):
    publish(project, "color:v3", "fresh:v1", "color:V3")
    assert_refused(project, capsys, argv, message)


@pytest.mark.parametrize(
    ("prod_edits", "argv", "message"),
    [
        (
            [SECOND_COLOR_SERVING],
            PROMOTE,
            "model 'color' is served by color, color-gpu in stack prod; choose one with --serving",
        ),
        (
            [("        - name: v2\n", "        - name: v3\n")],
            PROMOTE,
            "Pulumi.prod.yaml:{line}:11: ml-platform:servings.color.predictors[2].name: duplicate predictor name 'v3' "
            "(after the edit; Pulumi.prod.yaml left unchanged)",
        ),
        (
            V2_AS_SHADOW,
            ["promote", "--model", "color:v2", "--from", "dev", "--to", "prod"],
            "color:v2 is the shadow predictor 'v2' of serving color; remove its `shadow: true` first",
        ),
        (
            [("    stack: dev\n", "    stack: staging\n")],
            PROMOTE,
            "stack prod reads its model versions from stack staging (ml-platform:promotion.stack), not from dev",
        ),
        (
            [("      minSize: 2\n", "      minSize:   2\n")],
            PROMOTE,
            "Pulumi.prod.yaml: cannot be written back unchanged (its indentation or spacing is not uniform); "
            "make it uniform or edit it with `pulumi config set --path`",
        ),
    ],
)
def test_promote_refuses_what_the_target_config_does_not_allow(project, capsys, prod_edits, argv, message):
    publish(project, "color:v3")
    for old, new in prod_edits:
        edit(project, "prod", old, new)
    if "{line}" in message:  # the line of the appended predictor in the edited file, which is never written
        lines = (project / "Pulumi.prod.yaml").read_text().splitlines()
        last = max(number for number, text in enumerate(lines, 1) if text == "        - name: v3")
        block = next(n for n in range(last, len(lines)) if not lines[n].startswith("          "))
        message = message.format(line=block + 1)
    assert_refused(project, capsys, argv, message)
