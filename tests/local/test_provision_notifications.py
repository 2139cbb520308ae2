"""The local stack creates SNS topics, subscriptions and topic policies as CloudFormation would."""

import json

import boto3
import moto
from tickerstream_local.stack import deploy

def test_topic_subscription_and_policy_are_created():
    with moto.mock_aws():
        template = {"Resources": {
            "Key": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": "alias/aws/sns",
                      "Subscription": [{"Protocol": "sqs", "Endpoint": {"Fn::GetAtt": ["Key", "Arn"]}}]}},
            "Sub": {"Type": "AWS::SNS::Subscription", "Properties": {"TopicArn": {"Ref": "Topic"},
                    "Protocol": "email", "Endpoint": "ops@example.com", "FilterPolicy": {"sector": ["ENERGY"]}}},
            "Policy": {"Type": "AWS::SNS::TopicPolicy", "Properties": {"Topics": [{"Ref": "Topic"}],
                       "PolicyDocument": {"Version": "2012-10-17", "Statement": []}}},
        }}
        d = deploy(boto3.Session(region_name="us-east-1"), template=template)
        sns = boto3.client("sns", region_name="us-east-1")
        arn = d.ctx.refs["Topic"]
        attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        assert attrs["KmsMasterKeyId"] == "alias/aws/sns"
        assert json.loads(attrs["Policy"]) == {"Version": "2012-10-17", "Statement": []}
        subs = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
        assert sorted(s["Protocol"] for s in subs) == ["email", "sqs"]
        email = next(s for s in subs if s["Protocol"] == "email")
        assert "ENERGY" in sns.get_subscription_attributes(SubscriptionArn=email["SubscriptionArn"])["Attributes"]["FilterPolicy"]
