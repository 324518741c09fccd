"""Amazon Kinesis Data Streams (awsJson 1.1) through boto3 and the AWS CLI.

Every test makes its own streams with unique names and deletes them afterwards. Server-side
validation is reached with `loose`, a client whose parameter validation is off (botocore checks
required members and minimums itself). Expected behaviour follows the AWS API reference and
botocore's model.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import subprocess
import sys
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import unique_name
from helpers import ACCOUNT_ID, REGION

HASH_KEY_MAX = 2**128 - 1
SHARD_LEVEL_METRICS = {
    "IncomingBytes",
    "IncomingRecords",
    "OutgoingBytes",
    "OutgoingRecords",
    "WriteProvisionedThroughputExceeded",
    "ReadProvisionedThroughputExceeded",
    "IteratorAgeMilliseconds",
}


def shard(index: int) -> str:
    return f"shardId-{index:012d}"


def code_of(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def fails(code: str, call, **kwargs) -> ClientError:
    """Calls, expects a ClientError with `code` and HTTP 400, and returns it."""
    with pytest.raises(ClientError) as excinfo:
        call(**kwargs)
    assert code_of(excinfo) == code, excinfo.value.response["Error"]
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return excinfo.value


@pytest.fixture(scope="module")
def loose(endpoint):
    """A Kinesis client that sends what it is given, so the server's own validation answers."""
    return boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=60),
    )


@pytest.fixture
def make_stream(kinesis):
    """Creates streams with unique names (ShardCount=`shards` unless other arguments are given)
    and deletes them after the test."""
    created: list[str] = []

    def create(shards: int | None = 1, name: str | None = None, **kwargs) -> str:
        name = name or unique_name("ks")
        if shards is not None:
            kwargs["ShardCount"] = shards
        kinesis.create_stream(StreamName=name, **kwargs)
        created.append(name)
        return name

    yield create
    for name in created:
        try:
            kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
        except ClientError:
            pass


def iterator(kinesis, stream: str, shard_id: str, kind: str = "TRIM_HORIZON", **kwargs) -> str:
    return kinesis.get_shard_iterator(StreamName=stream, ShardId=shard_id, ShardIteratorType=kind, **kwargs)["ShardIterator"]


def read_all(kinesis, shard_iterator: str, limit: int | None = None) -> tuple[list[dict], dict]:
    """Follows NextShardIterator until a page comes back empty or the shard ends; returns the
    records and the last response."""
    records: list[dict] = []
    extra = {"Limit": limit} if limit else {}
    for _ in range(1000):
        response = kinesis.get_records(ShardIterator=shard_iterator, **extra)
        records.extend(response["Records"])
        if "NextShardIterator" not in response or not response["Records"]:
            return records, response
        shard_iterator = response["NextShardIterator"]
    raise AssertionError("the shard never ended")


def list_all_shards(kinesis, **kwargs) -> list[dict]:
    return kinesis.list_shards(**kwargs)["Shards"]


def ids(shards: list[dict]) -> list[str]:
    return [entry["ShardId"] for entry in shards]


def hash_range(entry: dict) -> tuple[int, int]:
    keys = entry["HashKeyRange"]
    return int(keys["StartingHashKey"]), int(keys["EndingHashKey"])


def assert_covers_key_space(shards: list[dict]) -> None:
    """The shards' hash key ranges are contiguous and cover 0 .. 2^128-1 exactly once."""
    ranges = sorted(hash_range(entry) for entry in shards)
    assert ranges[0][0] == 0
    assert ranges[-1][1] == HASH_KEY_MAX
    for (_, end), (start, _) in zip(ranges, ranges[1:]):
        assert start == end + 1, ranges


def stream_arn(name: str) -> str:
    return f"arn:aws:kinesis:{REGION}:{ACCOUNT_ID}:stream/{name}"


# --- streams ------------------------------------------------------------------------------------


