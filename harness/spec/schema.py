"""Published JSON Schemas: the suite format (with every registered check) and the RunLog."""

from __future__ import annotations

from typing import Any

from harness.checks.registry import registry

SUITE_SCHEMA_ID = "urn:harness:suite:v1"


def _check_schemas() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for name, definition in sorted(registry().items()):
        args = definition.args_model.model_json_schema(by_alias=True)
        args.pop("title", None)
        props = args.setdefault("properties", {})
        props["negate"] = {"type": "boolean", "description": "Pass when the check fails."}
        alternatives: list[dict[str, Any]] = [args]
        if not args.get("required"):
            alternatives.append({"type": "null"})
        if definition.shorthand is not None:
            alternatives.append(props[definition.shorthand])
        items.append({
            "type": "object",
            "description": definition.description,
            "properties": {name: {"anyOf": alternatives}},
            "required": [name],
            "additionalProperties": False,
        })
    return items


def suite_schema() -> dict[str, Any]:
    """JSON Schema of a suite file; each ``expect`` item is one of the registered checks."""
    from harness.spec.models import Suite

    schema = Suite.model_json_schema(by_alias=True)
    check_item = {"anyOf": [*_check_schemas(), {"type": "string", "enum": sorted(registry())}]}
    defs = schema.setdefault("$defs", {})
    defs["Check"] = check_item
    ref = {"type": "array", "items": {"$ref": "#/$defs/Check"}}
    schema["properties"]["expect"] = {**ref, "description": "Checks applied to every case."}
    for model in ("Case", "Dataset"):
        defs[model]["properties"]["expect"] = dict(ref)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SUITE_SCHEMA_ID
    schema["title"] = "harness suite"
    return schema


def runlog_schema() -> dict[str, Any]:
    """JSON Schema of a RunLog file."""
    from harness.results import RunLog

    schema = RunLog.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "harness RunLog v1"
    return schema
