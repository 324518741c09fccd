"""SNS through boto3 (awsQuery, the only protocol of botocore's SNS model) and the AWS CLI: topics,
subscriptions, and fan-out into SQS queues, checked the way an SQS consumer sees it.

Notifications delivered to queues are signed; the tests verify each signature independently
(certificate fetched from SigningCertURL, AWS's canonical string, RSA PKCS#1 v1.5 over SHA-1 or
SHA-256 with the `cryptography` package). Wharf writes a publication into every subscribed queue
before Publish replies, so short polls see it at once: nothing here sleeps.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.request

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from conftest import unique_name
from helpers import ACCOUNT_ID, REGION, error_code, md5_hex, md5_of_message_attributes

MESSAGE_BYTES_MAX = 262_144
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
NOTIFICATION_KEYS = {
    "Type",
    "MessageId",
    "TopicArn",
    "Message",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
    "UnsubscribeURL",
}
# Unreachable on purpose (the discard port): confirmation requests to it fail at once.
HTTPS_ENDPOINT = "https://127.0.0.1:9/sns"

TYPED_ATTRIBUTES = {
    "color": {"DataType": "String", "StringValue": "red ✓"},
    "count": {"DataType": "Number", "StringValue": "42.5"},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xfe\xff"},
}


def expect_error(code: str, call, *args, **kwargs) -> ClientError:
    with pytest.raises(ClientError) as raised:
        call(*args, **kwargs)
    assert error_code(raised.value) == code, raised.value.response["Error"]
    return raised.value


def status_of(error: ClientError) -> int:
    return error.response["ResponseMetadata"]["HTTPStatusCode"]


def queue_arn(sqs, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def missing_topic_arn() -> str:
    return f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{unique_name('missing')}"


def drain(sqs, url: str, **kwargs) -> list[dict]:
    """Every message the queue holds, by short polls until one comes back empty (nothing is
    deleted; the long visibility timeout keeps received messages out of later polls)."""
    messages: list[dict] = []
    for _ in range(20):
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=120, **kwargs
        ).get("Messages", [])
        if not batch:
            break
        messages.extend(batch)
    return messages


def only_message(sqs, url: str, **kwargs) -> dict:
    messages = drain(sqs, url, **kwargs)
    assert len(messages) == 1, [message["Body"] for message in messages]
    assert messages[0]["MD5OfBody"] == md5_hex(messages[0]["Body"])
    return messages[0]


def only_envelope(sqs, url: str) -> dict:
    return json.loads(only_message(sqs, url)["Body"])


@pytest.fixture
def subscribe_queue(sns, sqs, make_queue):
    """Creates a queue (FIFO when asked) and subscribes it to a topic; returns (url, subscription ARN)."""

    def create(topic_arn: str, fifo: bool = False, queue_attributes: dict | None = None, **attributes: str):
        name = unique_name("sub") + (".fifo" if fifo else "")
        queue_attributes = {**({"FifoQueue": "true"} if fifo else {}), **(queue_attributes or {})}
        url = make_queue(name, Attributes=queue_attributes)
        arn = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn(sqs, url), Attributes=attributes)[
            "SubscriptionArn"
        ]
        return url, arn

    return create


# --- Signature verification ---------------------------------------------------------------------


def string_to_sign(envelope: dict) -> bytes:
    """AWS's canonical string for a Notification: name/value lines in this order, Subject only when
    the envelope has one."""
    names = ["Message", "MessageId"] + (["Subject"] if "Subject" in envelope else []) + ["Timestamp", "TopicArn", "Type"]
    return "".join(f"{name}\n{envelope[name]}\n" for name in names).encode("utf-8")


def signing_certificate(envelope: dict) -> x509.Certificate:
    with urllib.request.urlopen(envelope["SigningCertURL"], timeout=10) as response:
        assert response.status == 200
        return x509.load_pem_x509_certificate(response.read())


def verify(envelope: dict, algorithm: hashes.HashAlgorithm) -> None:
    """Raises InvalidSignature unless the envelope's Signature verifies with the given hash."""
    public_key = signing_certificate(envelope).public_key()
    signature = base64.b64decode(envelope["Signature"], validate=True)
    public_key.verify(signature, string_to_sign(envelope), padding.PKCS1v15(), algorithm)


# --- Topics ------------------------------------------------------------------------------------


def test_create_topic_returns_arn_and_is_idempotent(sns, make_topic):
    name = unique_name("topic")
    arn = make_topic(name, Attributes={"DisplayName": "Shop"})
    assert arn == f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{name}"
    assert sns.create_topic(Name=name, Attributes={"DisplayName": "Shop"})["TopicArn"] == arn
    assert sns.create_topic(Name=name)["TopicArn"] == arn
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "Shop"


def test_create_existing_topic_with_different_attributes_is_invalid_parameter(sns, make_topic):
    name = unique_name("topic")
    make_topic(name, Attributes={"DisplayName": "one"})
    expect_error("InvalidParameter", sns.create_topic, Name=name, Attributes={"DisplayName": "two"})


def test_topic_name_of_256_characters_is_accepted(make_topic):
    name = unique_name("long")
    make_topic(name + "x" * (256 - len(name)))


