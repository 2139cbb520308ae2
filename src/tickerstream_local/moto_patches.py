"""Patches to moto's DynamoDB and Kinesis so the local stack's calls cost what they cost on AWS.

moto 5.2's ``transact_write_items`` deep-copies every table a transaction names, before every call, so
that it can roll back: a write costs time in proportion to the table (10 ms at 50 items, 112 ms at
2,000). Here a transaction saves only the items it touches and puts exactly those back when it is
cancelled; the rest of moto's logic (conditions, cancellation reasons, errors) is kept as moto has it.

moto's backend is not thread-safe either, and its threaded server runs requests side by side: two
transactions (or a transaction and a PutItem) could interleave between one's condition check and its
write. Writes here take one lock per process, as DynamoDB serialises writes to an item.

Two more of moto's DynamoDB costs grow with what is written rather than with the work: an item's
400 KB check re-measures every attribute before adding each next one (quadratic in its attributes),
every condition expression is tokenised afresh although a writer sends the same few expressions
with new values, and a transaction's conditions are parsed twice (to validate, then to apply). Here
an item is measured once, the tokens of an expression are kept (its values and names are still
substituted on every call), and a condition's tree is reused for the same names and values.

moto 5.2's Kinesis ``GetRecords`` walks the shard from its first record on every call, and finding the
last sequence number on every put copies the shard's keys: reading a shard gets slower with every
record in it (a 9,000-record shard read by three consumers spent 20 s in GetRecords). Here a read
bisects into the shard's sequence numbers, so its cost follows the records it returns. Its answer is
then written with ``json.dumps`` in the shape moto's generic serializer writes (about 0.3 ms a record
there, which three consumers pay on every record of a market-sized stream).

``install()`` patches the running process (idempotent); ``python -m tickerstream_local.moto_patches``
is ``python -m moto.server`` with the patches installed (how the local stack runs moto in a process of
its own).
"""

from __future__ import annotations

import base64
import bisect
import calendar
import copy
import functools
import json
import sys
import threading
from collections import deque
from typing import Any

_WRITE_LOCK = threading.RLock()
_INSTALLED = False
ITEM_SIZE_LIMIT = 405_000  # moto's own bound for DynamoDB's 400 KB (moto/dynamodb/models/dynamo_type.py)
SHIPPED: dict[str, Any] = {}  # moto's own implementations that install() replaced (tests compare)
_LOCKED_WRITES = ("put_item", "update_item", "delete_item", "batch_write_item")


def install() -> None:
    """Patch moto's DynamoDB backend in this process: touched-items rollback, serialised writes."""
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.dynamodb.models import DynamoDBBackend

    for name in _LOCKED_WRITES:
        setattr(DynamoDBBackend, name, _serialised(getattr(DynamoDBBackend, name)))
    DynamoDBBackend.transact_write_items = _serialised(transact_write_items)
    _install_dynamodb_costs()
    _install_kinesis()
    _install_sqs()
    _INSTALLED = True


def _install_dynamodb_costs() -> None:
    from moto.dynamodb import comparisons
    from moto.dynamodb.models.dynamo_type import Item

    parser = comparisons.ConditionExpressionParser
    SHIPPED["ConditionExpressionParser._lex_condition_expression"] = parser._lex_condition_expression
    parser._lex_condition_expression = lambda self: deque(_condition_tokens(self.condition_expression))
    SHIPPED["ConditionExpressionParser.parse"] = parser.parse
    parser.parse = _remembered_parse(parser.parse)
    SHIPPED["Item.__init__"] = Item.__init__
    Item.__init__ = _item_init


