"""JSON Schemas of the messages on each context's topics, generated from the pydantic contracts.

topics/topics.toml lists, per context, the message types on `<ctx>.commands` and `<ctx>.events`;
each topic's schema (draft 2020-12) is a `oneOf` of those types with discriminator `type`.
`orderstream topics schemas` writes them to topics/schemas/; tests/unit/test_topic_spec.py
checks the files on disk equal a fresh generation. Dead-letter topics hold arbitrary bytes and
changelogs hold table state: neither gets a schema.
"""

import json
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from orderstream.contracts import MESSAGES
from orderstream.runtime.topics import SPEC_FILE, read_spec

DIALECT = "https://json-schema.org/draft/2020-12/schema"
KINDS = ("commands", "events")


def schema_dir() -> Path:
    """topics/schemas beside the spec that `read_spec` reads."""
    for topics in (SPEC_FILE.parent, Path.cwd() / "topics"):
        if (topics / "topics.toml").exists():
            return topics / "schemas"
    raise FileNotFoundError(f"topic spec not found at {SPEC_FILE} or ./topics/topics.toml")


def message_types(spec: dict, context: str, kind: str) -> list[str]:
    return sorted(spec["contexts"][context][kind])


def topic_schema(spec: dict, context: str, kind: str) -> dict[str, Any]:
    """The schema of `<context>.<kind>`: one of the listed message types, told apart by `type`."""
    names = message_types(spec, context, kind)
    unknown = [name for name in names if name not in MESSAGES]
    if unknown:
        raise ValueError(f"topics.toml: {context}.{kind} lists unknown message types {unknown}")
    classes = tuple(MESSAGES[name] for name in names)
    union = classes[0] if len(classes) == 1 else Union[classes]  # noqa: UP007 (a runtime tuple)
    adapter = TypeAdapter(Annotated[union, Field(discriminator="type")])
    schema = adapter.json_schema(mode="validation")
    for name in names:  # on the wire every message carries its `type` (the discriminator)
        definition = schema["$defs"][name]
        definition["required"] = sorted({*definition.get("required", ()), "type"})
    ctx = spec["contexts"][context]
    return {"$schema": DIALECT,
            "title": f"{context}.{kind}",
            "description": f"{spec['kinds'][kind]['description']}. Key: {ctx[f'{kind}_key']}.",
            **schema}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate(spec: dict | None = None) -> dict[str, str]:
    """File name -> content, for every context's commands and events topic."""
    spec = spec or read_spec()
    return {f"{context}.{kind}.json": render(topic_schema(spec, context, kind))
            for context in spec["contexts"] for kind in KINDS}


def write(directory: Path | None = None) -> list[str]:
    """Write the schemas, remove stale ones; returns what changed."""
    directory = directory or schema_dir()
    directory.mkdir(parents=True, exist_ok=True)
    files = generate()
    changes = []
    for stale in sorted(set(p.name for p in directory.glob("*.json")) - set(files)):
        (directory / stale).unlink()
        changes.append(f"removed {directory / stale}")
    for name, text in files.items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changes.append(f"wrote {path}")
    return changes
