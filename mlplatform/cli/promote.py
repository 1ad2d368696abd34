"""`promote` and `traffic`: reviewed edits of a serving's predictors in Pulumi.<stack>.yaml.

The file is edited in place with ruamel.yaml's round trip, so comments, key order, quoting and layout
survive and the PR shows only the lines that changed. The file's own indentation is detected (2 or 4
spaces, dashes indented or not) and written back the same way. Every edit is validated as a whole StackConfig
before anything is written; on any error the file is left as it was, byte for byte. Each edit is
printed as a unified diff and as the equivalent `pulumi config set --path` commands.
"""

from __future__ import annotations

import difflib
import io
import os
import re
import shlex
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

from mlplatform import config, rules
from mlplatform.config import NAMESPACE, ConfigError, Serving, StackConfig
from mlplatform.conventions import property_path
from mlplatform.offline import stackfiles
from mlplatform.offline.stackfiles import UsageError

# Settings a new predictor does not take from the predictor it is modelled on.
OWN_SETTINGS = ("name", "model", "traffic", "shadow")


# (mapping indent, sequence indent, dash offset): ruamel.yaml's `indent()` arguments.
Layout = tuple[int, int, int]
DEFAULT_LAYOUT: Layout = (2, 4, 2)


def _yaml(layout: Layout = DEFAULT_LAYOUT) -> YAML:
    """Round-trip YAML with a file's layout (ours: mappings indented by 2, sequences by 4 with the dash at 2)."""
    yaml = YAML()
    yaml.preserve_quotes = True
    mapping, sequence, offset = layout
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.width = 4096  # never fold a long value onto a second line
    return yaml


def _dump(document, layout: Layout = DEFAULT_LAYOUT) -> str:
    stream = io.StringIO()
    _yaml(layout).dump(document, stream)
    return stream.getvalue()


def _layouts(text: str):
    """Layouts to try, the guess from the text first: 2 or 4 spaces (or 3), dashes flush or indented."""
    from ruamel.yaml.util import load_yaml_guess_indent

    try:
        _, indent, dash = load_yaml_guess_indent(text)
    except Exception:
        indent, dash = None, None
    if indent:
        yield (indent, (dash or 0) + 2, dash or 0)
        yield (indent, indent, max(indent - 2, 0))
    for mapping in (2, 4, 3):
        for offset in range(0, mapping + 1):
            yield (mapping, offset + 2, offset)


def detect_layout(text: str, name: str) -> tuple[object, Layout]:
    """The document and the layout that writes it back byte for byte; a UsageError if no layout does."""
    for layout in dict.fromkeys(_layouts(text)):
        try:
            document = _yaml(layout).load(text)
        except Exception as error:  # one line, at its place when ruamel.yaml knows it
            mark = getattr(error, "problem_mark", None)
            where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
            raise UsageError(
                f"{where}: not YAML the tool can edit: {getattr(error, 'problem', None) or error}"
            ) from None
        if _dump(document, layout) == text:
            return document, layout
    raise UsageError(
        f"{name}: cannot be written back unchanged (its indentation or spacing is not uniform); "
        "make it uniform or edit it with `pulumi config set --path`"
    )


def read_stack_config(project_dir: Path, stack: str) -> StackConfig:
    """The stack's `ml-platform:` config as the preview reads it (Pulumi.yaml defaults included)."""
    return stackfiles.load(project_dir, stack).settings()


def largest_remainder(weights: list[int], total: int) -> list[int]:
    """Split `total` in proportion to `weights` as integers that sum to `total`.

    Each share is first rounded down; the units left over go to the largest remainders, ties to the
    earlier predictor. All-zero weights split evenly.
    """
    if not weights:
        return []
    if not any(weights):
        weights = [1] * len(weights)
    quotas = [divmod(total * weight, sum(weights)) for weight in weights]
    shares = [quotient for quotient, _ in quotas]
    by_remainder = sorted(range(len(weights)), key=lambda index: -quotas[index][1])
    for index in by_remainder[: total - sum(shares)]:
        shares[index] += 1
    return shares