def _remembered_parse(parse: Any) -> Any:
    """moto parses a transaction's condition twice, to validate the request and again to apply it, with
    the same names and values: the second time gets the first's tree (a tree is only read afterwards)."""
    recent: dict[tuple[str, str, str], tuple[Any, list[str], list[str]]] = {}

    @functools.wraps(parse)
    def remembered(self: Any) -> Any:
        if not self.condition_expression:
            return parse(self)
        key = (self.condition_expression, json.dumps(self.expression_attribute_names, sort_keys=True),
               json.dumps(self.expression_attribute_values, sort_keys=True))
        found = recent.get(key)
        if found is None:
            op = parse(self)
            found = (op, list(self.expr_attr_names_found), list(self.expr_attr_values_found))
            if len(recent) >= 4096:
                recent.clear()
            recent[key] = found
        else:
            self.expr_attr_names_found.extend(found[1])
            self.expr_attr_values_found.extend(found[2])
        return found[0]

    return remembered


@functools.lru_cache(maxsize=1024)
def _condition_tokens(expression: str) -> tuple[Any, ...]:
    """moto's tokens of a condition expression (immutable named tuples; names and values come later)."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    lex = SHIPPED["ConditionExpressionParser._lex_condition_expression"]
    return tuple(lex(ConditionExpressionParser(expression, {}, {})))


def _item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
    """moto's Item.__init__ with its 400 KB check made once over the whole item: the sizes are not
    negative, so the whole item is over the limit exactly when moto's attribute-by-attribute check is."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    self.hash_key, self.range_key = hash_key, range_key
    converted = {key: DynamoType(value) for key, value in attrs.items()}
    if sum(bytesize(key) + value.size() for key, value in converted.items()) > ITEM_SIZE_LIMIT:
        raise ItemSizeTooLarge
    self.attrs = LimitedSizeDict()
    dict.update(self.attrs, converted)  # the later sets of an update still go through moto's check


def _install_kinesis() -> None:
    from moto.kinesis.models import Shard
    from moto.kinesis.responses import KinesisResponse

    SHIPPED["KinesisResponse.get_records"] = KinesisResponse.get_records
    KinesisResponse.get_records = get_records_response
    SHIPPED["Shard.get_records"] = Shard.get_records
    Shard.get_records = get_records
    Shard.get_max_sequence_number = lambda self: next(reversed(self.records)) if self.records else 0
    Shard.get_min_sequence_number = lambda self: next(iter(self.records)) if self.records else 0


def _sequence_numbers(shard: Any) -> list[int]:
    """The shard's sequence numbers in order, rebuilt (at C speed) only when records came or went."""
    numbers = shard.__dict__.get("_sequence_numbers")
    records = shard.records
    if numbers is None or len(numbers) != len(records) or (numbers and numbers[-1] != next(reversed(records))):
        numbers = shard._sequence_numbers = list(records)
    return numbers


def get_records_response(self: Any) -> str:
    """moto's KinesisResponse.get_records, the same JSON 1.1 answer (timestamps in epoch seconds to the
    millisecond, data in base64), written directly."""
    next_iterator, records, millis_behind = self.kinesis_backend.get_records(
        self._get_param("StreamARN"), self._get_param("ShardIterator"), self._get_param("Limit"))
    return json.dumps({
        "Records": [
            {
                "SequenceNumber": str(record.sequence_number),
                "ApproximateArrivalTimestamp": _epoch_milliseconds(record.created_at_datetime),
                "Data": record.data if isinstance(record.data, str) else base64.b64encode(record.data).decode(),
                "PartitionKey": record.partition_key,
            }
            for record in records
        ],
        "NextShardIterator": next_iterator,
        "MillisBehindLatest": millis_behind,
    })


