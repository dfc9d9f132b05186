"""Published JSON Schemas: the suite format (with every registered check) and the RunLog."""

from __future__ import annotations

from typing import Any

from harness.checks.registry import namespaces, registry

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
    for prefix, ns in sorted(namespaces().items()):
        # 'ragas:<metric>': any metric of the library, checked by name when the suite loads
        items.append({
            "type": "object",
            "description": ns.description,
            "propertyNames": {"pattern": f"^{prefix}:[A-Za-z][A-Za-z0-9_]*$"},
            "additionalProperties": _generic_args(),
            "minProperties": 1,
            "maxProperties": 1,
        })
    return items


def _generic_args() -> dict[str, Any]:
    return {"anyOf": [{"type": "null"}, {
        "type": "object",
        "properties": {
            "threshold": {"type": "number", "minimum": 0, "maximum": 1},
            "judges": {"type": "array", "items": {"type": "string"}},
            "reference": {"type": "string"},
            "options": {"type": "object"},
            "negate": {"type": "boolean", "description": "Pass when the check fails."},
        },
        "additionalProperties": False,
    }]}


def suite_schema() -> dict[str, Any]:
    """JSON Schema of a suite file; each ``expect`` item is one of the registered checks."""
    from harness.spec.models import Suite

    schema = Suite.model_json_schema(by_alias=True)
    check_item = {"anyOf": [*_check_schemas(), {"type": "string", "enum": sorted(registry())}]}
    if namespaces():
        names = "|".join(sorted(namespaces()))
        check_item["anyOf"].append(
            {"type": "string", "pattern": f"^({names}):[A-Za-z][A-Za-z0-9_]*$"})
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
