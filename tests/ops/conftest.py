"""A local stack per break-things test, its ops topic read through a subscribed queue, and a stepped clock.

The stack's own tick is pushed out of the way (ops_interval=3600); tests tick the monitor themselves at
stepped times, once a minute of stepped time as the stack does with its real clock. EMF datapoints keep the
wall-clock timestamps Powertools writes; the stepped clock starts at the wall clock and only moves forward.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from tickerstream_local.runner import LocalStack


@dataclass
class OpsHarness:
    stack: Any
    inbox_url: str
    now: float = field(default_factory=time.time)

    @property
    def monitor(self) -> Any:
        return self.stack.ops

    def alarm_name(self, logical_id: str) -> str:
        return self.stack.deployment.properties(logical_id)["AlarmName"]

    def state(self, logical_id: str) -> str:
        return self.monitor.evaluator.status[self.alarm_name(logical_id)].state

    def described(self, logical_id: str) -> dict[str, Any]:
        cloudwatch = self.stack.deployment.client("cloudwatch")
        return cloudwatch.describe_alarms(AlarmNames=[self.alarm_name(logical_id)])["MetricAlarms"][0]

    def advance(self, seconds: float, step: float = 60.0) -> None:
        """Move the stepped clock forward, ticking the monitor every `step` seconds on the way."""
        target = self.now + seconds
        while self.now < target:
            self.now = min(target, self.now + step)
            self.monitor.tick(self.now)

    def past_period_of(self, moment: float, period: int) -> float:
        """Seconds from the stepped clock to just after the end of the period holding `moment`."""
        return max(0.0, math.floor(moment / period) * period + period + 1 - self.now)

    def notifications(self) -> list[dict[str, Any]]:
        sqs = self.stack.deployment.client("sqs")
        found = []
        while True:
            messages = sqs.receive_message(QueueUrl=self.inbox_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                envelope = json.loads(message["Body"])
                found.append({**json.loads(envelope["Message"]), "Subject": envelope.get("Subject")})
                sqs.delete_message(QueueUrl=self.inbox_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def ops_stack(request):
    """make(**LocalStack options) -> OpsHarness; the stack stops at the end of the test."""
    with contextlib.ExitStack() as stack_exit:
        stack_exit.enter_context(contextlib.redirect_stdout(io.StringIO()))

        def make(**options: Any) -> OpsHarness:
            options.setdefault("ops_interval", 3600)
            options.setdefault("state_file", None)
            running = stack_exit.enter_context(LocalStack(api_port=0, moto_port=0, **options))
            deployment = running.deployment
            sqs, sns = deployment.client("sqs"), deployment.client("sns")
            inbox = sqs.create_queue(QueueName="ops-inbox")["QueueUrl"]
            inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=deployment.ctx.refs["OpsTopic"], Protocol="sqs", Endpoint=inbox_arn)
            return OpsHarness(running, inbox)

        yield make
