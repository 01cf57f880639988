#!/usr/bin/env python3
"""values-reference.py - generates the Helm values reference of docs/deploy.md
from helm/mailyard/values.schema.json and values.yaml (defaults).

    deploy/values-reference.py           rewrite the section in docs/deploy.md
    deploy/values-reference.py --check   exit 1 when the section is stale

The section lies between the markers <!-- values:begin --> and <!-- values:end -->.
"""
import json
import os
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SCHEMA = os.path.join(ROOT, "helm", "mailyard", "values.schema.json")
VALUES = os.path.join(ROOT, "helm", "mailyard", "values.yaml")
DOC = os.path.join(ROOT, "docs", "deploy.md")
BEGIN, END = "<!-- values:begin -->", "<!-- values:end -->"


def resolve(node, schema):
    while "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def walk(node, schema, defaults, path, rows):
    node = resolve(node, schema)
    props = node.get("properties")
    if node.get("type") == "object" and props and node.get("additionalProperties") is False:
        for key, sub in props.items():
            d = defaults.get(key) if isinstance(defaults, dict) else None
            walk(sub, schema, d, path + [key], rows)
        return
    typ = node.get("type") or "/".join(sorted({s.get("type", "?") for s in node.get("oneOf", [])}))
    if "enum" in node:
        typ += " (" + ", ".join(map(str, node["enum"])) + ")"
    default = json.dumps(defaults) if defaults is not None else ""
    rows.append("| `%s` | %s | `%s` | %s |" % (".".join(path), typ, default.replace("|", "\\|"),
                                                 node.get("description", "").replace("|", "\\|")))


def render():
    with open(SCHEMA) as f:
        schema = json.load(f)
    with open(VALUES) as f:
        defaults = yaml.safe_load(f)
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    walk(schema, schema, defaults, [], rows)
    return "\n".join([BEGIN, ""] + rows + ["", END])


def main():
    with open(DOC) as f:
        doc = f.read()
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + render() + tail
    if "--check" in sys.argv:
        if new != doc:
            print("docs/deploy.md values reference is stale: run deploy/values-reference.py",
                  file=sys.stderr)
            return 1
        return 0
    with open(DOC, "w") as f:
        f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
