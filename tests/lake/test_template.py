"""The data lake in template.yaml, checked on the CloudFormation `sam deploy` would submit."""

from __future__ import annotations

import json
import re

import pytest

from tickerstream_local.template import sam_template, transformed_template

from lake.lakekit import SEED_QUOTES, kds_record, lines_of, transform_module

EXPRESSION = re.compile(r"!\{([A-Za-z]+):([^}]*)\}")


@pytest.fixture(scope="module")
def cfn():
    return transformed_template()


@pytest.fixture(scope="module")
def params():
    return sam_template()["Parameters"]


def res(cfn, logical_id):
    return cfn["Resources"][logical_id]


def props(cfn, logical_id):
    return cfn["Resources"][logical_id]["Properties"]


def destination(cfn):
    return props(cfn, "LakeDeliveryStream")["ExtendedS3DestinationConfiguration"]


def param_ref(value):
    assert isinstance(value, dict) and set(value) == {"Ref"}, f"{value!r} should come from a parameter"
    return value["Ref"]


def statements(document):
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value):
    return value if isinstance(value, list) else [value]


def refs_in(value) -> set[str]:
    """Logical ids a value refers to through Ref, GetAtt or Sub."""
    text = json.dumps(value)
    found = set(re.findall(r'"Ref": "([A-Za-z0-9]+)"', text))
    found |= set(re.findall(r'"Fn::GetAtt": \["([A-Za-z0-9]+)"', text))
    found |= {m.split(".")[0] for m in re.findall(r"\$\{([A-Za-z0-9.]+)\}", text)}
    return found - {"AWS"}


# --- delivery stream ----------------------------------------------------------------------------


def test_delivery_stream_reads_quote_stream(cfn):
    p = props(cfn, "LakeDeliveryStream")
    assert p["DeliveryStreamType"] == "KinesisStreamAsSource"
    assert p["KinesisStreamSourceConfiguration"]["KinesisStreamARN"] == {"Fn::GetAtt": ["QuoteStream", "Arn"]}
    assert destination(cfn)["BucketARN"] == {"Fn::GetAtt": ["LakeBucket", "Arn"]}


def test_prefix_is_hive_partitioned_by_the_keys_the_transform_returns(cfn):
    prefix = destination(cfn)["Prefix"]
    assert prefix.startswith("datos/") and prefix.endswith("/")
    parts = prefix.removeprefix("datos/").rstrip("/").split("/")
    assert [p.split("=")[0] for p in parts] == ["sector", "year", "month", "day", "hour"]
    for part in parts:
        name, value = part.split("=", 1)
        assert value == f"!{{partitionKeyFromLambda:{name}}}", "Hive style: <key>=<value of that key>"
    keys = {value for namespace, value in EXPRESSION.findall(prefix) if namespace == "partitionKeyFromLambda"}
    assert keys == set(transform_module().PARTITION_KEYS)
    (output,) = transform_module().transform_batch([kds_record(0, json.dumps(SEED_QUOTES[0]).encode())]).records
    assert set(output["metadata"]["partitionKeys"]) == keys


def test_error_prefix_is_valid_together_with_the_prefix(cfn):
    dest = destination(cfn)
    prefix, error_prefix = dest["Prefix"], dest["ErrorOutputPrefix"]
    # Firehose's prefix rules: an expression Prefix needs an ErrorOutputPrefix that contains
    # !{firehose:error-output-type}; the Prefix must not; `!{` only opens expressions; error
    # records can't be routed by record content (no partitionKeyFrom*), only by time.
    assert "!{firehose:error-output-type}" in error_prefix and "error-output-type" not in prefix
    assert error_prefix.startswith("errors/") and not prefix.startswith("errors/")
    for text in (prefix, error_prefix):
        assert text.count("!{") == len(EXPRESSION.findall(text))
        assert not text.startswith("/")
    namespaces = {ns for ns, _ in EXPRESSION.findall(error_prefix)}
    assert namespaces == {"firehose", "timestamp"}
    assert {v for ns, v in EXPRESSION.findall(error_prefix) if ns == "timestamp"} >= {"yyyy", "MM", "dd", "HH"}
    # evaluated lengths stay under 512 even for the longest sector the Quote model allows
    longest = EXPRESSION.sub(lambda m: "S" * 64 if m.group(2) == "sector" else "processing-failed", prefix)
    assert len(longest) < 512 and len(EXPRESSION.sub("processing-failed", error_prefix)) < 512