@pytest.mark.parametrize(
    "name",
    ["has space", "x" * 257, "dot.ted", "plain.fifo", "colon:name", "semi;colon", "bang!", "ümlaut"],
    ids=["space", "257-chars", "dot", "fifo-suffix-on-standard-topic", "colon", "semicolon", "bang", "non-ascii"],
)
def test_bad_topic_names_are_invalid_parameter(sns, name):
    expect_error("InvalidParameter", sns.create_topic, Name=name)


def test_fifo_topic_needs_suffix_and_fifo_attribute(sns, make_topic):
    expect_error("InvalidParameter", sns.create_topic, Name=unique_name("nosuffix"), Attributes={"FifoTopic": "true"})
    arn = make_topic(fifo=True)
    assert arn.endswith(".fifo")
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attributes["FifoTopic"] == "true"
    assert attributes["ContentBasedDeduplication"] == "false"


def test_content_based_deduplication_only_on_fifo_topics(sns, topic_arn):
    expect_error(
        "InvalidParameter", sns.create_topic, Name=unique_name("std"), Attributes={"ContentBasedDeduplication": "true"}
    )
    expect_error(
        "InvalidParameter",
        sns.set_topic_attributes,
        TopicArn=topic_arn,
        AttributeName="ContentBasedDeduplication",
        AttributeValue="true",
    )


def test_get_topic_attributes_defaults(sns, topic_arn):
    attributes = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert attributes["TopicArn"] == topic_arn
    assert attributes["Owner"] == ACCOUNT_ID
    assert attributes["DisplayName"] == ""
    assert attributes["SubscriptionsConfirmed"] == "0"
    assert attributes["SubscriptionsPending"] == "0"
    assert attributes["SubscriptionsDeleted"] == "0"
    assert "FifoTopic" not in attributes
    assert json.loads(attributes["EffectiveDeliveryPolicy"])["http"]["defaultHealthyRetryPolicy"]["numRetries"] == 3
    policy = json.loads(attributes["Policy"])
    assert policy["Version"] == "2008-10-17"
    [statement] = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == topic_arn
    assert "SNS:Publish" in statement["Action"]
    assert statement["Condition"] == {"StringEquals": {"AWS:SourceOwner": ACCOUNT_ID}}


def test_set_topic_attributes_display_name_and_policy(sns, topic_arn):
    sns.set_topic_attributes(TopicArn=topic_arn, AttributeName="DisplayName", AttributeValue="Orders")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "SNS:Publish", "Resource": topic_arn}],
    }
    sns.set_topic_attributes(TopicArn=topic_arn, AttributeName="Policy", AttributeValue=json.dumps(policy))
    attributes = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert attributes["DisplayName"] == "Orders"
    assert json.loads(attributes["Policy"]) == policy


def test_signature_version_accepts_1_and_2_only(sns, topic_arn):
    for version in ("2", "1"):
        sns.set_topic_attributes(TopicArn=topic_arn, AttributeName="SignatureVersion", AttributeValue=version)
        assert sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]["SignatureVersion"] == version
    expect_error(
        "InvalidParameter", sns.set_topic_attributes, TopicArn=topic_arn, AttributeName="SignatureVersion", AttributeValue="3"
    )


@pytest.mark.parametrize("name", ["Bogus", "FifoTopic"])
def test_unknown_or_fixed_topic_attribute_is_invalid_parameter(sns, topic_arn, name):
    expect_error("InvalidParameter", sns.set_topic_attributes, TopicArn=topic_arn, AttributeName=name, AttributeValue="x")


def test_create_topic_with_unknown_attribute_is_invalid_parameter(sns):
    expect_error("InvalidParameter", sns.create_topic, Name=unique_name("topic"), Attributes={"Bogus": "x"})


def test_missing_topic_is_not_found(sns):
    error = expect_error("NotFound", sns.get_topic_attributes, TopicArn=missing_topic_arn())
    assert status_of(error) == 404
    expect_error("NotFound", sns.set_topic_attributes, TopicArn=missing_topic_arn(), AttributeName="DisplayName", AttributeValue="x")
    expect_error("NotFound", sns.publish, TopicArn=missing_topic_arn(), Message="x")


def all_topic_arns(sns) -> list[str]:
    return [topic["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for topic in page["Topics"]]


def test_list_topics_and_delete_topic(sns):
    arn = sns.create_topic(Name=unique_name("listed"))["TopicArn"]
    assert arn in all_topic_arns(sns)
    sns.delete_topic(TopicArn=arn)
    assert arn not in all_topic_arns(sns)
    expect_error("NotFound", sns.get_topic_attributes, TopicArn=arn)
    sns.delete_topic(TopicArn=arn)  # deleting it again is not an error
    sns.delete_topic(TopicArn=missing_topic_arn())  # nor is deleting one that never existed


def test_delete_topic_removes_its_subscriptions(sns, topic_arn, subscribe_queue):
    _, subscription_arn = subscribe_queue(topic_arn)
    sns.delete_topic(TopicArn=topic_arn)
    expect_error("NotFound", sns.get_subscription_attributes, SubscriptionArn=subscription_arn)


# --- Tags, permissions, data protection ---------------------------------------------------------


def tags_of(sns, arn: str) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in sns.list_tags_for_resource(ResourceArn=arn)["Tags"]}


def test_tag_untag_and_list_tags(sns, make_topic):
    arn = make_topic(Tags=[{"Key": "team", "Value": "wharf"}])
    assert tags_of(sns, arn) == {"team": "wharf"}
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "ci"}, {"Key": "team", "Value": "docks"}])
    assert tags_of(sns, arn) == {"team": "docks", "env": "ci"}
    sns.untag_resource(ResourceArn=arn, TagKeys=["team", "not-there"])
    assert tags_of(sns, arn) == {"env": "ci"}


