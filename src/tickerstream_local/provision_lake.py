"""Local provisioners for the data lake's resources (issue 3): S3 buckets and the KMS key on moto.

Types with no local meaning are recorded without creating anything, so that Refs and GetAtts to them
resolve: IAM roles, bucket policies, Glue, Athena, the log stream, and the delivery stream itself (the
local Firehose runtime, tickerstream_local.firehose, runs it from the template's properties). A type
another module already registered keeps that module's provisioner.
"""

from __future__ import annotations

from typing import Any

from tickerstream_local.stack import PROVISIONERS, Deployment, Provisioner, provisioner

# Types recorded (Ref and the GetAtts the template uses) but not created on moto.
RECORD_ONLY = {
    "AWS::S3::BucketPolicy",
    "AWS::IAM::Role",
    "AWS::KMS::Alias",
    "AWS::Logs::LogStream",
    "AWS::Glue::Database",
    "AWS::Glue::Table",
    "AWS::Athena::WorkGroup",
    "AWS::Athena::NamedQuery",
    "AWS::KinesisFirehose::DeliveryStream",
}


def _register(resource_type: str, func: Provisioner) -> None:
    if resource_type not in PROVISIONERS:
        provisioner(resource_type)(func)


def bucket_name(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> str:
    # S3 names are lower case, 3-63 characters.
    return (props.get("BucketName") or deployment.name_for(logical_id)).lower()[:63]


def _s3_bucket(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    s3 = deployment.client("s3")
    name = bucket_name(deployment, logical_id, props)
    region = deployment.ctx.region
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    deployment.record(
        logical_id,
        name,
        Arn=f"arn:aws:s3:::{name}",
        DomainName=f"{name}.s3.amazonaws.com",
        RegionalDomainName=f"{name}.s3.{region}.amazonaws.com",
    )


def _kms_key(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    key = deployment.client("kms").create_key(Description=str(props.get("Description", logical_id)))["KeyMetadata"]
    deployment.record(logical_id, key["KeyId"], physical=key["Arn"], Arn=key["Arn"], KeyId=key["KeyId"])


def _record_only(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    resource_type = deployment.template["Resources"][logical_id]["Type"]
    ctx = deployment.ctx
    name = deployment.name_for(logical_id)
    if resource_type == "AWS::IAM::Role":
        deployment.record(logical_id, name, Arn=f"arn:aws:iam::{ctx.account_id}:role/{name}", RoleId=name)
    elif resource_type == "AWS::KinesisFirehose::DeliveryStream":
        name = props.get("DeliveryStreamName") or name
        arn = f"arn:aws:firehose:{ctx.region}:{ctx.account_id}:deliverystream/{name}"
        deployment.record(logical_id, name, Arn=arn)
    elif resource_type == "AWS::Logs::LogStream":
        deployment.record(logical_id, props.get("LogStreamName") or name)
    elif resource_type == "AWS::Glue::Database":
        deployment.record(logical_id, props["DatabaseInput"]["Name"])
    elif resource_type == "AWS::Glue::Table":
        deployment.record(logical_id, props["TableInput"]["Name"])
    elif resource_type == "AWS::Athena::WorkGroup":
        deployment.record(logical_id, props.get("Name") or name)
    elif resource_type == "AWS::KMS::Alias":
        deployment.record(logical_id, props["AliasName"])
    else:
        deployment.record(logical_id, name)


_register("AWS::S3::Bucket", _s3_bucket)
_register("AWS::KMS::Key", _kms_key)
for _type in sorted(RECORD_ONLY):
    _register(_type, _record_only)
