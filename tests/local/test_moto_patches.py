"""The local stack's moto patch: a transaction costs what it touches, and stays atomic and conditional."""

from __future__ import annotations

import copy
import threading

import pytest
from botocore.exceptions import ClientError

from tickerstream_local.moto_patches import install

TABLE = "patched"


@pytest.fixture
def dynamodb(aws):
    install()
    client = aws.client("dynamodb")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


def _put(pk: str, value: int, condition: str | None = None) -> dict:
    put = {"TableName": TABLE, "Item": {"pk": {"S": pk}, "sk": {"S": "A"}, "v": {"N": str(value)}}}
    if condition:
        put["ConditionExpression"] = condition
    return {"Put": put}


def _add(pk: str, amount: int) -> dict:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": {"pk": {"S": pk}, "sk": {"S": "A"}},
            "UpdateExpression": "ADD tally :n",
            "ExpressionAttributeValues": {":n": {"N": str(amount)}},
        }
    }


def _all(client) -> dict:
    return {item["pk"]["S"]: item for item in client.scan(TableName=TABLE)["Items"]}


def test_a_failed_condition_leaves_every_item_as_it_was(dynamodb):
    dynamodb.transact_write_items(TransactItems=[_put("kept", 1), _add("sum", 5)])
    before = _all(dynamodb)
    with pytest.raises(ClientError) as caught:
        dynamodb.transact_write_items(
            TransactItems=[
                _add("sum", 7),  # applied first, must be undone
                _put("new", 2),  # created, must disappear
                _put("kept", 9, condition="attribute_not_exists(pk)"),  # fails
            ]
        )
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    codes = [reason["Code"] for reason in caught.value.response["CancellationReasons"]]
    assert codes == ["None", "None", "ConditionalCheckFailed"]
    assert _all(dynamodb) == before


def test_a_validation_error_mid_transaction_rolls_back_what_ran(dynamodb):
    dynamodb.transact_write_items(TransactItems=[_add("sum", 5)])
    before = _all(dynamodb)
    bad = {"Update": {**_add("other", 1)["Update"], "UpdateExpression": "ADD tally :missing"}}
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=[_add("sum", 7), bad])
    assert _all(dynamodb) == before


def test_a_transaction_whose_conditions_hold_applies_every_action(dynamodb):
    dynamodb.transact_write_items(
        TransactItems=[_put("a", 1, condition="attribute_not_exists(pk)"), _add("sum", 3), _add("sum2", 4)]
    )
    items = _all(dynamodb)
    assert items["a"]["v"] == {"N": "1"}
    assert items["sum"]["tally"] == {"N": "3"}
    assert items["sum2"]["tally"] == {"N": "4"}


def test_a_transaction_copies_no_table(dynamodb, monkeypatch):
    """The cost must not grow with the table: no Table object is deep-copied by a transaction."""
    from moto.dynamodb.models.table import Table

    dynamodb.transact_write_items(TransactItems=[_put("a", 1)])

    def refuse(self, memo):
        raise AssertionError("a whole table was copied")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
    copy.deepcopy({"not": "a table"})  # deep copies of anything else still work
    dynamodb.transact_write_items(TransactItems=[_put("b", 2), _add("sum", 1)])
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=[_add("sum", 1), _put("a", 3, condition="attribute_not_exists(pk)")])
    assert _all(dynamodb)["sum"]["tally"] == {"N": "1"}


def test_concurrent_transactions_lose_no_addition(dynamodb):
    """Threads sending transactions side by side (as the threaded moto server does): every ADD counts once."""
    threads_count, per_thread = 8, 25

    def work(number: int) -> None:
        for step in range(per_thread):
            dynamodb.transact_write_items(TransactItems=[_put(f"t{number}-{step}", step), _add("sum", 1)])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    items = _all(dynamodb)
    assert items["sum"]["tally"] == {"N": str(threads_count * per_thread)}
    assert len(items) == threads_count * per_thread + 1


