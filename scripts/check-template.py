#!/usr/bin/env python3
"""Checks infra/template.yaml the way a deploy would see it, offline.

1. cfn-lint on the SAM template as written.
2. The SAM template translated to plain CloudFormation with aws-sam-translator (cfn-lint
   checks AWS::Serverless::* resources only shallowly, so values such as Runtime,
   Architectures or FunctionResponseTypes are only really checked after translation),
   then cfn-lint on the result.
3. Every checkov waiver (Metadata: checkov: skip) carries a reason.

Usage: check-template.py TEMPLATE [OUT_DIR]   (run with a Python that has cfn-lint)
       check-template.py --translate TEMPLATE OUT_JSON   (step 2's translation only)
Exit status 1 on any error or warning.
"""

import json
import os
import subprocess
import sys


def load(path):
    from cfnlint.decode import cfn_yaml

    return cfn_yaml.load(path)


def plain(value):
    """The cfn-lint YAML nodes as plain dicts, lists and strings."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def translate(template):
    """SAM -> CloudFormation, with local CodeUris replaced by an S3 placeholder."""
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = "s3://placeholder-bucket/code.zip"

    class NoManagedPolicies:
        def load(self):
            return {}

    try:
        return Translator(NoManagedPolicies(), Parser()).translate(template, parameter_values={})
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"SAM translation error: {cause.message}", file=sys.stderr)
        sys.exit(1)


def waivers_have_reasons(template):
    problems = []
    for name, resource in template.get("Resources", {}).items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            if not str(skip.get("comment", "")).strip():
                problems.append(f"{name}: checkov waiver {skip.get('id')} has no reason (comment)")
    return problems


def cfn_lint(path):
    """cfn-lint's exit status is a bit field: 2 errors, 4 warnings, 8 informational; 1
    means cfn-lint itself failed. Errors and warnings fail the check."""
    code = "import sys; from cfnlint.runner import main; sys.argv = ['cfn-lint'] + sys.argv[1:]; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, path]).returncode & 7


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    if sys.argv[1] == "--translate":
        if len(sys.argv) != 4:
            print(__doc__, file=sys.stderr)
            return 2
        with open(sys.argv[3], "w") as f:
            json.dump(translate(plain(load(sys.argv[2]))), f, indent=1)
        return 0
    path = sys.argv[1]
    out_dir = sys.argv[2] if len(sys.argv) > 2 else "target/template-check"
    os.makedirs(out_dir, exist_ok=True)

    failed = False
    print(f"cfn-lint {path}")
    failed |= cfn_lint(path) != 0

    template = plain(load(path))
    for problem in waivers_have_reasons(template):
        print(problem, file=sys.stderr)
        failed = True

    translated = translate(template)
    out = os.path.join(out_dir, "template.cfn.json")
    with open(out, "w") as f:
        json.dump(translated, f, indent=1)
    print(f"cfn-lint {out} (translated from SAM)")
    failed |= cfn_lint(out) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