def _epoch_milliseconds(moment: Any) -> int | float:
    """A timestamp as moto's JSON serializer writes it: epoch seconds, truncated to the millisecond."""
    seconds = calendar.timegm(moment.timetuple())
    return seconds + (moment.microsecond // 1000) / 1000.0 if moment.microsecond else seconds


def get_records(self: Any, last_sequence_id: str, limit: int | None) -> tuple[list[Any], int, int]:
    """moto's Shard.get_records, same answers (records after ``last_sequence_id``, at most ``limit``; the
    last sequence number read; milliseconds behind the newest record), found by bisection."""
    numbers = _sequence_numbers(self)
    start = bisect.bisect_right(numbers, int(last_sequence_id))
    chosen = numbers[start:start + limit] if limit else numbers[start:]
    if not chosen:
        return [], int(last_sequence_id), 0
    results = [self.records[number] for number in chosen]
    behind = self.records[numbers[-1]].created_at - results[-1].created_at
    return results, chosen[-1], int(behind * 1000)


def _serialised(method: Any) -> Any:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _WRITE_LOCK:
            return method(*args, **kwargs)

    return locked


class _SavedItems:
    """The items a transaction touches, as they were before it, to put back if it is cancelled."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, Any, Any, Any]] = []  # (table, hash, range, item or None)
        self._stream_lengths: dict[int, tuple[Any, int]] = {}

    def save(self, table: Any, hash_key: Any, range_key: Any, in_place: bool) -> None:
        """``in_place``: the action changes the stored Item object itself (an Update), so keep a copy;
        a Put stores a new Item and a Delete removes it, so the object as it is stays intact."""
        item = table.get_item(hash_key, range_key)
        self._saved.append((table, hash_key, range_key, copy.deepcopy(item) if in_place else item))
        if table.stream_shard is not None and id(table) not in self._stream_lengths:
            self._stream_lengths[id(table)] = (table, len(table.stream_shard.items))

    def restore(self) -> None:
        for table, hash_key, range_key, item in reversed(self._saved):
            if item is not None:
                if range_key is not None:
                    table.items[hash_key][range_key] = item
                else:
                    table.items[hash_key] = item
            elif range_key is not None:
                table.items.get(hash_key, {}).pop(range_key, None)
                if hash_key in table.items and not table.items[hash_key]:
                    del table.items[hash_key]
            else:
                table.items.pop(hash_key, None)
        for table, length in self._stream_lengths.values():
            del table.stream_shard.items[length:]


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto 5.2.5's ``DynamoDBBackend.transact_write_items`` with the table copies replaced by
    ``_SavedItems`` (each item saved just before its action runs)."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    saved = _SavedItems()
    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            check_unicity(table_name, key)

            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(condition_expression, names, values)
                if not condition_op.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type != "ConditionCheck":
                table = self.get_table(table_name)
                saved.save(table, *self.get_keys_value(table, key), in_place=op_type == "Update")
            # The condition held just above, under the write lock, and no other action of the
            # transaction touches this item (check_unicity): moto would only evaluate it again.
            if op_type == "Put":
                self.put_item(table_name, op["Item"], expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(table_name, key, expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Update":
                self.update_item(
                    table_name, key, update_expression=op["UpdateExpression"],
                    expression_attribute_names=names, expression_attribute_values=values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            saved.restore()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001 - moto reports any other failure as a cancellation reason
            errors.append((type(e).__name__, str(e), original_item))  # type: ignore[arg-type]

    if any(code is not None for code, _, _ in errors):
        saved.restore()
        raise TransactionCanceledException(errors)


def _install_sqs() -> None:
    """moto's queue counts read the clock once per message, and SendMessage asks for every attribute
    (counts included) of the queue: a send cost grew with the messages waiting. One reading of the
    clock per count, with moto's comparisons, keeps each count a plain pass over the messages."""
    from moto.sqs import models
    from moto.sqs.models import Queue

    def clock() -> float:
        return models.unix_time_millis()  # the module's own, as moto's Message reads it

    def ready(queue: Any, now: float) -> list[Any]:
        return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]

    for name in ("messages", "approximate_number_of_messages", "approximate_number_of_messages_delayed",
                 "approximate_number_of_messages_not_visible"):
        SHIPPED[f"Queue.{name}"] = getattr(Queue, name)
    Queue.messages = property(lambda self: ready(self, clock()))
    Queue.approximate_number_of_messages = property(lambda self: len(ready(self, clock())))
    Queue.approximate_number_of_messages_delayed = property(
        lambda self: (lambda now: sum(now < m.delayed_until for m in self._messages))(clock()))
    Queue.approximate_number_of_messages_not_visible = property(
        lambda self: (lambda now: sum(not now > m.visible_at for m in self._messages))(clock()))


def main(argv: list[str] | None = None) -> None:
    install()
    # The local stack discards the server's output: logging every request is work for nothing.
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
