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
