"""The GitHub Actions workflows as a security review reads them: schema-valid, zizmor-clean, pinned, least privilege,
OIDC instead of long-lived keys, and every stack (the ACK ones and the EKS ones) previewed and deployed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
ACTIONS = sorted((GITHUB / "actions").glob("*/action.yml"))
BIN = Path(sys.executable).parent

SHA_PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<comment>\s+#.*)?$")
OIDC_ACTIONS = (
    "aws-actions/configure-aws-credentials",
    "aliyun/configure-aliyun-credentials-action",
    "pulumi/auth-actions",
)
LONG_LIVED_KEY = re.compile(r"secrets\.[A-Za-z0-9_]*(ACCESS_KEY|SECRET_KEY|KEY_SECRET|KEY_ID)", re.IGNORECASE)
SAME_REPOSITORY = "github.event.pull_request.head.repo.full_name == github.repository"


def load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    if True in doc:  # YAML 1.1 reads the `on:` key as a boolean
        doc["on"] = doc.pop(True)
    return doc


def workflow(name: str) -> dict:
    return load(GITHUB / "workflows" / name)


def all_files() -> list[Path]:
    return [*WORKFLOWS, *ACTIONS]


def steps_of(job: dict) -> list[dict]:
    """A job's steps, with each local composite action's steps inlined after it."""
    steps = []
    for step in job.get("steps", []):
        steps.append(step)
        uses = step.get("uses", "")
        if uses.startswith("./.github/actions/"):
            steps.extend(load(ROOT / uses / "action.yml")["runs"]["steps"])
    return steps


def uses_oidc(job: dict) -> bool:
    """Whether a job asks for an OIDC token: through an OIDC action, or a reusable workflow whose jobs do."""
    if str(job.get("uses", "")).startswith("./.github/workflows/"):
        return any(uses_oidc(inner) for inner in load(ROOT / job["uses"])["jobs"].values())
    return any(str(step.get("uses", "")).split("@")[0] in OIDC_ACTIONS for step in steps_of(job))


def jobs() -> list[tuple[str, str, dict]]:
    return [(path.name, name, job) for path in WORKFLOWS for name, job in load(path)["jobs"].items()]


def run_tool(*args: str) -> subprocess.CompletedProcess:
    tool = BIN / args[0]
    if not tool.exists():
        pytest.fail(f"{args[0]} is not installed next to {sys.executable}: pip install -r requirements-dev.txt")
    return subprocess.run([str(tool), *args[1:]], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_workflows_and_the_shared_action_exist():
    assert {p.name for p in WORKFLOWS} == {"pull-request.yml", "deploy.yml", "deploy-cloud.yml"}
    assert [p.parent.name for p in ACTIONS] == ["pulumi-stack"]


def test_zizmor_reports_no_medium_or_high_finding():
    result = run_tool("zizmor", "--offline", "--format", "json", "--min-severity", "medium", ".github/")
    assert result.returncode in (0, *range(10, 15)), result.stderr  # 1x: findings, by severity
    findings = json.loads(result.stdout or "[]")
    serious = [
        f"{f['ident']} ({f['determinations']['severity']}): {f['desc']} at "
        + ", ".join(loc["symbolic"]["key"]["Local"]["verbatim_path"] for loc in f["locations"])
        for f in findings
        if f["determinations"]["severity"] in ("Medium", "High") and not f.get("ignored")
    ]
    assert serious == []


def test_zizmor_on_the_workflows_folder_as_the_issue_runs_it():
    result = run_tool("zizmor", "--offline", "--min-severity", "medium", ".github/workflows/")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("schema", "paths"),
    [
        ("vendor.github-workflows", [str(p.relative_to(ROOT)) for p in WORKFLOWS]),
        ("vendor.github-actions", [str(p.relative_to(ROOT)) for p in ACTIONS]),
        ("vendor.dependabot", [".github/dependabot.yml"]),
    ],
)
def test_files_validate_against_the_github_schemas(schema, paths):
    result = run_tool("check-jsonschema", "--builtin-schema", schema, *paths)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_action_is_pinned_to_a_full_commit_sha_with_its_version_in_a_comment():
    pins: dict[str, set[str]] = {}
    for path in all_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = USES_LINE.match(line)
            if not match:
                continue
            ref, where = match["ref"], f"{path.name}:{number}"
            if ref.startswith("./"):
                assert (ROOT / ref).exists(), f"{where}: {ref} does not exist"
                continue
            assert SHA_PINNED.match(ref), f"{where}: {ref} is not pinned to a 40-hex commit SHA"
            assert match["comment"] and re.search(r"#\s*v\d+(\.\d+)*\b", match["comment"]), (
                f"{where}: say the version in a comment (# vX.Y.Z)"
            )
            action, sha = ref.split("@")
            pins.setdefault(action, set()).add(f"{sha} {match['comment'].strip()}")
    assert {action for action in pins} >= {
        "actions/checkout",
        "actions/setup-python",
        "pulumi/actions",
        "pulumi/auth-actions",
        "aws-actions/configure-aws-credentials",
        "aliyun/configure-aliyun-credentials-action",
    }
    assert {action: len(refs) for action, refs in pins.items() if len(refs) > 1} == {}, "one pin per action"


def test_every_checkout_drops_its_credentials():
    checkouts = [
        (path.name, step)
        for path in all_files()
        for step in (
            [s for job in load(path).get("jobs", {}).values() for s in job.get("steps", [])]
            if path in WORKFLOWS
            else load(path)["runs"]["steps"]
        )
        if str(step.get("uses", "")).startswith("actions/checkout@")
    ]
    assert len(checkouts) >= 7
    for name, step in checkouts:
        assert step.get("with", {}).get("persist-credentials") in (False, "false"), f"{name}: {step}"


def test_no_long_lived_cloud_key_is_read_from_secrets():
    for path in all_files():
        text = path.read_text()
        assert not LONG_LIVED_KEY.search(text), f"{path.name} reads a long-lived cloud key from secrets"
        for name in (
            "ALICLOUD_ACCESS_KEY",
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ):
            assert f"{name}:" not in text, f"{path.name} sets {name}"
    secrets = {m for p in all_files() for m in re.findall(r"secrets\.([A-Za-z0-9_]+)", p.read_text())}
    assert secrets <= {"PULUMI_ACCESS_TOKEN"}  # the one scoped token, only where the OIDC exchange is not used


def test_no_expression_is_expanded_inside_a_script():
    """Template injection: values reach `run:` scripts through environment variables only."""
    for path in all_files():
        doc = load(path)
        steps = (
            [s for job in doc["jobs"].values() for s in job.get("steps", [])]
            if path in WORKFLOWS
            else doc["runs"]["steps"]
        )
        for step in steps:
            assert "${{" not in step.get("run", ""), f"{path.name}: {step.get('name')}"


def test_permissions_are_empty_at_the_top_and_declared_per_job():
    for path in WORKFLOWS:
        assert load(path)["permissions"] == {}, f"{path.name}: top-level permissions must be {{}}"
    for name, job_name, job in jobs():
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"{name}:{job_name} declares no permissions"
        assert permissions.get("contents", "read") == "read", f"{name}:{job_name}"
        writes = {scope for scope, level in permissions.items() if level == "write"}
        assert writes <= {"id-token", "pull-requests"}, f"{name}:{job_name}: {writes}"


def test_id_token_write_only_and_always_where_an_oidc_action_is_used():
    oidc_jobs = set()
    for name, job_name, job in jobs():
        wants = job["permissions"].get("id-token") == "write"
        assert wants == uses_oidc(job), f"{name}:{job_name}: id-token write {wants}, uses OIDC {uses_oidc(job)}"
        if wants:
            oidc_jobs.add(f"{name}:{job_name}")
    assert oidc_jobs == {
        "pull-request.yml:cloud-preview",
        "deploy.yml:deploy",
        "deploy-cloud.yml:dev",
        "deploy-cloud.yml:prod",
    }


def test_pull_requests_write_only_for_the_job_that_comments():
    writers = {f"{n}:{j}" for n, j, job in jobs() if job["permissions"].get("pull-requests") == "write"}
    commenters = {
        f"{n}:{j}"
        for n, j, job in jobs()
        for step in job.get("steps", [])
        if str(step.get("with", {}).get("comment-on-pr", "false")).lower() == "true"
        or "gh pr comment" in str(step.get("run", ""))
    }
    assert writers == commenters == {"pull-request.yml:cloud-preview", "pull-request.yml:cost-comment"}


def test_the_cost_comment_runs_no_code_of_the_pull_request_and_only_for_its_own_branches():
    job = workflow("pull-request.yml")["jobs"]["cost-comment"]
    assert job["needs"] == "offline-diff" and job["if"].startswith(SAME_REPOSITORY)
    assert job["permissions"] == {"pull-requests": "write"}
    assert not any("uses" in step for step in job["steps"])  # no checkout, no action: only `gh pr comment`


def test_the_offline_preview_runs_every_stack_without_any_credential():
    pr = workflow("pull-request.yml")
    job = pr["jobs"]["offline-preview-stack"]
    assert job["needs"] == "stacks"
    assert job["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    assert job["permissions"] == {"contents": "read"}
    assert "if" not in job  # from forks too
    text = yaml.safe_dump(job)
    assert "secrets." not in text and "vars." not in text and not uses_oidc(job)
    run = next(s["run"] for s in job["steps"] if "mlplatform preview" in s.get("run", ""))
    assert '.venv/bin/python -m mlplatform preview --stack "$STACK"' in run
    # One stable required check that fails unless every stack's preview passed.
    gate = pr["jobs"]["offline-preview"]
    assert gate["name"] == "offline preview" and gate["needs"] == "offline-preview-stack"
    assert gate["if"] == "always()" and gate["permissions"] == {}
    assert gate["steps"][0]["env"]["RESULT"] == "${{ needs.offline-preview-stack.result }}"


def test_the_cloud_preview_runs_only_for_branches_of_this_repository_with_the_policy_pack():
    job = workflow("pull-request.yml")["jobs"]["cloud-preview"]
    assert job["if"] == SAME_REPOSITORY
    assert job["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    step = next(s for s in job["steps"] if s.get("uses") == "./.github/actions/pulumi-stack")
    assert step["with"]["command"] == "preview"
    assert step["with"]["aws-role-arn"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
    assert step["with"]["alicloud-role-arn"] == "${{ vars.ALIBABA_CLOUD_PREVIEW_ROLE_ARN }}"
    pulumi = next(s for s in steps_of(job) if str(s.get("uses", "")).startswith("pulumi/actions@"))
    assert pulumi["with"]["policyPacks"] == "policies"


DEPLOY_LABEL, PREVIEW_LABEL = "ml-platform-deploy", "ml-platform-preview"


def runner_labels(job: dict) -> set[str]:
    """The labels a job asks for (`runs-on` as a string, a list or a {labels: ...} mapping), and those of the jobs
    of a reusable workflow it calls."""
    if str(job.get("uses", "")).startswith("./.github/workflows/"):
        return {label for inner in load(ROOT / job["uses"])["jobs"].values() for label in runner_labels(inner)}
    runs_on = job.get("runs-on", [])
    if isinstance(runs_on, dict):
        runs_on = runs_on.get("labels", [])
    return {runs_on} if isinstance(runs_on, str) else set(runs_on)


def pull_request_jobs_on_deploy_runners(doc: dict, name: str) -> list[str]:
    """Jobs that run pull-request code (a workflow triggered by pull_request or pull_request_target) on a deploy
    runner: GitHub's "Security hardening for GitHub Actions" (self-hosted runners) says never to share them."""
    triggers = doc["on"] if isinstance(doc["on"], (dict, list)) else [doc["on"]]
    if not {"pull_request", "pull_request_target"} & set(triggers):
        return []
    return [f"{name}:{job_name}" for job_name, job in doc["jobs"].items() if DEPLOY_LABEL in runner_labels(job)]


