"""Prints, per operation of the API document, how many fuzzed cases reached a
2xx over all roles, and fails (exit 1) when an operation never did.

An operation the fuzzing cannot reach honestly says why in the document,
with the vendor extension x-carepath-fuzz-no-2xx: "<reason>". Such an
operation fails the step when it does reach a 2xx, so that the exemption
is dropped once it is not needed.

  python3 scripts/schemathesis_report.py openapi.json <role>/counts.json...

Each counts file is {"METHOD /path": {"<status>": n}}, written by
scripts/schemathesis_hooks.py; the role is the file's folder name.
"""

import json
import os
import sys

METHODS = ("get", "put", "post", "delete", "patch")
EXEMPTION = "x-carepath-fuzz-no-2xx"


def main(document: str, count_files: list[str]) -> int:
    with open(document, encoding="utf-8") as f:
        paths = json.load(f)["paths"]
    counts = {}  # role -> {"METHOD /path": {status: n}}
    for name in count_files:
        with open(name, encoding="utf-8") as f:
            counts[os.path.basename(os.path.dirname(name))] = json.load(f)
    roles = sorted(counts)
    problems = []
    rows = []
    for path, item in paths.items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            key = f"{method.upper()} {path}"
            total = ok = 0
            by_role = []
            for role in roles:
                statuses = counts[role].get(key, {})
                n = sum(statuses.values())
                good = sum(v for s, v in statuses.items() if s.startswith("2"))
                total += n
                ok += good
                if good:
                    by_role.append(f"{role} {good}")
            reason = op.get(EXEMPTION)
            mark = ""
            if ok == 0 and reason is None:
                mark = "  <-- never 2xx"
                problems.append(f"{key} ({op.get('operationId')}) never answered 2xx for any role")
            elif ok == 0:
                mark = f"  (exempt: {reason})"
            elif reason is not None:
                mark = "  <-- exempt yet reached 2xx"
                problems.append(f"{key} ({op.get('operationId')}) reached 2xx: drop its {EXEMPTION}")
            rows.append(f"{ok:6d} {total:6d}  {key}  [{', '.join(by_role)}]{mark}")
    print("==> schemathesis  cases that reached 2xx, of all cases, per operation over the roles:", " ".join(roles))
    print("  2xx  cases  operation  [2xx per role]")
    for row in rows:
        print(row)
    for p in problems:
        print("schemathesis:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
