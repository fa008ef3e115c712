#!/usr/bin/env python3
"""Prints the dependency graph between the project's Bazel packages, one line
per package: "//pkg -> //dep, //dep". Counts the deps of every rule but tests
(libraries, binaries, fuzzers), inside the project only (not //third_party or
//proto). Reads `bazel query --output=build //...`; run from the repository.

    python3 scripts/package_graph.py
"""
import collections
import re
import subprocess


def main():
    out = subprocess.run(["bazel", "query", "--output=build", "//..."],
                         capture_output=True, text=True, check=True).stdout
    root = subprocess.run(["bazel", "info", "workspace"], capture_output=True,
                          text=True, check=True).stdout.strip()
    edges = collections.defaultdict(set)
    # Each rule is printed after a "# /abs/path/pkg/BUILD:line:col" comment.
    for rule in re.split(r"\n(?=# /)", out):
        location = re.match(r"# (/\S+)/BUILD:", rule)
        kind = re.search(r"^(\w+)\(", rule, re.M)
        deps = re.search(r"deps = \[(.*?)\]", rule, re.S)
        if not location or not kind or not deps or kind.group(1).endswith("_test"):
            continue
        package = "//" + location.group(1)[len(root) + 1:]
        for dep in re.findall(r'"(//[^:"]*)', deps.group(1)):
            if dep.startswith(("//third_party", "//proto")) or dep == package:
                continue
            edges[package].add(dep)
    for package in sorted(edges):
        print("%-18s -> %s" % (package, ", ".join(sorted(edges[package]))))


if __name__ == "__main__":
    main()
