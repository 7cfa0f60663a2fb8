#!/usr/bin/env python3
"""Writes target/lambda/template.yaml: infra/template.yaml with each function's CodeUri
pointing at the zip scripts/build-lambdas made (target/lambda/{binary}.zip) and the
cargo-lambda build metadata removed, so `sam deploy --template-file
target/lambda/template.yaml` uploads those zips without `sam build`.

Usage: scripts/package-template.py [TEMPLATE] [OUT]
"""

import os
import sys


def package(text):
    out, binary = [], None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Binary: "):
            binary = stripped.split(":", 1)[1].strip()
        if stripped in ("BuildMethod: rust-cargolambda", "BuildProperties:") or stripped.startswith("Binary: "):
            continue
        if stripped == "CodeUri: ..":
            if binary is None:
                sys.exit("a function's CodeUri comes before its Binary metadata")
            line = line.replace("CodeUri: ..", f"CodeUri: {binary}.zip")
            binary = None
        out.append(line)
    return "\n".join(out) + "\n"


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "infra/template.yaml"
    dst = sys.argv[2] if len(sys.argv) > 2 else "target/lambda/template.yaml"
    with open(src) as f:
        packaged = package(f.read())
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(dst, "w") as f:
        f.write(packaged)
    missing = [z for z in (l.split("CodeUri:")[1].strip() for l in packaged.splitlines() if "CodeUri:" in l)
               if not os.path.exists(os.path.join(os.path.dirname(dst), z))]
    print(f"wrote {dst}")
    if missing:
        print(f"note: not built yet: {', '.join(missing)} (run ./scripts/build-lambdas)")


if __name__ == "__main__":
    main()
