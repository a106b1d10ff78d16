"""Write FAILURES.md from a HOSTILE_REPORT JSON: the failing cases grouped by cause, with argv and what was seen.

HOSTILE_REPORT=/tmp/h.json pytest tests/hostile -m "slow or not slow"
python tests/hostile/failures.py /tmp/h.json FAILURES.md
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def cause(row: dict) -> str:
    """A short key grouping failures that share their cause (the last traceback frame, or the kind of problem)."""
    err = row["stderr"]
    if any("Traceback" in p for p in row["problems"]):
        frames = re.findall(r'File "[^"]*/(labelmap/[^"]+)", line \d+, in (\w+)', err)
        last = err.strip().splitlines()[-1] if err.strip() else ""
        where = f"{frames[-1][0]}:{frames[-1][1]}" if frames else "?"
        return f"traceback {last.split(':')[0]} at {where}"
    first = row["problems"][0]
    return re.sub(r"\d+(\.\d+)? (MB|s)", "N \\2", first.split(":")[0])[:90]


def main(out: str, *reports: str) -> None:
    from known import KNOWN

    merged: dict[str, dict] = {}
    for report in reports:  # later reports (e.g. a fast run after a rebase) replace earlier rows
        merged.update((row["id"], row) for row in json.loads(Path(report).read_text()))
    rows = list(merged.values())
    failing = [r for r in rows if r["problems"]]
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in failing:
        groups[KNOWN.get(row["id"]) or "unassigned: " + cause(row)].append(row)
    lines = [
        "# Hostile cases that fail (tests/hostile)",
        "",
        f"{len(rows) - len(failing)} of {len(rows)} hold. Reproduce one: "
        "`PYTHONPATH=$PWD .venv/bin/python -m pytest tests/hostile -k '<id>'` (builds its inputs), "
        "or run the argv below on the inputs the case's builder writes.",
        "",
    ]
    owners: dict[str, list[str]] = defaultdict(list)
    for row in failing:
        owners[KNOWN.get(row["id"], "G hostile (unassigned)").split(":")[0]].append(row["id"])
    lines += ["Case ids by owner (marked xfail in tests/hostile/known.py; delete the line when it passes):", ""]
    lines += [f"- **{owner}**: {', '.join(f'`{i}`' for i in ids)}" for owner, ids in sorted(owners.items())]
    lines.append("")
    for key, members in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        lines += [f"## {key} ({len(members)} cases)", ""]
        for m in members:
            reason = KNOWN.get(m["id"], "")
            lines.append(
                f"- `{m['id']}` exit {m['rc']}, {m['seconds']} s, {m['peak_mb']} MB {('— ' + reason) if reason else ''}"
            )
            argv = " ".join(m["argv"]).replace(m.get("root") or "\0", "<case>")
            lines.append(f"  - argv: `labelmap-convert {argv}`")
            for p in m["problems"]:
                if p.startswith("stderr is not one"):
                    p = "stderr ends: " + repr(
                        m["stderr"].strip().splitlines()[-1][:300] if m["stderr"].strip() else ""
                    )
                lines.append(f"  - {p[:400]!s}".replace("\n", " | ").replace(m.get("root") or "\0", "<case>"))
        lines.append("")
    weak = [r for r in rows if not r["problems"] and any(w in r["stderr"] for w in CATCH_ALL)]
    if weak:
        lines += ["## Hold only through the CLI's catch-all (one line, but not the error the input deserves)", ""]
        for m in weak:
            line = m["stderr"].strip().splitlines()[-1].replace(m.get("root") or "\0", "<case>")
            lines.append(f"- `{m['id']}`: {line[:300]}")
        lines.append("")
    Path(out).write_text("\n".join(lines) + "\n")


#: Error lines of app.py's last-resort handlers (memory, recursion).
CATCH_ALL = ("out of memory during", "nested too deeply to process")


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