def test_tags_of_missing_topic_are_resource_not_found(sns):
    expect_error("ResourceNotFound", sns.list_tags_for_resource, ResourceArn=missing_topic_arn())


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_add_and_remove_permission(sns, topic_arn):
    other_account = "111122223333"
    sns.add_permission(TopicArn=topic_arn, Label="share", AWSAccountId=[other_account], ActionName=["Publish", "Subscribe"])
    statements = json.loads(sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]["Policy"])["Statement"]
    [added] = [statement for statement in statements if statement.get("Sid") == "share"]
    assert added["Effect"] == "Allow"
    assert added["Resource"] == topic_arn
    assert sorted(as_list(added["Action"])) == ["SNS:Publish", "SNS:Subscribe"]
    assert as_list(added["Principal"]["AWS"]) == [f"arn:aws:iam::{other_account}:root"]
    assert len(statements) == 2  # the default statement stays

    sns.remove_permission(TopicArn=topic_arn, Label="share")
    statements = json.loads(sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]["Policy"])["Statement"]
    assert [statement.get("Sid") for statement in statements] == ["__default_statement_ID"]


DATA_PROTECTION_POLICY = {
    "Name": "deny-email",
    "Description": "no e-mail addresses in published messages",
    "Version": "2021-06-01",
    "Statement": [
        {
            "Sid": "deny-inbound-email",
            "DataDirection": "Inbound",
            "Principal": ["*"],
            "DataIdentifier": ["arn:aws:dataprotection::aws:data-identifier/EmailAddress"],
            "Operation": {"Deny": {}},
        }
    ],
}


def test_put_and_get_data_protection_policy(sns, topic_arn):
    assert sns.get_data_protection_policy(ResourceArn=topic_arn).get("DataProtectionPolicy", "") == ""
    sns.put_data_protection_policy(ResourceArn=topic_arn, DataProtectionPolicy=json.dumps(DATA_PROTECTION_POLICY))
    stored = sns.get_data_protection_policy(ResourceArn=topic_arn)["DataProtectionPolicy"]
    assert json.loads(stored) == DATA_PROTECTION_POLICY
    expect_error("InvalidParameter", sns.put_data_protection_policy, ResourceArn=topic_arn, DataProtectionPolicy="{not json")


# --- Subscriptions -----------------------------------------------------------------------------


def test_subscribe_sqs_returns_a_confirmed_arn(sns, sqs, topic_arn, make_queue):
    url = make_queue()
    endpoint = queue_arn(sqs, url)
    arn = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=endpoint)["SubscriptionArn"]
    assert re.fullmatch(re.escape(topic_arn) + r":[0-9a-f-]{36}", arn), arn
    attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attributes["SubscriptionArn"] == arn
    assert attributes["TopicArn"] == topic_arn
    assert attributes["Owner"] == ACCOUNT_ID
    assert attributes["Protocol"] == "sqs"
    assert attributes["Endpoint"] == endpoint
    assert attributes["PendingConfirmation"] == "false"
    assert attributes["ConfirmationWasAuthenticated"] == "true"
    assert attributes["RawMessageDelivery"] == "false"
    assert "FilterPolicy" not in attributes
    assert "FilterPolicyScope" not in attributes


def test_subscribe_is_idempotent_unless_attributes_differ(sns, sqs, topic_arn, make_queue):
    endpoint = queue_arn(sqs, make_queue())
    raw = {"RawMessageDelivery": "true"}
    arn = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=endpoint, Attributes=raw)["SubscriptionArn"]
    assert sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=endpoint, Attributes=raw)["SubscriptionArn"] == arn
    assert sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=endpoint)["SubscriptionArn"] == arn
    expect_error(
        "InvalidParameter",
        sns.subscribe,
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=endpoint,
        Attributes={"RawMessageDelivery": "false"},
    )


