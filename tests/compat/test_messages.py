"""Sending, receiving, visibility and deletion through boto3 (awsJson 1.0).

botocore does not verify SQS digests, so every test that sends or receives checks
MD5OfMessageBody / MD5OfMessageAttributes itself (helpers.md5_of_message_attributes).
"""

from __future__ import annotations

import threading
import time

import pytest
from botocore.exceptions import ClientError

from helpers import error_code, json_request, md5_hex, md5_of_message_attributes

ALL_TYPES_ATTRIBUTES = {
    "text": {"DataType": "String", "StringValue": "héllo wörld ✓"},
    "count": {"DataType": "Number", "StringValue": "42"},
    "customNumberTypeAttrib": {"DataType": "Number.float", "StringValue": "4563442423554324324264524243.32543234"},
    "blob": {"DataType": "Binary", "BinaryValue": bytes(range(256))},
    "image": {"DataType": "Binary.gif", "BinaryValue": b"GIF89a\x01\x00\x01\x00\x00\xff\x00,"},
    "label": {"DataType": "String.custom-label", "StringValue": "custom"},
}


def receive_one(sqs, url: str, **kwargs) -> dict:
    kwargs.setdefault("WaitTimeSeconds", 5)
    messages = sqs.receive_message(QueueUrl=url, **kwargs).get("Messages", [])
    assert len(messages) == 1, messages
    return messages[0]


def receive_all(sqs, url: str, expected: int, **kwargs) -> list[dict]:
    """Receives until `expected` messages arrived (standard queues may return fewer per call)."""
    messages: list[dict] = []
    for _ in range(expected * 3):
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, **kwargs).get("Messages", [])
        messages.extend(batch)
        if len(messages) >= expected:
            break
    return messages


def test_md5_helper_matches_reference_vectors():
    # Test vectors from the reference notes (computed with the SDKs' algorithm).
    one = {"attribName1": {"DataType": "String", "StringValue": "attribValue 1"}}
    two = {"customNumberTypeAttrib": {"DataType": "Number.float", "StringValue": "4563442423554324324264524243.32543234"}}
    three = {"binaryAttribute": {"DataType": "Binary", "BinaryValue": b"Hello binary world!"}}
    assert md5_of_message_attributes(one) == "19e27d4e946b072f3f58da80d94fd778"
    assert md5_of_message_attributes(two) == "9fe1b90bbd9965bdf77bac517c7d2495"
    assert md5_of_message_attributes(three) == "31a92b15d92f8db860eda32aceb656c3"
    assert md5_of_message_attributes({**one, **two, **three}) == "c932db14a896c663f83c260297d594ff"


def test_send_receive_delete(sqs, queue_url):
    body = "hello from boto3 — ünïcødé 🚢"
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    assert sent["MD5OfMessageBody"] == md5_hex(body)
    assert "MD5OfMessageAttributes" not in sent  # omitted, not the digest of nothing
    message = receive_one(sqs, queue_url)
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == body
    assert message["MD5OfBody"] == md5_hex(body)
    assert "MD5OfMessageAttributes" not in message
    assert "MessageAttributes" not in message
    assert message["ReceiptHandle"]
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    assert sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0).get("Messages", []) == []


def test_message_attributes_of_every_type(sqs, queue_url):
    body = "attributes"
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody=body, MessageAttributes=ALL_TYPES_ATTRIBUTES)
    assert sent["MD5OfMessageBody"] == md5_hex(body)
    assert sent["MD5OfMessageAttributes"] == md5_of_message_attributes(ALL_TYPES_ATTRIBUTES)
    message = receive_one(sqs, queue_url, MessageAttributeNames=["All"])
    assert message["MessageAttributes"] == ALL_TYPES_ATTRIBUTES
    assert message["MD5OfMessageAttributes"] == md5_of_message_attributes(ALL_TYPES_ATTRIBUTES)
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]


