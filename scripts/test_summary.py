#!/usr/bin/env python3
"""Reads meson's testlog.json and prints the number of test cases that passed and
failed across all suites, as the last line "N passed, M failed".

doctest binaries and pytest modules each report their own case counts; a test
executable that failed without reporting a failed case (a crash, a timeout, a
sanitizer abort) counts as one failure, so nothing that failed can vanish."""

import json
import re
import sys

DOCTEST = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")
PYTEST = re.compile(r"(\d+) (passed|failed|errors?)\b")


def count(entry):
    out = entry.get("stdout") or ""
    m = None
    for m in DOCTEST.finditer(out):
        pass
    if m:
        return int(m.group(2)), int(m.group(3))
    # pytest -q ends with e.g. "12 passed, 1 failed, 2 errors in 3.10s"
    for line in reversed(out.splitlines()):
        if re.search(r"\b(passed|failed|error|errors)\b.* in [\d.]+s", line):
            passed = failed = 0
            for n, what in PYTEST.findall(line):
                if what == "passed":
                    passed += int(n)
                else:
                    failed += int(n)
            return passed, failed
    return None


def main(path):
    passed = failed = 0
    bad = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            entry = json.loads(line)
            ok = entry.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
            counted = count(entry)
            p, fl = counted if counted else ((1, 0) if ok else (0, 1))
            if not ok and fl == 0:
                fl = 1
            passed += p
            failed += fl
            if fl:
                bad.append("%s (%s)" % (entry.get("name"), entry.get("result")))
    if bad:
        print("failing: " + ", ".join(bad))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