def test_no_pull_request_job_runs_on_the_deploy_runners():
    assert [j for path in WORKFLOWS for j in pull_request_jobs_on_deploy_runners(load(path), path.name)] == []
    cloud_preview = workflow("pull-request.yml")["jobs"]["cloud-preview"]
    assert runner_labels(cloud_preview) == {"self-hosted", PREVIEW_LABEL}
    deploys = workflow("deploy-cloud.yml")["jobs"]
    assert all(runner_labels(job) == {"self-hosted", DEPLOY_LABEL} for job in deploys.values())
    on_preview = {f"{name}:{job_name}" for name, job_name, job in jobs() if PREVIEW_LABEL in runner_labels(job)}
    assert on_preview == {"pull-request.yml:cloud-preview"}


@pytest.mark.parametrize(
    "runs_on",
    ["[self-hosted, ml-platform-deploy]", "ml-platform-deploy", "{group: vpc, labels: [ml-platform-deploy]}"],
)
def test_a_pull_request_job_on_the_deploy_label_is_refused(runs_on):
    text = (GITHUB / "workflows" / "pull-request.yml").read_text()
    violating = text.replace("runs-on: [self-hosted, ml-platform-preview]", f"runs-on: {runs_on}")
    assert violating != text
    doc = yaml.safe_load(violating)
    doc["on"] = doc.pop(True)
    assert pull_request_jobs_on_deploy_runners(doc, "pull-request.yml") == ["pull-request.yml:cloud-preview"]