def test_message_attribute_names_filter(sqs, queue_url):
    attributes = {
        "app.id": {"DataType": "String", "StringValue": "1"},
        "app.version": {"DataType": "Number", "StringValue": "2"},
        "application": {"DataType": "String", "StringValue": "not under app."},
        "other": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    sqs.send_message(QueueUrl=queue_url, MessageBody="filtered", MessageAttributes=attributes)

    def received(names):
        message = receive_one(sqs, queue_url, MessageAttributeNames=names, VisibilityTimeout=0)
        got = message.get("MessageAttributes", {})
        if got:
            assert message["MD5OfMessageAttributes"] == md5_of_message_attributes(got)
        else:
            assert "MD5OfMessageAttributes" not in message
        return set(got)

    assert received(["All"]) == set(attributes)
    assert received([".*"]) == set(attributes)
    assert received(["app.*"]) == {"app.id", "app.version"}
    assert received(["other"]) == {"other"}
    assert received(["other", "app.id", "missing"]) == {"other", "app.id"}
    assert received(["missing"]) == set()
    assert received([]) == set()


@pytest.mark.parametrize("data_type", ["String", "Number", "Number.int", "Binary", "Binary.jpeg", "String.x"])
def test_message_attribute_data_types_round_trip(sqs, queue_url, data_type):
    if data_type.startswith("Binary"):
        value = {"DataType": data_type, "BinaryValue": b"\xde\xad\xbe\xef"}
    elif data_type.startswith("Number"):
        value = {"DataType": data_type, "StringValue": "-12.5e3"}
    else:
        value = {"DataType": data_type, "StringValue": "value"}
    attributes = {"a": value}
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody="typed", MessageAttributes=attributes)
    assert sent["MD5OfMessageAttributes"] == md5_of_message_attributes(attributes)
    message = receive_one(sqs, queue_url, MessageAttributeNames=["a"])
    assert message["MessageAttributes"] == attributes


@pytest.mark.parametrize(
    "value",
    [
        {"DataType": "Invalid", "StringValue": "x"},
        {"DataType": "String"},
        {"DataType": "Number", "StringValue": "not a number"},
    ],
    ids=["unknown-type", "no-value", "bad-number"],
)
def test_invalid_message_attribute_is_rejected(sqs, queue_url, value):
    with pytest.raises(ClientError) as raised:
        sqs.send_message(QueueUrl=queue_url, MessageBody="x", MessageAttributes={"a": value})
    assert error_code(raised.value) == "InvalidParameterValue"


@pytest.mark.parametrize("name", ["AWS.reserved", "Amazon.reserved", ".leading-dot", "trailing-dot.", "has space", "double..dot", "x" * 257])
def test_invalid_message_attribute_name_is_rejected(sqs, queue_url, name):
    with pytest.raises(ClientError) as raised:
        sqs.send_message(QueueUrl=queue_url, MessageBody="x", MessageAttributes={name: {"DataType": "String", "StringValue": "v"}})
    assert error_code(raised.value) == "InvalidParameterValue"


def test_empty_string_attribute_value_is_rejected(sqs, queue_url):
    with pytest.raises(ClientError) as raised:
        sqs.send_message(QueueUrl=queue_url, MessageBody="x", MessageAttributes={"a": {"DataType": "String", "StringValue": ""}})
    assert error_code(raised.value) == "InvalidParameterValue"


def test_too_many_message_attributes(sqs, queue_url):
    attributes = {f"a{index}": {"DataType": "String", "StringValue": "v"} for index in range(11)}
    with pytest.raises(ClientError) as raised:
        sqs.send_message(QueueUrl=queue_url, MessageBody="x", MessageAttributes=attributes)
    assert error_code(raised.value) == "InvalidParameterValue"


def test_system_attributes_all(sqs, queue_url):
    before_ms = int(time.time() * 1000) - 5000
    sqs.send_message(QueueUrl=queue_url, MessageBody="system")
    for request in ({"MessageSystemAttributeNames": ["All"]}, {"AttributeNames": ["All"]}):
        message = receive_one(sqs, queue_url, VisibilityTimeout=0, **request)
        attributes = message["Attributes"]
        for key in ("SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp"):
            assert key in attributes, (request, key)
        assert int(attributes["SentTimestamp"]) >= before_ms
        assert int(attributes["ApproximateFirstReceiveTimestamp"]) >= int(attributes["SentTimestamp"])
        for fifo_only in ("SequenceNumber", "MessageDeduplicationId", "MessageGroupId"):
            assert fifo_only not in attributes
    assert attributes["ApproximateReceiveCount"] == "2"


