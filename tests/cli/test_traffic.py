"""`traffic`: set a serving's split in Pulumi.<stack>.yaml, exactly as `pulumi config set --path` would."""

import subprocess
import sys

import pytest
from test_promote import (
    REPO,
    STACKS,
    V2_AS_SHADOW,
    assert_refused,
    assert_same_as_pulumi_config_set,
    copy_project,
    edit,
    namespace_values,
    printed_commands,
    replace_once,
    run,
)

from mlplatform import config


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path)


SPLIT = ["traffic", "--stack", "prod", "--serving", "color"]


def test_traffic_sets_the_split_as_pulumi_config_set_would(project, capsys):
    edit(project, "prod", "          traffic: 90\n", "          traffic: 90 # stable\n")
    original_text = (project / "Pulumi.prod.yaml").read_text()
    original = namespace_values(project, "prod")

    code, out, err = run(project, capsys, *SPLIT, "v1=80", "v2=20")

    assert (code, err) == (0, "")
    expected = replace_once(original_text, "traffic: 90 # stable\n", "traffic: 80 # stable\n")
    expected = replace_once(expected, "          traffic: 10\n", "          traffic: 20\n")
    assert (project / "Pulumi.prod.yaml").read_text() == expected
    assert "-          traffic: 10\n+          traffic: 20\n" in out
    commands = [
        ["pulumi", "config", "set", "--path", "ml-platform:servings.color.predictors[0].traffic", "80"],
        ["pulumi", "config", "set", "--path", "ml-platform:servings.color.predictors[1].traffic", "20"],
    ]
    assert_same_as_pulumi_config_set(project, "prod", original, commands)
    assert [command[-2:] for command in printed_commands(out)] == [command[-2:] for command in commands]


def test_traffic_adds_a_missing_traffic_key_next_to_the_model(project, capsys):
    edit(project, "prod", "          traffic: 10\n", "")
    edit(project, "prod", "          traffic: 90\n", "          traffic: 100\n")

    code, _, _ = run(project, capsys, *SPLIT, "v2=50", "v1=50")

    assert code == 0
    assert (
        "        - name: v2\n          model: color:v2\n          traffic: 50\n          replicas: 2\n"
        in (project / "Pulumi.prod.yaml").read_text()
    )
    color = config.parse(namespace_values(project, "prod")).servings["color"]
    assert [(p.name, p.traffic) for p in color.predictors] == [("v1", 50), ("v2", 50)]


@pytest.mark.parametrize(
    ("split", "message"),
    [
        (["v1=80", "v2=30"], "the split must sum to 100, got v1=80 + v2=30 = 110"),
        (["v1=80", "v3=20"], "serving color has no predictor 'v3': its predictors are v1, v2"),
        (["v1=100"], "the split must name every live predictor of serving color; missing: v2"),
        (["v1=80", "v1=20"], "predictor 'v1' is named twice in the split"),
        (["v1:80", "v2=20"], "'v1:80' is not PREDICTOR=PERCENT (e.g. v1=80)"),
        (["v1=80", "v2=-20"], "'v2=-20' is not PREDICTOR=PERCENT (e.g. v1=80)"),
    ],
)
def test_traffic_refuses_a_bad_split_and_writes_nothing(project, capsys, split, message):
    assert_refused(project, capsys, [*SPLIT, *split], message)


def test_traffic_refuses_an_unknown_serving_or_stack(project, capsys):
    assert_refused(
        project,
        capsys,
        ["traffic", "--stack", "prod", "--serving", "colour", "v1=100"],
        "unknown serving 'colour' in stack prod (did you mean 'color'?): its servings are color, style, sentiment, assistant",
    )
    assert_refused(
        project,
        capsys,
        ["traffic", "--stack", "production", "--serving", "color", "v1=100"],
        f"unknown stack 'production': the stacks are {STACKS}",
    )


def test_traffic_refuses_a_share_for_the_shadow(project, capsys):
    for old, new in V2_AS_SHADOW:
        edit(project, "prod", old, new)
    assert_refused(
        project,
        capsys,
        [*SPLIT, "v1=90", "v2=10"],
        "predictor 'v2' of serving color is a shadow: it gets a copy of the traffic, not a share",
    )


def test_python_dash_m_exit_codes(project):
    """The real process: 2 and one line on a refusal, 0 after a successful edit."""
    command = [sys.executable, "-m", "mlplatform", "--project-dir", str(project), *SPLIT]
    before = (project / "Pulumi.prod.yaml").read_bytes()

    refused = subprocess.run([*command, "v1=80", "v2=30"], capture_output=True, text=True, cwd=REPO, check=False)
    assert (refused.returncode, refused.stderr) == (2, "error: the split must sum to 100, got v1=80 + v2=30 = 110\n")
    assert (project / "Pulumi.prod.yaml").read_bytes() == before

    done = subprocess.run([*command, "v1=50", "v2=50"], capture_output=True, text=True, cwd=REPO, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    color = config.parse(namespace_values(project, "prod")).servings["color"]
    assert [(p.name, p.traffic) for p in color.predictors] == [("v1", 50), ("v2", 50)]


def _relayout(text: str, mapping: int, sequence: int, offset: int) -> str:
    """The same stack file written with another indentation (comments kept)."""
    import io

    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    document = yaml.load(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    stream = io.StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()


@pytest.mark.parametrize(
    "layout", [(4, 6, 4), (4, 4, 2), (2, 2, 0)], ids=["4-spaces-dash-indented", "4-spaces", "2-spaces-dash-flush"]
)
def test_traffic_edits_a_file_of_any_indentation_and_keeps_its_comments(project, capsys, layout):
    path = project / "Pulumi.prod.yaml"
    text = path.read_text().replace("          traffic: 90\n", "          traffic: 90 # the stable version\n")
    text = text.replace("    color:\n", "    # the colour model, v2 canary\n    color:\n", 1)
    original = _relayout(text, *layout)
    assert " " * layout[0] + "ml-platform:cloud: alicloud\n" in original  # really re-indented
    path.write_text(original)

    code, _, err = run(project, capsys, *SPLIT, "v1=70", "v2=30")

    assert (code, err) == (0, "")
    written = path.read_text()
    changed = [(old, new) for old, new in zip(original.splitlines(), written.splitlines(), strict=True) if old != new]
    assert [(" ".join(old.split()), " ".join(new.split())) for old, new in changed] == [
        ("traffic: 90 # the stable version", "traffic: 70 # the stable version"),
        ("traffic: 10", "traffic: 30"),
    ]
    assert "# the colour model, v2 canary" in written
    color = config.parse(namespace_values(project, "prod")).servings["color"]
    assert [(p.name, p.traffic) for p in color.predictors] == [("v1", 70), ("v2", 30)]


def test_a_file_that_cannot_be_written_back_unchanged_is_refused(project, capsys):
    path = project / "Pulumi.prod.yaml"
    path.write_text(path.read_text().replace("      minSize: 2\n", "      minSize:    2\n"))
    assert_refused(
        project,
        capsys,
        [*SPLIT, "v1=70", "v2=30"],
        "Pulumi.prod.yaml: cannot be written back unchanged (its indentation or spacing is not uniform); "
        "make it uniform or edit it with `pulumi config set --path`",
    )