def _pulumi_retypes(text: str) -> bool:
    """Whether `pulumi config set --path` would store this string as a bool or an integer."""
    return text in ("true", "false") or (re.fullmatch(r"[-+]?[0-9]+", text) is not None and not re.match(r"0.", text))


def config_set_command(stack: str, parts: tuple, value: object) -> str:
    """The `pulumi config set --path` command that stores `value` at `parts` of the namespace."""
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    typed = ["--type", "string"] if isinstance(value, str) and _pulumi_retypes(text) else []
    key = f"{NAMESPACE}:{property_path(parts)}"
    return shlex.join(["pulumi", "config", "set", "--stack", stack, "--path", *typed, key, text])


def _leaves(parts: tuple, node) -> list[tuple[tuple, object]]:
    if isinstance(node, dict):
        return [leaf for key, value in node.items() for leaf in _leaves((*parts, key), value)]
    if isinstance(node, list):
        return [leaf for index, value in enumerate(node) for leaf in _leaves((*parts, index), value)]
    return [(parts, node)]


def _fresh_copy(node):
    """A copy of a YAML node without its comments: those belong to the lines they were written on."""
    if isinstance(node, dict):
        copy = CommentedMap((key, _fresh_copy(value)) for key, value in node.items())
    elif isinstance(node, list):
        copy = CommentedSeq(_fresh_copy(value) for value in node)
    else:
        return node  # scalars keep their quoting style ("2" stays double-quoted)
    if node.fa.flow_style():
        copy.fa.set_flow_style()
    return copy


def _last_entry(node: CommentedMap) -> tuple[CommentedMap, str]:
    """The mapping and key of the last line under `node`: ruamel keeps the comments after it there."""
    key = list(node)[-1]
    if isinstance(node[key], dict) and node[key]:
        return _last_entry(node[key])
    return node, key


def _move_following_comments(previous: CommentedMap, appended: CommentedMap) -> None:
    """Comment lines after the old last item introduce what follows the list: keep them after the new one."""
    mapping, key = _last_entry(previous)
    token = (mapping.ca.items.get(key) or [None, None, None])[2]
    if token is None:
        return
    own, _, following = token.value.partition("\n")
    if not following:
        return
    if own:  # the line's own end-of-line comment stays
        token.value = own + "\n"
    else:
        del mapping.ca.items[key]
    mapping, key = _last_entry(appended)
    mapping.ca.items[key] = [None, None, CommentToken("\n" + following, CommentMark(0), None), None]