def test_dynamic_partitioning_buffering_and_retries_come_from_parameters(cfn, params):
    dest = destination(cfn)
    assert dest["DynamicPartitioningConfiguration"]["Enabled"] is True
    size = params[param_ref(dest["BufferingHints"]["SizeInMBs"])]
    interval = params[param_ref(dest["BufferingHints"]["IntervalInSeconds"])]
    assert 64 <= size["MinValue"] <= size["Default"] <= size["MaxValue"] <= 128  # dynamic partitioning's minimum
    assert 0 < interval["MinValue"] <= interval["Default"] <= interval["MaxValue"] <= 900  # no zero buffering
    retry = params[param_ref(dest["DynamicPartitioningConfiguration"]["RetryOptions"]["DurationInSeconds"])]
    assert 0 <= retry["MinValue"] and retry["MaxValue"] <= 7200


def test_compression_defaults_to_gzip_and_offers_only_what_athena_reads(cfn, params):
    compression = params[param_ref(destination(cfn)["CompressionFormat"])]
    assert compression["Default"] == "GZIP"
    assert "ZIP" not in compression["AllowedValues"]


def test_transform_processor(cfn, params):
    processing = destination(cfn)["ProcessingConfiguration"]
    assert processing["Enabled"] is True
    (processor,) = processing["Processors"]
    assert processor["Type"] == "Lambda"
    values = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
    assert set(values) <= {"LambdaArn", "NumberOfRetries", "RoleArn", "BufferSizeInMBs", "BufferIntervalInSeconds"}
    assert values["LambdaArn"] == {"Fn::GetAtt": ["FirehoseTransform", "Arn"]}
    size = params[param_ref(values["BufferSizeInMBs"])]
    assert 0.2 <= size["MinValue"] <= size["Default"] <= size["MaxValue"] <= 3


def test_delivered_objects_use_the_lake_key(cfn):
    kms = destination(cfn)["EncryptionConfiguration"]["KMSEncryptionConfig"]["AWSKMSKeyARN"]
    assert kms == {"Fn::GetAtt": ["LakeKey", "Arn"]}
    (rule,) = props(cfn, "LakeBucket")["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms}
    assert rule["BucketKeyEnabled"] is True
    key = props(cfn, "LakeKey")
    assert key["EnableKeyRotation"] is True
    assert res(cfn, "LakeKey")["DeletionPolicy"] == res(cfn, "LakeBucket")["DeletionPolicy"] == "Retain"


def test_delivery_errors_are_logged_to_its_own_log_group(cfn):
    logging = destination(cfn)["CloudWatchLoggingOptions"]
    assert logging["Enabled"] is True
    assert logging["LogGroupName"] == {"Ref": "LakeDeliveryLogGroup"}
    assert logging["LogStreamName"] == {"Ref": "LakeDeliveryLogStream"}
    assert props(cfn, "LakeDeliveryLogStream")["LogGroupName"] == {"Ref": "LakeDeliveryLogGroup"}
    assert props(cfn, "LakeDeliveryLogGroup")["RetentionInDays"] == {"Ref": "LogRetentionInDays"}


def test_transform_function_has_its_own_log_group_with_retention(cfn):
    function = props(cfn, "FirehoseTransform")
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "FirehoseTransformLogGroup"}
    group = props(cfn, "FirehoseTransformLogGroup")
    assert group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    assert group["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${AWS::StackName}/FirehoseTransform"}
    assert function["Runtime"] == "python3.13" and function["Architectures"] == ["arm64"]


# --- IAM: least privilege ------------------------------------------------------------------------


LAKE_POLICY_HOLDERS = ["LakeDeliveryRole", "FirehoseTransformRole", "LakeKey", "LakeBucketPolicy",
                       "LakeAccessLogBucketPolicy"]


def lake_statements(cfn):
    for logical_id in LAKE_POLICY_HOLDERS:
        p = props(cfn, logical_id)
        documents = [p["KeyPolicy"]] if "KeyPolicy" in p else [p["PolicyDocument"]] if "PolicyDocument" in p else []
        documents += [policy["PolicyDocument"] for policy in p.get("Policies", [])]
        for document in documents:
            for statement in statements(document):
                yield logical_id, statement


