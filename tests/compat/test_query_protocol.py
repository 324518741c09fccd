"""The legacy awsQuery protocol: hand-built form requests (stdlib urllib), XML replies.

Pinned older SDKs (botocore < 1.31.81, aws-sdk-java v1 < 1.12.585, aws-sdk-go v1 < 1.47.7, ...)
still speak it. Requests are SigV4-signed as those SDKs sign them.
"""

from __future__ import annotations

import base64
import uuid

import pytest

from conftest import unique_name
from helpers import (
    ACCOUNT_ID,
    QUERY_NAMESPACE,
    find_local,
    local_name,
    md5_hex,
    md5_of_message_attributes,
    q,
    query_request,
)


def create_queue(endpoint: str, name: str | None = None, **attributes: str) -> str:
    params = {"Action": "CreateQueue", "QueueName": name or unique_name("query")}
    for index, (key, value) in enumerate(attributes.items(), start=1):
        params[f"Attribute.{index}.Name"] = key
        params[f"Attribute.{index}.Value"] = value
    response = query_request(endpoint + "/", params)
    assert response.status == 200, response.body
    root = response.xml()
    assert root.tag == q("CreateQueueResponse")
    return root.find(f"{q('CreateQueueResult')}/{q('QueueUrl')}").text


def assert_request_id(root):
    request_id = root.find(f"{q('ResponseMetadata')}/{q('RequestId')}")
    assert request_id is not None and request_id.text


def assert_error(response, status: int, code: str):
    assert response.status == status, response.body
    assert response.headers["Content-Type"].startswith(("text/xml", "application/xml"))
    root = response.xml()
    assert local_name(root) == "ErrorResponse"
    assert root.tag in ("ErrorResponse", q("ErrorResponse"))
    assert find_local(root, "Error", "Code").text == code
    assert find_local(root, "Error", "Type").text == "Sender"
    assert find_local(root, "Error", "Message").text
    assert find_local(root, "RequestId").text
    return root


@pytest.fixture
def query_queue(endpoint, sqs):
    url = create_queue(endpoint)
    yield url
    sqs.delete_queue(QueueUrl=url)


def test_send_message(endpoint, query_queue):
    body = "hello over awsQuery & <xml> \"quoted\""
    response = query_request(endpoint + "/", {"Action": "SendMessage", "QueueUrl": query_queue, "MessageBody": body})
    assert response.status == 200, response.body
    assert response.headers["Content-Type"].startswith("text/xml")
    root = response.xml()
    assert root.tag == f"{{{QUERY_NAMESPACE}}}SendMessageResponse"
    result = root.find(q("SendMessageResult"))
    assert result.find(q("MD5OfMessageBody")).text == md5_hex(body)
    uuid.UUID(result.find(q("MessageId")).text)
    assert result.find(q("MD5OfMessageAttributes")) is None
    assert_request_id(root)


