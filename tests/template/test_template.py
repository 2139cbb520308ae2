"""template.yaml after the SAM transform: the settings, encryption and permissions we promise."""

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tickerstream_local.template import REPO_ROOT, TEMPLATE_PATH, parameter_defaults, sam_template, transformed_template

CFN = transformed_template()
RESOURCES = CFN["Resources"]
PARAMETERS = parameter_defaults()


def of_type(resource_type):
    return {name: r for name, r in RESOURCES.items() if r["Type"] == resource_type}


def value(prop):
    """A literal, or the default of the parameter it refers to."""
    if isinstance(prop, dict) and set(prop) == {"Ref"}:
        return PARAMETERS[prop["Ref"]]
    return prop


def test_quote_stream_mapping_never_blocks_a_shard_forever():
    mapping = RESOURCES["QuoteProcessorQuoteStream"]["Properties"]
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["QuoteStream", "Arn"]}
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FailedBatchesQueue", "Arn"]}
    params = sam_template()["Parameters"]
    for setting, parameter in [("MaximumRetryAttempts", "MaximumRetryAttempts"), ("MaximumRecordAgeInSeconds", "MaximumRecordAgeInSeconds")]:
        assert mapping[setting] == {"Ref": parameter}
        assert params[parameter]["MinValue"] >= 0, f"{parameter} could be -1 (infinite)"
        assert 0 <= value(mapping[setting]) <= params[parameter]["MaxValue"]
    assert 1 <= value(mapping["BatchSize"]) <= 10000
    assert 0 <= value(mapping["MaximumBatchingWindowInSeconds"]) <= 300
    assert 1 <= value(mapping["ParallelizationFactor"]) <= 10


def test_data_is_encrypted_at_rest():
    stream = RESOURCES["QuoteStream"]["Properties"]
    assert stream["StreamEncryption"]["EncryptionType"] == "KMS"
    table = RESOURCES["QuotesTable"]["Properties"]
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    for name, queue in of_type("AWS::SQS::Queue").items():
        props = queue["Properties"]
        assert props.get("KmsMasterKeyId") or props.get("SqsManagedSseEnabled"), f"{name} is not encrypted"


def test_queues_deny_requests_without_tls():
    denied = set()
    for policy in of_type("AWS::SQS::QueuePolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if (
                statement["Effect"] == "Deny"
                and statement["Action"] in ("sqs:*", ["sqs:*"])  # every action, not just sends
                and statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            ):
                denied |= {json.dumps(q, sort_keys=True) for q in policy["Properties"]["Queues"]}
    queues = {json.dumps({"Ref": name}, sort_keys=True) for name in of_type("AWS::SQS::Queue")}
    assert queues <= denied


