"""Suite specification: YAML with line marks, pydantic models, loader and JSON Schema."""