def test_send_and_receive_with_attributes(endpoint, query_queue):
    attributes = {
        "color": {"DataType": "String", "StringValue": "blue"},
        "price": {"DataType": "Number.float", "StringValue": "9.99"},
        "thumb": {"DataType": "Binary.gif", "BinaryValue": b"GIF89a\x00\xff"},
    }
    params = {"Action": "SendMessage", "QueueUrl": query_queue, "MessageBody": "with attributes"}
    for index, (name, value) in enumerate(attributes.items(), start=1):
        params[f"MessageAttribute.{index}.Name"] = name
        params[f"MessageAttribute.{index}.Value.DataType"] = value["DataType"]
        if "BinaryValue" in value:
            params[f"MessageAttribute.{index}.Value.BinaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        else:
            params[f"MessageAttribute.{index}.Value.StringValue"] = value["StringValue"]
    sent = query_request(endpoint + "/", params)
    assert sent.status == 200, sent.body
    sent_result = sent.xml().find(q("SendMessageResult"))
    assert sent_result.find(q("MD5OfMessageAttributes")).text == md5_of_message_attributes(attributes)

    received = query_request(
        endpoint + "/",
        {
            "Action": "ReceiveMessage",
            "QueueUrl": query_queue,
            "AttributeName.1": "All",
            "MessageAttributeName.1": "All",
            "WaitTimeSeconds": "2",
        },
    )
    assert received.status == 200, received.body
    root = received.xml()
    assert root.tag == q("ReceiveMessageResponse")
    messages = root.findall(f"{q('ReceiveMessageResult')}/{q('Message')}")  # flattened list
    assert len(messages) == 1
    message = messages[0]
    assert message.find(q("Body")).text == "with attributes"
    assert message.find(q("MD5OfBody")).text == md5_hex("with attributes")
    assert message.find(q("MessageId")).text == sent_result.find(q("MessageId")).text
    assert message.find(q("ReceiptHandle")).text
    system = {attribute.find(q("Name")).text: attribute.find(q("Value")).text for attribute in message.findall(q("Attribute"))}
    assert {"SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp"} <= set(system)
    assert system["ApproximateReceiveCount"] == "1"
    got = {}
    for attribute in message.findall(q("MessageAttribute")):
        value = attribute.find(q("Value"))
        data_type = value.find(q("DataType")).text
        if data_type.startswith("Binary"):
            got[attribute.find(q("Name")).text] = {"DataType": data_type, "BinaryValue": base64.b64decode(value.find(q("BinaryValue")).text)}
        else:
            got[attribute.find(q("Name")).text] = {"DataType": data_type, "StringValue": value.find(q("StringValue")).text}
    assert got == attributes
    assert message.find(q("MD5OfMessageAttributes")).text == md5_of_message_attributes(attributes)

    handle = message.find(q("ReceiptHandle")).text
    deleted = query_request(endpoint + "/", {"Action": "DeleteMessage", "QueueUrl": query_queue, "ReceiptHandle": handle})
    assert deleted.status == 200, deleted.body
    assert deleted.xml().tag == q("DeleteMessageResponse")
    assert_request_id(deleted.xml())


@pytest.mark.parametrize(
    ("action", "extra"),
    [
        ("ReceiveMessage", {}),
        ("ListQueues", {"QueueNamePrefix": "no-such-prefix-anywhere"}),
        ("ListQueueTags", {}),
        ("GetQueueAttributes", {}),
        ("ListDeadLetterSourceQueues", {}),
    ],
)
def test_empty_reply_keeps_result_element(endpoint, query_queue, action, extra):
    params = {"Action": action, **extra}
    if action != "ListQueues":
        params["QueueUrl"] = query_queue
    response = query_request(endpoint + "/", params)
    assert response.status == 200, response.body
    root = response.xml()
    assert root.tag == q(f"{action}Response")
    result = root.find(q(f"{action}Result"))
    assert result is not None, response.body
    assert len(result) == 0
    assert_request_id(root)


def test_post_to_queue_url_path(query_queue):
    # Java v1, Ruby and PHP SDKs send requests to the queue URL itself.
    response = query_request(query_queue, {"Action": "SendMessage", "QueueUrl": query_queue, "MessageBody": "to the queue path"})
    assert response.status == 200, response.body
    assert response.xml().find(f"{q('SendMessageResult')}/{q('MD5OfMessageBody')}").text == md5_hex("to the queue path")


def test_queue_from_path_without_queue_url_parameter(query_queue):
    # The SQS API reference's own examples (and boto 2) name the queue only in the path:
    # POST https://sqs.REGION.amazonaws.com/ACCOUNT/NAME/ with Action=SendMessage&MessageBody=...
    sent = query_request(query_queue + "/", {"Action": "SendMessage", "MessageBody": "path only"})
    assert sent.status == 200, sent.body
    received = query_request(query_queue + "/", {"Action": "ReceiveMessage", "WaitTimeSeconds": "2"}, method="GET")
    assert received.status == 200, received.body
    bodies = [m.find(q("Body")).text for m in received.xml().findall(f"{q('ReceiveMessageResult')}/{q('Message')}")]
    assert bodies == ["path only"]


def test_get_with_query_string(endpoint, query_queue):
    response = query_request(endpoint + "/", {"Action": "GetQueueUrl", "QueueName": query_queue.rsplit("/", 1)[1]}, method="GET")
    assert response.status == 200, response.body
    assert response.xml().find(f"{q('GetQueueUrlResult')}/{q('QueueUrl')}").text == query_queue


def test_get_queue_attributes_flattened(endpoint):
    url = create_queue(endpoint, VisibilityTimeout="77")
    response = query_request(endpoint + "/", {"Action": "GetQueueAttributes", "QueueUrl": url, "AttributeName.1": "All"})
    assert response.status == 200, response.body
    result = response.xml().find(q("GetQueueAttributesResult"))
    attributes = {attribute.find(q("Name")).text: attribute.find(q("Value")).text for attribute in result.findall(q("Attribute"))}
    assert attributes["VisibilityTimeout"] == "77"
    assert attributes["MaximumMessageSize"] == "1048576"
    assert attributes["QueueArn"].endswith(f":{ACCOUNT_ID}:{url.rsplit('/', 1)[1]}")
    query_request(endpoint + "/", {"Action": "DeleteQueue", "QueueUrl": url})


def test_list_queues_flattened(endpoint):
    prefix = unique_name("qlist")
    urls = {create_queue(endpoint, f"{prefix}-{index}") for index in range(2)}
    response = query_request(endpoint + "/", {"Action": "ListQueues", "QueueNamePrefix": prefix})
    assert response.status == 200, response.body
    listed = {element.text for element in response.xml().findall(f"{q('ListQueuesResult')}/{q('QueueUrl')}")}
    assert listed == urls
    for url in urls:
        query_request(endpoint + "/", {"Action": "DeleteQueue", "QueueUrl": url})


def test_send_message_batch_flattened(endpoint, query_queue):
    params = {
        "Action": "SendMessageBatch",
        "QueueUrl": query_queue,
        "SendMessageBatchRequestEntry.1.Id": "good",
        "SendMessageBatchRequestEntry.1.MessageBody": "fine",
        "SendMessageBatchRequestEntry.2.Id": "bad",
        "SendMessageBatchRequestEntry.2.MessageBody": "nul \x00 inside",
    }
    response = query_request(endpoint + "/", params)
    assert response.status == 200, response.body
    result = response.xml().find(q("SendMessageBatchResult"))
    successful = result.findall(q("SendMessageBatchResultEntry"))
    failed = result.findall(q("BatchResultErrorEntry"))
    assert [entry.find(q("Id")).text for entry in successful] == ["good"]
    assert successful[0].find(q("MD5OfMessageBody")).text == md5_hex("fine")
    assert [entry.find(q("Id")).text for entry in failed] == ["bad"]
    assert failed[0].find(q("Code")).text == "InvalidMessageContents"
    assert failed[0].find(q("SenderFault")).text == "true"


def test_nonexistent_queue_error(endpoint):
    url = f"{endpoint}/{ACCOUNT_ID}/{unique_name('missing')}"
    response = query_request(endpoint + "/", {"Action": "SendMessage", "QueueUrl": url, "MessageBody": "x"})
    root = assert_error(response, 400, "AWS.SimpleQueueService.NonExistentQueue")
    assert find_local(root, "Error", "Message").text == "The specified queue does not exist for this wsdl version."


def test_get_queue_url_nonexistent(endpoint):
    response = query_request(endpoint + "/", {"Action": "GetQueueUrl", "QueueName": unique_name("missing")})
    assert_error(response, 400, "AWS.SimpleQueueService.NonExistentQueue")


def test_queue_already_exists_error(endpoint, sqs):
    name = unique_name("query")
    url = create_queue(endpoint, name, VisibilityTimeout="10")
    try:
        response = query_request(
            endpoint + "/",
            {"Action": "CreateQueue", "QueueName": name, "Attribute.1.Name": "VisibilityTimeout", "Attribute.1.Value": "11"},
        )
        assert_error(response, 400, "QueueAlreadyExists")
    finally:
        sqs.delete_queue(QueueUrl=url)


def test_purge_in_progress_is_403(endpoint, query_queue):
    assert query_request(endpoint + "/", {"Action": "PurgeQueue", "QueueUrl": query_queue}).status == 200
    response = query_request(endpoint + "/", {"Action": "PurgeQueue", "QueueUrl": query_queue})
    assert_error(response, 403, "AWS.SimpleQueueService.PurgeQueueInProgress")


def test_missing_parameter(endpoint):
    response = query_request(endpoint + "/", {"Action": "SendMessage", "MessageBody": "no queue"})
    assert_error(response, 400, "MissingParameter")


def test_invalid_attribute_name(endpoint, query_queue):
    response = query_request(endpoint + "/", {"Action": "GetQueueAttributes", "QueueUrl": query_queue, "AttributeName.1": "Bogus"})
    assert_error(response, 400, "InvalidAttributeName")


def test_unknown_action(endpoint):
    response = query_request(endpoint + "/", {"Action": "NoSuchAction"})
    assert_error(response, 400, "InvalidAction")


def test_xml_escaping_of_body(endpoint, query_queue):
    body = "quote \" apostrophe ' amp & lt < gt > cr \r lf \n tab \t"
    assert query_request(endpoint + "/", {"Action": "SendMessage", "QueueUrl": query_queue, "MessageBody": body}).status == 200
    response = query_request(endpoint + "/", {"Action": "ReceiveMessage", "QueueUrl": query_queue, "WaitTimeSeconds": "2"})
    assert response.status == 200
    # SQS writes \r as &#xD; so XML parsers keep it instead of normalising it to \n.
    assert b"&#xD;" in response.body or b"&#13;" in response.body
    message = response.xml().find(f"{q('ReceiveMessageResult')}/{q('Message')}")
    assert message.find(q("Body")).text == body
    assert message.find(q("MD5OfBody")).text == md5_hex(body)


def test_set_attributes_and_tags_flattened(endpoint, query_queue):
    response = query_request(
        endpoint + "/",
        {"Action": "SetQueueAttributes", "QueueUrl": query_queue, "Attribute.1.Name": "DelaySeconds", "Attribute.1.Value": "7"},
    )
    assert response.status == 200, response.body
    assert response.xml().tag == q("SetQueueAttributesResponse")
    response = query_request(endpoint + "/", {"Action": "GetQueueAttributes", "QueueUrl": query_queue, "AttributeName.1": "DelaySeconds"})
    attributes = response.xml().findall(f"{q('GetQueueAttributesResult')}/{q('Attribute')}")
    assert [(a.find(q("Name")).text, a.find(q("Value")).text) for a in attributes] == [("DelaySeconds", "7")]

    response = query_request(
        endpoint + "/",
        {"Action": "TagQueue", "QueueUrl": query_queue, "Tag.1.Key": "team", "Tag.1.Value": "wharf", "Tag.2.Key": "env", "Tag.2.Value": "ci"},
    )
    assert response.status == 200, response.body
    response = query_request(endpoint + "/", {"Action": "ListQueueTags", "QueueUrl": query_queue})
    assert response.status == 200, response.body
    tags = response.xml().findall(f"{q('ListQueueTagsResult')}/{q('Tag')}")
    assert {tag.find(q("Key")).text: tag.find(q("Value")).text for tag in tags} == {"team": "wharf", "env": "ci"}


def test_delete_message_batch_flattened(endpoint, query_queue, sqs):
    sqs.send_message_batch(QueueUrl=query_queue, Entries=[{"Id": "a", "MessageBody": "a"}, {"Id": "b", "MessageBody": "b"}])
    handles = []
    for _ in range(5):
        handles += [m["ReceiptHandle"] for m in sqs.receive_message(QueueUrl=query_queue, MaxNumberOfMessages=10, VisibilityTimeout=300).get("Messages", [])]
        if len(handles) == 2:
            break
    assert len(handles) == 2
    params = {"Action": "DeleteMessageBatch", "QueueUrl": query_queue}
    for index, handle in enumerate(handles + ["not-a-receipt-handle"], start=1):
        params[f"DeleteMessageBatchRequestEntry.{index}.Id"] = f"d{index}"
        params[f"DeleteMessageBatchRequestEntry.{index}.ReceiptHandle"] = handle
    response = query_request(endpoint + "/", params)
    assert response.status == 200, response.body
    result = response.xml().find(q("DeleteMessageBatchResult"))
    assert sorted(entry.find(q("Id")).text for entry in result.findall(q("DeleteMessageBatchResultEntry"))) == ["d1", "d2"]
    failed = result.findall(q("BatchResultErrorEntry"))
    assert [(entry.find(q("Id")).text, entry.find(q("Code")).text) for entry in failed] == [("d3", "ReceiptHandleIsInvalid")]