def test_the_shared_action_assumes_the_cloud_of_the_stack_by_oidc():
    steps = load(ACTIONS[0])["runs"]["steps"]
    by_action = {str(s.get("uses", "")).split("@")[0]: s for s in steps if "uses" in s}
    aws = by_action["aws-actions/configure-aws-credentials"]
    assert aws["if"] == "inputs.cloud == 'aws'"
    assert aws["with"]["role-to-assume"] == "${{ inputs.aws-role-arn }}"
    assert aws["with"]["audience"] == "sts.amazonaws.com"
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(aws["with"])
    ali = by_action["aliyun/configure-aliyun-credentials-action"]
    assert ali["if"] == "inputs.cloud == 'alicloud'"
    assert ali["with"]["oidc-provider-arn"] == "${{ inputs.alicloud-oidc-provider-arn }}"
    assert ali["with"]["audience"] == "sts.aliyuncs.com"
    pulumi_auth = by_action["pulumi/auth-actions"]
    assert pulumi_auth["if"] == "inputs.pulumi-auth == 'oidc'"
    pulumi = by_action["pulumi/actions"]
    assert pulumi["env"]["PULUMI_ACCESS_TOKEN"].startswith("${{ steps.pulumi-auth.outputs.pulumi-access-token ||")
    assert pulumi["with"]["stack-name"] == "${{ inputs.organization }}/${{ inputs.stack }}"


