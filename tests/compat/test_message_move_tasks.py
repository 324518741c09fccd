"""Dead-letter redrive through boto3: StartMessageMoveTask, ListMessageMoveTasks,
CancelMessageMoveTask."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError


def queue_arn(sqs, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def dead_letter(sqs, make_queue, count: int) -> tuple[str, str]:
    dlq_url = make_queue()
    policy = json.dumps({"deadLetterTargetArn": queue_arn(sqs, dlq_url), "maxReceiveCount": 1})
    source_url = make_queue(Attributes={"RedrivePolicy": policy})
    for index in range(count):
        sqs.send_message(QueueUrl=source_url, MessageBody=f"m{index}")
    received = 0
    while received < count:
        received += len(sqs.receive_message(QueueUrl=source_url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", []))
    assert sqs.receive_message(QueueUrl=source_url, MaxNumberOfMessages=10).get("Messages", []) == []
    return source_url, dlq_url


def newest_task(sqs, source_arn: str, status: str) -> dict:
    # Bounded wait for the background task; the bound only prevents a hang.
    for _ in range(250):
        results = sqs.list_message_move_tasks(SourceArn=source_arn)["Results"]
        if results and results[0]["Status"] == status:
            return results[0]
        time.sleep(0.02)
    raise AssertionError(f"task never reached {status}")


def test_redrive_back_to_the_source_queue(sqs, make_queue):
    source_url, dlq_url = dead_letter(sqs, make_queue, 3)
    dlq_arn = queue_arn(sqs, dlq_url)
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    assert handle
    task = newest_task(sqs, dlq_arn, "COMPLETED")
    assert task["ApproximateNumberOfMessagesMoved"] == 3
    assert task["ApproximateNumberOfMessagesToMove"] == 3
    assert "TaskHandle" not in task and "DestinationArn" not in task
    bodies = sorted(m["Body"] for m in sqs.receive_message(QueueUrl=source_url, MaxNumberOfMessages=10)["Messages"])
    assert bodies == ["m0", "m1", "m2"]


def test_move_to_a_destination_and_errors(sqs, make_queue):
    _, dlq_url = dead_letter(sqs, make_queue, 2)
    dlq_arn = queue_arn(sqs, dlq_url)
    destination_url = make_queue()
    sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=queue_arn(sqs, destination_url))
    task = newest_task(sqs, dlq_arn, "COMPLETED")
    assert task["DestinationArn"] == queue_arn(sqs, destination_url)
    assert len(sqs.receive_message(QueueUrl=destination_url, MaxNumberOfMessages=10)["Messages"]) == 2

    plain_arn = queue_arn(sqs, make_queue())
    with pytest.raises(ClientError) as raised:
        sqs.start_message_move_task(SourceArn=plain_arn)
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert raised.value.response["Error"]["Message"] == "Source queue must be configured as a Dead Letter Queue."
    with pytest.raises(ClientError) as raised:
        sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=501)
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as raised:
        sqs.cancel_message_move_task(TaskHandle="garbage")
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(sqs.exceptions.ResourceNotFoundException):
        sqs.start_message_move_task(SourceArn=dlq_arn.rsplit(":", 1)[0] + ":no-such-queue")
