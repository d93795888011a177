#!/usr/bin/env python3
"""Validates every custom resource in the given YAML files against deploy/schemas/<group>-<version>-<Kind>.json
(see README.md). Core kinds are skipped (kubernetes-validate checks those). Exit 1 on any error."""
import json, os, sys
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

here = os.path.dirname(os.path.abspath(__file__))
common = json.load(open(os.path.join(here, "common.json")))
registry = Registry().with_resource("oisp:common", Resource.from_contents(common))
bad = checked = 0
for path in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(path)):
        if not doc or "." not in doc.get("apiVersion", "").split("/")[0]:
            continue
        group, version = doc["apiVersion"].split("/")
        if group.endswith("k8s.io") or group.endswith("kubernetes.io") or group == "kustomize.config.k8s.io":
            continue
        schema_path = os.path.join(here, f"{group}-{version}-{doc['kind']}.json")
        name = f"{path}: {doc['kind']}/{doc.get('metadata', {}).get('name')}"
        if not os.path.exists(schema_path):
            print(f"ERROR {name}: no schema for {group}/{version} {doc['kind']}"); bad += 1; continue
        v = Draft202012Validator(json.load(open(schema_path)), registry=registry)
        errors = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
        checked += 1
        for e in errors:
            print(f"ERROR {name}: {'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"); bad += 1
print(f"{checked} custom resources checked, {bad} errors")
sys.exit(1 if bad or not checked else 0)