def test_deploy_runs_every_cloud_dev_then_prod_in_each_stack_environment():
    deploy = workflow("deploy.yml")
    assert deploy["on"] == {"push": {"branches": ["main"]}}
    assert deploy["concurrency"]["cancel-in-progress"] is False
    job = deploy["jobs"]["deploy"]
    assert set(job["needs"]) == {"stacks", "test"}
    assert job["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.stacks.outputs.clouds) }}"
    assert job["strategy"]["fail-fast"] is False
    assert job["uses"] == "./.github/workflows/deploy-cloud.yml"
    assert job["secrets"] == {"PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}"}  # never `inherit`

    cloud = workflow("deploy-cloud.yml")
    dev, prod = cloud["jobs"]["dev"], cloud["jobs"]["prod"]
    assert prod["needs"] == "dev"
    assert "needs.dev.result == 'success'" in prod["if"]
    for job, stage in ((dev, "dev"), (prod, "prod")):
        assert job["environment"] == "${{ matrix.stack }}"
        assert job["strategy"]["matrix"]["include"] == f"${{{{ fromJSON(inputs.{stage}-stacks) }}}}"
        assert job["strategy"]["fail-fast"] is False
        assert job["concurrency"]["cancel-in-progress"] is False
        step = next(s for s in job["steps"] if s.get("uses") == "./.github/actions/pulumi-stack")
        assert step["with"]["command"] == "up"
        assert step["with"]["aws-role-arn"] == "${{ vars.AWS_ROLE_ARN }}"  # the environment's deploy role
        assert step["with"]["alicloud-role-arn"] == "${{ vars.ALIBABA_CLOUD_ROLE_ARN }}"
        assert "pip-cache" not in step["with"]  # nothing cached reaches a deploy


def test_the_stack_matrices_come_from_the_stack_files():
    for name in ("pull-request.yml", "deploy.yml"):
        job = workflow(name)["jobs"]["stacks"]
        assert job["permissions"] == {"contents": "read"}
        assert any(s.get("run") == "python3 .github/scripts/stacks.py --github-output" for s in job["steps"])


def test_dependabot_updates_the_action_pins_and_every_requirements_file():
    updates = {u["package-ecosystem"]: u for u in load(GITHUB / "dependabot.yml")["updates"]}
    assert set(updates["github-actions"]["directories"]) == {"/", "/.github/actions/*"}
    pip = updates["pip"]["directories"]
    assert set(pip) == {"/", "/policies", "/bootstrap"}
    requirements = {
        p.relative_to(ROOT).as_posix() for d in pip for p in (ROOT / d.strip("/")).glob("requirements*.txt")
    }
    assert requirements == {
        "requirements.txt",
        "requirements-dev.txt",
        "policies/requirements.txt",
        "bootstrap/requirements.txt",
    }
    assert all(u["cooldown"]["default-days"] >= 7 for u in updates.values())
