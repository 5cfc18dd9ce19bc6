"""Resolves resources of template.yaml as CloudFormation would for given parameters, with the
SAM CLI's own intrinsic resolver (Ref, Fn::If with the template's conditions, Fn::Join,
Fn::Split, Fn::Sub): `resolve_template.py PARAMETERS_JSON LOGICAL_ID...` prints
{logical_id: resolved Properties, "conditions": {name: bool}} as JSON. A CommaDelimitedList
parameter is given as a list."""
import json
import pathlib
import sys

from samcli.lib.intrinsic_resolver.intrinsic_property_resolver import IntrinsicResolver
from samcli.lib.intrinsic_resolver.intrinsics_symbol_table import IntrinsicsSymbolTable
from samcli.yamlhelper import yaml_parse

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


def main(parameters, ids):
    template = yaml_parse((ROOT / "template.yaml").read_text())
    given = {}
    for name, spec in template["Parameters"].items():
        value = parameters.get(name, spec.get("Default", ""))
        if spec["Type"] == "CommaDelimitedList" and isinstance(value, str):
            value = value.split(",")
        given[name] = value
    region = parameters.get("AWS::Region", "us-east-1")
    partition = parameters.get("AWS::Partition", "aws")
    translator = {**given, "AWS::Partition": partition, "AWS::Region": region, "AWS::AccountId": "123456789012",
                  "AWS::StackId": f"arn:{partition}:cloudformation:{region}:123456789012:stack/herald/0d1e-uuid",
                  "AWS::StackName": "herald", "AWS::NoValue": None}
    symbols = IntrinsicsSymbolTable(template=template, logical_id_translator=translator)
    resolver = IntrinsicResolver(template=template, symbol_resolver=symbols)
    out = {"conditions": {name: resolver.intrinsic_property_resolver({"Fn::If": [name, True, False]}, False)
                          for name in template.get("Conditions", {})}}
    for logical_id in ids:
        out[logical_id] = resolver.intrinsic_property_resolver(template["Resources"][logical_id]["Properties"], False)
    print(json.dumps(out))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]), sys.argv[2:])