def test_subscribe_https_is_pending_confirmation(sns, topic_arn):
    pending = sns.subscribe(TopicArn=topic_arn, Protocol="https", Endpoint=HTTPS_ENDPOINT + "/a")
    assert pending["SubscriptionArn"] == "pending confirmation"

    arn = sns.subscribe(TopicArn=topic_arn, Protocol="https", Endpoint=HTTPS_ENDPOINT + "/b", ReturnSubscriptionArn=True)[
        "SubscriptionArn"
    ]
    assert arn.startswith(topic_arn + ":"), arn
    attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attributes["PendingConfirmation"] == "true"
    assert attributes["ConfirmationWasAuthenticated"] == "false"
    assert attributes["Protocol"] == "https"
    assert attributes["Endpoint"] == HTTPS_ENDPOINT + "/b"

    listed = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert sorted((entry["Endpoint"], entry["SubscriptionArn"]) for entry in listed) == [
        (HTTPS_ENDPOINT + "/a", "PendingConfirmation"),
        (HTTPS_ENDPOINT + "/b", "PendingConfirmation"),
    ]


@pytest.mark.parametrize(
    ("protocol", "address"),
    [
        ("carrier-pigeon", "coop-7"),
        ("sqs", "not-an-arn"),
        ("sqs", "https://sqs.us-east-1.amazonaws.com/000000000000/a-queue-url"),
        ("https", "http://example.com/plain-http"),
        ("http", "ftp://example.com/"),
        ("email", "not-an-address"),
    ],
    ids=["unknown-protocol", "sqs-not-an-arn", "sqs-queue-url", "https-with-http-url", "http-with-ftp-url", "bad-email"],
)
def test_bad_protocol_or_endpoint_is_invalid_parameter(sns, topic_arn, protocol, address):
    expect_error("InvalidParameter", sns.subscribe, TopicArn=topic_arn, Protocol=protocol, Endpoint=address)


def test_subscribe_to_missing_topic_is_not_found(sns, sqs, make_queue):
    endpoint = queue_arn(sqs, make_queue())
    expect_error("NotFound", sns.subscribe, TopicArn=missing_topic_arn(), Protocol="sqs", Endpoint=endpoint)


def test_fifo_queue_cannot_subscribe_to_standard_topic(sns, sqs, topic_arn, make_queue):
    url = make_queue(unique_name("q") + ".fifo", Attributes={"FifoQueue": "true"})
    expect_error("InvalidParameter", sns.subscribe, TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn(sqs, url))


def test_get_and_set_subscription_attributes(sns, topic_arn, subscribe_queue):
    _, arn = subscribe_queue(topic_arn)

    def attributes() -> dict:
        return sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]

    sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="RawMessageDelivery", AttributeValue="true")
    assert attributes()["RawMessageDelivery"] == "true"

    policy = {"color": ["red"], "price": [{"numeric": [">", 0, "<=", 100]}]}
    sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="FilterPolicy", AttributeValue=json.dumps(policy))
    current = attributes()
    assert json.loads(current["FilterPolicy"]) == policy
    assert current["FilterPolicyScope"] == "MessageAttributes"

    sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="FilterPolicyScope", AttributeValue="MessageBody")
    assert attributes()["FilterPolicyScope"] == "MessageBody"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Bogus", "x"),
        ("RawMessageDelivery", "maybe"),
        ("FilterPolicy", "{invalid json"),
        ("FilterPolicyScope", "Nowhere"),
    ],
    ids=["unknown-attribute", "raw-not-boolean", "filter-policy-not-json", "unknown-scope"],
)
def test_bad_subscription_attributes_are_invalid_parameter(sns, topic_arn, subscribe_queue, name, value):
    _, arn = subscribe_queue(topic_arn)
    expect_error("InvalidParameter", sns.set_subscription_attributes, SubscriptionArn=arn, AttributeName=name, AttributeValue=value)


def test_list_subscriptions_and_unsubscribe(sns, sqs, topic_arn, subscribe_queue):
    url, arn = subscribe_queue(topic_arn)
    expected = {
        "SubscriptionArn": arn,
        "Owner": ACCOUNT_ID,
        "Protocol": "sqs",
        "Endpoint": queue_arn(sqs, url),
        "TopicArn": topic_arn,
    }
    assert sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"] == [expected]
    everything = [entry for page in sns.get_paginator("list_subscriptions").paginate() for entry in page["Subscriptions"]]
    assert expected in everything

    sns.unsubscribe(SubscriptionArn=arn)
    assert sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"] == []
    error = expect_error("NotFound", sns.get_subscription_attributes, SubscriptionArn=arn)
    assert status_of(error) == 404


def test_unsubscribe_is_idempotent(sns, topic_arn, subscribe_queue):
    _, arn = subscribe_queue(topic_arn)
    sns.unsubscribe(SubscriptionArn=arn)
    sns.unsubscribe(SubscriptionArn=arn)  # a subscription that no longer exists is not an error


def test_unsubscribe_url_unsubscribes(sns, sqs, topic_arn, subscribe_queue):
    url, arn = subscribe_queue(topic_arn)
    sns.publish(TopicArn=topic_arn, Message="with a link")
    unsubscribe_url = only_envelope(sqs, url)["UnsubscribeURL"]
    with urllib.request.urlopen(unsubscribe_url, timeout=10) as response:  # a plain GET, as in a browser
        assert response.status == 200
    assert sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"] == []


# --- Publish: the envelope and its signature ----------------------------------------------------


