#!/usr/bin/env python3
"""Writes target/lambda/template.yaml: infra/template.yaml with each function's CodeUri
pointing at the zip scripts/build-lambdas made (target/lambda/{binary}.zip), the
cargo-lambda build metadata removed, and the default of the `Architecture` parameter set
to the architecture those zips were built for (target/lambda/architecture, written by
scripts/build-lambdas), so `sam deploy --template-file target/lambda/template.yaml`
uploads those zips without `sam build` and runs them on the CPU they were built for.

Usage: scripts/package-template.py [TEMPLATE] [OUT]
"""

import os
import sys


ARCHITECTURES = ("arm64", "x86_64")


def package(text, architecture=None):
    out, binary, in_arch_parameter = [], None, False
    for line in text.splitlines():
        stripped = line.strip()
        if line.startswith("  ") and not line.startswith("   ") and stripped.endswith(":"):
            in_arch_parameter = stripped == "Architecture:"
        if in_arch_parameter and architecture and stripped.startswith("Default:"):
            line = line[: line.index("Default:")] + f"Default: {architecture}"
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
    arch_file = os.path.join(os.path.dirname(dst), "architecture")
    architecture = None
    if os.path.exists(arch_file):
        with open(arch_file) as f:
            architecture = f.read().strip()
        if architecture not in ARCHITECTURES:
            sys.exit(f"{arch_file}: unknown architecture '{architecture}'")
    with open(src) as f:
        packaged = package(f.read(), architecture)
    if "\n  Architecture:\n" not in packaged:
        sys.exit(f"{src} has no Architecture parameter")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(dst, "w") as f:
        f.write(packaged)
    missing = [z for z in (l.split("CodeUri:")[1].strip() for l in packaged.splitlines() if "CodeUri:" in l)
               if not os.path.exists(os.path.join(os.path.dirname(dst), z))]
    print(f"wrote {dst} (Architecture: {architecture or 'the template default'})")
    if missing:
        print(f"note: not built yet: {', '.join(missing)} (run ./scripts/build-lambdas)")


if __name__ == "__main__":
    main()