def test_create_describe_and_delete_a_stream(kinesis, make_stream):
    name = make_stream(shards=3)
    description = kinesis.describe_stream(StreamName=name)["StreamDescription"]
    assert description["StreamName"] == name
    assert description["StreamARN"] == stream_arn(name)
    assert description["StreamStatus"] == "ACTIVE"
    assert description["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert description["RetentionPeriodHours"] == 24
    assert description["EncryptionType"] == "NONE"
    assert description["HasMoreShards"] is False
    assert isinstance(description["StreamCreationTimestamp"], datetime.datetime)
    shards = description["Shards"]
    assert ids(shards) == [shard(0), shard(1), shard(2)]
    assert_covers_key_space(shards)
    for entry in shards:
        assert "ParentShardId" not in entry
        assert "EndingSequenceNumber" not in entry["SequenceNumberRange"]
        assert int(entry["SequenceNumberRange"]["StartingSequenceNumber"]) >= 0

    # The ARN names the same stream.
    assert kinesis.describe_stream(StreamARN=stream_arn(name))["StreamDescription"]["StreamName"] == name

    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["StreamName"] == name
    assert summary["StreamARN"] == stream_arn(name)
    assert summary["StreamStatus"] == "ACTIVE"
    assert summary["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert summary["OpenShardCount"] == 3
    assert summary["ConsumerCount"] == 0
    assert summary["RetentionPeriodHours"] == 24
    assert summary["EncryptionType"] == "NONE"
    assert summary["EnhancedMonitoring"] == [{"ShardLevelMetrics": []}]
    assert summary["StreamCreationTimestamp"] == description["StreamCreationTimestamp"]

    kinesis.delete_stream(StreamName=name)
    fails("ResourceNotFoundException", kinesis.describe_stream, StreamName=name)
    fails("ResourceNotFoundException", kinesis.describe_stream_summary, StreamName=name)
    assert name not in kinesis.list_streams(ExclusiveStartStreamName=name[:-1])["StreamNames"]


def test_describe_stream_pages_through_shards(kinesis, make_stream):
    name = make_stream(shards=5)
    first = kinesis.describe_stream(StreamName=name, Limit=2)["StreamDescription"]
    assert ids(first["Shards"]) == [shard(0), shard(1)]
    assert first["HasMoreShards"] is True
    rest = kinesis.describe_stream(StreamName=name, ExclusiveStartShardId=shard(1))["StreamDescription"]
    assert ids(rest["Shards"]) == [shard(2), shard(3), shard(4)]
    assert rest["HasMoreShards"] is False

    pages = kinesis.get_paginator("describe_stream").paginate(StreamName=name, PaginationConfig={"PageSize": 2})
    assert ids(pages.build_full_result()["StreamDescription"]["Shards"]) == [shard(index) for index in range(5)]


def test_on_demand_stream(kinesis, make_stream):
    before = kinesis.describe_limits()["OnDemandStreamCount"]
    name = make_stream(shards=None, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    # An on-demand stream starts with four shards (4 MB/s of write capacity).
    assert summary["OpenShardCount"] == 4
    assert_covers_key_space(list_all_shards(kinesis, StreamName=name))
    assert kinesis.describe_limits()["OnDemandStreamCount"] == before + 1
    listed = kinesis.list_streams(ExclusiveStartStreamName=name[:-1], Limit=1)["StreamSummaries"]
    assert listed[0]["StreamName"] == name
    assert listed[0]["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}

    # Records flow as in a provisioned stream.
    put = kinesis.put_record(StreamName=name, Data=b"on demand", PartitionKey="p")
    records, _ = read_all(kinesis, iterator(kinesis, name, put["ShardId"]))
    assert [record["Data"] for record in records] == [b"on demand"]

    # Back to provisioned, keeping the shards.
    kinesis.update_stream_mode(StreamARN=stream_arn(name), StreamModeDetails={"StreamMode": "PROVISIONED"})
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert summary["OpenShardCount"] == 4


def test_list_streams_pages_with_next_token_and_summaries(kinesis, make_stream):
    prefix = unique_name("kl")
    names = [make_stream(name=f"{prefix}-{index}") for index in range(3)]

    # Page by one from just before the prefix: the three streams come back in order.
    response = kinesis.list_streams(ExclusiveStartStreamName=prefix, Limit=1)
    seen: list[str] = []
    for _ in range(3):
        assert len(response["StreamNames"]) == 1
        assert [summary["StreamName"] for summary in response["StreamSummaries"]] == response["StreamNames"]
        seen.extend(response["StreamNames"])
        if len(seen) == 3:
            break
        assert response["HasMoreStreams"] is True
        assert response["NextToken"]
        response = kinesis.list_streams(NextToken=response["NextToken"], Limit=1)
    assert seen == names

    # Whole listing through NextToken pages of two: every stream once, sorted, summaries agreeing.
    everything: list[str] = []
    summaries: list[dict] = []
    response = kinesis.list_streams(Limit=2)
    while True:
        everything.extend(response["StreamNames"])
        summaries.extend(response["StreamSummaries"])
        if not response["HasMoreStreams"]:
            assert "NextToken" not in response
            break
        response = kinesis.list_streams(NextToken=response["NextToken"], Limit=2)
    assert everything == sorted(set(everything))
    assert set(names) <= set(everything)
    for summary in summaries:
        if summary["StreamName"] in names:
            assert summary["StreamARN"] == stream_arn(summary["StreamName"])
            assert summary["StreamStatus"] == "ACTIVE"
            assert summary["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
            assert isinstance(summary["StreamCreationTimestamp"], datetime.datetime)

    # boto3's paginator follows NextToken too.
    paginated = kinesis.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 2}).build_full_result()
    assert paginated["StreamNames"] == everything


def test_list_streams_returns_at_most_100_names(kinesis, make_stream):
    prefix = unique_name("km")
    for index in range(101):
        make_stream(name=f"{prefix}-{index:03d}")
    response = kinesis.list_streams(ExclusiveStartStreamName=prefix, Limit=1000)
    assert len(response["StreamNames"]) == 100
    assert response["HasMoreStreams"] is True


def test_stream_errors(kinesis, loose, make_stream):
    name = make_stream()
    fails("ResourceInUseException", kinesis.create_stream, StreamName=name, ShardCount=1)
    absent = unique_name("absent")
    fails("ResourceNotFoundException", kinesis.describe_stream, StreamName=absent)
    fails("ResourceNotFoundException", kinesis.describe_stream_summary, StreamARN=stream_arn(absent))
    fails("ResourceNotFoundException", kinesis.delete_stream, StreamName=absent)
    fails("ResourceNotFoundException", kinesis.put_record, StreamName=absent, Data=b"x", PartitionKey="p")
    fails("ResourceNotFoundException", kinesis.put_records, StreamName=absent, Records=[{"Data": b"x", "PartitionKey": "p"}])
    fails("ResourceNotFoundException", kinesis.list_shards, StreamName=absent)
    fails("ResourceNotFoundException", kinesis.get_shard_iterator, StreamName=absent, ShardId=shard(0), ShardIteratorType="LATEST")
    fails("ResourceNotFoundException", kinesis.get_shard_iterator, StreamName=name, ShardId=shard(7), ShardIteratorType="LATEST")
    fails("ResourceNotFoundException", kinesis.add_tags_to_stream, StreamName=absent, Tags={"a": "b"})

    # Model constraints, checked by the server (botocore does not check patterns or maximums).
    fails("ValidationException", loose.create_stream, StreamName="bad name!", ShardCount=1)
    fails("ValidationException", loose.create_stream, StreamName="x" * 129, ShardCount=1)
    fails("ValidationException", loose.create_stream, StreamName=unique_name("ks"), ShardCount=0)
    fails("ValidationException", loose.describe_stream, StreamName=name, Limit=0)
    fails("ValidationException", loose.list_streams, Limit=10001)
    fails("ValidationException", loose.put_record, StreamName=name, Data=b"x", PartitionKey="")
    fails("ValidationException", loose.put_record, StreamName=name, Data=b"x", PartitionKey="k" * 257)
    fails("ValidationException", loose.put_record, StreamName=name, Data=b"x", PartitionKey="p", ExplicitHashKey="12ab")
    fails("ValidationException", loose.put_records, StreamName=name, Records=[])
    fails(
        "ValidationException",
        loose.put_records,
        StreamName=name,
        Records=[{"Data": b"x", "PartitionKey": "p"}] * 501,
    )
    fails("ValidationException", loose.get_shard_iterator, StreamName=name, ShardId=shard(0), ShardIteratorType="SOMEWHERE")
    fails("ValidationException", loose.get_records, ShardIterator=iterator(kinesis, name, shard(0)), Limit=0)
    fails("ValidationException", loose.get_records, ShardIterator=iterator(kinesis, name, shard(0)), Limit=10001)
    fails("ValidationException", loose.list_shards, StreamName=name, MaxResults=10001)
    fails("ValidationException", loose.enable_enhanced_monitoring, StreamName=name, ShardLevelMetrics=["Nonsense"])
    fails(
        "ValidationException",
        loose.start_stream_encryption,
        StreamName=name,
        EncryptionType="AES",
        KeyId="alias/aws/kinesis",
    )

    # Arguments the model allows but the service refuses.
    fails(
        "InvalidArgumentException",
        kinesis.put_record,
        StreamName=name,
        Data=b"x",
        PartitionKey="p",
        ExplicitHashKey=str(2**128),
    )
    fails("InvalidArgumentException", kinesis.get_records, ShardIterator="not-an-iterator")


def test_waiters(kinesis):
    name = unique_name("kw")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    try:
        kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
        assert kinesis.describe_stream(StreamName=name)["StreamDescription"]["StreamStatus"] == "ACTIVE"
    finally:
        kinesis.delete_stream(StreamName=name)
    kinesis.get_waiter("stream_not_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    fails("ResourceNotFoundException", kinesis.describe_stream, StreamName=name)


# --- records ------------------------------------------------------------------------------------


def test_binary_data_round_trips(kinesis, make_stream):
    name = make_stream()
    payloads = [bytes(range(256)), b"", b"\x00", bytes(range(255, -1, -1)) * 4, "ünïcødé ✓".encode("utf-8")]
    sequence_numbers = []
    for payload in payloads:
        put = kinesis.put_record(StreamName=name, Data=payload, PartitionKey="binary")
        assert put["ShardId"] == shard(0)
        assert put["EncryptionType"] == "NONE"
        sequence_numbers.append(put["SequenceNumber"])
    records, response = read_all(kinesis, iterator(kinesis, name, shard(0)))
    assert [record["Data"] for record in records] == payloads
    assert [record["SequenceNumber"] for record in records] == sequence_numbers
    assert {record["PartitionKey"] for record in records} == {"binary"}
    now = datetime.datetime.now(datetime.timezone.utc)
    for record in records:
        arrival = record["ApproximateArrivalTimestamp"]
        assert isinstance(arrival, datetime.datetime)
        assert abs((now - arrival).total_seconds()) < 60
    assert response["MillisBehindLatest"] == 0


def test_put_records_routes_by_explicit_hash_key_in_order(kinesis, make_stream):
    name = make_stream(shards=2)
    shards = list_all_shards(kinesis, StreamName=name)
    (low_start, low_end), (high_start, high_end) = hash_range(shards[0]), hash_range(shards[1])
    keys = [low_start, high_end, low_end, high_start, 12345, HASH_KEY_MAX - 1]
    expected = [shard(0) if key <= low_end else shard(1) for key in keys]
    entries = [
        {"Data": f"record {index}".encode(), "PartitionKey": "ignored-when-explicit", "ExplicitHashKey": str(key)}
        for index, key in enumerate(keys)
    ]
    result = kinesis.put_records(StreamName=name, Records=entries)
    assert result["FailedRecordCount"] == 0
    assert result["EncryptionType"] == "NONE"
    placed = result["Records"]
    assert len(placed) == len(entries)
    assert [entry["ShardId"] for entry in placed] == expected
    for entry in placed:
        assert "ErrorCode" not in entry
        assert int(entry["SequenceNumber"]) > 0

    # A single put_record routes the same way.
    assert kinesis.put_record(StreamName=name, Data=b"low", PartitionKey="p", ExplicitHashKey="0")["ShardId"] == shard(0)
    assert (
        kinesis.put_record(StreamName=name, Data=b"high", PartitionKey="p", ExplicitHashKey=str(HASH_KEY_MAX))["ShardId"]
        == shard(1)
    )

    # Each shard returns its records in the order they were written.
    for shard_id in (shard(0), shard(1)):
        records, _ = read_all(kinesis, iterator(kinesis, name, shard_id))
        wanted = [entries[index]["Data"] for index, owner in enumerate(expected) if owner == shard_id]
        wanted.append(b"low" if shard_id == shard(0) else b"high")
        assert [record["Data"] for record in records] == wanted
        wanted_numbers = [placed[index]["SequenceNumber"] for index, owner in enumerate(expected) if owner == shard_id]
        assert [record["SequenceNumber"] for record in records][: len(wanted_numbers)] == wanted_numbers


def test_partition_keys_hash_with_md5(kinesis, make_stream):
    """Without an explicit hash key a record goes to the shard whose range holds MD5(partition key)."""
    name = make_stream(shards=4)
    shards = list_all_shards(kinesis, StreamName=name)
    for index in range(20):
        key = f"partition-{index}"
        digest = int.from_bytes(hashlib.md5(key.encode()).digest(), "big")
        owner = next(entry["ShardId"] for entry in shards if hash_range(entry)[0] <= digest <= hash_range(entry)[1])
        assert kinesis.put_record(StreamName=name, Data=b"x", PartitionKey=key)["ShardId"] == owner


def test_sequence_numbers_strictly_increase(kinesis, make_stream):
    name = make_stream()
    numbers = [kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="p")["SequenceNumber"] for _ in range(5)]
    batch = kinesis.put_records(StreamName=name, Records=[{"Data": b"y", "PartitionKey": "p"}] * 10)
    numbers += [entry["SequenceNumber"] for entry in batch["Records"]]
    # SequenceNumberForOrdering: the new number is above the one named.
    numbers.append(
        kinesis.put_record(StreamName=name, Data=b"z", PartitionKey="p", SequenceNumberForOrdering=numbers[-1])[
            "SequenceNumber"
        ]
    )
    as_integers = [int(number) for number in numbers]
    assert all(low < high for low, high in zip(as_integers, as_integers[1:])), numbers
    records, _ = read_all(kinesis, iterator(kinesis, name, shard(0)))
    assert [record["SequenceNumber"] for record in records] == numbers


def test_shard_iterator_types(kinesis, loose, make_stream):
    name = make_stream()
    numbers = [
        kinesis.put_record(StreamName=name, Data=f"r{index}".encode(), PartitionKey="p")["SequenceNumber"]
        for index in range(5)
    ]

    def data(shard_iterator: str) -> list[bytes]:
        return [record["Data"] for record in read_all(kinesis, shard_iterator)[0]]

    assert data(iterator(kinesis, name, shard(0), "TRIM_HORIZON")) == [b"r0", b"r1", b"r2", b"r3", b"r4"]
    at = iterator(kinesis, name, shard(0), "AT_SEQUENCE_NUMBER", StartingSequenceNumber=numbers[2])
    assert data(at) == [b"r2", b"r3", b"r4"]
    after = iterator(kinesis, name, shard(0), "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=numbers[2])
    assert data(after) == [b"r3", b"r4"]
    assert data(iterator(kinesis, name, shard(0), "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=numbers[4])) == []

    # LATEST starts after the newest record: only records written later are read.
    latest = iterator(kinesis, name, shard(0), "LATEST")
    first = kinesis.get_records(ShardIterator=latest)
    assert first["Records"] == []
    kinesis.put_record(StreamName=name, Data=b"r5", PartitionKey="p")
    assert data(first["NextShardIterator"]) == [b"r5"]
    assert data(latest) == [b"r5"]

    # Sequence-number iterators need a sequence number; the others must not need one.
    fails("InvalidArgumentException", kinesis.get_shard_iterator, StreamName=name, ShardId=shard(0), ShardIteratorType="AT_SEQUENCE_NUMBER")
    fails(
        "InvalidArgumentException",
        kinesis.get_shard_iterator,
        StreamName=name,
        ShardId=shard(0),
        ShardIteratorType="AFTER_SEQUENCE_NUMBER",
    )
    fails("InvalidArgumentException", kinesis.get_shard_iterator, StreamName=name, ShardId=shard(0), ShardIteratorType="AT_TIMESTAMP")
    # The stream may be named by ARN as well.
    by_arn = kinesis.get_shard_iterator(StreamARN=stream_arn(name), ShardId=shard(0), ShardIteratorType="TRIM_HORIZON")
    assert len(data(by_arn["ShardIterator"])) == 6


def test_at_timestamp_iterator(kinesis, make_stream):
    name = make_stream()
    for index in range(3):
        kinesis.put_record(StreamName=name, Data=f"early {index}".encode(), PartitionKey="p")
    time.sleep(0.1)
    for index in range(2):
        kinesis.put_record(StreamName=name, Data=f"late {index}".encode(), PartitionKey="p")
    records, _ = read_all(kinesis, iterator(kinesis, name, shard(0)))
    arrivals = [record["ApproximateArrivalTimestamp"] for record in records]
    assert arrivals == sorted(arrivals)
    assert arrivals[3] > arrivals[2]

    def data_at(moment) -> list[bytes]:
        shard_iterator = iterator(kinesis, name, shard(0), "AT_TIMESTAMP", Timestamp=moment)
        return [record["Data"] for record in read_all(kinesis, shard_iterator)[0]]

    # At the first late record's arrival: that record and the ones after it.
    assert data_at(arrivals[3]) == [b"late 0", b"late 1"]
    assert data_at(arrivals[0] - datetime.timedelta(hours=1)) == [record["Data"] for record in records]
    assert data_at(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)) == []
    # boto3 also takes epoch seconds.
    assert data_at(arrivals[3].timestamp()) == [b"late 0", b"late 1"]


def test_get_records_limit_and_iterator_chaining(kinesis, make_stream):
    name = make_stream()
    kinesis.put_records(StreamName=name, Records=[{"Data": bytes([index]), "PartitionKey": "p"} for index in range(7)])
    shard_iterator = iterator(kinesis, name, shard(0))
    sizes = []
    seen: list[bytes] = []
    for _ in range(4):
        response = kinesis.get_records(ShardIterator=shard_iterator, Limit=3)
        sizes.append(len(response["Records"]))
        seen.extend(record["Data"] for record in response["Records"])
        assert isinstance(response["MillisBehindLatest"], int)
        # An open shard always hands on an iterator, even after its newest record.
        assert response["NextShardIterator"]
        assert "ChildShards" not in response
        shard_iterator = response["NextShardIterator"]
    assert sizes == [3, 3, 1, 0]
    assert seen == [bytes([index]) for index in range(7)]
    # Iterators are reusable: the same one reads the same records again.
    again = iterator(kinesis, name, shard(0))
    assert kinesis.get_records(ShardIterator=again, Limit=2)["Records"] == kinesis.get_records(ShardIterator=again, Limit=2)["Records"]


def test_sequence_number_from_another_shard_is_refused(kinesis, make_stream):
    name = make_stream(shards=2)
    on_first = kinesis.put_record(StreamName=name, Data=b"a", PartitionKey="p", ExplicitHashKey="0")
    assert on_first["ShardId"] == shard(0)
    for kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        fails(
            "InvalidArgumentException",
            kinesis.get_shard_iterator,
            StreamName=name,
            ShardId=shard(1),
            ShardIteratorType=kind,
            StartingSequenceNumber=on_first["SequenceNumber"],
        )
    # A number from another stream is refused as well.
    other = make_stream()
    foreign = kinesis.put_record(StreamName=other, Data=b"b", PartitionKey="p")["SequenceNumber"]
    fails(
        "InvalidArgumentException",
        kinesis.get_shard_iterator,
        StreamName=name,
        ShardId=shard(0),
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=foreign,
    )


# --- shards -------------------------------------------------------------------------------------


def test_list_shards_filters(kinesis, make_stream):
    name = make_stream(shards=2)
    time.sleep(0.1)
    before_split = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(0.1)
    low_start, low_end = hash_range(list_all_shards(kinesis, StreamName=name)[0])
    kinesis.split_shard(StreamName=name, ShardToSplit=shard(0), NewStartingHashKey=str((low_start + low_end) // 2))
    time.sleep(0.1)
    after_split = datetime.datetime.now(datetime.timezone.utc)

    def listed(**shard_filter) -> list[str]:
        return ids(list_all_shards(kinesis, StreamName=name, ShardFilter=shard_filter))

    everything = [shard(0), shard(1), shard(2), shard(3)]
    assert ids(list_all_shards(kinesis, StreamName=name)) == everything
    assert listed(Type="AT_LATEST") == [shard(1), shard(2), shard(3)]
    assert listed(Type="AT_TRIM_HORIZON") == [shard(0), shard(1)]
    assert listed(Type="FROM_TRIM_HORIZON") == everything
    assert listed(Type="AFTER_SHARD_ID", ShardId=shard(1)) == [shard(2), shard(3)]
    assert listed(Type="AT_TIMESTAMP", Timestamp=before_split) == [shard(0), shard(1)]
    assert listed(Type="AT_TIMESTAMP", Timestamp=after_split) == [shard(1), shard(2), shard(3)]
    assert listed(Type="FROM_TIMESTAMP", Timestamp=before_split) == everything
    assert listed(Type="FROM_TIMESTAMP", Timestamp=after_split) == [shard(1), shard(2), shard(3)]
    assert ids(list_all_shards(kinesis, StreamName=name, ExclusiveStartShardId=shard(1))) == [shard(2), shard(3)]

    fails("InvalidArgumentException", kinesis.list_shards, StreamName=name, ShardFilter={"Type": "AFTER_SHARD_ID"})
    fails("InvalidArgumentException", kinesis.list_shards, StreamName=name, ShardFilter={"Type": "AT_TIMESTAMP"})
    fails("InvalidArgumentException", kinesis.list_shards, StreamName=name, ShardFilter={"Type": "FROM_TIMESTAMP"})


def test_list_shards_pages_with_max_results_and_next_token(kinesis, make_stream):
    name = make_stream(shards=5)
    response = kinesis.list_shards(StreamName=name, MaxResults=2)
    pages = [ids(response["Shards"])]
    while "NextToken" in response:
        # A NextToken names the stream itself: StreamName must not come with it.
        response = kinesis.list_shards(NextToken=response["NextToken"], MaxResults=2)
        pages.append(ids(response["Shards"]))
    assert pages == [[shard(0), shard(1)], [shard(2), shard(3)], [shard(4)]]

    # The filter travels in the token.
    kinesis.merge_shards(StreamName=name, ShardToMerge=shard(0), AdjacentShardToMerge=shard(1))
    response = kinesis.list_shards(StreamName=name, ShardFilter={"Type": "AT_LATEST"}, MaxResults=2)
    assert ids(response["Shards"]) == [shard(2), shard(3)]
    response = kinesis.list_shards(NextToken=response["NextToken"], MaxResults=2)
    assert ids(response["Shards"]) == [shard(4), shard(5)]
    assert "NextToken" not in response

    token = kinesis.list_shards(StreamName=name, MaxResults=1)["NextToken"]
    fails("InvalidArgumentException", kinesis.list_shards, StreamName=name, NextToken=token)
    fails("InvalidArgumentException", kinesis.list_shards, NextToken=token, ExclusiveStartShardId=shard(0))
    fails("InvalidArgumentException", kinesis.list_shards, NextToken="not-a-token")


def test_list_shards_refuses_next_token_with_stream_arn(kinesis, make_stream):
    name = make_stream(shards=2)
    token = kinesis.list_shards(StreamName=name, MaxResults=1)["NextToken"]
    fails("InvalidArgumentException", kinesis.list_shards, StreamARN=stream_arn(name), NextToken=token)


def test_split_shard_keeps_lineage_and_hands_readers_to_the_children(kinesis, make_stream):
    name = make_stream()
    before = [
        kinesis.put_record(StreamName=name, Data=f"before {index}".encode(), PartitionKey=f"k{index}")["SequenceNumber"]
        for index in range(3)
    ]
    split_at = 2**127
    kinesis.split_shard(StreamName=name, ShardToSplit=shard(0), NewStartingHashKey=str(split_at))

    shards = {entry["ShardId"]: entry for entry in list_all_shards(kinesis, StreamName=name)}
    assert list(shards) == [shard(0), shard(1), shard(2)]
    parent = shards[shard(0)]
    assert hash_range(parent) == (0, HASH_KEY_MAX)
    ending = parent["SequenceNumberRange"]["EndingSequenceNumber"]
    assert int(ending) >= int(before[-1])
    assert hash_range(shards[shard(1)]) == (0, split_at - 1)
    assert hash_range(shards[shard(2)]) == (split_at, HASH_KEY_MAX)
    for child in (shards[shard(1)], shards[shard(2)]):
        assert child["ParentShardId"] == shard(0)
        assert "AdjacentParentShardId" not in child
        assert "EndingSequenceNumber" not in child["SequenceNumberRange"]
    assert kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["OpenShardCount"] == 2

    # New records go to the children.
    assert kinesis.put_record(StreamName=name, Data=b"low", PartitionKey="p", ExplicitHashKey="0")["ShardId"] == shard(1)
    assert (
        kinesis.put_record(StreamName=name, Data=b"high", PartitionKey="p", ExplicitHashKey=str(HASH_KEY_MAX))["ShardId"]
        == shard(2)
    )

    # Reading the closed parent to its end yields its records, then ChildShards and no iterator.
    records, last = read_all(kinesis, iterator(kinesis, name, shard(0)))
    assert [record["SequenceNumber"] for record in records] == before
    assert "NextShardIterator" not in last
    assert last["ChildShards"] == [
        {"ShardId": shard(1), "ParentShards": [shard(0)], "HashKeyRange": shards[shard(1)]["HashKeyRange"]},
        {"ShardId": shard(2), "ParentShards": [shard(0)], "HashKeyRange": shards[shard(2)]["HashKeyRange"]},
    ]
    assert [record["Data"] for record in read_all(kinesis, iterator(kinesis, name, shard(1)))[0]] == [b"low"]
    assert [record["Data"] for record in read_all(kinesis, iterator(kinesis, name, shard(2)))[0]] == [b"high"]
    # LATEST on a closed shard reads nothing and ends at once.
    latest = kinesis.get_records(ShardIterator=iterator(kinesis, name, shard(0), "LATEST"))
    assert latest["Records"] == []
    assert "NextShardIterator" not in latest
    assert len(latest["ChildShards"]) == 2


def test_merge_shards_keeps_lineage(kinesis, make_stream):
    name = make_stream(shards=2)
    low = kinesis.put_record(StreamName=name, Data=b"low", PartitionKey="p", ExplicitHashKey="0")
    high = kinesis.put_record(StreamName=name, Data=b"high", PartitionKey="p", ExplicitHashKey=str(HASH_KEY_MAX))
    kinesis.merge_shards(StreamName=name, ShardToMerge=shard(0), AdjacentShardToMerge=shard(1))

    shards = {entry["ShardId"]: entry for entry in list_all_shards(kinesis, StreamName=name)}
    assert list(shards) == [shard(0), shard(1), shard(2)]
    merged = shards[shard(2)]
    assert merged["ParentShardId"] == shard(0)
    assert merged["AdjacentParentShardId"] == shard(1)
    assert hash_range(merged) == (0, HASH_KEY_MAX)
    assert int(shards[shard(0)]["SequenceNumberRange"]["EndingSequenceNumber"]) >= int(low["SequenceNumber"])
    assert int(shards[shard(1)]["SequenceNumberRange"]["EndingSequenceNumber"]) >= int(high["SequenceNumber"])
    assert ids(list_all_shards(kinesis, StreamName=name, ShardFilter={"Type": "AT_LATEST"})) == [shard(2)]

    for parent, data in ((shard(0), b"low"), (shard(1), b"high")):
        records, last = read_all(kinesis, iterator(kinesis, name, parent))
        assert [record["Data"] for record in records] == [data]
        assert last["ChildShards"] == [
            {"ShardId": shard(2), "ParentShards": [shard(0), shard(1)], "HashKeyRange": merged["HashKeyRange"]}
        ]
    assert kinesis.put_record(StreamName=name, Data=b"merged", PartitionKey="p")["ShardId"] == shard(2)


def test_update_shard_count_scales_uniformly(kinesis, make_stream):
    name = make_stream(shards=2)
    up = kinesis.update_shard_count(StreamName=name, TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    assert up["StreamName"] == name
    assert up["StreamARN"] == stream_arn(name)
    assert up["CurrentShardCount"] == 2
    assert up["TargetShardCount"] == 4
    open_shards = list_all_shards(kinesis, StreamName=name, ShardFilter={"Type": "AT_LATEST"})
    assert len(open_shards) == 4
    assert_covers_key_space(open_shards)
    assert kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["OpenShardCount"] == 4

    everything = list_all_shards(kinesis, StreamName=name)
    closed = {entry["ShardId"] for entry in everything if "EndingSequenceNumber" in entry["SequenceNumberRange"]}
    assert {shard(0), shard(1)} <= closed
    open_ids = {entry["ShardId"] for entry in open_shards}
    assert closed.isdisjoint(open_ids)
    known = {entry["ShardId"] for entry in everything}
    for entry in everything:
        if entry["ShardId"] in (shard(0), shard(1)):
            continue
        # Every new shard descends from shards of the stream.
        assert entry["ParentShardId"] in known
        if "AdjacentParentShardId" in entry:
            assert entry["AdjacentParentShardId"] in known

    down = kinesis.update_shard_count(StreamARN=stream_arn(name), TargetShardCount=3, ScalingType="UNIFORM_SCALING")
    assert (down["CurrentShardCount"], down["TargetShardCount"]) == (4, 3)
    open_shards = list_all_shards(kinesis, StreamName=name, ShardFilter={"Type": "AT_LATEST"})
    assert len(open_shards) == 3
    assert_covers_key_space(open_shards)

    # Records still reach every open shard's owner.
    for entry in open_shards:
        start, _ = hash_range(entry)
        placed = kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="p", ExplicitHashKey=str(start))
        assert placed["ShardId"] == entry["ShardId"]

    # At most double, at least half the open shards.
    fails("LimitExceededException", kinesis.update_shard_count, StreamName=name, TargetShardCount=7, ScalingType="UNIFORM_SCALING")
    fails("LimitExceededException", kinesis.update_shard_count, StreamName=name, TargetShardCount=1, ScalingType="UNIFORM_SCALING")


def test_resharding_errors(kinesis, loose, make_stream):
    name = make_stream(shards=3)
    start, end = hash_range(list_all_shards(kinesis, StreamName=name)[0])
    # The new starting hash key must lie inside the shard, above its start.
    fails("InvalidArgumentException", kinesis.split_shard, StreamName=name, ShardToSplit=shard(0), NewStartingHashKey=str(start))
    fails("InvalidArgumentException", kinesis.split_shard, StreamName=name, ShardToSplit=shard(0), NewStartingHashKey=str(end + 10))
    fails("ResourceNotFoundException", kinesis.split_shard, StreamName=name, ShardToSplit=shard(9), NewStartingHashKey=str(end // 2))
    fails("ValidationException", loose.split_shard, StreamName=name, ShardToSplit=shard(0), NewStartingHashKey="not-a-number")
    # Only shards with adjacent hash key ranges merge.
    fails("InvalidArgumentException", kinesis.merge_shards, StreamName=name, ShardToMerge=shard(0), AdjacentShardToMerge=shard(2))
    fails("ResourceNotFoundException", kinesis.merge_shards, StreamName=name, ShardToMerge=shard(0), AdjacentShardToMerge=shard(9))
    # A shard that was split (closed) cannot be split or merged again.
    kinesis.split_shard(StreamName=name, ShardToSplit=shard(0), NewStartingHashKey=str(end // 2))
    fails("ResourceInUseException", kinesis.split_shard, StreamName=name, ShardToSplit=shard(0), NewStartingHashKey=str(end // 4))
    fails("ResourceInUseException", kinesis.merge_shards, StreamName=name, ShardToMerge=shard(0), AdjacentShardToMerge=shard(1))
    fails("ValidationException", loose.update_shard_count, StreamName=name, TargetShardCount=3, ScalingType="SIDEWAYS")


# --- settings -----------------------------------------------------------------------------------


def test_retention_period_rules(kinesis, make_stream):
    name = make_stream()

    def hours() -> int:
        return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["RetentionPeriodHours"]

    assert hours() == 24
    kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=48)
    assert hours() == 48
    # An increase may not shorten, a decrease may not lengthen.
    fails("InvalidArgumentException", kinesis.increase_stream_retention_period, StreamName=name, RetentionPeriodHours=30)
    fails("InvalidArgumentException", kinesis.decrease_stream_retention_period, StreamName=name, RetentionPeriodHours=72)
    kinesis.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=36)
    assert hours() == 36
    # 24 hours to 8760 hours (365 days).
    fails("InvalidArgumentException", kinesis.decrease_stream_retention_period, StreamName=name, RetentionPeriodHours=23)
    kinesis.increase_stream_retention_period(StreamARN=stream_arn(name), RetentionPeriodHours=8760)
    assert hours() == 8760
    assert kinesis.describe_stream(StreamName=name)["StreamDescription"]["RetentionPeriodHours"] == 8760
    kinesis.decrease_stream_retention_period(StreamARN=stream_arn(name), RetentionPeriodHours=24)
    assert hours() == 24
    fails("ResourceNotFoundException", kinesis.increase_stream_retention_period, StreamName=unique_name("absent"), RetentionPeriodHours=48)


def test_retention_period_above_the_maximum_is_an_invalid_argument(kinesis, make_stream):
    name = make_stream()
    fails("InvalidArgumentException", kinesis.increase_stream_retention_period, StreamName=name, RetentionPeriodHours=9000)


def test_stream_tags(kinesis, loose, make_stream):
    name = make_stream(Tags={"created": "with-stream"})
    assert kinesis.list_tags_for_stream(StreamName=name)["Tags"] == [{"Key": "created", "Value": "with-stream"}]
    kinesis.add_tags_to_stream(StreamName=name, Tags={"team": "data", "env": "test", "empty": ""})
    kinesis.add_tags_to_stream(StreamName=name, Tags={"env": "prod"})  # overwrites
    listed = kinesis.list_tags_for_stream(StreamName=name)
    assert listed["Tags"] == [
        {"Key": "created", "Value": "with-stream"},
        {"Key": "empty", "Value": ""},
        {"Key": "env", "Value": "prod"},
        {"Key": "team", "Value": "data"},
    ]
    assert listed["HasMoreTags"] is False

    # Paging by Limit and ExclusiveStartTagKey.
    page = kinesis.list_tags_for_stream(StreamName=name, Limit=2)
    assert [tag["Key"] for tag in page["Tags"]] == ["created", "empty"]
    assert page["HasMoreTags"] is True
    page = kinesis.list_tags_for_stream(StreamName=name, ExclusiveStartTagKey="empty")
    assert [tag["Key"] for tag in page["Tags"]] == ["env", "team"]
    assert page["HasMoreTags"] is False

    kinesis.remove_tags_from_stream(StreamName=name, TagKeys=["team", "not-there"])
    assert [tag["Key"] for tag in kinesis.list_tags_for_stream(StreamARN=stream_arn(name))["Tags"]] == ["created", "empty", "env"]
    fails("ValidationException", loose.add_tags_to_stream, StreamName=name, Tags={})
    fails("ValidationException", loose.remove_tags_from_stream, StreamName=name, TagKeys=[])
    fails("ValidationException", loose.list_tags_for_stream, StreamName=name, Limit=51)
    # Unicode letters, digits, white space and _ . : / = + - @ are allowed.
    kinesis.add_tags_to_stream(StreamName=name, Tags={"key with_.:/=+-@ ünï": "välue 1"})
    assert {"Key": "key with_.:/=+-@ ünï", "Value": "välue 1"} in kinesis.list_tags_for_stream(StreamName=name)["Tags"]


def test_tags_with_invalid_characters_are_refused(kinesis, make_stream):
    name = make_stream()
    fails("InvalidArgumentException", kinesis.add_tags_to_stream, StreamName=name, Tags={"bad#key": "v"})
    fails("InvalidArgumentException", kinesis.tag_resource, ResourceARN=stream_arn(name), Tags={"key": "bad!value"})
    assert kinesis.list_tags_for_stream(StreamName=name)["Tags"] == []


def test_resource_tags_share_the_stream_tags(kinesis, make_stream):
    name = make_stream()
    arn = stream_arn(name)
    kinesis.tag_resource(ResourceARN=arn, Tags={"owner": "wharf", "tier": "gold"})
    assert kinesis.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "owner", "Value": "wharf"},
        {"Key": "tier", "Value": "gold"},
    ]
    # The stream-name operations see the same tags, and the other way round.
    assert kinesis.list_tags_for_stream(StreamName=name)["Tags"] == kinesis.list_tags_for_resource(ResourceARN=arn)["Tags"]
    kinesis.add_tags_to_stream(StreamName=name, Tags={"added": "by-name"})
    assert {tag["Key"] for tag in kinesis.list_tags_for_resource(ResourceARN=arn)["Tags"]} == {"added", "owner", "tier"}
    kinesis.untag_resource(ResourceARN=arn, TagKeys=["tier", "added"])
    assert kinesis.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "owner", "Value": "wharf"}]
    assert kinesis.list_tags_for_stream(StreamName=name)["Tags"] == [{"Key": "owner", "Value": "wharf"}]
    fails("ResourceNotFoundException", kinesis.list_tags_for_resource, ResourceARN=stream_arn(unique_name("absent")))
    fails("ResourceNotFoundException", kinesis.tag_resource, ResourceARN=stream_arn(unique_name("absent")), Tags={"a": "b"})


def test_stream_encryption(kinesis, loose, make_stream):
    name = make_stream()
    kinesis.put_record(StreamName=name, Data=b"plain", PartitionKey="p")
    kinesis.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId="alias/aws/kinesis")
    description = kinesis.describe_stream(StreamName=name)["StreamDescription"]
    assert description["EncryptionType"] == "KMS"
    assert description["KeyId"] == "alias/aws/kinesis"
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert (summary["EncryptionType"], summary["KeyId"]) == ("KMS", "alias/aws/kinesis")

    put = kinesis.put_record(StreamName=name, Data=b"secret", PartitionKey="p")
    assert put["EncryptionType"] == "KMS"
    assert kinesis.put_records(StreamName=name, Records=[{"Data": b"s2", "PartitionKey": "p"}])["EncryptionType"] == "KMS"
    records, _ = read_all(kinesis, iterator(kinesis, name, shard(0), "AT_SEQUENCE_NUMBER", StartingSequenceNumber=put["SequenceNumber"]))
    assert [record["Data"] for record in records] == [b"secret", b"s2"]
    assert {record.get("EncryptionType") for record in records} == {"KMS"}

    kinesis.stop_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId="alias/aws/kinesis")
    description = kinesis.describe_stream(StreamName=name)["StreamDescription"]
    assert description["EncryptionType"] == "NONE"
    assert "KeyId" not in description
    assert kinesis.put_record(StreamName=name, Data=b"plain again", PartitionKey="p")["EncryptionType"] == "NONE"
    fails("ResourceNotFoundException", kinesis.start_stream_encryption, StreamName=unique_name("absent"), EncryptionType="KMS", KeyId="k")


def test_enhanced_monitoring(kinesis, make_stream):
    name = make_stream()
    enabled = kinesis.enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["IncomingBytes", "OutgoingBytes"])
    assert enabled["StreamName"] == name
    assert enabled["StreamARN"] == stream_arn(name)
    assert enabled["CurrentShardLevelMetrics"] == []
    assert set(enabled["DesiredShardLevelMetrics"]) == {"IncomingBytes", "OutgoingBytes"}
    described = kinesis.describe_stream(StreamName=name)["StreamDescription"]["EnhancedMonitoring"]
    assert set(described[0]["ShardLevelMetrics"]) == {"IncomingBytes", "OutgoingBytes"}

    everything = kinesis.enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["ALL"])
    assert set(everything["CurrentShardLevelMetrics"]) == {"IncomingBytes", "OutgoingBytes"}
    assert set(everything["DesiredShardLevelMetrics"]) == SHARD_LEVEL_METRICS

    fewer = kinesis.disable_enhanced_monitoring(StreamARN=stream_arn(name), ShardLevelMetrics=["IncomingBytes"])
    assert set(fewer["CurrentShardLevelMetrics"]) == SHARD_LEVEL_METRICS
    assert set(fewer["DesiredShardLevelMetrics"]) == SHARD_LEVEL_METRICS - {"IncomingBytes"}
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert set(summary["EnhancedMonitoring"][0]["ShardLevelMetrics"]) == SHARD_LEVEL_METRICS - {"IncomingBytes"}

    none = kinesis.disable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["ALL"])
    assert none["DesiredShardLevelMetrics"] == []
    assert kinesis.describe_stream(StreamName=name)["StreamDescription"]["EnhancedMonitoring"] == [{"ShardLevelMetrics": []}]


def test_describe_limits(kinesis, make_stream):
    before = kinesis.describe_limits()
    for key in ("ShardLimit", "OpenShardCount", "OnDemandStreamCount", "OnDemandStreamCountLimit"):
        assert isinstance(before[key], int), before
    assert before["ShardLimit"] >= before["OpenShardCount"]
    assert before["OnDemandStreamCountLimit"] >= before["OnDemandStreamCount"]
    make_stream(shards=3)
    after = kinesis.describe_limits()
    assert after["OpenShardCount"] == before["OpenShardCount"] + 3
    assert after["ShardLimit"] == before["ShardLimit"]


# --- AWS CLI ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aws_kinesis(endpoint, tmp_path_factory):
    """Runs `aws kinesis ...` (the CLI installed beside this interpreter) and parses its JSON."""
    home = tmp_path_factory.mktemp("aws-cli-home")
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        AWS_PAGER="",
    )
    base = [sys.executable, "-m", "awscli", "--endpoint-url", endpoint, "--output", "json"]
    version = subprocess.run(base + ["--version"], env=env, capture_output=True, text=True, timeout=60)
    # CLI v2 reads blob arguments as base64 unless told otherwise; v1 (the pinned one) sends them raw.
    v2 = (version.stdout + version.stderr).startswith("aws-cli/2")
    blob_format = ["--cli-binary-format", "raw-in-base64-out"] if v2 else []

    def run(*args: str, blobs: bool = False):
        command = base + ["kinesis", *args] + (blob_format if blobs else [])
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert completed.returncode == 0, f"{' '.join(args)} failed ({completed.returncode}):\n{completed.stderr}"
        return json.loads(completed.stdout) if completed.stdout.strip() else {}

    return run


@pytest.mark.cli
def test_cli_put_and_get_records(aws_kinesis, kinesis, tmp_path):
    name = unique_name("kcli")
    aws_kinesis("create-stream", "--stream-name", name, "--shard-count", "1")
    try:
        description = aws_kinesis("describe-stream-summary", "--stream-name", name)["StreamDescriptionSummary"]
        assert description["StreamStatus"] == "ACTIVE"
        assert description["OpenShardCount"] == 1

        text = aws_kinesis("put-record", "--stream-name", name, "--partition-key", "cli", "--data", "hello from the cli", blobs=True)
        assert text["ShardId"] == shard(0)
        binary_file = tmp_path / "all-bytes.bin"
        binary_file.write_bytes(bytes(range(256)))
        binary = aws_kinesis("put-record", "--stream-name", name, "--partition-key", "cli", "--data", f"fileb://{binary_file}")
        assert int(binary["SequenceNumber"]) > int(text["SequenceNumber"])

        shard_iterator = aws_kinesis(
            "get-shard-iterator", "--stream-name", name, "--shard-id", shard(0), "--shard-iterator-type", "TRIM_HORIZON"
        )["ShardIterator"]
        records = aws_kinesis("get-records", "--shard-iterator", shard_iterator)["Records"]
        # The CLI prints blobs as base64.
        assert [base64.b64decode(record["Data"]) for record in records] == [b"hello from the cli", bytes(range(256))]
        assert [record["SequenceNumber"] for record in records] == [text["SequenceNumber"], binary["SequenceNumber"]]
        assert {record["PartitionKey"] for record in records} == {"cli"}

        after = aws_kinesis(
            "get-shard-iterator",
            "--stream-name",
            name,
            "--shard-id",
            shard(0),
            "--shard-iterator-type",
            "AFTER_SEQUENCE_NUMBER",
            "--starting-sequence-number",
            text["SequenceNumber"],
        )["ShardIterator"]
        assert [base64.b64decode(record["Data"]) for record in aws_kinesis("get-records", "--shard-iterator", after, "--limit", "1")["Records"]] == [
            bytes(range(256))
        ]
        # boto3 reads what the CLI wrote.
        assert [record["Data"] for record in read_all(kinesis, iterator(kinesis, name, shard(0)))[0]] == [
            b"hello from the cli",
            bytes(range(256)),
        ]
    finally:
        aws_kinesis("delete-stream", "--stream-name", name)
    assert name not in aws_kinesis("list-streams")["StreamNames"]
