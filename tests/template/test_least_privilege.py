"""Least privilege after the SAM transform: every function has a role of its own that reaches only this
stack's resources, no AWS managed policy (SAM's AWSLambdaBasicExecutionRole writes any log group,
AWSLambdaKinesisExecutionRole reads every stream), and "*" only where the API accepts nothing else.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tickerstream_local.template import TEMPLATE_PATH, transformed_template

CFN = transformed_template()
RESOURCES = CFN["Resources"]
FUNCTIONS = sorted(n for n, r in RESOURCES.items() if r["Type"] == "AWS::Lambda::Function")
# Actions whose API takes no resource narrower than "*" (X-Ray has no resource-level permissions).
STAR_ONLY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def as_list(value):
    return value if isinstance(value, list) else [value]


def refs_in(value) -> set[str]:
    """Logical ids a Resource value refers to (Ref, GetAtt, ${X} / ${X.Arn} in Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value:
            found.add(value["Ref"])
        elif "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else target.split(".")[0])
        elif "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text) if not name.startswith("AWS::")}
        else:
            for inner in value.values():
                found |= refs_in(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= refs_in(inner)
    return found


def role_of(template: dict, function: str) -> str:
    role = template["Resources"][function]["Properties"]["Role"]
    assert set(role) == {"Fn::GetAtt"} and role["Fn::GetAtt"][1] == "Arn", f"{function}: role {role}"
    return role["Fn::GetAtt"][0]


def statements_of(template: dict, role: str) -> list[dict]:
    resources = template["Resources"]
    out = [s for p in resources[role]["Properties"].get("Policies", []) for s in as_list(p["PolicyDocument"]["Statement"])]
    for resource in resources.values():  # policies attached from outside the role
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            if {"Ref": role} in as_list(resource["Properties"].get("Roles", [])):
                out += as_list(resource["Properties"]["PolicyDocument"]["Statement"])
    return out


def privilege_problems(template: dict) -> list[str]:
    """What breaks least privilege in a transformed template's function roles."""
    resources = template["Resources"]
    functions = [n for n, r in resources.items() if r["Type"] == "AWS::Lambda::Function"]
    problems = []
    roles = {}
    for function in functions:
        role = role_of(template, function)
        roles.setdefault(role, []).append(function)
        props = resources[role]["Properties"]
        for arn in props.get("ManagedPolicyArns", []):
            problems.append(f"{function}: managed policy {json.dumps(arn)}")
        for statement in statements_of(template, role):
            if statement.get("Effect") != "Allow":
                continue
            actions = set(as_list(statement["Action"]))
            for resource in as_list(statement["Resource"]):
                if resource == "*":
                    if not actions <= STAR_ONLY_ACTIONS:
                        problems.append(f"{function}: {sorted(actions - STAR_ONLY_ACTIONS)} on *")
                    continue
                named = refs_in(resource) - set(template.get("Parameters", {}))  # e.g. ${Stage} in an ARN
                if not named or not named <= set(resources):
                    problems.append(f"{function}: resource {json.dumps(resource)} is not one of this stack's")
    problems += [f"{role} is shared by {fns}" for role, fns in roles.items() if len(fns) > 1]
    return problems


def test_no_function_role_has_a_managed_policy_or_reaches_beyond_this_stack():
    assert len(FUNCTIONS) == 12
    assert privilege_problems(CFN) == []


def test_the_check_catches_what_sam_would_generate(tmp_path):
    """A function left to SAM's generated role gets the AWS managed policies: the check must see them."""
    text = TEMPLATE_PATH.read_text()
    for function in ("QuoteProcessor", "CognitoPreSignUp"):
        text, count = re.subn(rf"\n      Role: !GetAtt {function}Role.Arn\n", "\n", text)
        # SAM names the role it generates <function>Role: move ours out of its way.
        text, renamed = re.subn(rf"\n  {function}Role:\n", f"\n  Unused{function}Role:\n", text)
        assert count == renamed == 1
    variant = tmp_path / "template.yaml"
    variant.write_text(text)
    problems = privilege_problems(transformed_template(Path(variant)))
    joined = "\n".join(problems)
    assert "AWSLambdaBasicExecutionRole" in joined and "AWSLambdaKinesisExecutionRole" in joined
    assert "AWSXrayWriteOnlyAccess" in joined


def grants(function: str) -> dict[str, set[str]]:
    """action -> logical ids (or "*") it is granted on, for one function's role."""
    out: dict[str, set[str]] = {}
    for statement in statements_of(CFN, role_of(CFN, function)):
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                out.setdefault(action, set()).update({"*"} if resource == "*" else refs_in(resource) - set(CFN["Parameters"]))
    return out


COMMON = {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_writes_only_its_own_log_group_and_traces(function):
    granted = grants(function)
    own_group = RESOURCES[function]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert granted["logs:CreateLogStream"] == granted["logs:PutLogEvents"] == {own_group}
    assert not {a for a in granted if a.startswith("logs:")} - {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert granted["xray:PutTraceSegments"] == granted["xray:PutTelemetryRecords"] == {"*"}


def test_what_each_function_may_do_beyond_logging():
    expected = {
        "QuoteProcessor": {
            **{a: {"QuoteStream"} for a in ("kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
                                           "kinesis:GetShardIterator", "kinesis:ListShards")},
            **{a: {"QuotesTable"} for a in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem")},
            **{a: {"QuotesTableKey"} for a in ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")},
            "sqs:SendMessage": {"QuarantineQueue", "FailedBatchesQueue"},
        },
        "CandleAggregator": {
            **{a: {"QuoteStream"} for a in ("kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
                                           "kinesis:GetShardIterator", "kinesis:ListShards")},
            **{a: {"CandlesTable"} for a in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem")},
            "kms:Decrypt": {"QuotesTableKey", "AlertsKey"}, "kms:GenerateDataKey": {"QuotesTableKey", "AlertsKey"},
            "kms:DescribeKey": {"QuotesTableKey"}, "kms:Encrypt": {"QuotesTableKey"},
            "sns:Publish": {"AlertsTopic"},
            "secretsmanager:GetSecretValue": {"AlertWebhookSecret"},
            "sqs:SendMessage": {"FailedBatchesQueue"},
        },
        "ApiIngest": {"kinesis:PutRecord": {"QuoteStream"}, "kinesis:PutRecords": {"QuoteStream"}},
        "ApiQuery": {"dynamodb:GetItem": {"QuotesTable"}, "dynamodb:Query": {"QuotesTable", "CandlesTable"},
                     "kms:Decrypt": {"QuotesTableKey"}, "kms:DescribeKey": {"QuotesTableKey"}},
        # The live board (docs/websocket.md). WsAuthorizer only fetches the pool's public JWKS.
        "WsConnections": {
            **{a: {"ConnectionsTable"} for a in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                                                 "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")},
            **{a: {"QuotesTableKey"} for a in ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")},
        },
        "BoardFanout": {
            **{a: {"QuoteStream"} for a in ("kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
                                           "kinesis:GetShardIterator", "kinesis:ListShards")},
            **{a: {"CandlesTable"} for a in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                                            "dynamodb:ListStreams")},
            "dynamodb:Query": {"ConnectionsTable"}, "dynamodb:GetItem": {"ConnectionsTable"},
            "dynamodb:BatchWriteItem": {"ConnectionsTable"},
            "kms:Decrypt": {"QuotesTableKey"}, "kms:DescribeKey": {"QuotesTableKey"},
            "execute-api:ManageConnections": {"WebSocketApi"},
            "sqs:SendMessage": {"FailedBatchesQueue"},
        },
    }
    for function in FUNCTIONS:
        beyond = {a: r for a, r in grants(function).items() if a not in COMMON}
        assert beyond == expected.get(function, {}), function


def test_key_use_is_only_through_dynamodb():
    for function in ("QuoteProcessor", "ApiQuery", "WsConnections", "BoardFanout"):
        for statement in statements_of(CFN, role_of(CFN, function)):
            if any(a.startswith("kms:") for a in as_list(statement["Action"])):
                assert statement["Condition"] == {"StringEquals": {"kms:ViaService": {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"}}}


def test_the_query_grants_are_the_one_index_and_the_candles_table():
    resources = [statement["Resource"] for statement in statements_of(CFN, role_of(CFN, "ApiQuery"))
                 if "dynamodb:Query" in as_list(statement["Action"])]
    assert sorted(resources, key=str) == sorted([{"Fn::Sub": "${QuotesTable.Arn}/index/BySector"},
                                                 {"Fn::GetAtt": ["CandlesTable", "Arn"]}], key=str)


def test_candle_aggregator_uses_keys_only_through_their_services():
    """The tables' key through DynamoDB; the alerts key through SNS (publish) and Secrets Manager (the secret)."""
    expected = {
        "QuotesTableKey": {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"},
        "AlertsKey": [{"Fn::Sub": "sns.${AWS::Region}.amazonaws.com"}, {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}],
    }
    seen = set()
    for statement in statements_of(CFN, role_of(CFN, "CandleAggregator")):
        if any(a.startswith("kms:") for a in as_list(statement["Action"])):
            (key,) = refs_in(statement["Resource"])
            assert statement["Condition"] == {"StringEquals": {"kms:ViaService": expected[key]}}
            seen.add(key)
    assert seen == set(expected)


def test_every_star_resource_in_the_template_says_why():
    """Each Allow statement with Resource "*" in an IAM role has a comment right above it."""
    lines = TEMPLATE_PATH.read_text().splitlines()
    starred = 0
    for index, line in enumerate(lines):
        if line.strip() != 'Resource: "*"':
            continue
        start = next(i for i in range(index, 0, -1) if lines[i].lstrip().startswith("- "))
        statement = "\n".join(lines[start:index + 1])
        if "Effect: Allow" not in statement or "Principal:" in statement:
            continue  # key policies ("*" is the key itself) and denies
        starred += 1
        assert lines[start - 1].lstrip().startswith("#"), f"line {start}: say why this statement needs *"
    assert starred == len(FUNCTIONS)


def test_api_gateway_log_role_only_writes():
    role = RESOURCES["ApiGatewayCloudWatchRole"]["Properties"]
    (statement,) = [s for p in role["Policies"] for s in as_list(p["PolicyDocument"]["Statement"])]
    assert set(statement["Action"]) == {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogGroups",
                                        "logs:DescribeLogStreams", "logs:PutLogEvents"}
    assert not role.get("ManagedPolicyArns")


def test_logs_key_lets_cloudwatch_logs_use_it_for_this_stacks_log_groups_only():
    policy = RESOURCES["LogsKey"]["Properties"]["KeyPolicy"]
    (service,) = [s for s in policy["Statement"] if "Service" in s["Principal"]]
    assert service["Principal"] == {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}}
    patterns = [p["Fn::Sub"] for p in service["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]]
    assert all("${AWS::StackName}" in p for p in patterns)
    groups = [r["Properties"]["LogGroupName"]["Fn::Sub"] for r in RESOURCES.values() if r["Type"] == "AWS::Logs::LogGroup"]
    prefix = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
    for group in groups:  # every log group of the stack can use the key, so none fails to be created
        assert any(re.fullmatch(re.escape(p).replace(r"\*", ".*"), prefix + group) for p in patterns), group
    for resource in RESOURCES.values():
        if resource["Type"] == "AWS::Logs::LogGroup":
            assert resource["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["LogsKey", "Arn"]}


def test_quotes_table_uses_its_own_key_and_the_key_rotates():
    sse = RESOURCES["QuotesTable"]["Properties"]["SSESpecification"]
    assert sse == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"Fn::GetAtt": ["QuotesTableKey", "Arn"]}}
    for key in ("QuotesTableKey", "LogsKey"):
        assert RESOURCES[key]["Properties"]["EnableKeyRotation"] is True


def test_board_fanout_queries_only_the_topic_index_and_manages_only_its_stages_connections():
    """No Query on ConnectionsTable itself (that would allow reading every connection's items), and
    @connections only on this API's stage, for POST and DELETE."""
    statements = statements_of(CFN, role_of(CFN, "BoardFanout"))
    (query,) = [s["Resource"] for s in statements if "dynamodb:Query" in as_list(s["Action"])]
    assert query == {"Fn::Sub": "${ConnectionsTable.Arn}/index/ByTopic"}
    (manage,) = [s["Resource"] for s in statements if "execute-api:ManageConnections" in as_list(s["Action"])]
    prefix = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${Stage}"
    assert sorted(r["Fn::Sub"] for r in manage) == [f"{prefix}/DELETE/@connections/*", f"{prefix}/POST/@connections/*"]