def test_an_item_over_400_kb_is_still_refused_and_one_under_it_stored(dynamodb):
    near_limit = "x" * 404_000
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "big"}, "sk": {"S": "A"}, "blob": {"S": near_limit}})
    with pytest.raises(ClientError) as refused:
        dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "bigger"}, "sk": {"S": "A"},
                                                 "blob": {"S": near_limit}, "more": {"S": "y" * 2_000}})
    assert "Item size has exceeded the maximum allowed size" in str(refused.value)
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE, "Item": {
            "pk": {"S": "bigger"}, "sk": {"S": "A"}, "blob": {"S": near_limit + "y" * 2_000}}}}])
    assert "Item" not in dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "bigger"}, "sk": {"S": "A"}})


def test_a_condition_expression_sent_again_with_other_values_is_evaluated_with_them(dynamodb):
    condition = {"ConditionExpression": "attribute_not_exists(pk) OR #v < :bound", "ExpressionAttributeNames": {"#v": "v"}}
    for value, bound, stored in ((5, 0, True), (3, 4, False), (9, 6, True), (7, 9, False)):
        request = {"TableName": TABLE, "Item": {"pk": {"S": "c"}, "sk": {"S": "A"}, "v": {"N": str(value)}},
                   **condition, "ExpressionAttributeValues": {":bound": {"N": str(bound)}}}
        if stored:
            dynamodb.put_item(**request)
        else:
            with pytest.raises(ClientError, match="ConditionalCheckFailed"):
                dynamodb.put_item(**request)
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "c"}, "sk": {"S": "A"}})["Item"]
    assert item["v"] == {"N": "9"}


def test_the_same_condition_with_the_same_values_is_judged_on_the_item_as_it_is_now(dynamodb):
    # The parsed condition is reused (same expression, names and values); its verdict must not be.
    put = _put("once", 1, condition="attribute_not_exists(pk) OR v < :bound")
    put["Put"]["ExpressionAttributeValues"] = {":bound": {"N": "1"}}
    dynamodb.transact_write_items(TransactItems=[put])
    with pytest.raises(ClientError) as caught:
        dynamodb.transact_write_items(TransactItems=[copy.deepcopy(put)])
    assert [r["Code"] for r in caught.value.response["CancellationReasons"]] == ["ConditionalCheckFailed"]
    dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": "once"}, "sk": {"S": "A"}})
    dynamodb.transact_write_items(TransactItems=[copy.deepcopy(put)])
    assert _all(dynamodb)["once"]["v"] == {"N": "1"}


def test_queue_counts_agree_with_motos_own_and_read_the_clock_once(aws, monkeypatch):
    from moto.core import utils as moto_utils
    from moto.sqs import models as sqs_models
    from moto.sqs.models import sqs_backends

    from tickerstream_local.moto_patches import SHIPPED

    install()
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="counted")["QueueUrl"]
    for i in range(6):
        sqs.send_message(QueueUrl=url, MessageBody=str(i), DelaySeconds=60 if i % 3 == 0 else 0)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=60)
    queue = sqs_backends["123456789012"]["us-east-1"].get_queue("counted")
    names = ("messages", "approximate_number_of_messages", "approximate_number_of_messages_delayed",
             "approximate_number_of_messages_not_visible")
    ours = {name: getattr(queue, name) for name in names}
    assert ours == {name: SHIPPED[f"Queue.{name}"].fget(queue) for name in names}
    assert (ours["approximate_number_of_messages"], ours["approximate_number_of_messages_delayed"],
            ours["approximate_number_of_messages_not_visible"]) == (2, 2, 2)

    reads = []
    real = moto_utils.unix_time_millis
    monkeypatch.setattr(sqs_models, "unix_time_millis", lambda *a: reads.append(1) or real(*a))
    assert queue.approximate_number_of_messages == 2 and len(reads) == 1
