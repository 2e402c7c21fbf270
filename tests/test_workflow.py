"""The publish workflow passes zizmor, the GitHub Actions security linter: actions pinned
to commits, each job only the permissions it uses, no credentials left in the checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_there_is_a_publish_workflow():
    assert WORKFLOWS, "no workflow under .github/workflows"


def test_workflows_pass_zizmor():
    # The auditor persona reports everything, low-confidence findings included. Offline:
    # the audits that ask GitHub (whether a pinned commit is on the tag) need the network.
    zizmor = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or "zizmor"
    result = subprocess.run(
        [zizmor, "--offline", "--persona=auditor", "--no-progress", *map(str, WORKFLOWS)],
        capture_output=True, text=True, check=False)  # the exit code is read below
    assert result.returncode == 0, result.stdout + result.stderr