class StackEdit:
    """One pending edit of Pulumi.<stack>.yaml: decisions read the typed config, edits go to the YAML."""

    def __init__(self, project_dir: Path, stack: str):
        self.project_dir = project_dir
        self.stack = stack
        self.path = stackfiles.stack_file(project_dir, stack)
        self.config = read_stack_config(project_dir, stack)
        self.original = self.path.read_text()
        self.document, self.layout = detect_layout(self.original, self.path.name)
        self.commands: list[str] = []

    def serving(self, name: str) -> Serving:
        servings = (self.document.get("config") or {}).get(f"{NAMESPACE}:servings") or {}
        if name not in self.config.servings or name not in servings:
            known = ", ".join(servings) or "none"
            close = difflib.get_close_matches(name, list(servings), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(f"unknown serving {name!r} in stack {self.stack}{hint}: its servings are {known}")
        return self.config.servings[name]

    def _predictors(self, serving: str) -> CommentedSeq:
        return self.document["config"][f"{NAMESPACE}:servings"][serving]["predictors"]

    def set_traffic(self, serving: str, index: int, percent: int) -> None:
        node = self._predictors(serving)[index]
        if node.get("traffic", 0) == percent:
            return
        if "traffic" in node:
            node["traffic"] = percent
        else:  # next to the model it weighs, not after the nested blocks
            node.insert(list(node).index("model") + 1, "traffic", percent)
        self.commands.append(
            config_set_command(self.stack, ("servings", serving, "predictors", index, "traffic"), percent)
        )

    def add_predictor(self, serving: str, name: str, model: str, template_index: int) -> int:
        """Append a predictor serving `model`, with the settings of the predictor at `template_index`.

        On KServe the new predictor is a canary, which runs fixed replicas: it takes no `autoscaling`."""
        predictors = self._predictors(serving)
        template = predictors[template_index]
        node = CommentedMap(name=name, model=model)
        skipped = (*OWN_SETTINGS, "autoscaling") if self.serving(serving).backend == "kserve" else OWN_SETTINGS
        for key, value in template.items():
            if key not in skipped:
                node[key] = _fresh_copy(value)
        _move_following_comments(predictors[-1], node)
        predictors.append(node)
        index = len(predictors) - 1
        for parts, value in _leaves(("servings", serving, "predictors", index), node):
            self.commands.append(config_set_command(self.stack, parts, value))
        return index

    def _validate(self, text: str) -> None:
        """Parse the edited file exactly as the preview will, with the project's Pulumi.yaml beside it."""
        with tempfile.TemporaryDirectory() as scratch:
            shutil.copy(self.project_dir / "Pulumi.yaml", scratch)
            Path(scratch, self.path.name).write_text(text)
            try:
                read_stack_config(Path(scratch), self.stack)
            except ConfigError as error:
                after = f"(after the edit; {self.path.name} left unchanged)"
                raise ConfigError.of([replace(p, reason=f"{p.reason} {after}") for p in error.problems]) from None

    def save(self) -> int:
        """Validate, print the change, then replace the file in one step."""
        text = _dump(self.document, self.layout)
        if text == self.original:
            print(f"{self.path.name}: already as asked, nothing to change")
            return 0
        self._validate(text)
        name = self.path.name
        diff = difflib.unified_diff(
            self.original.splitlines(keepends=True), text.splitlines(keepends=True), f"a/{name}", f"b/{name}"
        )
        print("".join(diff), end="")
        print("\nThe same change with the Pulumi CLI:")
        print("\n".join(f"  {command}" for command in self.commands))
        with tempfile.NamedTemporaryFile("w", dir=self.path.parent, prefix=f".{name}.", delete=False) as scratch:
            scratch.write(text)
        os.chmod(scratch.name, self.path.stat().st_mode)
        os.replace(scratch.name, self.path)
        shown = self.path.relative_to(self.project_dir) if self.path.is_relative_to(self.project_dir) else self.path
        print(f"\nwrote {shown}")
        return 0


def _serving_of(stack_config: StackConfig, model: str, stack: str) -> str:
    """The one serving whose predictors serve some version of `model`."""
    servings = [
        name
        for name, serving in stack_config.servings.items()
        if any(predictor.model.split(":")[0] == model for predictor in serving.predictors if predictor.is_model_version)
    ]
    if not servings:
        raise UsageError(f"no serving in stack {stack} serves model {model!r}; name one with --serving")
    if len(servings) > 1:
        raise UsageError(
            f"model {model!r} is served by {', '.join(servings)} in stack {stack}; choose one with --serving"
        )
    return servings[0]


def add_parser(commands, common) -> None:
    parser = commands.add_parser(
        "promote",
        parents=[common],
        help="serve a model version from one stack in another",
        description="Add a model version the source stack publishes to a serving of the target stack (or set its "
        "traffic), rebalancing the others; edits Pulumi.<target>.yaml in place.",
    )
    parser.add_argument("--model", required=True, help="model version, e.g. color:v2")
    parser.add_argument("--from", dest="source", required=True, help="stack that published the version")
    parser.add_argument("--to", dest="target", required=True, help="stack whose config is edited")
    parser.add_argument("--traffic", type=int, default=10, help="percent of traffic for the new version")
    parser.add_argument("--serving", help="serving to add it to (default: the one serving this model)")
    parser.set_defaults(handler=promote_command)


def promote_command(args) -> int:
    """Serve a version published by the source stack in the target stack, at --traffic percent."""
    match = rules.MODEL_VERSION.match(args.model)
    if not match:
        raise UsageError(f"--model {args.model!r} is not a model version (name:version, e.g. color:v2)")
    if not 1 <= args.traffic <= 100:
        raise UsageError(f"--traffic {args.traffic} is outside 1..100")
    if args.source == args.target:
        raise UsageError(f"--from and --to both name stack {args.source}")
    published = read_stack_config(args.project_dir, args.source).known_versions()
    if args.model not in published:
        listed = ", ".join(sorted(published)) or "none"
        raise UsageError(f"unknown model version {args.model!r}: stack {args.source} publishes {listed}")
    edit = StackEdit(args.project_dir, args.target)
    promotion = edit.config.promotion
    if promotion is not None and promotion.stack != args.source:
        raise UsageError(
            f"stack {args.target} reads its model versions from stack {promotion.stack} "
            f"({NAMESPACE}:promotion.stack), not from {args.source}"
        )
    serving_name = args.serving or _serving_of(edit.config, match["model"], args.target)
    serving = edit.serving(serving_name)
    live = [index for index, predictor in enumerate(serving.predictors) if not predictor.shadow]
    index = next((i for i, predictor in enumerate(serving.predictors) if predictor.model == args.model), None)
    if index is None:
        name = match["version"]
        if not re.match(config.DNS_LABEL, name):
            raise UsageError(f"predictor name {name!r} (the version of {args.model}) is not a DNS label")
        template = max(live, key=lambda i: serving.predictors[i].traffic)  # the first of equals
        index = edit.add_predictor(serving_name, name, args.model, template)
    elif serving.predictors[index].shadow:
        raise UsageError(
            f"{args.model} is the shadow predictor {serving.predictors[index].name!r} of serving {serving_name}; "
            "remove its `shadow: true` first"
        )
    others = [i for i in live if i != index]
    shares = largest_remainder([serving.predictors[i].traffic for i in others], 100 - args.traffic)
    edit.set_traffic(serving_name, index, args.traffic)
    for other, share in zip(others, shares, strict=True):
        edit.set_traffic(serving_name, other, share)
    return edit.save()


def _parse_split(items: list[str]) -> dict[str, int]:
    split: dict[str, int] = {}
    for item in items:
        name, equals, percent = item.partition("=")
        percent = percent.removesuffix("%")  # v1=80% reads as v1=80
        if not equals or not name or not re.fullmatch(r"[0-9]+", percent):
            raise UsageError(f"{item!r} is not PREDICTOR=PERCENT (e.g. v1=80)")
        if name in split:
            raise UsageError(f"predictor {name!r} is named twice in the split")
        split[name] = int(percent)
    return split


def traffic_command(args) -> int:
    """Set the traffic of every live predictor of one serving."""
    split = _parse_split(args.split)
    edit = StackEdit(args.project_dir, args.stack)
    serving = edit.serving(args.serving)
    predictors = {predictor.name: predictor for predictor in serving.predictors}
    for name in split:
        if name not in predictors:
            raise UsageError(
                f"serving {args.serving} has no predictor {name!r}: its predictors are {', '.join(predictors)}"
            )
        if predictors[name].shadow:
            raise UsageError(
                f"predictor {name!r} of serving {args.serving} is a shadow: it gets a copy of the traffic, not a share"
            )
    missing = [name for name, predictor in predictors.items() if not predictor.shadow and name not in split]
    if missing:
        raise UsageError(
            f"the split must name every live predictor of serving {args.serving}; missing: {', '.join(missing)}"
        )
    if sum(split.values()) != 100:
        terms = " + ".join(f"{name}={percent}" for name, percent in split.items())
        raise UsageError(f"the split must sum to 100, got {terms} = {sum(split.values())}")
    for index, predictor in enumerate(serving.predictors):
        if predictor.name in split:
            edit.set_traffic(args.serving, index, split[predictor.name])
    return edit.save()
