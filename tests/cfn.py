"""template.yaml as data: YAML with CloudFormation's short tags (!Ref, !Sub, !GetAtt, !If, …) read as the
long forms ({"Ref": …}, {"Fn::Sub": …}), so tests can derive what they build from the template itself."""

from __future__ import annotations

from typing import Any

import yaml

from services.settings import REPO_ROOT

TEMPLATE = REPO_ROOT / "template.yaml"


class CfnLoader(yaml.SafeLoader):
    """A safe YAML loader that accepts CloudFormation's short-form intrinsic functions."""


def _intrinsic(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template() -> dict[str, Any]:
    """Return template.yaml with intrinsic functions in their long form."""
    return yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader


def resource(name: str) -> dict[str, Any]:
    """Return the Properties of the template's resource `name`."""
    return load_template()["Resources"][name]["Properties"]


# Deploy-time checks. cfn-lint checks the template's shape but does not evaluate its Rules against parameter
# values, and no maintained library does (CloudFormation does it server-side): this small evaluator covers
# the parameter constraints and the rule functions the template uses.
class ParameterRejected(ValueError):
    """CloudFormation would refuse these parameter values before creating anything; the message says why."""


PSEUDO = {"AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333", "AWS::Partition": "aws",
          "AWS::StackName": "gateway", "AWS::URLSuffix": "amazonaws.com"}  # fmt: skip


def parameter_values(template: dict[str, Any], given: dict[str, str]) -> dict[str, str]:
    """Return every parameter's value (given, else its default) as CloudFormation would accept it, or raise
    ParameterRejected for a missing value or one outside AllowedValues, AllowedPattern, MinLength/MaxLength,
    MinValue/MaxValue (the pattern must match the whole value, as CloudFormation's does)."""
    import re

    values: dict[str, str] = {}
    for name, spec in template["Parameters"].items():
        if name in given:
            value = str(given[name])
        elif "Default" in spec:
            value = str(spec["Default"])
        else:
            raise ParameterRejected(f"{name}: no value and no default")
        if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
            raise ParameterRejected(f"{name}: {value!r} is not one of the allowed values")
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
            raise ParameterRejected(
                f"{name}: {value!r} does not match the pattern ({spec.get('ConstraintDescription')})"
            )
        if len(value) < spec.get("MinLength", 0) or len(value) > spec.get("MaxLength", 1 << 20):
            raise ParameterRejected(f"{name}: length out of bounds")
        if spec.get("Type") == "Number":
            try:
                number = float(value)
            except ValueError:
                raise ParameterRejected(f"{name}: {value!r} is not a number") from None
            if number < spec.get("MinValue", float("-inf")) or number > spec.get("MaxValue", float("inf")):
                raise ParameterRejected(f"{name}: {value} is out of range")
        values[name] = value
    return values


def evaluate(node: Any, values: dict[str, str], conditions: dict[str, Any] | None = None) -> Any:
    """Return the value of a template expression: Ref, Fn::Equals/And/Or/Not/If, Condition, Fn::Contains,
    Fn::EachMemberEquals; a resource's Ref or Fn::GetAtt is a placeholder string `<Name>`."""
    conditions = conditions or {}
    if not isinstance(node, dict):
        return [evaluate(item, values, conditions) for item in node] if isinstance(node, list) else node
    ((function, argument),) = node.items()
    if function == "Ref":
        if argument in values:
            return values[argument]
        return None if argument == "AWS::NoValue" else PSEUDO.get(argument, f"<{argument}>")
    if function == "Fn::Sub":  # ${Name}: a parameter, pseudo parameter, resource or the list form's own variable
        import re

        text, own = (argument, {}) if isinstance(argument, str) else argument
        own = {name: evaluate(value, values, conditions) for name, value in own.items()}

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            return str(own[name] if name in own else evaluate({"Ref": name}, values, conditions))

        return re.sub(r"\$\{([^}!.]+)\}", value, text)
    if function == "Fn::GetAtt":
        return f"<{'.'.join(argument)}>"
    if function in ("Condition", "Fn::Condition"):  # the short form !Condition loads as Fn::Condition
        return evaluate(conditions[argument], values, conditions)
    if function == "Fn::If":
        name, when_true, when_false = argument
        chosen = when_true if evaluate(conditions[name], values, conditions) else when_false
        return evaluate(chosen, values, conditions)
    args = evaluate(argument, values, conditions)
    match function:
        case "Fn::Equals":
            return str(args[0]) == str(args[1])
        case "Fn::And":
            return all(args)
        case "Fn::Or":
            return any(args)
        case "Fn::Not":
            return not args[0]
        case "Fn::Join":  # a CommaDelimitedList parameter's Ref is its comma-separated text here
            items = args[1].split(",") if isinstance(args[1], str) else args[1]
            return str(args[0]).join(str(item) for item in items)
        case "Fn::Contains":
            return args[1] in args[0]
        case "Fn::EachMemberEquals":
            return all(member == args[1] for member in args[0])
    raise NotImplementedError(f"{function} is not evaluated by tests/cfn.py")


def failed_rules(template: dict[str, Any], values: dict[str, str]) -> list[str]:
    """Return the AssertDescription of every rule assertion these parameter values fail (empty: accepted)."""
    failed = []
    for rule in template.get("Rules", {}).values():
        if "RuleCondition" in rule and not evaluate(rule["RuleCondition"], values):
            continue
        failed += [check["AssertDescription"] for check in rule["Assertions"] if not evaluate(check["Assert"], values)]
    return failed


def function_environment(template: dict[str, Any], values: dict[str, str], function: str) -> dict[str, str]:
    """Return the environment variables `function` gets (Globals merged with its own) for these parameters."""
    conditions = template.get("Conditions", {})
    variables = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    own = template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
    variables.update(own)
    resolved = {name: evaluate(value, values, conditions) for name, value in variables.items()}
    return {name: str(value) for name, value in resolved.items() if value is not None}
