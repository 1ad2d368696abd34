"""`python -m mlplatform preview ...`, the same process, with the time and peak RSS of each of its phases.

    .venv/bin/python bench/phases.py MARKS.json preview -s prod -C PROJECT --out OUT

Runs `mlplatform.cli.main` as `mlp` does, with marks at the boundaries of the preview's phases (wrapping the
functions that start and end them; nothing else changes), and writes the marks to MARKS.json: for each, the
wall clock (`time.time()`, so that the bench can add the interpreter's start-up it timed from outside), and the
process's own peak RSS since the previous mark (VmHWM, reset at each mark through /proc/self/clear_refs) and
its RSS at the mark. Phases, in order:

- start-up: the interpreter and the modules of `mlp` and of the preview (the bench times it from its Popen);
- setup: the stack files, the validation worker and the policy pack's process started;
- dev plan: the referenced stack planned for its outputs, the program's imports included (the first run);
- prod plan: the stack's own program run, every registration recorded, validated and analyzed as it comes;
- records: the deployment records in their stable order; AnalyzeStack queued;
- validation wait: what the validation worker had left when the program ended;
- write: stack.json, the manifests, releases.yaml;
- pack wait: the policy pack's verdicts (AnalyzeStack), policy.json;
- print: the tree and the summary printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

STARTED = time.time()
MARKS: list[dict] = []


def _status() -> dict[str, int]:
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmHWM:", "VmRSS:")):
            key, value = line.split(":", 1)
            values[key] = int(value.split()[0])
    return values


def mark(name: str) -> None:
    """The end of phase `name`: now, the peak RSS since the previous mark, the RSS now; the peak starts over."""
    status = _status()
    MARKS.append({"phase": name, "at": time.time(), "peak_kib": status["VmHWM"], "rss_kib": status["VmRSS"]})
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)


def _around(owner, name: str, before: str | None = None, after: str | None = None) -> None:
    function = getattr(owner, name)

    def wrapped(*args, **kwargs):
        if before:
            mark(before)
        result = function(*args, **kwargs)
        if after:
            mark(after)
        return result

    setattr(owner, name, wrapped)


def main() -> None:
    out, argv = sys.argv[1], sys.argv[2:]
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # as `python -m mlplatform` run from the project
    import mlplatform.cli
    from mlplatform.offline import analysis, packrun, preview  # noqa: F401  (what `mlp preview` imports first)
    from mlplatform.validation import background

    mark("start-up")
    depth = {"plan": 0}
    referenced = preview._referenced_outputs

    def referenced_outputs(*args, **kwargs):  # the outermost call only: the dev plan plans no reference of its own
        depth["plan"] += 1
        if depth["plan"] == 1:
            mark("setup")
        try:
            return referenced(*args, **kwargs)
        finally:
            if depth["plan"] == 1:
                mark("dev plan")
            depth["plan"] -= 1

    preview._referenced_outputs = referenced_outputs
    _around(preview, "_records", before="prod plan")
    _around(background.BackgroundCheck, "result", before="records", after="validation wait")
    _around(preview, "write", after="write")
    _around(packrun.PolicyPackRun, "report", after="pack wait")
    code = mlplatform.cli.main(argv)
    sys.stdout.flush()
    mark("print")
    Path(out).write_text(json.dumps({"started": STARTED, "marks": MARKS}))
    os._exit(code)  # as `mlp` exits: no interpreter teardown


if __name__ == "__main__":
    main()