def test_system_attributes_selected(sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="system")
    message = receive_one(sqs, queue_url, MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"])
    assert set(message["Attributes"]) == {"SentTimestamp", "ApproximateReceiveCount"}
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"


def test_aws_trace_header_system_attribute(sqs, queue_url):
    trace = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"}}
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody="traced", MessageSystemAttributes=trace)
    assert sent["MD5OfMessageSystemAttributes"] == md5_of_message_attributes(trace)
    message = receive_one(sqs, queue_url, MessageSystemAttributeNames=["AWSTraceHeader"])
    assert message["Attributes"] == {"AWSTraceHeader": trace["AWSTraceHeader"]["StringValue"]}


def test_delay_seconds_hides_message(sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="delayed", DelaySeconds=60)
    assert sqs.receive_message(QueueUrl=queue_url).get("Messages", []) == []
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"


def test_queue_delay_applies_unless_message_overrides(sqs, make_queue):
    url = make_queue(Attributes={"DelaySeconds": "600"})
    sqs.send_message(QueueUrl=url, MessageBody="queue delay")
    sqs.send_message(QueueUrl=url, MessageBody="no delay", DelaySeconds=0)
    messages = receive_all(sqs, url, 2)
    assert [message["Body"] for message in messages] == ["no delay"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"


def test_queue_visibility_timeout_is_the_default(sqs, make_queue):
    url = make_queue(Attributes={"VisibilityTimeout": "1"})
    sqs.send_message(QueueUrl=url, MessageBody="short lease")
    first = receive_one(sqs, url)
    # With the queue's 1 s default (not 30 s) the message is back well within the wait.
    second = receive_one(sqs, url, WaitTimeSeconds=20, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert second["MessageId"] == first["MessageId"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"


@pytest.mark.parametrize("body", ["bad \x00 nul", "bad \x08 backspace", "bad \x1f unit sep", "bad \ufffe", "bad \uffff"])
def test_invalid_body_characters(sqs, queue_url, body):
    with pytest.raises(sqs.exceptions.InvalidMessageContents) as raised:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    assert error_code(raised.value) == "InvalidMessageContents"


def test_allowed_whitespace_and_astral_characters(sqs, queue_url):
    body = "tab\tnewline\ncarriage\rastral 𝄞 private \ue000"
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    assert sent["MD5OfMessageBody"] == md5_hex(body)
    assert receive_one(sqs, queue_url)["Body"] == body


def test_largest_message_is_accepted(sqs, queue_url):
    body = "x" * 1_048_576
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    assert sent["MD5OfMessageBody"] == md5_hex(body)
    message = receive_one(sqs, queue_url)
    assert message["MD5OfBody"] == md5_hex(body)
    assert len(message["Body"]) == 1_048_576


def test_oversize_message_is_invalid_parameter_value(sqs, queue_url):
    with pytest.raises(ClientError) as raised:
        sqs.send_message(QueueUrl=queue_url, MessageBody="x" * 1_048_577)
    assert error_code(raised.value) == "InvalidParameterValue"


def test_message_larger_than_queue_maximum(sqs, make_queue):
    url = make_queue(Attributes={"MaximumMessageSize": "1024"})
    sqs.send_message(QueueUrl=url, MessageBody="x" * 1024)
    with pytest.raises(ClientError) as raised:
        sqs.send_message(QueueUrl=url, MessageBody="x" * 1025)
    assert error_code(raised.value) == "InvalidParameterValue"


def test_empty_body_is_rejected(sqs, queue_url):
    with pytest.raises(ClientError) as raised:
        sqs.send_message(QueueUrl=queue_url, MessageBody="")
    # AWS documents the 1-byte minimum but not which of these two codes an empty body gets.
    assert error_code(raised.value) in {"InvalidParameterValue", "MissingParameter"}


def test_send_message_batch(sqs, queue_url):
    entries = [
        {"Id": "plain", "MessageBody": "one"},
        {"Id": "with_attributes", "MessageBody": "two", "MessageAttributes": ALL_TYPES_ATTRIBUTES},
        {"Id": "delayed-3", "MessageBody": "three", "DelaySeconds": 0},
    ]
    response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    assert response.get("Failed", []) == []
    successful = {entry["Id"]: entry for entry in response["Successful"]}
    assert set(successful) == {"plain", "with_attributes", "delayed-3"}
    for entry in entries:
        result = successful[entry["Id"]]
        assert result["MD5OfMessageBody"] == md5_hex(entry["MessageBody"])
        if "MessageAttributes" in entry:
            assert result["MD5OfMessageAttributes"] == md5_of_message_attributes(entry["MessageAttributes"])
        else:
            assert "MD5OfMessageAttributes" not in result
    received = receive_all(sqs, queue_url, 3, MessageAttributeNames=["All"])
    assert sorted(message["Body"] for message in received) == ["one", "three", "two"]
    ids = {message["MessageId"] for message in received}
    assert ids == {result["MessageId"] for result in successful.values()}


def test_send_message_batch_per_entry_failure(sqs, queue_url):
    response = sqs.send_message_batch(
        QueueUrl=queue_url,
        Entries=[
            {"Id": "good", "MessageBody": "fine"},
            {"Id": "bad", "MessageBody": "bad \x00 body"},
        ],
    )
    assert [entry["Id"] for entry in response["Successful"]] == ["good"]
    assert len(response["Failed"]) == 1
    failed = response["Failed"][0]
    assert failed["Id"] == "bad"
    assert failed["SenderFault"] is True
    assert failed["Code"] == "InvalidMessageContents"
    assert failed.get("Message")
    assert [message["Body"] for message in receive_all(sqs, queue_url, 1)] == ["fine"]


def test_send_message_batch_ids_not_distinct(sqs, queue_url):
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct) as raised:
        sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": "same", "MessageBody": "a"}, {"Id": "same", "MessageBody": "b"}])
    assert error_code(raised.value) == "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"


def test_send_message_batch_too_many_entries(sqs, queue_url):
    entries = [{"Id": f"e{index}", "MessageBody": "x"} for index in range(11)]
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest) as raised:
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    assert error_code(raised.value) == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"


def test_send_message_batch_empty(sqs, queue_url):
    with pytest.raises(sqs.exceptions.EmptyBatchRequest) as raised:
        sqs.send_message_batch(QueueUrl=queue_url, Entries=[])
    assert error_code(raised.value) == "AWS.SimpleQueueService.EmptyBatchRequest"


@pytest.mark.parametrize("entry_id", ["has space", "dot.id", "x" * 81, ""])
def test_send_message_batch_invalid_entry_id(sqs, queue_url, entry_id):
    with pytest.raises(sqs.exceptions.InvalidBatchEntryId) as raised:
        sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": entry_id, "MessageBody": "x"}])
    assert error_code(raised.value) == "AWS.SimpleQueueService.InvalidBatchEntryId"


def test_send_message_batch_too_long(sqs, queue_url):
    entries = [{"Id": f"e{index}", "MessageBody": "x" * 600_000} for index in range(2)]
    with pytest.raises(sqs.exceptions.BatchRequestTooLong) as raised:
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    assert error_code(raised.value) == "AWS.SimpleQueueService.BatchRequestTooLong"


def test_receive_max_number_of_messages(sqs, queue_url):
    sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": f"e{index}", "MessageBody": str(index)} for index in range(10)])
    first = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=3)["Messages"]
    assert 1 <= len(first) <= 3
    rest = receive_all(sqs, queue_url, 10 - len(first))
    assert sorted(int(message["Body"]) for message in first + rest) == list(range(10))


