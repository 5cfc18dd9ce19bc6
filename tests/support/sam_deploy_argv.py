"""Stands in for `sam deploy` in tests/tests/template.rs: reads `--parameter-overrides` from its
arguments with the pinned SAM CLI's own parser (samcli.cli.types.CfnParameterOverridesType) and
prints what SAM would pass to CloudFormation, as JSON."""
import json
import sys

from samcli.cli.types import CfnParameterOverridesType

args = sys.argv[1:]
values = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--parameter-overrides"]
print(json.dumps(CfnParameterOverridesType().convert(tuple(values), None, None)))
