"""bench/preview_scale.py runs end to end at a tiny size and reports every column (the benchmark itself
is run by hand: `.venv/bin/python bench/preview_scale.py`)."""

import importlib.util
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parents[2] / "bench" / "preview_scale.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("preview_scale", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_project_serves_and_trains_n_copies(tmp_path):
    bench = load_bench()
    bench.project_with(tmp_path, servings=3, jobs=3)
    prod = yaml.safe_load((tmp_path / "Pulumi.prod.yaml").read_text())["config"]
    dev = yaml.safe_load((tmp_path / "Pulumi.dev.yaml").read_text())["config"]
    assert sorted(prod["ml-platform:servings"]) == ["color-0", "color-1", "color-2"]
    assert all(len(s["predictors"]) == 2 for s in prod["ml-platform:servings"].values())
    assert {f"color-training-{i}" for i in range(3)} <= set(dev["ml-platform:trainingJobs"])
    assert (tmp_path / "policies" / "PulumiPolicy.yaml").is_file()


def test_the_bench_measures_a_preview_and_its_floor_and_prints_a_table():
    bench = load_bench()
    lines = []
    (row,) = bench.run([3], series=["jobs"], policy=False, echo=lines.append, phases=True)
    assert lines[0].startswith("machine: ") and "x" in lines[0]
    assert lines[1] == bench.header()
    # Each phase of the preview's process beside the floor's, the same registrations under the same name.
    assert list(row["phases"]) == [
        "start-up",
        "setup",
        "dev plan",
        "prod plan",
        "records",
        "validation wait",
        "write",
        "print",
        "exit",
    ]
    assert list(row["floor_phases"]) == ["start-up", "read plans", "prod plan", "exit"]
    assert all(phase["seconds"] >= 0 and phase["peak_mib"] > 10 for phase in row["phases"].values())
    assert abs(sum(phase["seconds"] for phase in row["phases"].values()) - row["preview_s"]) < 0.01
    assert row["peak_mib"] == max(phase["peak_mib"] for phase in row["phases"].values())
    phase_lines = lines[3].splitlines()
    assert phase_lines[0].startswith("jobs N=3: phase")
    assert [line.split()[0] for line in phase_lines[1:4]] == ["start-up", "read", "setup"]  # the floor's in place
    assert row["series"] == "jobs" and row["n"] == 3 and row["exit"] == 0
    assert row["resources"] > 50
    assert row["preview_s"] > 0 and row["floor_s"] > 0
    assert row["ratio"] == row["preview_s"] / row["floor_s"]
    assert row["peak_mib"] > 20 and row["tree_mib"] >= row["peak_mib"] and row["floor_mib"] > 20
    rows = [row, {**row, "n": 500}, {**row, "n": 1000, "preview_s": 2 * row["preview_s"]}]
    rendered = bench.table(rows).splitlines()
    assert rendered[0].split() == bench.header().split()
    assert rendered[-1] == "jobs: t(1000)/t(500) = 2.00"