@pytest.mark.parametrize(("name", "value"), [("MaxNumberOfMessages", 11), ("MaxNumberOfMessages", 0), ("WaitTimeSeconds", 21), ("VisibilityTimeout", 43201)])
def test_receive_invalid_parameters(sqs, queue_url, name, value):
    with pytest.raises(ClientError) as raised:
        sqs.receive_message(QueueUrl=queue_url, **{name: value})
    assert error_code(raised.value) == "InvalidParameterValue"


def test_long_poll_returns_when_a_message_arrives(sqs, queue_url):
    wait_seconds = 20

    def send_later():
        time.sleep(1)
        sqs.send_message(QueueUrl=queue_url, MessageBody="woken")

    sender = threading.Thread(target=send_later)
    started = time.monotonic()
    sender.start()
    try:
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=wait_seconds).get("Messages", [])
    finally:
        sender.join()
    elapsed = time.monotonic() - started
    assert [message["Body"] for message in messages] == ["woken"]
    # The semantic bound, not a tuning threshold: a long poll that had to run out its wait
    # before answering did not return early.
    assert elapsed < wait_seconds


def test_long_poll_uses_queue_receive_wait_time(sqs, make_queue):
    url = make_queue(Attributes={"ReceiveMessageWaitTimeSeconds": "20"})

    def send_later():
        time.sleep(1)
        sqs.send_message(QueueUrl=url, MessageBody="queue default wait")

    sender = threading.Thread(target=send_later)
    sender.start()
    try:
        # No WaitTimeSeconds: the queue's ReceiveMessageWaitTimeSeconds applies.
        messages = sqs.receive_message(QueueUrl=url).get("Messages", [])
    finally:
        sender.join()
    assert [message["Body"] for message in messages] == ["queue default wait"]


