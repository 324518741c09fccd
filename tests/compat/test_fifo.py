"""FIFO queues and fair queues (MessageGroupId on standard queues) through boto3 and the AWS CLI.

Time windows (the 5-minute deduplication interval and the like) are tested with an injected clock
elsewhere; here every check happens well inside the window and nothing sleeps.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError

from conftest import unique_name
from helpers import error_code, md5_hex

FIFO_ATTRIBUTE_NAMES = ("FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")


def fifo_name(prefix: str = "fifo") -> str:
    return unique_name(prefix) + ".fifo"


@pytest.fixture
def make_fifo(make_queue):
    """Creates a FIFO queue (deleted after the test); keyword arguments are extra attributes."""

    def create(**attributes: str) -> str:
        return make_queue(fifo_name(), Attributes={"FifoQueue": "true", **attributes})

    return create


@pytest.fixture
def fifo_url(make_fifo) -> str:
    return make_fifo()


def send(sqs, url: str, body: str, group: str = "g", dedup: str | None = None) -> dict:
    """Sends to a FIFO queue with an explicit deduplication id (the body unless given)."""
    return sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=dedup or body)


def receive(sqs, url: str, max_messages: int = 10, **kwargs) -> list[dict]:
    """One ReceiveMessage call expected to find messages (a long poll returns at once when it does)."""
    kwargs.setdefault("WaitTimeSeconds", 1)
    kwargs.setdefault("VisibilityTimeout", 60)
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=max_messages, **kwargs).get("Messages", [])


def receive_none(sqs, url: str, **kwargs) -> list[dict]:
    """One short-poll ReceiveMessage call (for checks that expect nothing, without waiting)."""
    kwargs.setdefault("VisibilityTimeout", 60)
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, **kwargs).get("Messages", [])


def receive_all_groups(sqs, url: str) -> list[dict]:
    """Receives (without deleting) until a short poll finds nothing more, for messages spread over
    several groups: a single receive need not mix groups."""
    messages = receive(sqs, url)
    for _ in range(10):
        more = receive_none(sqs, url)
        if not more:
            break
        messages.extend(more)
    return messages


def bodies(messages: list[dict]) -> list[str]:
    return [message["Body"] for message in messages]


def queue_arn(sqs, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def redrive_policy(sqs, dead_letter_url: str, max_receive_count: int = 1) -> str:
    return json.dumps({"deadLetterTargetArn": queue_arn(sqs, dead_letter_url), "maxReceiveCount": max_receive_count})


def expect_error(code: str, call, *args, **kwargs) -> ClientError:
    with pytest.raises(ClientError) as raised:
        call(*args, **kwargs)
    assert error_code(raised.value) == code, raised.value.response["Error"]
    return raised.value


# --- Queue creation and attributes ------------------------------------------------------------


def test_fifo_queue_has_fifo_attribute_defaults(sqs, fifo_url):
    attributes = sqs.get_queue_attributes(QueueUrl=fifo_url, AttributeNames=["All"])["Attributes"]
    assert attributes["FifoQueue"] == "true"
    assert attributes["ContentBasedDeduplication"] == "false"
    assert attributes["DeduplicationScope"] == "queue"
    assert attributes["FifoThroughputLimit"] == "perQueue"


def test_standard_queue_has_no_fifo_attributes(sqs, queue_url):
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    for name in FIFO_ATTRIBUTE_NAMES:
        assert name not in attributes


@pytest.mark.parametrize(
    ("name", "attributes"),
    [
        (fifo_name(), {}),
        (unique_name("fifo"), {"FifoQueue": "true"}),
        (fifo_name(), {"FifoQueue": "false"}),
    ],
    ids=["suffix-without-fifo-attribute", "fifo-attribute-without-suffix", "fifo-false-with-suffix"],
)
def test_fifo_name_and_fifo_attribute_must_agree(sqs, make_queue, name, attributes):
    expect_error("InvalidParameterValue", make_queue, name, Attributes=attributes)


@pytest.mark.parametrize(
    ("name", "value"),
    [("ContentBasedDeduplication", "true"), ("DeduplicationScope", "queue"), ("FifoThroughputLimit", "perQueue")],
)
def test_fifo_only_attribute_on_standard_queue_is_invalid_attribute_name(sqs, make_queue, name, value):
    expect_error("InvalidAttributeName", make_queue, Attributes={name: value})


@pytest.mark.parametrize(
    "attributes",
    [
        {"DeduplicationScope": "bogus"},
        {"FifoThroughputLimit": "bogus"},
        {"DeduplicationScope": "queue", "FifoThroughputLimit": "perMessageGroupId"},
    ],
    ids=["bad-scope", "bad-throughput-limit", "per-group-limit-with-queue-scope"],
)
def test_invalid_fifo_attribute_values_are_invalid_attribute_value(sqs, make_fifo, attributes):
    expect_error("InvalidAttributeValue", make_fifo, **attributes)


def test_high_throughput_mode_is_accepted(sqs, make_fifo):
    url = make_fifo(DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DeduplicationScope", "FifoThroughputLimit"])["Attributes"]
    assert attributes == {"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}


def test_set_queue_attributes_changes_fifo_settings(sqs, fifo_url):
    changed = {"ContentBasedDeduplication": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}
    sqs.set_queue_attributes(QueueUrl=fifo_url, Attributes=changed)
    assert sqs.get_queue_attributes(QueueUrl=fifo_url, AttributeNames=list(changed))["Attributes"] == changed


@pytest.mark.parametrize("value", ["true", "false"])
def test_set_queue_attributes_fifo_queue_is_invalid_attribute_name(sqs, fifo_url, value):
    expect_error("InvalidAttributeName", sqs.set_queue_attributes, QueueUrl=fifo_url, Attributes={"FifoQueue": value})


# --- Sending ----------------------------------------------------------------------------------


def test_send_without_message_group_id_is_missing_parameter(sqs, fifo_url):
    expect_error("MissingParameter", sqs.send_message, QueueUrl=fifo_url, MessageBody="x", MessageDeduplicationId="d")


def test_send_without_dedup_id_needs_content_based_deduplication(sqs, fifo_url):
    expect_error("InvalidParameterValue", sqs.send_message, QueueUrl=fifo_url, MessageBody="x", MessageGroupId="g")


def test_per_message_delay_on_fifo_queue_is_invalid_parameter_value(sqs, fifo_url):
    expect_error(
        "InvalidParameterValue",
        sqs.send_message,
        QueueUrl=fifo_url,
        MessageBody="x",
        MessageGroupId="g",
        MessageDeduplicationId="d",
        DelaySeconds=5,
    )


def test_sequence_numbers_are_decimal_and_strictly_increasing(sqs, fifo_url):
    numbers = []
    for index in range(5):
        sent = send(sqs, fifo_url, f"m{index}")
        assert sent["MD5OfMessageBody"] == md5_hex(f"m{index}")
        assert sent["SequenceNumber"].isdigit(), sent["SequenceNumber"]
        numbers.append(int(sent["SequenceNumber"]))
    assert all(earlier < later for earlier, later in zip(numbers, numbers[1:])), numbers


# --- Deduplication ----------------------------------------------------------------------------


def test_same_dedup_id_returns_same_message_and_delivers_once(sqs, fifo_url):
    first = send(sqs, fifo_url, "first", dedup="d")
    second = send(sqs, fifo_url, "second", dedup="d")
    assert second["MessageId"] == first["MessageId"]
    assert second["SequenceNumber"] == first["SequenceNumber"]
    messages = receive(sqs, fifo_url)
    assert [(m["MessageId"], m["Body"]) for m in messages] == [(first["MessageId"], "first")]


def test_content_based_dedup_uses_the_body(sqs, make_fifo):
    url = make_fifo(ContentBasedDeduplication="true")
    first = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    again = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    other = sqs.send_message(QueueUrl=url, MessageBody="other", MessageGroupId="g")
    assert again["MessageId"] == first["MessageId"]
    assert other["MessageId"] != first["MessageId"]
    assert bodies(receive(sqs, url)) == ["same", "other"]


def test_dedup_scope_message_group_dedups_per_group(sqs, make_fifo):
    url = make_fifo(DeduplicationScope="messageGroup")
    a = send(sqs, url, "in a", group="a", dedup="d")
    b = send(sqs, url, "in b", group="b", dedup="d")
    a_again = send(sqs, url, "in a again", group="a", dedup="d")
    assert b["MessageId"] != a["MessageId"]
    assert a_again["MessageId"] == a["MessageId"]
    assert sorted(bodies(receive_all_groups(sqs, url))) == ["in a", "in b"]


def test_dedup_still_applies_after_message_was_deleted(sqs, fifo_url):
    first = send(sqs, fifo_url, "once", dedup="d")
    [message] = receive(sqs, fifo_url)
    sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=message["ReceiptHandle"])
    again = send(sqs, fifo_url, "once again", dedup="d")
    assert again["MessageId"] == first["MessageId"]
    assert receive_none(sqs, fifo_url) == []


def test_batch_entries_with_same_dedup_id_both_succeed_with_same_message_id(sqs, fifo_url):
    entries = [
        {"Id": "one", "MessageBody": "one", "MessageGroupId": "g", "MessageDeduplicationId": "d"},
        {"Id": "two", "MessageBody": "two", "MessageGroupId": "g", "MessageDeduplicationId": "d"},
    ]
    result = sqs.send_message_batch(QueueUrl=fifo_url, Entries=entries)
    assert result.get("Failed", []) == []
    by_id = {entry["Id"]: entry for entry in result["Successful"]}
    assert set(by_id) == {"one", "two"}
    assert by_id["one"]["MessageId"] == by_id["two"]["MessageId"]
    assert bodies(receive(sqs, fifo_url)) == ["one"]


# --- Ordering and message-group locking -------------------------------------------------------


def test_one_group_is_received_in_send_order(sqs, fifo_url):
    sent = [f"m{index:02}" for index in range(20)]
    for body in sent:
        send(sqs, fifo_url, body)
    received: list[str] = []
    for _ in range(6):
        messages = receive(sqs, fifo_url)
        received.extend(bodies(messages))
        for message in messages:
            sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=message["ReceiptHandle"])
        if len(received) >= len(sent):
            break
    assert received == sent


def test_batch_keeps_entry_order(sqs, fifo_url):
    names = [f"e{index}" for index in range(5)]
    entries = [{"Id": name, "MessageBody": name, "MessageGroupId": "g", "MessageDeduplicationId": name} for name in names]
    result = sqs.send_message_batch(QueueUrl=fifo_url, Entries=entries)
    assert result.get("Failed", []) == []
    numbers = {entry["Id"]: int(entry["SequenceNumber"]) for entry in result["Successful"]}
    assert sorted(numbers, key=numbers.get) == names
    assert bodies(receive(sqs, fifo_url)) == names


def test_in_flight_message_locks_its_group_only(sqs, fifo_url):
    send(sqs, fifo_url, "a1", group="A")
    send(sqs, fifo_url, "a2", group="A")
    send(sqs, fifo_url, "b1", group="B")
    [a1] = receive(sqs, fifo_url, max_messages=1)
    assert a1["Body"] == "a1"
    assert bodies(receive(sqs, fifo_url)) == ["b1"]  # a2 waits while a1 is in flight
    sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=a1["ReceiptHandle"])
    assert bodies(receive(sqs, fifo_url)) == ["a2"]


def test_visibility_zero_puts_message_back_at_head_of_group(sqs, fifo_url):
    send(sqs, fifo_url, "a1", group="A")
    send(sqs, fifo_url, "a2", group="A")
    [a1] = receive(sqs, fifo_url, max_messages=1)
    assert a1["Body"] == "a1"
    sqs.change_message_visibility(QueueUrl=fifo_url, ReceiptHandle=a1["ReceiptHandle"], VisibilityTimeout=0)
    [again] = receive(sqs, fifo_url, max_messages=1, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert again["Body"] == "a1"
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"


def test_one_receive_returns_as_many_of_a_group_as_it_can(sqs, fifo_url):
    for body in ("a1", "a2", "a3"):
        send(sqs, fifo_url, body, group="A")
    assert bodies(receive(sqs, fifo_url)) == ["a1", "a2", "a3"]


def test_receive_request_attempt_id_returns_same_messages_and_handles(sqs, fifo_url):
    send(sqs, fifo_url, "a1", group="A")
    send(sqs, fifo_url, "a2", group="A")
    first = receive(sqs, fifo_url, max_messages=1, VisibilityTimeout=30, ReceiveRequestAttemptId="attempt-1")
    retry = receive(sqs, fifo_url, max_messages=1, VisibilityTimeout=30, ReceiveRequestAttemptId="attempt-1")
    assert bodies(first) == ["a1"]
    assert [m["MessageId"] for m in retry] == [m["MessageId"] for m in first]
    assert [m["ReceiptHandle"] for m in retry] == [m["ReceiptHandle"] for m in first]
    assert receive_none(sqs, fifo_url, VisibilityTimeout=30, ReceiveRequestAttemptId="attempt-2") == []


# --- System attributes ------------------------------------------------------------------------


def test_received_fifo_message_has_group_dedup_and_sequence_attributes(sqs, fifo_url):
    sent = send(sqs, fifo_url, "body", group="grp", dedup="dedup-1")
    [message] = receive(sqs, fifo_url, MessageSystemAttributeNames=["All"])
    attributes = message["Attributes"]
    assert attributes["SequenceNumber"] == sent["SequenceNumber"]
    assert attributes["MessageGroupId"] == "grp"
    assert attributes["MessageDeduplicationId"] == "dedup-1"


def test_content_based_dedup_id_is_sha256_of_body(sqs, make_fifo):
    url = make_fifo(ContentBasedDeduplication="true")
    body = "hash me ✓"
    sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g")
    [message] = receive(sqs, url, MessageSystemAttributeNames=["All"])
    assert message["Attributes"]["SequenceNumber"] == sent["SequenceNumber"]
    assert message["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(body.encode("utf-8")).hexdigest()


# --- Dead-letter queues -----------------------------------------------------------------------


def test_fifo_queue_cannot_use_standard_dead_letter_queue(sqs, make_queue, fifo_url):
    policy = redrive_policy(sqs, make_queue())
    expect_error("InvalidParameterValue", sqs.set_queue_attributes, QueueUrl=fifo_url, Attributes={"RedrivePolicy": policy})


def test_standard_queue_cannot_use_fifo_dead_letter_queue(sqs, queue_url, make_fifo):
    policy = redrive_policy(sqs, make_fifo())
    expect_error("InvalidParameterValue", sqs.set_queue_attributes, QueueUrl=queue_url, Attributes={"RedrivePolicy": policy})


def test_fifo_message_over_max_receive_count_moves_to_fifo_dlq(sqs, make_fifo):
    dead_letter_url = make_fifo()
    url = make_fifo(RedrivePolicy=redrive_policy(sqs, dead_letter_url))
    sent = send(sqs, url, "poison", group="A")
    [message] = receive(sqs, url)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    assert receive_none(sqs, url) == []  # this receive moves it
    [moved] = receive(sqs, dead_letter_url, MessageSystemAttributeNames=["All"])
    assert moved["MessageId"] == sent["MessageId"]
    assert moved["Body"] == "poison"
    assert moved["Attributes"]["MessageGroupId"] == "A"


def test_fifo_dlq_keeps_group_order(sqs, make_fifo):
    dead_letter_url = make_fifo()
    url = make_fifo(RedrivePolicy=redrive_policy(sqs, dead_letter_url))
    for body in ("a1", "a2", "a3"):
        send(sqs, url, body, group="A")
    messages = receive(sqs, url)
    assert bodies(messages) == ["a1", "a2", "a3"]
    sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[{"Id": str(index), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for index, m in enumerate(messages)],
    )
    assert receive_none(sqs, url) == []
    moved = receive(sqs, dead_letter_url, MessageSystemAttributeNames=["MessageGroupId"])
    assert bodies(moved) == ["a1", "a2", "a3"]
    assert {m["Attributes"]["MessageGroupId"] for m in moved} == {"A"}


# --- Fair queues (MessageGroupId on standard queues) ------------------------------------------


def test_standard_queue_accepts_message_group_id(sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="tenant message", MessageGroupId="tenant-1")
    [message] = receive(sqs, queue_url, MessageSystemAttributeNames=["All"])
    assert message["Attributes"]["MessageGroupId"] == "tenant-1"


def test_standard_queue_rejects_message_deduplication_id(sqs, queue_url):
    expect_error("InvalidParameterValue", sqs.send_message, QueueUrl=queue_url, MessageBody="x", MessageDeduplicationId="d")


def test_fair_queue_serves_quiet_group_despite_noisy_backlog(sqs, queue_url):
    for batch in range(20):
        entries = [{"Id": f"n{index}", "MessageBody": f"noisy-{batch}-{index}", "MessageGroupId": "noisy"} for index in range(10)]
        assert sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed", []) == []
    quiet = [f"quiet-{index}" for index in range(5)]
    entries = [{"Id": f"q{index}", "MessageBody": body, "MessageGroupId": "quiet"} for index, body in enumerate(quiet)]
    assert sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed", []) == []
    received: list[str] = []
    for _ in range(10):
        received.extend(bodies(receive(sqs, queue_url)))  # not deleted: noisy messages stay in flight
        if len(received) >= 30:
            break
    assert set(quiet) <= set(received[:30]), received[:30]


# --- AWS CLI ----------------------------------------------------------------------------------


@pytest.fixture
def aws(endpoint, tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
        AWS_PAGER="",
    )

    def run(*args: str):
        command = [sys.executable, "-m", "awscli", "--endpoint-url", endpoint, "--output", "json", "sqs", *args]
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert completed.returncode == 0, f"{' '.join(args)} failed ({completed.returncode}):\n{completed.stderr}"
        return json.loads(completed.stdout) if completed.stdout.strip() else {}

    return run


@pytest.mark.cli
def test_cli_send_message_to_fifo_queue_returns_sequence_number(aws):
    url = aws("create-queue", "--queue-name", fifo_name("cli"), "--attributes", "FifoQueue=true")["QueueUrl"]
    try:
        args = ("send-message", "--queue-url", url, "--message-body", "from the cli")
        sent = aws(*args, "--message-group-id", "g", "--message-deduplication-id", "d")
        assert sent["MD5OfMessageBody"] == md5_hex("from the cli")
        assert sent["SequenceNumber"].isdigit(), sent
        again = aws(*args, "--message-group-id", "g", "--message-deduplication-id", "d")
        assert (again["MessageId"], again["SequenceNumber"]) == (sent["MessageId"], sent["SequenceNumber"])
    finally:
        aws("delete-queue", "--queue-url", url)
