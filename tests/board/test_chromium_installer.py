"""The Chromium installer runs before the tests (`make test` depends on it) and is a quick no-op when
Chromium is already installed."""

from __future__ import annotations

import re
import subprocess
import time

from tickerstream_local.template import REPO_ROOT

INSTALLER = REPO_ROOT / "scripts" / "install-chromium"


def test_make_test_installs_chromium_before_running_the_tests():
    makefile = (REPO_ROOT / "Makefile").read_text()
    test_target = re.search(r"^test:([^#\n]*)", makefile, re.MULTILINE)
    assert test_target and "chromium" in test_target.group(1).split()
    recipe = re.search(r"^chromium:.*\n\t(.+)$", makefile, re.MULTILINE)
    assert recipe and "scripts/install-chromium" in recipe.group(1)


def test_the_installer_is_idempotent_and_quick_when_chromium_is_there():
    # The board's browser test fails loudly without /usr/bin/chromium; here the installer must have run.
    first = subprocess.run([str(INSTALLER)], capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr
    started = time.monotonic()
    again = subprocess.run([str(INSTALLER)], capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    assert again.returncode == 0 and again.stdout == "" and again.stderr == "", again.stderr
    assert elapsed < 2.0, f"a second run took {elapsed:.2f} s"
