"""The chart's settings map one-to-one to the worker's (orderstream.settings.Settings).

Rule: a key of `config` in values.yaml is a setting name as in settings.py and renders as env
ORDERSTREAM_<KEY IN UPPER CASE>; the settings that come from Secrets or from the pod itself are
set by the templates. Adding a setting to either side without the other fails here.
"""

import enum
import json
import typing
from pathlib import Path

import annotated_types
import yaml
from helm_render import CHART, containers

from orderstream.settings import Settings

FROM_SECRETS = {"kafka_bootstrap_servers", "kafka_sasl_username", "kafka_sasl_password",
                "kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile", "api_token", "api_read_token"}
PER_POD = {"datadir", "web_host", "web_port", "web_advertised_host", "group_instance_id"}
PREFIX = "ORDERSTREAM_"

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
CONFIG_SCHEMA = SCHEMA["definitions"]["config"]["properties"]


def rendered_settings(owner: dict) -> set[str]:
    names = {e["name"] for c in containers(owner) for e in c.get("env", [])}
    return {n.removeprefix(PREFIX).lower() for n in names if n.startswith(PREFIX)}


def test_every_setting_is_set_on_every_worker_and_nothing_else_is(renders):
    for sts in renders["mtls"].of_kind("StatefulSet"):
        assert rendered_settings(sts) == set(Settings.model_fields), sts["metadata"]["name"]


def test_the_topics_job_sets_only_settings(renders):
    (job,) = renders["mtls"].of_kind("Job")
    assert rendered_settings(job) <= set(Settings.model_fields)


def test_config_holds_exactly_the_settings_not_set_by_the_templates():
    assert FROM_SECRETS | PER_POD <= set(Settings.model_fields)
    expected = set(Settings.model_fields) - FROM_SECRETS - PER_POD
    assert set(VALUES["config"]) == expected
    assert set(CONFIG_SCHEMA) == expected


def test_config_defaults_are_valid_settings():
    Settings(**VALUES["config"], kafka_bootstrap_servers="kafka:9092")


def test_the_schema_enforces_the_workers_rules_for_every_config_key():
    for key, want in CONFIG_SCHEMA.items():
        rules = worker_rules(key)
        have = {k: want[k] for k in rules if k in want}
        assert have == rules, f"config.{key}: the schema says {have}, the worker says {rules}"


def worker_rules(key: str) -> dict:
    """A setting's type and constraints, in JSON Schema words."""
    field = Settings.model_fields[key]
    annotation = field.annotation
    if typing.get_origin(annotation) is typing.Literal:
        rules = {"enum": list(typing.get_args(annotation))}
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        rules = {"enum": [m.value for m in annotation]}
    else:
        json_type = {bool: "boolean", int: "integer", float: "number", str: "string",
                     Path: "string"}.get(annotation)
        assert json_type, f"config.{key}: teach this test how {annotation} reads in JSON Schema"
        rules = {"type": json_type}
    words = {annotated_types.Ge: ("minimum", "ge"), annotated_types.Le: ("maximum", "le"),
             annotated_types.Gt: ("exclusiveMinimum", "gt"), annotated_types.Lt: ("exclusiveMaximum", "lt"),
             annotated_types.MinLen: ("minLength", "min_length"),
             annotated_types.MaxLen: ("maxLength", "max_length")}
    for rule in field.metadata:
        if type(rule) in words:
            word, attr = words[type(rule)]
            rules[word] = getattr(rule, attr)
        elif getattr(rule, "pattern", None):
            rules["pattern"] = rule.pattern
    return rules
