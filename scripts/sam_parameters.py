"""`make deploy CONFIG=file`: the `--parameter-overrides` value that hands SAM the document intact.

The SAM CLI reads `Key=Value` pairs with its own parser (samcli/cli/types.py,
CfnParameterOverridesType): an unquoted value ends at its first `"` (so a bare compact JSON
document arrives as `{`), and every value, quoted or not, then has `\\"`, `\\'` and `\\ ` unescaped.
So the document is written compact, with the two JSON escapes that parser would change spelled
as unicode escapes (a quote inside a string `\\u0022`, a backslash `\\u005c`: the same document for
any JSON reader), and wrapped in double quotes with its own quotes escaped. `--guided` saves it to
samconfig.toml in the same form, and the next `sam deploy` reads it back the same way.

Before printing, the string is put through the pinned SAM CLI's own parser (this runs with the
venv's Python, as `make deploy` runs it) and must give back the validated document, or nothing is
printed and the exit status is 1: what is checked is what SAM receives.

Usage: sam_parameters.py CONFIG.json [PARAMETER]   (PARAMETER defaults to HeraldConfig)
"""
import json
import re
import sys

# CloudFormation's limit on one parameter value.
MAX_PARAMETER_BYTES = 4096


def compact(document):
    """The document in compact JSON whose text has no `\\"` and no `\\\\`."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return re.sub(r'\\(["\\])', lambda m: "\\u0022" if m.group(1) == '"' else "\\u005c", text)


def override(name, document):
    """`Name="…"`: one --parameter-overrides pair SAM reads as `document`."""
    return f'{name}="{compact(document).replace(chr(34), chr(92) + chr(34))}"'


def as_sam_reads(value):
    """What the installed SAM CLI's parser makes of one --parameter-overrides argument."""
    try:
        from samcli.cli.types import CfnParameterOverridesType
    except ImportError:
        sys.exit("the SAM CLI is not importable: run this with .venv/bin/python (make venv installs it)")
    return CfnParameterOverridesType().convert(value, None, None)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.strip().splitlines()[-1])
    path, name = sys.argv[1], (sys.argv[2] if len(sys.argv) == 3 else "HeraldConfig")
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"{path}: {e}")
    value = override(name, document)
    size = len(compact(document).encode())
    if size > MAX_PARAMETER_BYTES:
        sys.exit(f"{path}: {size} bytes compact, over CloudFormation's {MAX_PARAMETER_BYTES} for a parameter: "
                 "store it in SSM and deploy with HeraldConfigParameter (docs/deploying.md)")
    got = as_sam_reads(value).get(name)
    try:
        intact = got is not None and json.loads(got) == document
    except ValueError:
        intact = False
    if not intact:
        sys.exit(f"{path}: the SAM CLI would read {name} as {got!r}, not the document: not deployed")
    print(value)


if __name__ == "__main__":
    main()