def test_publish_delivers_signed_envelope_version_1(sns, sqs, endpoint, topic_arn, subscribe_queue):
    url, subscription_arn = subscribe_queue(topic_arn)
    published = sns.publish(TopicArn=topic_arn, Message="hello ✓ \"quoted\"\nnext line", Subject="Greetings", MessageAttributes=TYPED_ATTRIBUTES)

    message = only_message(sqs, url, MessageAttributeNames=["All"])
    assert "MessageAttributes" not in message  # attributes travel inside the envelope
    envelope = json.loads(message["Body"])
    assert set(envelope) == NOTIFICATION_KEYS | {"Subject", "MessageAttributes"}
    assert envelope["Type"] == "Notification"
    assert envelope["MessageId"] == published["MessageId"]
    assert envelope["TopicArn"] == topic_arn
    assert envelope["Subject"] == "Greetings"
    assert envelope["Message"] == "hello ✓ \"quoted\"\nnext line"
    assert TIMESTAMP.match(envelope["Timestamp"]), envelope["Timestamp"]
    assert envelope["SignatureVersion"] == "1"
    assert envelope["UnsubscribeURL"].endswith(f"/?Action=Unsubscribe&SubscriptionArn={subscription_arn}")
    assert envelope["SigningCertURL"].startswith(endpoint + "/") and envelope["SigningCertURL"].endswith(".pem")
    assert envelope["MessageAttributes"] == {
        "color": {"Type": "String", "Value": "red ✓"},
        "count": {"Type": "Number", "Value": "42.5"},
        "blob": {"Type": "Binary", "Value": base64.b64encode(b"\x00\x01\xfe\xff").decode()},
    }

    certificate = signing_certificate(envelope)
    assert certificate.public_key().key_size >= 2048
    verify(envelope, hashes.SHA1())
    with pytest.raises(InvalidSignature):
        verify({**envelope, "Message": envelope["Message"] + "!"}, hashes.SHA1())
    with pytest.raises(InvalidSignature):
        verify(envelope, hashes.SHA256())


def test_publish_signature_version_2_uses_sha256(sns, sqs, topic_arn, subscribe_queue):
    url, _ = subscribe_queue(topic_arn)
    sns.set_topic_attributes(TopicArn=topic_arn, AttributeName="SignatureVersion", AttributeValue="2")
    published = sns.publish(TopicArn=topic_arn, Message="no subject here")

    envelope = only_envelope(sqs, url)
    assert set(envelope) == NOTIFICATION_KEYS  # no Subject, no MessageAttributes
    assert envelope["MessageId"] == published["MessageId"]
    assert envelope["SignatureVersion"] == "2"
    verify(envelope, hashes.SHA256())
    with pytest.raises(InvalidSignature):
        verify(envelope, hashes.SHA1())


def test_publish_reaches_every_subscribed_queue(sns, sqs, topic_arn, subscribe_queue):
    first, _ = subscribe_queue(topic_arn)
    second, _ = subscribe_queue(topic_arn)
    published = sns.publish(TopicArn=topic_arn, Message="fan out")
    for url in (first, second):
        assert only_envelope(sqs, url)["MessageId"] == published["MessageId"]


def test_publish_by_target_arn(sns, sqs, topic_arn, subscribe_queue):
    url, _ = subscribe_queue(topic_arn)
    sns.publish(TargetArn=topic_arn, Message="via TargetArn")
    assert only_envelope(sqs, url)["Message"] == "via TargetArn"


def test_raw_delivery_passes_body_and_attributes_through(sns, sqs, topic_arn, subscribe_queue):
    url, _ = subscribe_queue(topic_arn, RawMessageDelivery="true")
    body = '{"not": "wrapped"} ✓'
    attributes = {**TYPED_ATTRIBUTES, "weight": {"DataType": "Number.float", "StringValue": "1.5"}}
    sns.publish(TopicArn=topic_arn, Message=body, Subject="ignored by raw delivery", MessageAttributes=attributes)

    message = only_message(sqs, url, MessageAttributeNames=["All"])
    assert message["Body"] == body
    assert message["MessageAttributes"] == attributes
    assert message["MD5OfMessageAttributes"] == md5_of_message_attributes(attributes)


def test_raw_delivery_without_attributes_has_none(sns, sqs, topic_arn, subscribe_queue):
    url, _ = subscribe_queue(topic_arn, RawMessageDelivery="true")
    sns.publish(TopicArn=topic_arn, Message="plain")
    message = only_message(sqs, url, MessageAttributeNames=["All"])
    assert message["Body"] == "plain"
    assert "MessageAttributes" not in message


# --- Filter policies ---------------------------------------------------------------------------

# (policy, a message that matches, one that does not): each message is a dict, published as
# message attributes (strings as String, numbers as Number) or as the JSON body.
FILTER_CASES = {
    "exact-string": ({"color": ["red"]}, {"color": "red"}, {"color": "blue"}),
    "prefix": ({"color": [{"prefix": "re"}]}, {"color": "red"}, {"color": "blue"}),
    "anything-but": ({"color": [{"anything-but": ["red", "green"]}]}, {"color": "blue"}, {"color": "red"}),
    "numeric-range": ({"price": [{"numeric": [">=", 10, "<", 20]}]}, {"price": 15}, {"price": 20}),
    "exists": ({"color": [{"exists": True}]}, {"color": "any"}, {"size": "L"}),
    "or": ({"$or": [{"color": ["red"]}, {"size": ["L"]}]}, {"size": "L"}, {"color": "blue", "size": "S"}),
}


