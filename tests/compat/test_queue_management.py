"""Tags, permissions (the Policy attribute) and dead-letter queues through boto3."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from helpers import ACCOUNT_ID, error_code


def queue_arn(sqs, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def test_tags_on_create_and_tag_untag(sqs, make_queue):
    url = make_queue(tags={"team": "wharf", "env": "test"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "wharf", "env": "test"}
    sqs.tag_queue(QueueUrl=url, Tags={"env": "ci", "owner": "me"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "wharf", "env": "ci", "owner": "me"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["team", "absent"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "ci", "owner": "me"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["env", "owner"])
    assert sqs.list_queue_tags(QueueUrl=url).get("Tags", {}) == {}


def test_untagged_queue_lists_no_tags(sqs, queue_url):
    assert sqs.list_queue_tags(QueueUrl=queue_url).get("Tags", {}) == {}


def test_add_and_remove_permission(sqs, make_queue):
    url = make_queue()
    arn = queue_arn(sqs, url)
    sqs.add_permission(QueueUrl=url, Label="AllowSend", AWSAccountIds=["123456789012"], Actions=["SendMessage"])
    sqs.add_permission(QueueUrl=url, Label="AllowReceive", AWSAccountIds=["123456789012", "210987654321"], Actions=["ReceiveMessage", "DeleteMessage"])
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert policy["Version"] == "2012-10-17"
    statements = {statement["Sid"]: statement for statement in policy["Statement"]}
    assert set(statements) == {"AllowSend", "AllowReceive"}

    def as_list(value):
        return value if isinstance(value, list) else [value]

    send = statements["AllowSend"]
    assert send["Effect"] == "Allow"
    assert send["Resource"] == arn
    assert as_list(send["Action"]) == ["SQS:SendMessage"]
    assert as_list(send["Principal"]["AWS"]) == ["arn:aws:iam::123456789012:root"]
    receive = statements["AllowReceive"]
    assert sorted(as_list(receive["Action"])) == ["SQS:DeleteMessage", "SQS:ReceiveMessage"]
    assert sorted(as_list(receive["Principal"]["AWS"])) == ["arn:aws:iam::123456789012:root", "arn:aws:iam::210987654321:root"]

    sqs.remove_permission(QueueUrl=url, Label="AllowSend")
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert [statement["Sid"] for statement in policy["Statement"]] == ["AllowReceive"]

    sqs.remove_permission(QueueUrl=url, Label="AllowReceive")
    remaining = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {})
    if "Policy" in remaining:
        assert json.loads(remaining["Policy"]).get("Statement", []) == []


def test_add_permission_duplicate_label(sqs, queue_url):
    sqs.add_permission(QueueUrl=queue_url, Label="Same", AWSAccountIds=[ACCOUNT_ID], Actions=["SendMessage"])
    with pytest.raises(ClientError) as raised:
        sqs.add_permission(QueueUrl=queue_url, Label="Same", AWSAccountIds=[ACCOUNT_ID], Actions=["ReceiveMessage"])
    assert error_code(raised.value) == "InvalidParameterValue"


def test_remove_permission_unknown_label(sqs, queue_url):
    with pytest.raises(ClientError) as raised:
        sqs.remove_permission(QueueUrl=queue_url, Label="NoSuchLabel")
    assert error_code(raised.value) == "InvalidParameterValue"


def test_policy_attribute_can_be_set_directly(sqs, make_queue):
    url = make_queue()
    arn = queue_arn(sqs, url)
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Direct", "Effect": "Allow", "Principal": "*", "Action": "SQS:SendMessage", "Resource": arn}],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    got = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert got["Statement"][0]["Sid"] == "Direct"


def make_redrive_pair(sqs, make_queue, max_receive_count: int):
    dead_letter_url = make_queue()
    source_url = make_queue(
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": queue_arn(sqs, dead_letter_url), "maxReceiveCount": max_receive_count})}
    )
    return source_url, dead_letter_url


def test_list_dead_letter_source_queues(sqs, make_queue):
    source_url, dead_letter_url = make_redrive_pair(sqs, make_queue, 3)
    other_source = make_queue(
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": queue_arn(sqs, dead_letter_url), "maxReceiveCount": 5})}
    )
    response = sqs.list_dead_letter_source_queues(QueueUrl=dead_letter_url)
    assert sorted(response["queueUrls"]) == sorted([source_url, other_source])
    paged = sqs.list_dead_letter_source_queues(QueueUrl=dead_letter_url, MaxResults=1)
    assert len(paged["queueUrls"]) == 1
    assert paged.get("NextToken")
    rest = sqs.list_dead_letter_source_queues(QueueUrl=dead_letter_url, MaxResults=1, NextToken=paged["NextToken"])
    assert sorted(paged["queueUrls"] + rest["queueUrls"]) == sorted([source_url, other_source])
    assert sqs.list_dead_letter_source_queues(QueueUrl=source_url).get("queueUrls", []) == []


def test_redrive_to_dead_letter_queue_after_max_receive_count(sqs, make_queue):
    source_url, dead_letter_url = make_redrive_pair(sqs, make_queue, 2)
    sent = sqs.send_message(QueueUrl=source_url, MessageBody="poison", MessageAttributes={"kind": {"DataType": "String", "StringValue": "bad"}})
    for expected_count in ("1", "2"):
        messages = sqs.receive_message(QueueUrl=source_url, VisibilityTimeout=0, WaitTimeSeconds=1, MessageSystemAttributeNames=["ApproximateReceiveCount"])["Messages"]
        assert [message["MessageId"] for message in messages] == [sent["MessageId"]]
        assert messages[0]["Attributes"]["ApproximateReceiveCount"] == expected_count
    # The third receive would exceed maxReceiveCount: the message moves to the DLQ instead.
    assert sqs.receive_message(QueueUrl=source_url, VisibilityTimeout=0).get("Messages", []) == []
    moved = sqs.receive_message(QueueUrl=dead_letter_url, WaitTimeSeconds=2, MessageAttributeNames=["All"])["Messages"]
    assert len(moved) == 1
    assert moved[0]["MessageId"] == sent["MessageId"]
    assert moved[0]["Body"] == "poison"
    assert moved[0]["MessageAttributes"] == {"kind": {"DataType": "String", "StringValue": "bad"}}
    assert moved[0]["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]


def test_dead_letter_queue_source_arn_system_attribute(sqs, make_queue):
    source_url, dead_letter_url = make_redrive_pair(sqs, make_queue, 1)
    sqs.send_message(QueueUrl=source_url, MessageBody="poison")
    assert len(sqs.receive_message(QueueUrl=source_url, VisibilityTimeout=0, WaitTimeSeconds=1)["Messages"]) == 1
    assert sqs.receive_message(QueueUrl=source_url, VisibilityTimeout=0).get("Messages", []) == []
    moved = sqs.receive_message(QueueUrl=dead_letter_url, WaitTimeSeconds=2, MessageSystemAttributeNames=["All"])["Messages"]
    assert moved[0]["Attributes"]["DeadLetterQueueSourceArn"] == queue_arn(sqs, source_url)


def test_redrive_policy_to_missing_queue_is_rejected(sqs, make_queue):
    missing_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:does-not-exist-{id(sqs)}"
    with pytest.raises(ClientError) as raised:
        make_queue(Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": missing_arn, "maxReceiveCount": 2})})
    # AWS: "Value ... for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist."
    assert error_code(raised.value) == "InvalidParameterValue"


@pytest.mark.parametrize("max_receive_count", [0, 1001])
def test_redrive_policy_max_receive_count_range(sqs, make_queue, max_receive_count):
    dead_letter_url = make_queue()
    with pytest.raises(ClientError) as raised:
        make_queue(Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": queue_arn(sqs, dead_letter_url), "maxReceiveCount": max_receive_count})})
    # AWS: "Value ... for parameter RedrivePolicy is invalid. Reason: Invalid value for
    # maxReceiveCount: 0, valid values are from 1 to 1000 both inclusive."
    assert error_code(raised.value) == "InvalidParameterValue"


@pytest.mark.parametrize("permission", ["denyAll", "byQueue"])
def test_redrive_allow_policy_is_enforced(sqs, make_queue, permission):
    dead_letter_url = make_queue()
    allow = {"redrivePermission": permission}
    if permission == "byQueue":
        allow["sourceQueueArns"] = [f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:some-other-queue"]
    sqs.set_queue_attributes(QueueUrl=dead_letter_url, Attributes={"RedriveAllowPolicy": json.dumps(allow)})
    with pytest.raises(ClientError) as raised:
        make_queue(Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": queue_arn(sqs, dead_letter_url), "maxReceiveCount": 2})})
    assert error_code(raised.value) == "InvalidParameterValue"


def test_redrive_allow_policy_by_queue_admits_listed_source(sqs, make_queue):
    dead_letter_url = make_queue()
    source_url = make_queue()
    allow = {"redrivePermission": "byQueue", "sourceQueueArns": [queue_arn(sqs, source_url)]}
    sqs.set_queue_attributes(QueueUrl=dead_letter_url, Attributes={"RedriveAllowPolicy": json.dumps(allow)})
    got = json.loads(sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["RedriveAllowPolicy"])["Attributes"]["RedriveAllowPolicy"])
    assert got == allow
    sqs.set_queue_attributes(
        QueueUrl=source_url,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": queue_arn(sqs, dead_letter_url), "maxReceiveCount": 2})},
    )
