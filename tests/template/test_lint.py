"""cfn-lint with the serverless rules and checkov find nothing in template.yaml that is not suppressed
in the template itself with its reason.

Suppressions live next to what they excuse: checkov's as `Metadata: checkov: skip: [{id, comment}]`,
cfn-lint's as `Metadata: cfn-lint: config: ignore_checks: [...]` with the reason of each id under
`Metadata: cfn-lint: reasons` (cfn-lint has no field of its own for one).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tickerstream_local.template import REPO_ROOT, TEMPLATE_PATH, sam_template

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
RESOURCES = sam_template()["Resources"]


def checkov_report() -> dict:
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed at {CHECKOV}: run `make setup` (it creates .venv-checkov)")
    # --skip-download: no call to Prisma Cloud for guidelines (no network here, and none needed).
    result = subprocess.run(
        [str(CHECKOV), "--compact", "--skip-download", "--framework", "cloudformation",
         "--output", "json", "-f", str(TEMPLATE_PATH)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.stdout.strip(), result.stderr[-2000:]
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


@pytest.fixture(scope="module")
def checkov():
    return checkov_report()


def test_checkov_finds_nothing_unsuppressed(checkov):
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in checkov["results"]["failed_checks"]]
    assert failed == []
    assert checkov["summary"]["parsing_errors"] == 0
    assert checkov["summary"]["passed"] > 100  # it really ran its checks on the resources


def test_every_checkov_suppression_has_a_reason_and_is_used(checkov):
    declared = {}
    for logical_id, resource in RESOURCES.items():
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", []):
            assert str(skip.get("comment", "")).strip(), f"{logical_id}: {skip.get('id')} has no reason"
            assert len(skip["comment"].split()) >= 8, f"{logical_id}: {skip['id']}: say why, not just that"
            declared[(skip["id"], logical_id)] = skip["comment"]
    skipped = {(c["check_id"], c["resource"].split(".", 1)[1]) for c in checkov["results"]["skipped_checks"]}
    assert all(c["check_result"].get("suppress_comment") for c in checkov["results"]["skipped_checks"])
    # Every skip in the template matches a real finding (none is stale), and checkov honoured each one.
    assert skipped == set(declared)


def cfn_lint_serverless(template: Path = TEMPLATE_PATH) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CFN_LINT), "--format", "parseable", "--append-rules", "cfn_lint_serverless.rules", "--", str(template)],
        capture_output=True, text=True, timeout=600,
    )


def test_cfn_lint_with_the_serverless_rules_finds_nothing_unsuppressed():
    result = cfn_lint_serverless()
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr


def test_every_cfn_lint_suppression_has_a_reason():
    ignored = 0
    for logical_id, resource in RESOURCES.items():
        lint = (resource.get("Metadata") or {}).get("cfn-lint") or {}
        checks = (lint.get("config") or {}).get("ignore_checks", [])
        reasons = lint.get("reasons") or {}
        for check in checks:
            ignored += 1
            assert len(str(reasons.get(check, "")).split()) >= 8, f"{logical_id}: {check} has no reason"
        assert set(reasons) == set(checks), f"{logical_id}: reasons for checks that are not ignored"
    assert ignored > 0


def test_the_serverless_rules_are_loaded_and_would_report(tmp_path):
    """The suppressions, not missing rules, are why the run is clean: without them the findings return."""
    text = TEMPLATE_PATH.read_text().replace("ignore_checks: [WS1004]", "ignore_checks: []")
    text = text.replace("ignore_checks: [ES6000]", "ignore_checks: []")
    variant = tmp_path / "template.yaml"
    variant.write_text(text)
    result = cfn_lint_serverless(variant)
    ids = sorted(set(re.findall(r":\d+:\d+:\d+:\d+:([A-Z]+\d+):", result.stdout)))
    assert ids == ["ES6000", "WS1004"], result.stdout


@pytest.mark.parametrize("function", sorted(n for n, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"))
def test_the_ws1004_reason_holds_each_function_has_its_own_log_group_with_retention(function):
    props = RESOURCES[function]["Properties"]
    group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
    group = RESOURCES[group_id]
    assert group_id == f"{function}LogGroup" and group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["LogsKey", "Arn"]}