def as_message_attributes(values: dict) -> dict:
    return {
        name: {"DataType": "Number", "StringValue": str(value)}
        if isinstance(value, (int, float))
        else {"DataType": "String", "StringValue": value}
        for name, value in values.items()
    }


@pytest.mark.parametrize("scope", ["MessageAttributes", "MessageBody"])
@pytest.mark.parametrize("case", list(FILTER_CASES))
def test_filter_policy(sns, sqs, topic_arn, subscribe_queue, case, scope):
    policy, matching, not_matching = FILTER_CASES[case]
    url, _ = subscribe_queue(topic_arn, FilterPolicy=json.dumps(policy), FilterPolicyScope=scope, RawMessageDelivery="true")

    def publish(values: dict, label: str) -> None:
        if scope == "MessageBody":
            sns.publish(TopicArn=topic_arn, Message=json.dumps({**values, "label": label}))
        else:
            sns.publish(TopicArn=topic_arn, Message=label, MessageAttributes=as_message_attributes(values))

    publish(not_matching, "not matching")
    publish(matching, "matching")
    received = [message["Body"] for message in drain(sqs, url)]
    if scope == "MessageBody":
        received = [json.loads(body)["label"] for body in received]
    assert received == ["matching"]


def test_filter_policy_on_nested_body_keys(sns, sqs, topic_arn, subscribe_queue):
    policy = {"order": {"status": ["shipped"], "total": [{"numeric": [">", 100]}]}}
    url, _ = subscribe_queue(topic_arn, FilterPolicy=json.dumps(policy), FilterPolicyScope="MessageBody", RawMessageDelivery="true")
    wanted = json.dumps({"order": {"status": "shipped", "total": 250}})
    sns.publish(TopicArn=topic_arn, Message=json.dumps({"order": {"status": "shipped", "total": 50}}))
    sns.publish(TopicArn=topic_arn, Message=json.dumps({"order": {"status": "pending", "total": 250}}))
    sns.publish(TopicArn=topic_arn, Message=wanted)
    assert [message["Body"] for message in drain(sqs, url)] == [wanted]


def test_invalid_filter_policy_is_invalid_parameter(sns, sqs, topic_arn, make_queue):
    endpoint = queue_arn(sqs, make_queue())
    bad = json.dumps({"price": [{"numeric": [">", "ten"]}]})
    expect_error("InvalidParameter", sns.subscribe, TopicArn=topic_arn, Protocol="sqs", Endpoint=endpoint, Attributes={"FilterPolicy": bad})


# --- Message structure, subject, size -----------------------------------------------------------


def test_message_structure_json_gives_sqs_its_own_text(sns, sqs, topic_arn, subscribe_queue):
    url, _ = subscribe_queue(topic_arn)
    message = json.dumps({"default": "for everyone", "sqs": "for queues", "email": "for people"})
    sns.publish(TopicArn=topic_arn, Message=message, MessageStructure="json")
    assert only_envelope(sqs, url)["Message"] == "for queues"


def test_message_structure_json_falls_back_to_default(sns, sqs, topic_arn, subscribe_queue):
    url, _ = subscribe_queue(topic_arn)
    sns.publish(TopicArn=topic_arn, Message=json.dumps({"default": "for everyone", "email": "x"}), MessageStructure="json")
    assert only_envelope(sqs, url)["Message"] == "for everyone"


@pytest.mark.parametrize("message", ['{"sqs": "no default"}', "not json at all", '["a", "list"]'])
def test_message_structure_json_needs_an_object_with_default(sns, topic_arn, message):
    expect_error("InvalidParameter", sns.publish, TopicArn=topic_arn, Message=message, MessageStructure="json")


@pytest.mark.parametrize("subject", ["line\nbreak", "s" * 101, ""], ids=["line-break", "101-chars", "empty"])
def test_bad_subject_is_invalid_parameter(sns, topic_arn, subject):
    expect_error("InvalidParameter", sns.publish, TopicArn=topic_arn, Message="x", Subject=subject)


def test_empty_message_is_invalid_parameter(sns, topic_arn):
    expect_error("InvalidParameter", sns.publish, TopicArn=topic_arn, Message="")


def test_message_size_limit(sns, sqs, topic_arn, subscribe_queue):
    url, _ = subscribe_queue(topic_arn, RawMessageDelivery="true")
    expect_error("InvalidParameter", sns.publish, TopicArn=topic_arn, Message="x" * (MESSAGE_BYTES_MAX + 1))
    # The limit counts the message and its attributes together.
    attribute = {"a": {"DataType": "String", "StringValue": "v"}}
    expect_error("InvalidParameter", sns.publish, TopicArn=topic_arn, Message="x" * MESSAGE_BYTES_MAX, MessageAttributes=attribute)
    sns.publish(TopicArn=topic_arn, Message="x" * MESSAGE_BYTES_MAX)
    assert len(only_message(sqs, url)["Body"]) == MESSAGE_BYTES_MAX