def test_long_poll_returns_message_whose_visibility_expires(sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="comes back")
    first = receive_one(sqs, queue_url, VisibilityTimeout=1)
    # Nothing is visible now; the waiting receive gets the message once its lease runs out.
    second = receive_one(sqs, queue_url, WaitTimeSeconds=20)
    assert second["MessageId"] == first["MessageId"]


def test_long_poll_returns_delayed_message_when_due(sqs, queue_url):
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody="due soon", DelaySeconds=1)
    message = receive_one(sqs, queue_url, WaitTimeSeconds=20)
    assert message["MessageId"] == sent["MessageId"]


def test_concurrent_long_polls_share_messages(sqs, queue_url):
    results: list[list[dict]] = []
    lock = threading.Lock()

    def poll():
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=3, MaxNumberOfMessages=10, VisibilityTimeout=300).get("Messages", [])
        with lock:
            results.append(messages)

    pollers = [threading.Thread(target=poll) for _ in range(3)]
    for poller in pollers:
        poller.start()
    time.sleep(0.5)
    sqs.send_message(QueueUrl=queue_url, MessageBody="only one gets me")
    for poller in pollers:
        poller.join()
    delivered = [message for messages in results for message in messages]
    assert [message["Body"] for message in delivered] == ["only one gets me"]


def test_concurrent_senders_lose_nothing(sqs, queue_url):
    threads, per_thread = 8, 25
    errors: list[BaseException] = []

    def send(worker: int):
        try:
            for index in range(per_thread):
                sqs.send_message(QueueUrl=queue_url, MessageBody=f"{worker}:{index}")
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    workers = [threading.Thread(target=send, args=(worker,)) for worker in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    bodies: set[str] = set()
    for _ in range(threads * per_thread):
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300).get("Messages", [])
        if not messages:
            break
        bodies.update(message["Body"] for message in messages)
        sqs.delete_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(messages)]
        )
    assert bodies == {f"{worker}:{index}" for worker in range(threads) for index in range(per_thread)}


def test_short_poll_on_empty_queue_returns_no_messages(sqs, queue_url):
    response = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)
    assert response.get("Messages", []) == []


def test_visibility_timeout_hides_received_message(sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="leased")
    receive_one(sqs, queue_url, VisibilityTimeout=300)
    assert sqs.receive_message(QueueUrl=queue_url).get("Messages", []) == []


def test_change_message_visibility_to_zero_releases(sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="release me")
    first = receive_one(sqs, queue_url, VisibilityTimeout=300)
    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    second = receive_one(sqs, queue_url, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert second["MessageId"] == first["MessageId"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    assert second["ReceiptHandle"] != first["ReceiptHandle"]


def test_change_message_visibility_extends(sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="extend")
    message = receive_one(sqs, queue_url, VisibilityTimeout=0)
    message = receive_one(sqs, queue_url, VisibilityTimeout=1)
    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=600)
    time.sleep(1.5)
    assert sqs.receive_message(QueueUrl=queue_url).get("Messages", []) == []


def test_change_message_visibility_invalid_receipt_handle(sqs, queue_url):
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid) as raised:
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle="not-a-receipt-handle", VisibilityTimeout=0)
    assert error_code(raised.value) == "ReceiptHandleIsInvalid"


def test_change_message_visibility_out_of_range(sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="x")
    message = receive_one(sqs, queue_url)
    with pytest.raises(ClientError) as raised:
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=43201)
    assert error_code(raised.value) == "InvalidParameterValue"


