"""prod copies the versions it serves from the bucket the publishing stack exports (`buckets.models`), whether that
output is secret or not, and never plans a promotion that silently copies nothing."""

from pathlib import Path

import pulumi
import pytest
from support import strings

import stacks
from mlplatform.config import ConfigError
from mlplatform.offline import engine as offline
from mlplatform.offline import stackfiles
from mlplatform.offline.engine import SECRET_SIG, SIG_KEY

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "organization/ml-platform/dev"
COPY_JOB = "kubernetes:batch/v1:Job"


class SecretOutputs(offline.PlanMocks):
    """The publishing stack's outputs named in `secret` are secrets: its StackReference lists them in
    `secretOutputNames`, and `get_output_details` hands them over as `secret_value`."""

    secret: tuple[str, ...] = ()

    def new_resource(self, args):
        id_, state = super().new_resource(args)
        if args.typ == "pulumi:pulumi:StackReference":
            state = {**state, "secretOutputNames": list(self.secret)}
        return id_, state


@pytest.fixture
def plan_prod(shipped, monkeypatch):
    """Plan the shipped prod stack against dev's planned outputs (changed by `edit`), `secret` ones secret."""
    files = stackfiles.load(ROOT, "prod")
    settings = files.settings()

    def run(edit=lambda outputs: outputs, secret=()):
        outputs = edit(dict(shipped("dev").outputs))
        monkeypatch.setattr(SecretOutputs, "secret", tuple(secret))
        monkeypatch.setattr(offline, "PlanMocks", SecretOutputs)
        # The stack's own config (the provider's region), as the preview sets it.
        pulumi.runtime.set_all_config(files.config, files.secret_keys)
        monitor = offline.start("ml-platform", "prod", {SOURCE: outputs})
        offline.run_program(lambda: stacks.compose("prod", settings))
        return monitor

    return run


def copies(monitor) -> dict[str, dict]:
    return {
        job.name: job.inputs
        for job in monitor.of_type(COPY_JOB)
        if monitor.registrations[job.parent].type == "mlplatform:promotion:ModelCopy"
    }


def test_a_secret_buckets_output_plans_the_same_copies_and_keeps_the_bucket_secret(plan_prod, shipped):
    plain = plan_prod()
    secret = plan_prod(secret=("buckets",))
    assert copies(plain) and set(copies(secret)) == set(copies(plain))
    source_bucket = shipped("dev").outputs["buckets"]["models"].partition("://")[2]

    def mentions(monitor, skip=lambda node: False) -> int:
        return sum(source_bucket in text for r in monitor.registrations.values() for text in strings(r.inputs, skip))

    def is_secret(node: dict) -> bool:
        return node.get(SIG_KEY) == SECRET_SIG

    # The copies' volumes and roles' policies name the source bucket: as a secret, when the source made it one.
    assert mentions(plain, is_secret) and mentions(secret) and not mentions(secret, is_secret)


@pytest.mark.parametrize(
    "edit", [lambda o: {k: v for k, v in o.items() if k != "buckets"}, lambda o: {**o, "buckets": {}}]
)
def test_a_source_without_a_models_bucket_is_an_error_not_a_plan_without_copies(plan_prod, edit):
    with pytest.raises(ConfigError) as error:
        plan_prod(edit)
    assert error.value.path == "ml-platform:promotion.stack"
    assert f"{SOURCE} publishes" in error.value.reason and "exports no models bucket" in error.value.reason
