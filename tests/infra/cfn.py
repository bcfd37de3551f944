"""Read our CloudFormation templates in tests, and resolve them for one set of parameters.

The resolver understands just what the templates use to switch parts on and off: Ref to a
parameter, Fn::If with the Conditions section, AWS::NoValue, and Fn::Join of resolved
strings. Anything else (imports, GetAtt, Sub) is left as written, so assertions can check
which export or attribute a property points at.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

from bookingapp_infra.stacks import TEMPLATES_DIR

TEMPLATES = ("network", "platform", "service")
NO_VALUE = object()


def template_path(name: str) -> Path:
    """Return the path of one of our templates."""
    return TEMPLATES_DIR / f"{name}.yaml"


def load(name: str) -> dict[str, Any]:
    """Parse a template with cfn-lint's decoder, which accepts the short tags (!Ref, !Sub)."""
    return _plain(cfn_yaml.load(str(template_path(name))))


def _plain(node: Any) -> Any:
    """Turn cfn-lint's node classes into plain dicts and lists."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def resolve(template: dict[str, Any], given: Mapping[str, str]) -> dict[str, Any]:
    """Return the resources that exist for these parameter values, with conditions applied."""
    params = {
        name: _param_value(spec, given.get(name, spec.get("Default")))
        for name, spec in template.get("Parameters", {}).items()
    }
    unknown = set(given) - set(params)
    assert not unknown, f"parameters the template does not declare: {sorted(unknown)}"
    conditions: dict[str, bool] = {}
    for name, expr in template.get("Conditions", {}).items():
        conditions[name] = _condition(expr, params, conditions)
    resources = {}
    for logical_id, resource in template["Resources"].items():
        if "Condition" in resource and not conditions[resource["Condition"]]:
            continue
        resources[logical_id] = _value(resource, params, conditions)
    return resources


def _param_value(spec: Mapping[str, Any], value: Any) -> Any:
    """Return a parameter's value as CloudFormation sees it (lists split, numbers as text)."""
    text = "" if value is None else str(value)
    return text.split(",") if spec["Type"] == "CommaDelimitedList" else text


def _condition(expr: Any, params: Mapping[str, Any], conditions: Mapping[str, bool]) -> Any:
    """Evaluate a condition expression."""
    if isinstance(expr, dict) and len(expr) == 1:
        ((fn, args),) = expr.items()
        if fn == "Fn::Equals":
            left, right = (_value(a, params, conditions) for a in args)
            return left == right
        if fn == "Fn::Not":
            return not _condition(args[0], params, conditions)
        if fn == "Fn::And":
            return all(_condition(a, params, conditions) for a in args)
        if fn == "Fn::Or":
            return any(_condition(a, params, conditions) for a in args)
        if fn == "Condition":
            return conditions[args]
    return _value(expr, params, conditions)


def _value(node: Any, params: Mapping[str, Any], conditions: Mapping[str, bool]) -> Any:
    """Resolve Ref/Fn::If/Fn::Join/AWS::NoValue inside a node, dropping NoValue entries."""
    if isinstance(node, list):
        items = [_value(v, params, conditions) for v in node]
        return [v for v in items if v is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        if node["Ref"] == "AWS::NoValue":
            return NO_VALUE
        return params.get(node["Ref"], node)
    if set(node) == {"Fn::If"}:
        name, then, otherwise = node["Fn::If"]
        return _value(then if conditions[name] else otherwise, params, conditions)
    if set(node) == {"Fn::Join"}:
        sep, parts = node["Fn::Join"]
        parts = _value(parts, params, conditions)
        if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
            return sep.join(parts)
    items = {k: _value(v, params, conditions) for k, v in node.items()}
    return {k: v for k, v in items.items() if v is not NO_VALUE}