def test_change_message_visibility_batch(sqs, queue_url):
    sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": f"e{index}", "MessageBody": f"m{index}"} for index in range(3)])
    messages = receive_all(sqs, queue_url, 3, VisibilityTimeout=300)
    assert len(messages) == 3
    response = sqs.change_message_visibility_batch(
        QueueUrl=queue_url,
        Entries=[
            {"Id": "release0", "ReceiptHandle": messages[0]["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "release1", "ReceiptHandle": messages[1]["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "bogus", "ReceiptHandle": "not-a-receipt-handle", "VisibilityTimeout": 0},
        ],
    )
    assert sorted(entry["Id"] for entry in response["Successful"]) == ["release0", "release1"]
    assert len(response["Failed"]) == 1
    failed = response["Failed"][0]
    assert failed["Id"] == "bogus"
    assert failed["Code"] == "ReceiptHandleIsInvalid"
    assert failed["SenderFault"] is True
    released = receive_all(sqs, queue_url, 2)
    assert sorted(message["MessageId"] for message in released) == sorted(message["MessageId"] for message in messages[:2])


def test_change_message_visibility_batch_validation(sqs, queue_url):
    with pytest.raises(sqs.exceptions.EmptyBatchRequest):
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=[])
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": "a", "ReceiptHandle": "x", "VisibilityTimeout": 0}, {"Id": "a", "ReceiptHandle": "y", "VisibilityTimeout": 0}],
        )
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest):
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url, Entries=[{"Id": f"e{index}", "ReceiptHandle": "x", "VisibilityTimeout": 0} for index in range(11)]
        )


def test_delete_message_invalid_receipt_handle(sqs, queue_url):
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid) as raised:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle="not-a-receipt-handle")
    assert error_code(raised.value) == "ReceiptHandleIsInvalid"


def test_delete_message_twice_succeeds(sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="delete me twice")
    message = receive_one(sqs, queue_url)
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def test_delete_message_batch(sqs, queue_url):
    sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": f"e{index}", "MessageBody": f"m{index}"} for index in range(3)])
    messages = receive_all(sqs, queue_url, 3, VisibilityTimeout=0)
    assert len(messages) >= 3
    unique = {message["MessageId"]: message for message in messages}
    handles = [message["ReceiptHandle"] for message in unique.values()]
    response = sqs.delete_message_batch(
        QueueUrl=queue_url,
        Entries=[{"Id": f"d{index}", "ReceiptHandle": handle} for index, handle in enumerate(handles)]
        + [{"Id": "bogus", "ReceiptHandle": "not-a-receipt-handle"}],
    )
    assert sorted(entry["Id"] for entry in response["Successful"]) == [f"d{index}" for index in range(len(handles))]
    assert [(entry["Id"], entry["Code"], entry["SenderFault"]) for entry in response["Failed"]] == [("bogus", "ReceiptHandleIsInvalid", True)]
    assert sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0).get("Messages", []) == []


def test_delete_message_batch_validation(sqs, queue_url):
    with pytest.raises(sqs.exceptions.EmptyBatchRequest):
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[])
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[{"Id": "a", "ReceiptHandle": "x"}, {"Id": "a", "ReceiptHandle": "y"}])
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest):
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[{"Id": f"e{index}", "ReceiptHandle": "x"} for index in range(11)])
    with pytest.raises(sqs.exceptions.InvalidBatchEntryId):
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[{"Id": "bad id", "ReceiptHandle": "x"}])


def test_purge_queue_then_purge_in_progress(sqs, queue_url):
    sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": f"e{index}", "MessageBody": "x"} for index in range(5)])
    sqs.purge_queue(QueueUrl=queue_url)
    assert sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []) == []
    with pytest.raises(sqs.exceptions.PurgeQueueInProgress) as raised:
        sqs.purge_queue(QueueUrl=queue_url)
    assert error_code(raised.value) == "AWS.SimpleQueueService.PurgeQueueInProgress"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # Messages sent after the purge are kept.
    sqs.send_message(QueueUrl=queue_url, MessageBody="after purge")
    assert receive_one(sqs, queue_url)["Body"] == "after purge"


def test_missing_required_parameter(endpoint):
    # boto3 validates required members itself, so send the request raw.
    response = json_request(endpoint, "SendMessage", {"MessageBody": "no queue url"})
    assert response.status == 400
    assert response.headers["x-amzn-query-error"].startswith("MissingParameter;")
    assert response.json()["__type"].endswith("#MissingRequiredParameterException")