# --- PublishBatch ------------------------------------------------------------------------------


def test_publish_batch_delivers_every_entry(sns, sqs, topic_arn, subscribe_queue):
    url, _ = subscribe_queue(topic_arn)
    entries = [
        {"Id": "plain", "Message": "first"},
        {"Id": "with-subject", "Message": "second", "Subject": "S"},
        {"Id": "with_attributes", "Message": "third", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "3"}}},
    ]
    result = sns.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=entries)
    assert result["Failed"] == []
    ids = {entry["Id"]: entry["MessageId"] for entry in result["Successful"]}
    assert sorted(ids) == ["plain", "with-subject", "with_attributes"]

    envelopes = {envelope["MessageId"]: envelope for envelope in (json.loads(m["Body"]) for m in drain(sqs, url))}
    assert set(envelopes) == set(ids.values())
    assert envelopes[ids["plain"]]["Message"] == "first"
    assert envelopes[ids["with-subject"]]["Subject"] == "S"
    assert envelopes[ids["with_attributes"]]["MessageAttributes"] == {"n": {"Type": "Number", "Value": "3"}}
    for envelope in envelopes.values():
        verify(envelope, hashes.SHA1())


def test_publish_batch_with_an_invalid_entry_fails_as_a_whole(sns, sqs, topic_arn, subscribe_queue):
    # AWS validates every entry before publishing any: one malformed entry fails the request
    # (its Failed list is for entries that could not be delivered, not for bad input).
    url, _ = subscribe_queue(topic_arn)
    entries = [
        {"Id": "good", "Message": "valid"},
        {"Id": "bad", "Message": "bad attribute", "MessageAttributes": {"a": {"DataType": "Blob", "StringValue": "x"}}},
    ]
    expect_error("ParameterValueInvalid", sns.publish_batch, TopicArn=topic_arn, PublishBatchRequestEntries=entries)
    assert drain(sqs, url) == []


def test_publish_batch_duplicate_ids_are_not_distinct(sns, topic_arn):
    entries = [{"Id": "same", "Message": "a"}, {"Id": "same", "Message": "b"}]
    expect_error("BatchEntryIdsNotDistinct", sns.publish_batch, TopicArn=topic_arn, PublishBatchRequestEntries=entries)


def test_publish_batch_of_eleven_is_too_many(sns, topic_arn):
    entries = [{"Id": f"e{index}", "Message": "m"} for index in range(11)]
    expect_error("TooManyEntriesInBatchRequest", sns.publish_batch, TopicArn=topic_arn, PublishBatchRequestEntries=entries)


def test_publish_batch_without_entries_is_empty(sns, topic_arn):
    expect_error("EmptyBatchRequest", sns.publish_batch, TopicArn=topic_arn, PublishBatchRequestEntries=[])


def test_publish_batch_bad_entry_id_is_invalid(sns, topic_arn):
    entries = [{"Id": "has.dot", "Message": "m"}]
    expect_error("InvalidBatchEntryId", sns.publish_batch, TopicArn=topic_arn, PublishBatchRequestEntries=entries)


