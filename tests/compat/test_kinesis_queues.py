"""Kinesis stream queues through boto3: CreateQueue on an on-demand stream, ReceiveQueueRecords
with receipt handles, acknowledgements, visibility changes, the built-in dead-letter handling
(receive, restore, acknowledge) and the rules tying queues to their stream.

The queue operations arrived in the Kinesis model in 2026; aws-sdk-kinesis for Rust does not
have them yet, so botocore is the client that exercises them."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from conftest import unique_name

WAIT_SECONDS = 60


def on_demand_stream(kinesis) -> tuple[str, str]:
    name = unique_name("queue-stream")
    kinesis.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    return name, arn


def create_queue(kinesis, stream_arn: str, start: str = "TRIM_HORIZON", **attributes) -> str:
    request = {
        "QueueName": unique_name("queue"),
        "StreamConfigurationList": [{"StreamARN": stream_arn, "StartingPosition": {"Type": start}}],
    }
    if attributes:
        request["QueueAttributes"] = attributes
    return kinesis.create_queue(**request)["QueueDescription"]["QueueARN"]


def receive(kinesis, queue_arn: str, count: int, dead_letter: bool = False) -> list[dict]:
    """Receives until `count` records arrived (records are copied into the queue in the background)."""
    call = kinesis.receive_dead_letter_queue_records if dead_letter else kinesis.receive_queue_records
    records: list[dict] = []
    deadline = time.monotonic() + WAIT_SECONDS
    while len(records) < count and time.monotonic() < deadline:
        records.extend(call(QueueARN=queue_arn, WaitTimeSeconds=1)["QueueRecords"])
    assert len(records) == count, records
    return records


def error_code(error: pytest.ExceptionInfo) -> str:
    return error.value.response["Error"]["Code"]


def test_records_are_delivered_acknowledged_and_redelivered(kinesis):
    stream, stream_arn = on_demand_stream(kinesis)
    for body in (b"a", b"b\x00\xff", b"c"):
        kinesis.put_record(StreamName=stream, Data=body, PartitionKey=f"key-{body[0]}")
    queue_arn = create_queue(kinesis, stream_arn)
    description = kinesis.describe_queue(QueueARN=queue_arn)["QueueDescription"]
    assert description["QueueStatus"] == "ACTIVE"
    assert description["QueueAttributes"]["VisibilityTimeoutSeconds"] == 30
    assert description["QueueAttributes"]["DeadLetterConfiguration"] == {"TargetType": "BUILT_IN", "MaxReceiveCount": 6}
    assert description["StreamConfigurationList"][0]["StreamARN"] == stream_arn

    records = sorted(receive(kinesis, queue_arn, 3), key=lambda record: record["Data"])
    assert [record["Data"] for record in records] == [b"a", b"b\x00\xff", b"c"]
    assert records[0]["PartitionKey"] == f"key-{ord('a')}"
    assert all(record["ReceiveCount"] == 1 and record["RecordId"].isalnum() for record in records)

    acknowledged = kinesis.acknowledge_queue_records(
        QueueARN=queue_arn,
        Entries=[{"ReceiptHandle": records[0]["ReceiptHandle"]}, {"ReceiptHandle": records[1]["ReceiptHandle"]}, {"ReceiptHandle": "forged"}],
    )
    assert len(acknowledged["Successful"]) == 2
    assert [entry["ErrorCode"] for entry in acknowledged["Failed"]] == ["InvalidArgumentException"]
    assert kinesis.receive_queue_records(QueueARN=queue_arn, WaitTimeSeconds=1)["QueueRecords"] == []

    changed = kinesis.update_queue_records_visibility(
        QueueARN=queue_arn, Entries=[{"ReceiptHandle": records[2]["ReceiptHandle"], "VisibilityTimeoutSeconds": 0}]
    )
    assert len(changed["Successful"]) == 1
    again = receive(kinesis, queue_arn, 1)
    assert (again[0]["Data"], again[0]["ReceiveCount"]) == (b"c", 2)


def test_dead_letter_records_can_be_received_restored_and_acknowledged(kinesis):
    stream, stream_arn = on_demand_stream(kinesis)
    queue_arn = create_queue(
        kinesis,
        stream_arn,
        start="LATEST",
        VisibilityTimeoutSeconds=0,
        DeadLetterConfiguration={"TargetType": "BUILT_IN", "MaxReceiveCount": 1},
    )
    kinesis.put_record(StreamName=stream, Data=b"poison", PartitionKey="k")
    assert receive(kinesis, queue_arn, 1)[0]["Data"] == b"poison"
    # Received its MaxReceiveCount times already: the next receive makes it a dead letter.
    dead = receive(kinesis, queue_arn, 1, dead_letter=True)
    assert dead[0]["Data"] == b"poison"
    restored = kinesis.restore_dead_letter_queue_records(QueueARN=queue_arn, Entries=[{"ReceiptHandle": dead[0]["ReceiptHandle"]}])
    assert len(restored["Successful"]) == 1
    back = receive(kinesis, queue_arn, 1)
    assert (back[0]["Data"], back[0]["ReceiveCount"]) == (b"poison", 1)
    dead_again = receive(kinesis, queue_arn, 1, dead_letter=True)
    kinesis.update_dead_letter_queue_records_visibility(
        QueueARN=queue_arn, Entries=[{"ReceiptHandle": dead_again[0]["ReceiptHandle"], "VisibilityTimeoutSeconds": 0}]
    )
    dead_third = receive(kinesis, queue_arn, 1, dead_letter=True)
    discarded = kinesis.acknowledge_dead_letter_queue_records(QueueARN=queue_arn, Entries=[{"ReceiptHandle": dead_third[0]["ReceiptHandle"]}])
    assert len(discarded["Successful"]) == 1
    assert kinesis.receive_dead_letter_queue_records(QueueARN=queue_arn, WaitTimeSeconds=1)["QueueRecords"] == []


def test_queues_follow_their_stream_rules(kinesis):
    provisioned = unique_name("provisioned")
    kinesis.create_stream(StreamName=provisioned, ShardCount=1)
    provisioned_arn = kinesis.describe_stream_summary(StreamName=provisioned)["StreamDescriptionSummary"]["StreamARN"]
    with pytest.raises(ClientError) as refused:
        create_queue(kinesis, provisioned_arn)
    assert error_code(refused) == "InvalidArgumentException"

    stream, stream_arn = on_demand_stream(kinesis)
    kinesis.put_record(StreamName=stream, Data=b"before", PartitionKey="k")
    name = unique_name("latest")
    queue_arn = kinesis.create_queue(
        QueueName=name, StreamConfigurationList=[{"StreamARN": stream_arn}], Tags={"team": "data"}
    )["QueueDescription"]["QueueARN"]
    with pytest.raises(ClientError) as duplicate:
        kinesis.create_queue(QueueName=name, StreamConfigurationList=[{"StreamARN": stream_arn}])
    assert error_code(duplicate) == "ResourceInUseException"
    kinesis.put_record(StreamName=stream, Data=b"after", PartitionKey="k")
    assert [record["Data"] for record in receive(kinesis, queue_arn, 1)] == [b"after"], "LATEST is the default"

    listed = kinesis.list_queues(StreamFilter=[{"StreamARN": stream_arn}])["QueueSummaries"]
    assert [summary["QueueARN"] for summary in listed] == [queue_arn]
    assert kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["QueueCount"] == 1

    updated = kinesis.update_queue(QueueARN=queue_arn, QueueAttributes={"VisibilityTimeoutSeconds": 5})
    assert updated["QueueDescription"]["QueueAttributes"]["VisibilityTimeoutSeconds"] == 5
    with pytest.raises(ClientError) as invalid:
        kinesis.update_queue(QueueARN=queue_arn, QueueAttributes={"VisibilityTimeoutSeconds": 43201})
    assert error_code(invalid) == "ValidationException"

    with pytest.raises(ClientError) as in_use:
        kinesis.delete_stream(StreamName=stream)
    assert error_code(in_use) == "ResourceInUseException"
    with pytest.raises(ClientError) as mode:
        kinesis.update_stream_mode(StreamARN=stream_arn, StreamModeDetails={"StreamMode": "PROVISIONED"})
    assert error_code(mode) == "ResourceInUseException"
    kinesis.delete_queue(QueueARN=queue_arn)
    with pytest.raises(ClientError) as gone:
        kinesis.describe_queue(QueueARN=queue_arn)
    assert error_code(gone) == "ResourceNotFoundException"
    kinesis.delete_stream(StreamName=stream)


def test_a_queue_follows_the_children_of_a_split_shard(kinesis):
    stream, stream_arn = on_demand_stream(kinesis)
    queue_arn = create_queue(kinesis, stream_arn, start="LATEST")
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    # On-demand streams reshard by themselves; a manual split is refused, so load one shard
    # past its capacity instead and let the stream split it.
    hot_key = shards[0]["HashKeyRange"]["StartingHashKey"]
    for _ in range(6):
        kinesis.put_records(
            StreamName=stream,
            Records=[{"Data": b"x" * 1000, "PartitionKey": "p", "ExplicitHashKey": hot_key} for _ in range(500)],
        )
    deadline = time.monotonic() + WAIT_SECONDS
    while len(kinesis.list_shards(StreamName=stream)["Shards"]) == len(shards) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(kinesis.list_shards(StreamName=stream)["Shards"]) > len(shards), "the hot shard was split"
    kinesis.put_record(StreamName=stream, Data=b"child", PartitionKey="p", ExplicitHashKey=hot_key)
    delivered = receive(kinesis, queue_arn, 3001)
    assert sum(record["Data"] == b"child" for record in delivered) == 1
