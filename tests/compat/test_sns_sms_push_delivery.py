"""SMS and mobile push delivery through boto3: Publish to a phone number or a platform endpoint,
and topic subscriptions of both kinds, read back from Wharf's recorder under /_wharf/sns/."""

from __future__ import annotations

import json
import random
import time
import urllib.parse
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import unique_name

WAIT_SECONDS = 20


def recorded(endpoint: str, kind: str, **query: str) -> list[dict]:
    url = f"{endpoint}/_wharf/sns/{kind}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=WAIT_SECONDS) as response:
        assert response.status == 200
        return json.loads(response.read())["Messages"]


def wait_for(endpoint: str, kind: str, count: int, **query: str) -> list[dict]:
    """The recorded messages once there are `count` of them (deliveries are asynchronous)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        messages = recorded(endpoint, kind, **query)
        if len(messages) >= count or time.monotonic() > deadline:
            return messages
        time.sleep(0.05)


def phone_number() -> str:
    return "+1555" + "".join(random.choice("0123456789") for _ in range(7))


@pytest.fixture
def platform_endpoint(sns):
    application = sns.create_platform_application(
        Name=unique_name("app"), Platform="GCM", Attributes={"PlatformCredential": "server-key"}
    )["PlatformApplicationArn"]
    token = unique_name("token")
    endpoint_arn = sns.create_platform_endpoint(PlatformApplicationArn=application, Token=token)["EndpointArn"]
    yield endpoint_arn, token
    sns.delete_platform_application(PlatformApplicationArn=application)


def test_publish_to_a_phone_number(sns, endpoint):
    number = phone_number()
    message_id = sns.publish(PhoneNumber=number, Message="Your code is 1234")["MessageId"]
    messages = wait_for(endpoint, "sms-messages", 1, PhoneNumber=number)
    assert [(m["MessageId"], m["Message"], m["Destination"]) for m in messages] == [
        (message_id, "Your code is 1234", number)
    ]

    with pytest.raises(ClientError) as error:
        sns.publish(PhoneNumber="not a number", Message="m")
    assert error.value.response["Error"]["Code"] == "InvalidParameter"


def test_publish_to_a_platform_endpoint_uses_the_platform_text(sns, endpoint, platform_endpoint):
    endpoint_arn, token = platform_endpoint
    payload = json.dumps({"default": "plain", "GCM": json.dumps({"notification": {"title": "hello"}})})
    sns.publish(TargetArn=endpoint_arn, MessageStructure="json", Message=payload)
    messages = wait_for(endpoint, "push-messages", 1, EndpointArn=endpoint_arn)
    assert len(messages) == 1
    assert json.loads(messages[0]["Message"]) == {"notification": {"title": "hello"}}
    assert messages[0]["Token"] == token

    sns.set_endpoint_attributes(EndpointArn=endpoint_arn, Attributes={"Enabled": "false"})
    with pytest.raises(ClientError) as error:
        sns.publish(TargetArn=endpoint_arn, Message="m")
    assert error.value.response["Error"]["Code"] == "EndpointDisabled"


def test_topic_subscriptions_deliver_to_phones_and_devices(sns, endpoint, topic_arn, platform_endpoint):
    endpoint_arn, _ = platform_endpoint
    number = phone_number()
    sms = sns.subscribe(TopicArn=topic_arn, Protocol="sms", Endpoint=number)["SubscriptionArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="application", Endpoint=endpoint_arn)
    sns.publish(
        TopicArn=topic_arn,
        MessageStructure="json",
        Message=json.dumps({"default": "d", "sms": "for phones", "GCM": "for android"}),
    )
    [text] = wait_for(endpoint, "sms-messages", 1, PhoneNumber=number)
    assert (text["Message"], text["TopicArn"], text["SubscriptionArn"]) == ("for phones", topic_arn, sms)
    [push] = wait_for(endpoint, "push-messages", 1, EndpointArn=endpoint_arn)
    assert push["Message"] == "for android"


def test_an_opted_out_number_is_reported_and_gets_nothing(sns, endpoint):
    number = phone_number()
    account = "000000000000"
    query = urllib.parse.urlencode({"AccountId": account, "PhoneNumber": number})
    request = urllib.request.Request(f"{endpoint}/_wharf/sns/sms-opt-outs?{query}", method="POST")
    with urllib.request.urlopen(request, timeout=WAIT_SECONDS) as response:
        assert response.status == 200
    assert sns.check_if_phone_number_is_opted_out(phoneNumber=number)["isOptedOut"] is True
    assert number in sns.list_phone_numbers_opted_out()["phoneNumbers"]

    sns.publish(PhoneNumber=number, Message="dropped")
    sns.opt_in_phone_number(phoneNumber=number)
    sns.publish(PhoneNumber=number, Message="delivered")
    messages = wait_for(endpoint, "sms-messages", 1, PhoneNumber=number)
    # A publish to an opted-out number succeeds and sends nothing.
    assert [m["Message"] for m in messages] == ["delivered"]
