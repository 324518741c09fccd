"""SNS delivery to an HTTP endpoint, through boto3: a receiver on 127.0.0.1 gets the signed
SubscriptionConfirmation, confirms by fetching its SubscribeURL (as real endpoints do), then
receives signed Notifications with the x-amz-sns-* headers."""

from __future__ import annotations

import base64
import json
import queue
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from test_sns import signing_certificate, verify

WAIT_SECONDS = 20


class Receiver:
    """An HTTP endpoint that records every POST and answers 200."""

    def __init__(self) -> None:
        self.requests: queue.Queue[tuple[dict[str, str], dict]] = queue.Queue()
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                received.put((headers, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self) -> tuple[dict[str, str], dict]:
        return self.requests.get(timeout=WAIT_SECONDS)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def confirmation_string_to_sign(message: dict) -> bytes:
    names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{name}\n{message[name]}\n" for name in names).encode("utf-8")


def test_http_endpoint_confirms_and_receives_signed_notifications(sns, topic_arn, receiver):
    pending = sns.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=receiver.url)
    assert pending["SubscriptionArn"] == "pending confirmation"

    headers, confirmation = receiver.next()
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert headers["x-amz-sns-topic-arn"] == topic_arn
    assert confirmation["Type"] == "SubscriptionConfirmation"
    assert confirmation["TopicArn"] == topic_arn
    public_key = signing_certificate(confirmation).public_key()
    signature = base64.b64decode(confirmation["Signature"], validate=True)
    public_key.verify(signature, confirmation_string_to_sign(confirmation), padding.PKCS1v15(), hashes.SHA1())

    # Confirming is an unsigned GET of the SubscribeURL, as an endpoint's owner would do.
    with urllib.request.urlopen(confirmation["SubscribeURL"], timeout=WAIT_SECONDS) as response:
        assert response.status == 200
        assert b"<SubscriptionArn>" in response.read()
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    subscription_arn = subscriptions[0]["SubscriptionArn"]
    assert subscription_arn.startswith(topic_arn + ":")

    published = sns.publish(TopicArn=topic_arn, Subject="Hello", Message="over http")
    headers, notification = receiver.next()
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["x-amz-sns-message-id"] == published["MessageId"]
    assert headers["x-amz-sns-subscription-arn"] == subscription_arn
    assert headers["user-agent"] == "Amazon Simple Notification Service Agent"
    assert notification["Message"] == "over http"
    assert notification["Subject"] == "Hello"
    verify(notification, hashes.SHA1())

    # The UnsubscribeURL in the notification ends the subscription, unsigned too.
    with urllib.request.urlopen(notification["UnsubscribeURL"], timeout=WAIT_SECONDS) as response:
        assert response.status == 200
    assert sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"] == []


def test_raw_http_delivery_posts_the_message_itself(sns, topic_arn, receiver):
    sns.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=receiver.url)
    _, confirmation = receiver.next()
    with urllib.request.urlopen(confirmation["SubscribeURL"], timeout=WAIT_SECONDS):
        pass
    subscription_arn = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"][0]["SubscriptionArn"]
    sns.set_subscription_attributes(
        SubscriptionArn=subscription_arn, AttributeName="RawMessageDelivery", AttributeValue="true"
    )
    sns.publish(TopicArn=topic_arn, Message=json.dumps({"order": 7}))
    headers, body = receiver.next()
    assert headers["x-amz-sns-rawdelivery"] == "true"
    assert body == {"order": 7}
