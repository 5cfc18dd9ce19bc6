"""Herald's release artifacts, reproducibly: `make release` runs this after the arm64 builds.

    release.py --bootstraps DIR --out DIR [--repository-url URL]

DIR holds cargo-lambda's output (`<bin>/bootstrap` for git-webhook, s3-trigger,
pipeline-notifier and redeliver). The out folder gets:

- `herald-<bin>-<version>-arm64.zip` for each function: one entry, `bootstrap`, mode 0755, a fixed
  timestamp (1980-01-01) and fixed compression, so the same bootstrap always gives the same bytes;
- `template.yaml`: template.yaml with each function's `CodeUri` pointing at its zip and the build
  metadata (`BuildMethod: rust-cargolambda`) removed, so `sam deploy --template-file
  dist/template.yaml` needs no Rust toolchain; with `--repository-url` the Serverless Application
  Repository metadata names that repository;
- `README.md` and `LICENSE`, which that metadata uploads;
- `SHA256SUMS` of all of them, in `sha256sum -c` form.

It refuses (exit 1) when the version differs between Cargo.toml, the template's SemanticVersion
and its HeraldVersion output, or when a bootstrap is missing.
"""
import argparse
import hashlib
import re
import shutil
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARIES = ["git-webhook", "s3-trigger", "pipeline-notifier", "redeliver"]
PLACEHOLDER = "https://github.com/YOUR-ORG/herald"
# 1980-01-01, the earliest time a zip entry can carry.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def workspace_version():
    with open(ROOT / "Cargo.toml", "rb") as f:
        return tomllib.load(f)["workspace"]["package"]["version"]


def template_versions(text):
    """The template's SemanticVersion and HeraldVersion output value."""
    semantic = re.search(r"^    SemanticVersion: (\S+)$", text, re.M)
    output = re.search(r"^  HeraldVersion:\n(?:    .*\n)*?    Value: (\S+)$", text, re.M)
    return (semantic and semantic.group(1), output and output.group(1))


def write_zip(bootstrap, path):
    info = zipfile.ZipInfo("bootstrap", FIXED_TIME)
    info.external_attr = 0o100755 << 16
    info.create_system = 3  # Unix, so the mode is read
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(info, bootstrap.read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)


def packaged_template(text, zips, repository_url):
    """template.yaml with each function's code in its zip and no build metadata."""
    out = []
    lines = text.splitlines(keepends=True)
    binary = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip("\n") == "    Metadata:" and i + 1 < len(lines) and "BuildMethod: rust-cargolambda" in lines[i + 1]:
            i += 1
            while i < len(lines) and (lines[i].startswith("      ") or not lines[i].strip()):
                found = re.match(r"\s+Binary: (\S+)", lines[i])
                binary = found.group(1) if found else binary
                i += 1
            continue
        if line.rstrip("\n") == "      CodeUri: .":
            if binary not in zips:
                sys.exit(f"release: a function's CodeUri has no binary named before it ({binary})")
            line = f"      CodeUri: {zips[binary]}\n"
            binary = None
        out.append(line)
        i += 1
    text = "".join(out)
    if repository_url:
        text = text.replace(PLACEHOLDER, repository_url.rstrip("/"))
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstraps", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--repository-url", default="")
    args = parser.parse_args()

    version = workspace_version()
    template = (ROOT / "template.yaml").read_text()
    if template_versions(template) != (version, version):
        sys.exit(f"release: Cargo.toml says {version}, template.yaml SemanticVersion / HeraldVersion say {template_versions(template)}")
    if args.repository_url and not re.fullmatch(r"https://[^\s'\"]+", args.repository_url):
        sys.exit("release: --repository-url must be an https URL")
    missing = [b for b in BINARIES if not (args.bootstraps / b / "bootstrap").is_file()]
    if missing:
        sys.exit(f"release: no bootstrap for {', '.join(missing)} in {args.bootstraps}")

    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    zips = {}
    for binary in BINARIES:
        zips[binary] = f"herald-{binary}-{version}-arm64.zip"
        write_zip(args.bootstraps / binary / "bootstrap", args.out / zips[binary])
    (args.out / "template.yaml").write_text(packaged_template(template, zips, args.repository_url))
    for name in ["README.md", "LICENSE"]:
        shutil.copyfile(ROOT / name, args.out / name)
    names = sorted(p.name for p in args.out.iterdir())
    sums = "".join(f"{hashlib.sha256((args.out / n).read_bytes()).hexdigest()}  {n}\n" for n in names)
    (args.out / "SHA256SUMS").write_text(sums)
    for name in names:
        print(f"{(args.out / name).stat().st_size:>10}  {args.out / name}")


if __name__ == "__main__":
    main()
