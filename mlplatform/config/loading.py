"""Reading the stack config: from raw values (offline tools) or from the running Pulumi program."""

from __future__ import annotations

import json
from typing import Any, Literal, get_origin

import pulumi
from pydantic import ValidationError

from mlplatform.config.base import NAMESPACE, ConfigError, PathError, format_path
from mlplatform.config.stack import StackConfig


def _to_config_error(error: ValidationError) -> ConfigError:
    first = error.errors()[0]
    location = tuple(part for part in first["loc"] if part not in ("function-after",))
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, PathError):
        location = location + cause.path
        reason = cause.reason
    else:
        reason = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            reason = "unknown key"
        elif first["type"] == "literal_error":
            reason = f"{first['input']!r} is not allowed: {reason}"
    return ConfigError(f"{NAMESPACE}:{format_path(location)}", reason)


def parse(raw: dict[str, Any]) -> StackConfig:
    """Validate raw config values (keys without the namespace) or raise a ConfigError."""
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as error:
        raise _to_config_error(error) from None


def load() -> StackConfig:
    """Read the `ml-platform:` namespace from the running Pulumi program's config."""
    config = pulumi.Config(NAMESPACE)
    raw = {}
    for field in StackConfig.model_fields.values():
        value = config.get(field.alias)
        if value is None:
            continue
        if pulumi.runtime.is_config_secret(config.full_key(field.alias)):
            raise ConfigError(
                f"{NAMESPACE}:{field.alias}",
                "takes no secure value: it would reach cloud and Kubernetes inputs in plain text "
                "(credentials are created by the stack and kept secret)",
            )
        is_text = field.annotation is str or get_origin(field.annotation) is Literal
        try:
            raw[field.alias] = value if is_text else json.loads(value)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{NAMESPACE}:{field.alias}", f"not a structured value: {error}") from None
    return parse(raw)
