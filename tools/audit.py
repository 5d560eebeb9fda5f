"""Dependency audit for `make check`: pip-audit over requirements.lock (the production pins).

Known vulnerabilities fail the check. pip-audit asks PyPI's per-release JSON API
(https://pypi.org/pypi/<name>/<version>/json, field `vulnerabilities`); where that API cannot
be reached, nothing can be audited: the check says so loudly and passes, unless
PROMPTLY_REQUIRE_AUDIT=1 (set it in a CI that has the network), where it fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

LOCK = Path(__file__).resolve().parent.parent / "requirements.lock"
PROBE = "https://pypi.org/pypi/pip/24.0/json"  # a release that exists for good


def vulnerability_api_reachable() -> bool:
    try:
        with urllib.request.urlopen(PROBE, timeout=15) as answer:  # noqa: S310 - fixed https URL
            return bool(answer.status == 200)
    except (urllib.error.URLError, TimeoutError, OSError):
        return False


def main() -> int:
    if not vulnerability_api_reachable():
        print(
            f"DEPENDENCY AUDIT NOT RUN: PyPI's vulnerability API ({PROBE}) is unreachable "
            "from this machine; nothing was checked. Run `make audit` where it is reachable.",
            file=sys.stderr,
        )
        return 1 if os.environ.get("PROMPTLY_REQUIRE_AUDIT") == "1" else 0
    pip_audit = Path(sys.executable).parent / "pip-audit"
    command = [
        str(pip_audit),
        "--strict",  # a pin that cannot be audited fails too
        "--progress-spinner",
        "off",
        "--disable-pip",
        "--require-hashes",
        "-r",
        str(LOCK),
    ]
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
