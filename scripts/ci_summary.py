"""Print the closing line of a test run from the JUnit files pytest wrote.

    python scripts/ci_summary.py test-artifacts/junit-*.xml

One line per file, then the total alone on the last line: ``tests: N passed, N failed, N skipped``.
Exits 1 when a file is missing or unreadable, or when a test failed or none ran.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def counts(path: Path) -> dict[str, int]:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for key in total:
            total[key] += int(suite.get(key, 0))
    return total


def main(paths: list[str]) -> int:
    passed = failed = skipped = 0
    for name in paths:
        path = Path(name)
        try:
            c = counts(path)
        except (OSError, ET.ParseError) as exc:
            print(f"{path.name}: unreadable ({exc})")
            failed += 1
            continue
        bad = c["failures"] + c["errors"]
        ok = c["tests"] - bad - c["skipped"]
        print(f"{path.name}: {ok} passed, {bad} failed, {c['skipped']} skipped")
        passed, failed, skipped = passed + ok, failed + bad, skipped + c["skipped"]
    print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
