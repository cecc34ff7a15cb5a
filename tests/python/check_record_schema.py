#!/usr/bin/python3
"""Checks that python/guidance_record_schema.json, the record names the Python reader uses, is
what the built program prints with ``guidance schema --json`` (host/recording/RecordSchema.h).

    tests/python/check_record_schema.py --cli build/bin/guidance --schema python/guidance_record_schema.json

Exit 0 when they are equal; else 1, naming the first key that differs and how to regenerate.
"""
import argparse
import json
import subprocess
import sys


def first_difference(committed, printed, key=""):
    """The key path (e.g. ``names.probe_indices.name``) of the first difference, with both
    values, or None when they are equal."""
    if isinstance(committed, dict) and isinstance(printed, dict):
        for name in list(committed) + [name for name in printed if name not in committed]:
            where = f"{key}.{name}" if key else name
            if name not in printed:
                return where, committed[name], "(absent)"
            if name not in committed:
                return where, "(absent)", printed[name]
            found = first_difference(committed[name], printed[name], where)
            if found:
                return found
        if list(committed) != list(printed):
            return f"{key or '(top level)'} (key order)", list(committed), list(printed)
        return None
    if isinstance(committed, list) and isinstance(printed, list):
        for index, (left, right) in enumerate(zip(committed, printed)):
            found = first_difference(left, right, f"{key}[{index}]")
            if found:
                return found
        if len(committed) != len(printed):
            return f"{key} (length)", len(committed), len(printed)
        return None
    return None if committed == printed else (key, committed, printed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli", required=True, help="the guidance binary")
    parser.add_argument("--schema", required=True, help="the committed guidance_record_schema.json")
    arguments = parser.parse_args()
    run = subprocess.run([arguments.cli, "schema", "--json"], capture_output=True, text=True,
                         timeout=60)
    if run.returncode != 0:
        print(f"'{arguments.cli} schema --json' failed ({run.returncode}):\n{run.stderr}")
        return 1
    with open(arguments.schema, encoding="utf-8") as file:
        committed_text = file.read()
    regenerate = (f"regenerate it after changing host/recording/RecordSchema.h:\n"
                  f"  {arguments.cli} schema --json > {arguments.schema}")
    found = first_difference(json.loads(committed_text), json.loads(run.stdout))
    if found:
        key, committed, printed = found
        print(f"{arguments.schema} differs from 'guidance schema --json' at key '{key}':\n"
              f"  committed: {json.dumps(committed)}\n  program:   {json.dumps(printed)}\n"
              f"{regenerate}")
        return 1
    if committed_text != run.stdout:
        print(f"{arguments.schema} holds what 'guidance schema --json' prints, but not as it "
              f"prints it (whitespace); {regenerate}")
        return 1
    print(f"{arguments.schema} is what 'guidance schema --json' prints")
    return 0


if __name__ == "__main__":
    sys.exit(main())
