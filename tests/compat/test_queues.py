"""Queue lifecycle and queue attributes through boto3 (awsJson 1.0)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from conftest import unique_name
from helpers import ACCOUNT_ID, REGION, error_code

DEFAULT_ATTRIBUTES = {
    "VisibilityTimeout": "30",
    "MaximumMessageSize": "1048576",
    "MessageRetentionPeriod": "345600",
    "DelaySeconds": "0",
    "ReceiveMessageWaitTimeSeconds": "0",
    "SqsManagedSseEnabled": "true",
    "ApproximateNumberOfMessages": "0",
    "ApproximateNumberOfMessagesNotVisible": "0",
    "ApproximateNumberOfMessagesDelayed": "0",
}


def test_create_get_url_and_delete(sqs):
    name = unique_name()
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    assert url.endswith(f"/{ACCOUNT_ID}/{name}")
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    assert sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=ACCOUNT_ID)["QueueUrl"] == url
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName=name)


def test_queue_url_is_usable_as_endpoint(sqs, make_queue, endpoint):
    # Some SDKs (Ruby, PHP, JS v3, Java v1) send requests to the QueueUrl itself.
    url = make_queue()
    assert url.startswith(endpoint)


def test_create_queue_is_idempotent_with_identical_attributes(sqs, make_queue):
    name = unique_name()
    attributes = {"VisibilityTimeout": "45", "DelaySeconds": "2"}
    first = make_queue(name, Attributes=attributes)
    second = sqs.create_queue(QueueName=name, Attributes=dict(attributes))["QueueUrl"]
    assert first == second


def test_create_queue_with_explicit_default_attributes_is_idempotent(sqs, make_queue):
    name = unique_name()
    first = make_queue(name)
    second = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30", "DelaySeconds": "0"})["QueueUrl"]
    assert first == second


def test_create_queue_with_different_attributes_is_queue_name_exists(sqs, make_queue):
    name = unique_name()
    make_queue(name, Attributes={"VisibilityTimeout": "45"})
    with pytest.raises(sqs.exceptions.QueueNameExists) as raised:
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "46"})
    assert error_code(raised.value) == "QueueAlreadyExists"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize("name", ["", "has space", "x" * 81, "bad!char", "dot.name"])
def test_create_queue_rejects_invalid_names(sqs, name):
    with pytest.raises(ClientError) as raised:
        sqs.create_queue(QueueName=name)
    assert error_code(raised.value) == "InvalidParameterValue"


def test_create_queue_accepts_longest_name(sqs, make_queue):
    name = ("a-_" * 27)[:80]
    url = make_queue(name)
    assert url.endswith("/" + name)


def test_list_queues_with_prefix(sqs, make_queue):
    prefix = unique_name("list")
    mine = {make_queue(f"{prefix}-{index}") for index in range(3)}
    other = make_queue(unique_name("other"))
    listed = set(sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []))
    assert listed == mine
    assert other in set(sqs.list_queues().get("QueueUrls", []))


def test_list_queues_with_unmatched_prefix_has_no_urls(sqs):
    response = sqs.list_queues(QueueNamePrefix=unique_name("nothing"))
    assert response.get("QueueUrls", []) == []
    assert "NextToken" not in response


def test_list_queues_pages_with_max_results_and_next_token(sqs, make_queue):
    prefix = unique_name("page")
    mine = {make_queue(f"{prefix}-{index}") for index in range(5)}
    seen: list[str] = []
    pages = 0
    token = None
    while True:
        kwargs = {"QueueNamePrefix": prefix, "MaxResults": 2}
        if token:
            kwargs["NextToken"] = token
        response = sqs.list_queues(**kwargs)
        urls = response.get("QueueUrls", [])
        assert len(urls) <= 2
        seen.extend(urls)
        pages += 1
        token = response.get("NextToken")
        if not token:
            break
        assert pages < 10, "paging does not terminate"
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == mine


@pytest.mark.parametrize("max_results", [0, 1001])
def test_list_queues_max_results_out_of_range(sqs, max_results):
    with pytest.raises(ClientError) as raised:
        sqs.list_queues(MaxResults=max_results)
    assert error_code(raised.value) == "InvalidParameterValue"


def test_list_queues_paginator(sqs, make_queue):
    prefix = unique_name("paginator")
    mine = {make_queue(f"{prefix}-{index}") for index in range(3)}
    paginator = sqs.get_paginator("list_queues")
    seen = [url for page in paginator.paginate(QueueNamePrefix=prefix, PaginationConfig={"PageSize": 1}) for url in page.get("QueueUrls", [])]
    assert sorted(seen) == sorted(mine)


def test_get_queue_attributes_all_defaults(sqs, make_queue):
    name = unique_name()
    url = make_queue(name)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    for key, value in DEFAULT_ATTRIBUTES.items():
        assert attributes.get(key) == value, key
    assert attributes["QueueArn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
    assert int(attributes["CreatedTimestamp"]) > 1_600_000_000
    assert int(attributes["LastModifiedTimestamp"]) >= int(attributes["CreatedTimestamp"])
    # A fresh standard queue has exactly these attributes on AWS: no Policy, RedrivePolicy,
    # FifoQueue or KMS attributes until they are set.
    expected_keys = set(DEFAULT_ATTRIBUTES) | {"QueueArn", "CreatedTimestamp", "LastModifiedTimestamp"}
    assert set(attributes) == expected_keys


def test_get_queue_attributes_without_names_returns_none(sqs, queue_url):
    response = sqs.get_queue_attributes(QueueUrl=queue_url)
    assert response.get("Attributes", {}) == {}


def test_get_queue_attributes_selected_names(sqs, queue_url):
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout", "QueueArn"])["Attributes"]
    assert set(attributes) == {"VisibilityTimeout", "QueueArn"}


def test_create_queue_with_attributes(sqs, make_queue):
    attributes = {
        "VisibilityTimeout": "120",
        "MaximumMessageSize": "2048",
        "MessageRetentionPeriod": "600",
        "DelaySeconds": "5",
        "ReceiveMessageWaitTimeSeconds": "3",
    }
    url = make_queue(Attributes=attributes)
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(attributes))["Attributes"]
    assert got == attributes


def test_set_queue_attributes(sqs, queue_url):
    attributes = {
        "VisibilityTimeout": "45",
        "MaximumMessageSize": "1024",
        "MessageRetentionPeriod": "60",
        "DelaySeconds": "900",
        "ReceiveMessageWaitTimeSeconds": "20",
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes=attributes)
    got = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    for key, value in attributes.items():
        assert got[key] == value, key


def test_set_queue_attributes_sqs_managed_sse(sqs, queue_url):
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"SqsManagedSseEnabled": "false"})
    got = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["SqsManagedSseEnabled"])["Attributes"]
    assert got == {"SqsManagedSseEnabled": "false"}


INVALID_ATTRIBUTE_VALUES = [
    ("VisibilityTimeout", "43201"),
    ("VisibilityTimeout", "-1"),
    ("VisibilityTimeout", "abc"),
    ("MaximumMessageSize", "1023"),
    ("MaximumMessageSize", "1048577"),
    ("MessageRetentionPeriod", "59"),
    ("MessageRetentionPeriod", "1209601"),
    ("DelaySeconds", "901"),
    ("ReceiveMessageWaitTimeSeconds", "21"),
    ("RedrivePolicy", "not json"),
]


@pytest.mark.parametrize(("name", "value"), INVALID_ATTRIBUTE_VALUES)
def test_set_queue_attributes_invalid_value(sqs, queue_url, name, value):
    with pytest.raises(sqs.exceptions.InvalidAttributeValue) as raised:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={name: value})
    assert error_code(raised.value) == "InvalidAttributeValue"


@pytest.mark.parametrize(("name", "value"), INVALID_ATTRIBUTE_VALUES[:3])
def test_create_queue_invalid_attribute_value(sqs, name, value):
    with pytest.raises(sqs.exceptions.InvalidAttributeValue):
        sqs.create_queue(QueueName=unique_name(), Attributes={name: value})


def test_set_queue_attributes_unknown_name(sqs, queue_url):
    with pytest.raises(sqs.exceptions.InvalidAttributeName) as raised:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"NoSuchAttribute": "1"})
    assert error_code(raised.value) == "InvalidAttributeName"


def test_set_queue_attributes_read_only_name(sqs, queue_url):
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"QueueArn": "arn:aws:sqs:us-east-1:000000000000:x"})


def test_get_queue_attributes_unknown_name(sqs, queue_url):
    with pytest.raises(sqs.exceptions.InvalidAttributeName) as raised:
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["NoSuchAttribute"])
    assert error_code(raised.value) == "InvalidAttributeName"


def test_create_queue_unknown_attribute_name(sqs):
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.create_queue(QueueName=unique_name(), Attributes={"NoSuchAttribute": "1"})


def test_approximate_counts(sqs, queue_url):
    for index in range(3):
        sqs.send_message(QueueUrl=queue_url, MessageBody=f"m{index}")
    sqs.send_message(QueueUrl=queue_url, MessageBody="later", DelaySeconds=600)
    sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, VisibilityTimeout=600)
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    assert attributes == {
        "ApproximateNumberOfMessages": "2",
        "ApproximateNumberOfMessagesNotVisible": "1",
        "ApproximateNumberOfMessagesDelayed": "1",
    }


@pytest.mark.parametrize(
    "call",
    [
        lambda sqs, url: sqs.get_queue_url(QueueName=url.rsplit("/", 1)[1]),
        lambda sqs, url: sqs.send_message(QueueUrl=url, MessageBody="x"),
        lambda sqs, url: sqs.receive_message(QueueUrl=url),
        lambda sqs, url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]),
        lambda sqs, url: sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "1"}),
        lambda sqs, url: sqs.delete_queue(QueueUrl=url),
        lambda sqs, url: sqs.purge_queue(QueueUrl=url),
        lambda sqs, url: sqs.list_queue_tags(QueueUrl=url),
    ],
    ids=["GetQueueUrl", "SendMessage", "ReceiveMessage", "GetQueueAttributes", "SetQueueAttributes", "DeleteQueue", "PurgeQueue", "ListQueueTags"],
)
def test_missing_queue_is_queue_does_not_exist(sqs, endpoint, call):
    url = f"{endpoint}/{ACCOUNT_ID}/{unique_name('missing')}"
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as raised:
        call(sqs, url)
    assert error_code(raised.value) == "AWS.SimpleQueueService.NonExistentQueue"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_redrive_policy_round_trips(sqs, make_queue):
    dead_letter_url = make_queue()
    arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source_url = make_queue()
    sqs.set_queue_attributes(
        QueueUrl=source_url,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 4})},
    )
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=source_url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"])
    assert policy["deadLetterTargetArn"] == arn
    assert int(policy["maxReceiveCount"]) == 4


def test_queue_names_are_case_sensitive(sqs, make_queue):
    name = unique_name("Case")
    upper = make_queue(name)
    lower = make_queue(name.lower())
    assert upper != lower
    sqs.send_message(QueueUrl=upper, MessageBody="upper")
    assert sqs.receive_message(QueueUrl=lower).get("Messages", []) == []


def test_redrive_policy_can_be_removed(sqs, make_queue):
    dead_letter_url = make_queue()
    arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source_url = make_queue(Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 4})})
    sqs.set_queue_attributes(QueueUrl=source_url, Attributes={"RedrivePolicy": ""})
    attributes = sqs.get_queue_attributes(QueueUrl=source_url, AttributeNames=["All"])["Attributes"]
    assert "RedrivePolicy" not in attributes
    assert sqs.list_dead_letter_source_queues(QueueUrl=dead_letter_url).get("queueUrls", []) == []