def test_table_serves_the_api_without_scans():
    from tickerstream.keys import BY_SECTOR_INDEX

    table = RESOURCES["QuotesTable"]["Properties"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    [index] = [i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] == BY_SECTOR_INDEX]
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["gsi1pk", "gsi1sk"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"


FUNCTIONS = of_type("AWS::Lambda::Function")


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_runs_python313_on_arm64_with_the_shared_layer(name):
    props = FUNCTIONS[name]["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    layer_ids = [layer["Ref"] for layer in props["Layers"]]
    assert any(of_type("AWS::Lambda::LayerVersion")[i]["Properties"]["LayerName"] == {"Fn::Sub": "${AWS::StackName}-shared"} for i in layer_ids)
    env = props["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "tickerstream"
    assert "POWERTOOLS_METRICS_NAMESPACE" in env and "LOG_LEVEL" in env


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_logs_to_its_own_group_with_retention(name):
    log_group = FUNCTIONS[name]["Properties"]["LoggingConfig"]["LogGroup"]
    group = RESOURCES[log_group["Ref"]]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}


def test_every_log_group_has_retention():
    for name, group in of_type("AWS::Logs::LogGroup").items():
        assert "RetentionInDays" in group["Properties"], name


def _statements(document):
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def _policy_documents():
    for name, resource in RESOURCES.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                yield name, policy["PolicyDocument"]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield name, props["PolicyDocument"]
        elif "PolicyDocument" in props:
            yield name, props["PolicyDocument"]
        elif "KeyPolicy" in props:
            yield name, props["KeyPolicy"]


def test_no_allow_statement_grants_a_wildcard_action():
    offenders = []
    for name, document in _policy_documents():
        for statement in _statements(document):
            if statement.get("Effect") != "Allow":
                continue
            actions = statement.get("Action", [])
            for action in actions if isinstance(actions, list) else [actions]:
                if isinstance(action, str) and "*" in action and not (name.endswith("Key") and action == "kms:*" and _is_root_admin(statement)):
                    offenders.append(f"{name}: {action}")
    assert offenders == []


def _is_root_admin(statement):
    """A KMS key policy's account-root statement: required by KMS so the key stays manageable."""
    principal = statement.get("Principal", {})
    return isinstance(principal, dict) and "AWS" in principal and "root" in json.dumps(principal["AWS"])


def test_quote_processor_may_only_write_its_table_and_quarantine_queue():
    role = RESOURCES["QuoteProcessorRole"]["Properties"]
    granted = {}
    for policy in role["Policies"]:
        for statement in _statements(policy["PolicyDocument"]):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for action in actions:
                granted.setdefault(action, []).append(json.dumps(statement["Resource"]))
    writes = {a for a in granted if a.split(":")[1].startswith(("Put", "Update", "Send", "Delete", "Create"))}
    assert writes == {"dynamodb:PutItem", "dynamodb:UpdateItem", "sqs:SendMessage", "logs:CreateLogStream",
                      "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert all("QuotesTable" in r for a, rs in granted.items() if a.startswith("dynamodb") for r in rs)
    assert granted["sqs:SendMessage"] == [json.dumps([{"Fn::GetAtt": ["QuarantineQueue", "Arn"]},
                                                      {"Fn::GetAtt": ["FailedBatchesQueue", "Arn"]}])]
    assert granted["logs:PutLogEvents"] == [json.dumps({"Fn::GetAtt": ["QuoteProcessorLogGroup", "Arn"]})]
    assert not role.get("ManagedPolicyArns")


def test_outputs_name_everything_a_client_needs():
    outputs = sam_template()["Outputs"]
    for key in ("QuoteStreamName", "QuoteStreamArn", "QuotesTableName", "QuarantineQueueUrl", "FailedBatchesQueueUrl"):
        assert key in outputs


def test_layer_pins_match_the_lock_file_and_leave_out_the_sdk():
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"]}
    lines = (REPO_ROOT / "layers/shared/requirements.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if line and not line.startswith("#"))
    assert pins, "no pins"
    assert not {"boto3", "botocore", "s3transfer"} & set(pins)
    assert {name: locked.get(name) for name in pins} == pins


def test_sample_events_are_valid_json_for_sam_local_invoke():
    events = sorted((REPO_ROOT / "events").rglob("*.json"))
    assert events
    function_dirs = {Path(r["Properties"]["CodeUri"]).name for r in sam_template()["Resources"].values() if r["Type"] == "AWS::Serverless::Function"}
    for path in events:
        assert isinstance(json.loads(path.read_text()), dict), path
    assert function_dirs <= {p.parent.name for p in events}, "every function needs sample events"


def _tool(name):
    return str(Path(sys.executable).parent / name)


def test_sam_validate_with_lint_passes():
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    result = subprocess.run(
        [_tool("sam"), "validate", "--lint", "--region", "us-east-1", "--template-file", str(TEMPLATE_PATH)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_is_clean():
    result = subprocess.run([_tool("cfn-lint"), str(TEMPLATE_PATH)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not re.search(r"^[EW]\d+", result.stdout, re.M)
