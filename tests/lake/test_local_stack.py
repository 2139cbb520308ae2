"""The lake's resources on the local (moto) stack: what exists, and what references resolve to."""

from __future__ import annotations


def test_lake_buckets_and_key_exist_on_moto(deployment, aws):
    s3 = aws.client("s3")
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    lake, logs = deployment.ctx.refs["LakeBucket"], deployment.ctx.refs["LakeAccessLogBucket"]
    assert {lake, logs} <= names and lake != logs
    assert s3.get_bucket_versioning(Bucket=lake)["Status"] == "Enabled"
    assert deployment.ctx.attributes["LakeBucket"]["Arn"] == f"arn:aws:s3:::{lake}"
    key = aws.client("kms").describe_key(KeyId=deployment.ctx.attributes["LakeKey"]["Arn"])["KeyMetadata"]
    assert key["KeyId"] == deployment.ctx.refs["LakeKey"]


def test_configuration_only_lake_resources_resolve(deployment):
    props = deployment.properties("LakeDeliveryStream")
    dest = props["ExtendedS3DestinationConfiguration"]
    assert dest["BucketARN"] == deployment.ctx.attributes["LakeBucket"]["Arn"]
    assert dest["CloudWatchLoggingOptions"]["LogStreamName"] == "DestinationDelivery"
    assert props["KinesisStreamSourceConfiguration"]["KinesisStreamARN"] == deployment.ctx.attributes["QuoteStream"]["Arn"]
    assert deployment.ctx.refs["LakeDatabase"] == "tickerstream_local_lake"
    table = deployment.properties("LakeQuotesTable")["TableInput"]
    assert table["StorageDescriptor"]["Location"] == f"s3://{deployment.ctx.refs['LakeBucket']}/datos/"