def test_publish_batch_too_long_in_total(sns, topic_arn):
    entries = [{"Id": f"e{index}", "Message": "x" * (MESSAGE_BYTES_MAX // 2)} for index in range(3)]
    expect_error("BatchRequestTooLong", sns.publish_batch, TopicArn=topic_arn, PublishBatchRequestEntries=entries)


# --- FIFO topics -------------------------------------------------------------------------------


def test_fifo_publish_requires_message_group_id(sns, make_topic):
    arn = make_topic(fifo=True, Attributes={"ContentBasedDeduplication": "true"})
    expect_error("InvalidParameter", sns.publish, TopicArn=arn, Message="no group")


def test_fifo_publish_batch_entry_without_message_group_id_fails_the_request(sns, make_topic):
    arn = make_topic(fifo=True, Attributes={"ContentBasedDeduplication": "true"})
    entries = [{"Id": "grouped", "Message": "a", "MessageGroupId": "g"}, {"Id": "ungrouped", "Message": "b"}]
    expect_error("InvalidParameter", sns.publish_batch, TopicArn=arn, PublishBatchRequestEntries=entries)


def test_fifo_publish_needs_deduplication_id_without_content_based_deduplication(sns, make_topic):
    arn = make_topic(fifo=True)
    expect_error("InvalidParameter", sns.publish, TopicArn=arn, Message="x", MessageGroupId="g")


def test_deduplication_id_on_standard_topic_is_invalid_parameter(sns, topic_arn):
    expect_error("InvalidParameter", sns.publish, TopicArn=topic_arn, Message="x", MessageDeduplicationId="d")


def test_fifo_topic_keeps_order_into_fifo_queue(sns, sqs, make_topic, subscribe_queue):
    arn = make_topic(fifo=True)
    url, _ = subscribe_queue(arn, fifo=True)
    published = [
        sns.publish(TopicArn=arn, Message=f"m{index}", MessageGroupId="g", MessageDeduplicationId=f"d{index}")
        for index in range(5)
    ]
    messages = drain(sqs, url, AttributeNames=["All"])
    envelopes = [json.loads(message["Body"]) for message in messages]
    assert [envelope["Message"] for envelope in envelopes] == [f"m{index}" for index in range(5)]
    assert [envelope["MessageId"] for envelope in envelopes] == [result["MessageId"] for result in published]
    assert [message["Attributes"]["MessageGroupId"] for message in messages] == ["g"] * 5
    assert [message["Attributes"]["MessageDeduplicationId"] for message in messages] == [f"d{index}" for index in range(5)]


def test_fifo_publish_returns_sequence_numbers_that_the_envelope_carries(sns, sqs, make_topic, subscribe_queue):
    arn = make_topic(fifo=True, Attributes={"ContentBasedDeduplication": "true"})
    url, _ = subscribe_queue(arn, fifo=True)
    published = [sns.publish(TopicArn=arn, Message=f"s{index}", MessageGroupId="g") for index in range(3)]
    numbers = [result.get("SequenceNumber", "") for result in published]
    assert all(number.isdigit() for number in numbers), published
    assert [int(number) for number in numbers] == sorted({int(number) for number in numbers}), numbers
    envelopes = [json.loads(message["Body"]) for message in drain(sqs, url)]
    assert [envelope.get("SequenceNumber") for envelope in envelopes] == numbers


def test_fifo_content_based_deduplication_drops_a_repeated_body(sns, sqs, make_topic, subscribe_queue):
    arn = make_topic(fifo=True, Attributes={"ContentBasedDeduplication": "true"})
    url, _ = subscribe_queue(arn, fifo=True, RawMessageDelivery="true")
    for body in ("same", "same", "other"):
        sns.publish(TopicArn=arn, Message=body, MessageGroupId="g")
    messages = drain(sqs, url, AttributeNames=["All"])
    assert [message["Body"] for message in messages] == ["same", "other"]
    # The deduplication id SNS derives is the SHA-256 of the message, in hex.
    assert messages[0]["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(b"same").hexdigest()


def test_fifo_duplicate_publish_returns_the_original_message(sns, make_topic):
    arn = make_topic(fifo=True, Attributes={"ContentBasedDeduplication": "true"})
    first = sns.publish(TopicArn=arn, Message="twice", MessageGroupId="g")
    second = sns.publish(TopicArn=arn, Message="twice", MessageGroupId="g")
    assert second["MessageId"] == first["MessageId"]
    assert second.get("SequenceNumber") == first.get("SequenceNumber")


def test_fifo_publish_batch_returns_sequence_numbers(sns, sqs, make_topic, subscribe_queue):
    arn = make_topic(fifo=True)
    url, _ = subscribe_queue(arn, fifo=True, RawMessageDelivery="true")
    entries = [{"Id": f"e{index}", "Message": f"b{index}", "MessageGroupId": "g", "MessageDeduplicationId": f"d{index}"} for index in range(3)]
    result = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=entries)
    assert result["Failed"] == []
    assert [entry["Id"] for entry in result["Successful"]] == ["e0", "e1", "e2"]
    assert all(entry["SequenceNumber"].isdigit() for entry in result["Successful"]), result["Successful"]
    assert [message["Body"] for message in drain(sqs, url)] == ["b0", "b1", "b2"]


# --- AWS CLI -----------------------------------------------------------------------------------


@pytest.mark.cli
def test_cli_create_topic_subscribe_and_publish(endpoint, sqs, make_queue, tmp_path):
    home = tmp_path / "aws-cli-home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        AWS_PAGER="",
    )

    def aws(*args: str) -> dict:
        command = [sys.executable, "-m", "awscli", "--endpoint-url", endpoint, "--output", "json", "sns", *args]
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert completed.returncode == 0, f"{' '.join(args)} failed ({completed.returncode}):\n{completed.stderr}"
        return json.loads(completed.stdout) if completed.stdout.strip() else {}

    name = unique_name("cli")
    topic_arn = aws("create-topic", "--name", name, "--attributes", "DisplayName=FromCli")["TopicArn"]
    try:
        assert topic_arn == f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{name}"
        url = make_queue()
        subscription = aws("subscribe", "--topic-arn", topic_arn, "--protocol", "sqs", "--notification-endpoint", queue_arn(sqs, url))
        assert subscription["SubscriptionArn"].startswith(topic_arn + ":")
        attributes = json.dumps({"source": {"DataType": "String", "StringValue": "cli"}})
        published = aws("publish", "--topic-arn", topic_arn, "--message", "from the cli ✓", "--subject", "CLI", "--message-attributes", attributes)
        envelope = only_envelope(sqs, url)
        assert envelope["MessageId"] == published["MessageId"]
        assert envelope["Message"] == "from the cli ✓"
        assert envelope["Subject"] == "CLI"
        assert envelope["MessageAttributes"] == {"source": {"Type": "String", "Value": "cli"}}
        verify(envelope, hashes.SHA1())
    finally:
        aws("delete-topic", "--topic-arn", topic_arn)
