"""KPL-aggregated records pass through Kinesis untouched: user records are packed with the
Kinesis Producer Library's aggregation format (aws-kinesis-agg from PyPI, the format KPL writes and
KCL reads: magic bytes, a protobuf AggregatedRecord and its MD5), put, read back and unpacked."""

from __future__ import annotations

import base64

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import iter_deaggregate_records

from conftest import unique_name

MAGIC = b"\xf3\x89\x9a\xc2"


def read_all(kinesis, stream: str) -> list[dict]:
    records = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator)
            records.extend(page["Records"])
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return records


def aggregate(user_records: list[tuple[str, bytes]]) -> list[tuple[str, str | None, bytes]]:
    """Packs user records into as many aggregated records as the 1 MiB limit needs."""
    aggregator = RecordAggregator()
    packed = []
    for key, data in user_records:
        full = aggregator.add_user_record(key, data)
        if full is not None:
            packed.append(full.get_contents())
    last = aggregator.clear_and_get()
    if last is not None:
        packed.append(last.get_contents())
    return packed


@pytest.mark.parametrize("batch", [False, True])
def test_aggregated_records_round_trip_through_the_stream(kinesis, batch):
    stream = unique_name("kpl")
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    user_records = [(f"user-{index}", f"event {index} ".encode() * (index % 7 + 1) + bytes([index % 256])) for index in range(300)]
    packed = aggregate(user_records)
    assert all(data.startswith(MAGIC) for _, _, data in packed)
    if batch:
        entries = [{"Data": data, "PartitionKey": key, **({"ExplicitHashKey": ehk} if ehk else {})} for key, ehk, data in packed]
        assert kinesis.put_records(StreamName=stream, Records=entries)["FailedRecordCount"] == 0
    else:
        for key, ehk, data in packed:
            kinesis.put_record(StreamName=stream, Data=data, PartitionKey=key, **({"ExplicitHashKey": ehk} if ehk else {}))

    stored = read_all(kinesis, stream)
    assert sorted(record["Data"] for record in stored) == sorted(data for _, _, data in packed), "stored byte for byte"
    unpacked = list(iter_deaggregate_records(stored, data_format="Boto3"))
    # The de-aggregator hands user records back base64-encoded, as a Lambda event carries them.
    got = sorted((record["kinesis"]["partitionKey"], base64.b64decode(record["kinesis"]["data"])) for record in unpacked)
    assert got == sorted(user_records)
    assert all(record["kinesis"]["aggregated"] for record in unpacked)
    kinesis.delete_stream(StreamName=stream)