def test_no_wildcard_actions(cfn):
    checked = 0
    for logical_id, statement in lake_statements(cfn):
        actions = as_list(statement.get("Action", []))
        checked += 1
        if statement["Effect"] == "Allow":
            assert not [a for a in actions if "*" in a], f"{logical_id}: {statement}"
            assert "NotAction" not in statement
        else:
            # A TLS-only deny must cover every action; that is the one wildcard allowed.
            assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, statement
    assert checked >= 8


def test_firehose_role_is_scoped_to_exactly_its_resources(cfn):
    role = props(cfn, "LakeDeliveryRole")
    (trust,) = statements(role["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"Service": "firehose.amazonaws.com"}
    touched = set()
    for policy in role["Policies"]:
        for statement in statements(policy["PolicyDocument"]):
            for resource in as_list(statement["Resource"]):
                assert resource != "*" and "*" not in json.dumps(resource).split("/")[0], statement
                touched |= refs_in(resource)
    assert touched == {"QuoteStream", "FirehoseTransform", "LakeBucket", "LakeKey", "LakeDeliveryLogGroup",
                       "LakeDeliveryLogStream"}


def test_firehose_writes_only_under_its_prefixes(cfn):
    role = props(cfn, "LakeDeliveryRole")
    object_statements = [s for p in role["Policies"] for s in statements(p["PolicyDocument"])
                         if "s3:PutObject" in as_list(s["Action"])]
    (statement,) = object_statements
    paths = sorted(r["Fn::Sub"] for r in statement["Resource"])
    assert paths == ["${LakeBucket.Arn}/datos/*", "${LakeBucket.Arn}/errors/*"]


def test_transform_function_needs_no_aws_permissions(cfn):
    role = props(cfn, "FirehoseTransformRole")
    assert not role.get("ManagedPolicyArns")
    granted = {a: r for p in role["Policies"] for s in statements(p["PolicyDocument"])
               for a in as_list(s["Action"]) for r in as_list(s["Resource"])}
    # Its own log group and X-Ray traces: nothing of the lake.
    assert granted == {"logs:CreateLogStream": {"Fn::GetAtt": ["FirehoseTransformLogGroup", "Arn"]},
                       "logs:PutLogEvents": {"Fn::GetAtt": ["FirehoseTransformLogGroup", "Arn"]},
                       "xray:PutTraceSegments": "*", "xray:PutTelemetryRecords": "*"}


# --- data-lake bucket ----------------------------------------------------------------------------


@pytest.mark.parametrize("bucket", ["LakeBucket", "LakeAccessLogBucket"])
def test_buckets_block_public_access_and_disable_acls(cfn, bucket):
    p = props(cfn, bucket)
    assert p["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
    }
    assert p["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


@pytest.mark.parametrize(("policy", "bucket"), [("LakeBucketPolicy", "LakeBucket"),
                                                ("LakeAccessLogBucketPolicy", "LakeAccessLogBucket")])
def test_buckets_deny_requests_without_tls(cfn, policy, bucket):
    p = props(cfn, policy)
    assert p["Bucket"] == {"Ref": bucket}
    (deny,) = [s for s in statements(p["PolicyDocument"]) if s["Effect"] == "Deny"]
    assert deny["Principal"] == "*" and deny["Action"] in ("s3:*", ["s3:*"])
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {json.dumps(r) for r in deny["Resource"]} == {
        json.dumps({"Fn::GetAtt": [bucket, "Arn"]}), json.dumps({"Fn::Sub": f"${{{bucket}.Arn}}/*"}),
    }


def rules_by_prefix(cfn, bucket):
    return {rule.get("Prefix", ""): rule for rule in props(cfn, bucket)["LifecycleConfiguration"]["Rules"]}


def test_lake_lifecycle_follows_the_source_storage_classes(cfn, params):
    rules = rules_by_prefix(cfn, "LakeBucket")
    assert all(rule["Status"] == "Enabled" for rule in rules.values())
    datos = rules["datos/"]["Transitions"]
    classes = [t["StorageClass"] for t in datos]
    assert classes[0] == "STANDARD_IA" and classes[2] == "DEEP_ARCHIVE"
    archive = params[param_ref(classes[1])]
    assert archive["Default"] in ("GLACIER_IR", "GLACIER") and set(archive["AllowedValues"]) <= {"GLACIER_IR", "GLACIER"}
    days = [params[param_ref(t["TransitionInDays"])]["Default"] for t in datos]
    assert days == [30, 90, 365]
    assert params[param_ref(datos[0]["TransitionInDays"])]["MinValue"] >= 30  # S3's STANDARD_IA minimum
    assert params[param_ref(rules["errors/"]["ExpirationInDays"])]["Default"] > 0
    assert "athena-results/" in rules
    everything = rules[""]
    assert param_ref(everything["NoncurrentVersionExpiration"]["NoncurrentDays"])
    assert everything["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] > 0
    assert props(cfn, "LakeBucket")["VersioningConfiguration"] == {"Status": "Enabled"}


def test_access_logging_to_a_separate_bucket_with_its_own_lifecycle(cfn):
    logging = props(cfn, "LakeBucket")["LoggingConfiguration"]
    assert logging["DestinationBucketName"] == {"Ref": "LakeAccessLogBucket"}
    prefix = logging["LogFilePrefix"]
    log_rules = rules_by_prefix(cfn, "LakeAccessLogBucket")
    assert log_rules[""]["ExpirationInDays"] == {"Ref": "LakeAccessLogExpirationDays"}
    # S3 log delivery writes with SSE-S3; the log bucket must not require KMS
    (rule,) = props(cfn, "LakeAccessLogBucket")["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (allow,) = [s for s in statements(props(cfn, "LakeAccessLogBucketPolicy")["PolicyDocument"]) if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"} and allow["Action"] == "s3:PutObject"
    assert allow["Resource"] == {"Fn::Sub": "${LakeAccessLogBucket.Arn}/" + prefix + "*"}
    assert allow["Condition"]["ArnLike"]["aws:SourceArn"] == {"Fn::GetAtt": ["LakeBucket", "Arn"]}


# --- queryable ----------------------------------------------------------------------------------


def test_glue_table_projects_every_partition_of_the_prefix(cfn):
    table = props(cfn, "LakeQuotesTable")["TableInput"]
    parameters = table["Parameters"]
    assert parameters["projection.enabled"] == "true"
    partitions = [k["Name"] for k in table["PartitionKeys"]]
    assert partitions == ["sector", "year", "month", "day", "hour"]
    for name in partitions:
        assert parameters[f"projection.{name}.type"] in ("enum", "integer")
    for name in ("month", "day", "hour"):  # the transform writes them zero-padded
        assert parameters[f"projection.{name}.digits"] == "2"
    storage = table["StorageDescriptor"]
    assert storage["Location"] == {"Fn::Sub": "s3://${LakeBucket}/datos/"}
    assert "JsonSerDe" in storage["SerdeInfo"]["SerializationLibrary"]
    columns = {c["Name"] for c in storage["Columns"]}
    assert not columns & set(partitions), "a partition column can't also be a data column"


def test_table_columns_are_fields_the_transform_writes(cfn):
    storage = props(cfn, "LakeQuotesTable")["TableInput"]["StorageDescriptor"]
    (output,) = transform_module().transform_batch([kds_record(0, json.dumps(SEED_QUOTES[0]).encode())]).records
    (line,) = lines_of(output)
    for column in storage["Columns"]:
        assert column["Name"] in line, column
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", line["arrival_time"])  # Hive timestamp


def test_enum_projection_covers_the_seed_sectors(params):
    sectors = set(params["LakeSectors"]["Default"].split(","))
    assert {transform_module().sector_partition(q["sector"]) for q in SEED_QUOTES} <= sectors


def test_athena_workgroup_and_named_queries(cfn):
    workgroup = props(cfn, "LakeWorkGroup")["WorkGroupConfiguration"]
    assert workgroup["EnforceWorkGroupConfiguration"] is True
    result = workgroup["ResultConfiguration"]
    assert result["OutputLocation"] == {"Fn::Sub": "s3://${LakeBucket}/athena-results/"}
    assert result["EncryptionConfiguration"] == {"EncryptionOption": "SSE_KMS", "KmsKey": {"Fn::GetAtt": ["LakeKey", "Arn"]}}
    queries = {k: v["Properties"] for k, v in cfn["Resources"].items() if v["Type"] == "AWS::Athena::NamedQuery"}
    assert 2 <= len(queries) <= 3
    for query in queries.values():
        assert query["Database"] == {"Ref": "LakeDatabase"} and query["WorkGroup"] == {"Ref": "LakeWorkGroup"}
        sql = query["QueryString"]
        assert "FROM quotes" in sql
        # every query prunes partitions (projection computes only the day it reads)
        assert all(f"{p} = {p}(current_date" in sql for p in ("year", "month", "day"))
