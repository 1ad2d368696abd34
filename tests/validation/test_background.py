"""Validation in the worker process gives what `check_all` gives, and a plan that fails leaves no trace."""

from mlplatform.validation import check_all
from mlplatform.validation.background import BATCH, BackgroundCheck


def _config_map(name: str, data=None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data or {"k": "v"}}


def _objects() -> list[dict]:
    broken = _config_map("broken", {"k": 1})  # ConfigMap data holds strings only
    return [*(_config_map(f"cm-{index}") for index in range(BATCH + 3)), broken]


def test_the_worker_finds_what_check_all_finds():
    objects = _objects()
    with BackgroundCheck("1.35") as check:
        for obj in objects:
            check.add(obj)
        found = check.result()
    expected = check_all(objects, "1.35")
    assert (found.builtin, found.custom, found.problems) == (expected.builtin, expected.custom, expected.problems)
    assert found.builtin == BATCH + 4 and len(found.problems) == 1
    assert found.problems[0].startswith("ConfigMap/broken: ")


def test_a_check_left_without_its_result_does_not_leak_into_the_next():
    with BackgroundCheck("1.35") as abandoned:  # the plan failed after objects were sent
        for obj in _objects():
            abandoned.add(obj)
    with BackgroundCheck("1.35") as check:
        check.add(_config_map("only"))
        found = check.result()
    assert (found.builtin, found.problems) == (1, [])
