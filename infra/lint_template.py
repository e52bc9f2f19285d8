"""``make lint-template``: the package template through the SAM transform, then cfn-lint on both (and checkov),
side by side.

cfn-lint alone no longer runs the SAM transform (aws-sam-translator is an optional extra), so errors that only
show after the transform (event source mappings, generated permissions, a bad ``Fn::If`` in a SAM property)
went unseen. This runs ``samtranslator`` on ``build/sam.json`` as CloudFormation would, writes
``build/template.json``, and lints that too.

It runs in its own tool environment (``.venv-lint``, made by the Makefile): aws-sam-translator pins a pydantic
the functions cannot use. Only the standard library and that environment's packages are imported.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REGION = "us-east-1"


class _NoManagedPolicies:
    """The translator asks IAM for managed policy ARNs only for SAM policy shorthands; we use none."""

    def load(self) -> dict[str, str]:
        return {}


def transform(sam: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation template the SAM transform makes of ``sam`` (CodeUri pointed at a dummy S3 key,
    as ``aws cloudformation package`` would)."""
    import os

    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    import boto3  # samtranslator needs a session for the partition/region only
    from samtranslator.translator.transform import transform as sam_transform

    sam = json.loads(json.dumps(sam))
    for res in sam["Resources"].values():
        props = res.get("Properties", {})
        if res.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = "s3://dealreg-lint-bucket/deployment.zip"
    boto3.setup_default_session(region_name=REGION)
    parameters = {k: v.get("Default") for k, v in sam.get("Parameters", {}).items()}
    parameters.update({"AWS::Region": REGION, "AWS::Partition": "aws", "AWS::AccountId": "123456789012"})
    return sam_transform(sam, parameters, _NoManagedPolicies())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.lint_template", description=__doc__.splitlines()[0])
    parser.add_argument("template", nargs="?", default="build/sam.json", type=Path)
    parser.add_argument("--checkov-skips", default="infra/checkov-accepted.json", type=Path,
                        help="accepted checkov findings: {check id: reason}")
    parser.add_argument("--no-checkov", action="store_true")
    args = parser.parse_args(argv)
    out = args.template.with_name("template.json")
    try:
        translated = transform(json.loads(args.template.read_text()))
    except Exception as exc:  # noqa: BLE001 - the translator's errors are the lint result
        print(f"SAM transform failed: {exc}", file=sys.stderr)
        return 1
    out.write_text(json.dumps(translated, indent=1) + "\n")
    print(f"SAM transform: {len(translated['Resources'])} resources -> {out}")
    # The linters run side by side (each is one single-threaded process); each one's output is printed whole, in
    # this order, followed by its verdict.
    tool = Path(sys.executable).with_name
    runs = {f"cfn-lint {path}": [str(tool("cfn-lint")), str(path)] for path in (args.template, out)}
    if not args.no_checkov:
        skips = json.loads(args.checkov_skips.read_text())
        runs[f"checkov {out} ({len(skips)} accepted findings)"] = [
            str(tool("checkov")), "--skip-download", "--quiet", "--compact", "--framework", "cloudformation",
            "-f", str(out), "--skip-check", ",".join(sorted(skips))]
    started = {name: subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for name, cmd in runs.items()}
    failed = 0
    for name, proc in started.items():
        output, _ = proc.communicate()
        sys.stdout.write(output)
        print(f"{name}: {'ok' if proc.returncode == 0 else 'FAILED'}", flush=True)
        failed |= proc.returncode
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
