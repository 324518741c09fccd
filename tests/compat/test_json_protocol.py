"""The awsJson 1.0 wire shape itself, with raw requests: headers, error envelopes, empty outputs.

boto3 hides these details, but other SDKs (and botocore's exception mapping) depend on them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from conftest import unique_name
from helpers import ACCOUNT_ID, json_request


def test_success_headers_and_empty_output(endpoint, sqs):
    url = sqs.create_queue(QueueName=unique_name("json"))["QueueUrl"]
    response = json_request(endpoint, "SetQueueAttributes", {"QueueUrl": url, "Attributes": {"DelaySeconds": "0"}})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/x-amz-json-1.0")
    assert response.headers["x-amzn-RequestId"]
    assert response.json() == {}  # operations without output answer {}
    response = json_request(endpoint, "DeleteQueue", {"QueueUrl": url})
    assert response.status == 200
    assert response.json() == {}


def test_queue_does_not_exist_envelope(endpoint):
    url = f"{endpoint}/{ACCOUNT_ID}/{unique_name('missing')}"
    response = json_request(endpoint, "GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["All"]})
    assert response.status == 400
    assert response.headers["Content-Type"].startswith("application/x-amz-json-1.0")
    assert response.headers["x-amzn-RequestId"]
    assert response.headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"
    body = response.json()
    assert body["__type"] == "com.amazonaws.sqs#QueueDoesNotExist"
    assert body["message"] == "The specified queue does not exist."


def test_queue_name_exists_envelope(endpoint, sqs):
    name = unique_name("json")
    url = sqs.create_queue(QueueName=name, Attributes={"DelaySeconds": "1"})["QueueUrl"]
    try:
        response = json_request(endpoint, "CreateQueue", {"QueueName": name, "Attributes": {"DelaySeconds": "2"}})
        assert response.status == 400
        assert response.headers["x-amzn-query-error"] == "QueueAlreadyExists;Sender"
        assert response.json()["__type"] == "com.amazonaws.sqs#QueueNameExists"
    finally:
        sqs.delete_queue(QueueUrl=url)


def test_invalid_parameter_value_envelope(endpoint, sqs):
    url = sqs.create_queue(QueueName=unique_name("json"))["QueueUrl"]
    try:
        response = json_request(endpoint, "SendMessage", {"QueueUrl": url, "MessageBody": "x", "DelaySeconds": 901})
        assert response.status == 400
        assert response.headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
        assert response.json()["__type"] == "com.amazonaws.sqs#InvalidParameterValueException"
    finally:
        sqs.delete_queue(QueueUrl=url)


def test_unknown_operation(endpoint):
    response = json_request(endpoint, "NoSuchOperation", {})
    assert response.status == 400
    assert response.json()["__type"].endswith("#UnknownOperationException")


def test_malformed_json_body(endpoint):
    request = urllib.request.Request(
        endpoint + "/",
        data=b"{not json",
        method="POST",
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ListQueues"},
    )
    try:
        urllib.request.urlopen(request, timeout=30)
        raise AssertionError("malformed JSON was accepted")
    except urllib.error.HTTPError as error:
        assert error.code == 400
        body = json.loads(error.read())
        assert body["__type"].endswith("#SerializationException")


def test_aws_style_queue_url_is_accepted(endpoint, sqs):
    # Configuration copied from AWS often carries AWS-shaped queue URLs; the path is what counts.
    name = unique_name("json")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    try:
        aws_url = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT_ID}/{name}"
        response = json_request(endpoint, "SendMessage", {"QueueUrl": aws_url, "MessageBody": "via aws url"})
        assert response.status == 200, response.body
        received = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
        assert [message["Body"] for message in received] == ["via aws url"]
    finally:
        sqs.delete_queue(QueueUrl=url)


def test_queue_url_of_another_account_does_not_exist(endpoint, sqs):
    name = unique_name("json")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    try:
        response = json_request(endpoint, "SendMessage", {"QueueUrl": f"{endpoint}/123456789012/{name}", "MessageBody": "x"})
        assert response.status == 400
        assert response.json()["__type"] == "com.amazonaws.sqs#QueueDoesNotExist"
        response = json_request(endpoint, "GetQueueUrl", {"QueueName": name, "QueueOwnerAWSAccountId": "123456789012"})
        assert response.json().get("__type") == "com.amazonaws.sqs#QueueDoesNotExist"
    finally:
        sqs.delete_queue(QueueUrl=url)


def test_receive_message_json_shape(endpoint, sqs):
    url = sqs.create_queue(QueueName=unique_name("json"))["QueueUrl"]
    try:
        sqs.send_message(
            QueueUrl=url, MessageBody="shape", MessageAttributes={"bin": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"}}
        )
        response = json_request(endpoint, "ReceiveMessage", {"QueueUrl": url, "MessageAttributeNames": ["All"], "WaitTimeSeconds": 2})
        assert response.status == 200
        messages = response.json()["Messages"]  # plural key, as SDKs expect
        assert len(messages) == 1
        # Blobs travel base64-encoded in awsJson.
        assert messages[0]["MessageAttributes"]["bin"] == {"DataType": "Binary", "BinaryValue": "AAEC"}
    finally:
        sqs.delete_queue(QueueUrl=url)
