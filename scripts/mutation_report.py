"""The report of scripts/mutation.sh: per-module mutmut results as a table, and every survivor.

Run by scripts/mutation.sh with the mutation venv's Python (it imports mutmut to read its
result files and to print a mutant's diff)::

    python scripts/mutation_report.py --work build/mutation --report build/mutation-report.md \
        --summary scripts/MUTATION.md cg linesearch ...

- stdout: the table (mutants, killed, timeouts, suspicious, survived, no tests, kill rate);
- ``--report``: the table, then the diff of every surviving (or suspicious, or untested)
  mutant, each marked with the reason scripts/MUTATION.md gives for it, or UNEXPLAINED;
- ``--summary``: the table replaces the block between the two ``mutation-table`` markers of
  that file; rows of modules not in this run are kept from the previous table.

Kill rate = (killed + timeouts) / mutants: a mutant that makes a test fail or run forever is
caught. "equivalent" counts survivors that scripts/MUTATION.md explains (by mutant name, in
backticks); "unexplained" the survivors, suspicious and untested mutants it does not.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

BEGIN = "<!-- mutation-table:begin (written by scripts/mutation_report.py) -->"
END = "<!-- mutation-table:end -->"
NAME = re.compile(r"trpo_lite\.\w+\.x[_ǁ][\wǁ]+__mutmut_\d+")
UNCAUGHT = ("survived", "suspicious", "no tests", "segfault")
COLUMNS = ["module", "mutants", "killed", "timeout", "suspicious", "survived", "no tests",
           "equivalent", "unexplained", "kill rate"]


def explanations(summary_path):
    """{mutant name: reason} from the lines of scripts/MUTATION.md that name mutants."""
    reasons = {}
    if not summary_path.exists():
        return reasons
    text = summary_path.read_text()
    if BEGIN in text and END in text:          # the generated table names no mutants anyway
        text = text.split(BEGIN)[0] + text.split(END, 1)[1]
    for line in text.splitlines():
        names = NAME.findall(line)
        if not names:
            continue
        reason = NAME.sub("", line).replace("`", "")
        reason = re.sub(r"^[\s|*,:-]+|[\s|]+$", "", re.sub(r"(\s*,\s*)+", ", ", reason))
        reason = re.sub(r"^(,\s*)+", "", reason).strip(" |:-")
        for name in names:
            reasons[name] = reason
    return reasons


def module_results(work, module):
    meta = work / "mutants" / "trpo_lite" / f"{module}.py.meta"
    if not meta.exists():
        return None
    return json.loads(meta.read_text())["exit_code_by_key"]


def row(module, codes, reasons, status_by_exit_code):
    statuses = [status_by_exit_code[c] for c in codes.values()]
    count = {s: statuses.count(s) for s in set(statuses)}
    n = len(statuses)
    killed, timeout = count.get("killed", 0), count.get("timeout", 0)
    survivors = [k for k, c in codes.items() if status_by_exit_code[c] == "survived"]
    equivalent = sum(1 for k in survivors if k in reasons)
    bad = [k for k, c in codes.items()
           if status_by_exit_code[c] in ("survived", "suspicious", "no tests", "segfault",
                                         "not checked") and k not in reasons]
    rate = f"{100.0 * (killed + timeout) / n:.1f}%" if n else "-"
    return {"module": module, "mutants": n, "killed": killed, "timeout": timeout,
            "suspicious": count.get("suspicious", 0) + count.get("segfault", 0),
            "survived": len(survivors), "no tests": count.get("no tests", 0),
            "equivalent": equivalent, "unexplained": len(bad), "kill rate": rate,
            "not checked": count.get("not checked", 0)}


def table(rows):
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(r[c]) for c in COLUMNS) + " |")
    total = {c: sum(int(r[c]) for r in rows) for c in COLUMNS[1:-1]}
    caught = sum(int(r["killed"]) + int(r["timeout"]) for r in rows)
    total["kill rate"] = f"{100.0 * caught / total['mutants']:.1f}%" if total["mutants"] else "-"
    lines.append("| **total** | " + " | ".join(str(total[c]) for c in COLUMNS[1:]) + " |")
    return lines


def previous_rows(summary_path):
    """The rows of the table now in scripts/MUTATION.md, keyed by module."""
    if not summary_path.exists():
        return {}
    text = summary_path.read_text()
    if BEGIN not in text or END not in text:
        return {}
    block = text.split(BEGIN)[1].split(END)[0]
    rows = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == len(COLUMNS) and cells[0] not in ("module", "**total**") \
                and not cells[0].startswith("-") and cells[1].isdigit():
            rows[cells[0]] = dict(zip(COLUMNS, cells))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="+")
    parser.add_argument("--work", type=Path, default=Path("build/mutation"))
    parser.add_argument("--report", type=Path, default=Path("build/mutation-report.md"))
    parser.add_argument("--summary", type=Path, default=Path("scripts/MUTATION.md"))
    parser.add_argument("--wall-seconds", type=int, default=None)
    parser.add_argument("--list-uncaught", action="store_true",
                        help="only print the names of the mutants not caught (for RETEST=1)")
    parser.add_argument("--all", action="store_true",
                        help="with --list-uncaught: also the ones scripts/MUTATION.md explains")
    args = parser.parse_args(argv)
    root = Path.cwd()
    work, report, summary = (p if p.is_absolute() else root / p
                             for p in (args.work, args.report, args.summary))

    from mutmut.stats import status_by_exit_code

    if args.list_uncaught:
        explained = set() if args.all else set(explanations(summary))
        for module in args.modules:
            for name, code in sorted((module_results(work, module) or {}).items(),
                                     key=lambda kv: _natural(kv[0])):
                if status_by_exit_code[code] in UNCAUGHT and name not in explained:
                    print(name)
        return 0

    reasons = explanations(summary)
    rows, survivors, missing = [], [], []
    for module in args.modules:
        codes = module_results(work, module)
        if codes is None:
            missing.append(module)
            continue
        r = row(module, codes, reasons, status_by_exit_code)
        rows.append(r)
        for name, code in sorted(codes.items(), key=lambda kv: _natural(kv[0])):
            status = status_by_exit_code[code]
            if status not in ("killed", "timeout", "caught by type check", "skipped"):
                survivors.append((module, name, status))

    lines = table(rows)
    print("\n".join(lines))
    if missing:
        print("no results for: " + ", ".join(missing) + " (see the mutmut log)")
    not_checked = sum(r["not checked"] for r in rows)
    if not_checked:
        print(f"{not_checked} mutants not checked (the run stopped early)")

    # the full report: table, then every mutant that was not caught, with its diff
    os.chdir(work)                              # mutmut reads mutants/ relative to the cwd
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    out = ["# Mutation testing report (scripts/mutation.sh)", ""]
    if args.wall_seconds is not None:
        out += [f"mutmut wall time of this run: {args.wall_seconds} s; modules: "
                f"{' '.join(args.modules)}", ""]
    if (work / "wall-times.log").exists():
        runs = (work / "wall-times.log").read_text().split("\n")
        runs = [r for r in runs if r.strip()]
        total = sum(int(r.split()[1].rstrip("s")) for r in runs)
        out += [f"mutmut runs on this snapshot ({work.name}/wall-times.log): {len(runs)}, "
                f"{total} s in all", ""]
    out += lines + [""]
    out += ["## Mutants not caught", "",
            "Each with the reason scripts/MUTATION.md gives, or **UNEXPLAINED**.", ""]
    for module, name, status in survivors:
        reason = reasons.get(name)
        out.append(f"### {name}: {status}" + (f" (explained: {reason})" if reason and
                                               status == "survived" else
                                               "" if reason else " **UNEXPLAINED**"))
        try:
            diff = get_diff_for_mutant(name, path=Path("trpo_lite") / f"{module}.py")
        except Exception as exc:
            diff = f"(no diff: {exc!r})"
        out += ["```diff", diff, "```", ""]
    os.chdir(root)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(out) + "\n")
    print(f"report: {report.relative_to(root) if report.is_relative_to(root) else report}")

    # the summary table in scripts/MUTATION.md (rows of modules not run this time are kept)
    if summary.exists() and BEGIN in summary.read_text():
        kept = previous_rows(summary)
        for r in rows:
            if r["not checked"]:                # a stopped run: keep the last complete row
                print(f"{r['module']}: {r['not checked']} mutants not checked, its row in "
                      f"{summary.name} is left as it was")
                continue
            kept[r["module"]] = r
        order = [m for m in ("cg", "linesearch", "fisher", "policies", "mlp", "algos", "rollout",
                             "value", "train", "config", "validate", "mdp")]
        merged = [kept[m] for m in order if m in kept] + \
                 [kept[m] for m in sorted(kept) if m not in order]
        text = summary.read_text()
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        summary.write_text(head + BEGIN + "\n" + "\n".join(table(merged)) + "\n" + END + tail)
        print(f"table updated in {summary.relative_to(root)}")
    return 0


def _natural(name):
    base, _, number = name.rpartition("__mutmut_")
    return base, int(number) if number.isdigit() else 0


if __name__ == "__main__":
    sys.exit(main())
