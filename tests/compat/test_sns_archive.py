"""FIFO topic message archiving and replay through boto3: a topic with an ArchivePolicy keeps its
publications, and a subscription's ReplayPolicy redelivers them, marked Replayed."""

from __future__ import annotations

import datetime
import json

import pytest
from botocore.exceptions import ClientError

from conftest import unique_name


def fifo_queue(sqs, make_queue) -> tuple[str, str]:
    url = make_queue(unique_name("q") + ".fifo", Attributes={"FifoQueue": "true"})
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def bodies(sqs, url: str) -> list[dict]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def test_a_new_subscription_replays_the_archive(sns, sqs, make_topic, make_queue):
    topic = make_topic(
        fifo=True,
        Attributes={"ContentBasedDeduplication": "true", "ArchivePolicy": '{"MessageRetentionPeriod":"7"}'},
    )
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert json.loads(attributes["ArchivePolicy"]) == {"MessageRetentionPeriod": "7"}
    assert "BeginningArchiveTime" in attributes
    sent = [
        sns.publish(TopicArn=topic, Message=text, MessageGroupId="g")["MessageId"] for text in ("one", "two")
    ]

    url, arn = fifo_queue(sqs, make_queue)
    start = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)).isoformat()
    policy = json.dumps({"PointType": "Timestamp", "StartingPoint": start})
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"ReplayPolicy": policy})
    replayed = bodies(sqs, url)
    assert [(m["Message"], m["MessageId"], m["Replayed"]) for m in replayed] == [
        ("one", sent[0], True),
        ("two", sent[1], True),
    ]
    status = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])["Attributes"]
    assert status["ReplayStatus"] == "Completed"


def test_replay_needs_an_archive(sns, sqs, make_topic, make_queue):
    topic = make_topic(fifo=True)
    _, arn = fifo_queue(sqs, make_queue)
    policy = json.dumps({"PointType": "Timestamp", "StartingPoint": "2024-01-01T00:00:00Z"})
    with pytest.raises(ClientError) as error:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"ReplayPolicy": policy})
    assert error.value.response["Error"]["Code"] == "InvalidParameter"
    with pytest.raises(ClientError) as error:
        sns.set_topic_attributes(
            TopicArn=topic, AttributeName="ArchivePolicy", AttributeValue='{"MessageRetentionPeriod":"400"}'
        )
    assert error.value.response["Error"]["Code"] == "InvalidParameter"
