"""Print one closing line over every junit-*.xml in a folder: "total: N passed, N failed, N skipped".

Used by scripts/run_tests.sh (`make test`) and .ci/run, whose last line CI reads.
"""
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def totals(folder):
    n = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for path in sorted(Path(folder).glob("junit-*.xml")):
        for suite in ET.parse(path).getroot().iter("testsuite"):
            for key in n:
                n[key] += int(suite.get(key, 0))
    bad = n["failures"] + n["errors"]
    return n["tests"] - bad - n["skipped"], bad, n["skipped"]


if __name__ == "__main__":
    passed, failed, skipped = totals(sys.argv[1])
    print(f"total: {passed} passed, {failed} failed, {skipped} skipped")
