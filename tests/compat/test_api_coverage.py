"""Keeps API coverage honest: every operation in botocore's SQS and SNS models is tried against the
server.

SQS: each operation gets a minimal request over raw awsJson 1.0 (`X-Amz-Target: AmazonSQS.<Op>`) and
over awsQuery (`Action=<Op>`). An operation counts as implemented unless the server answers that
it does not know it (awsJson `UnknownOperationException` / query code `InvalidAction`, or a
404/501): a domain error such as QueueDoesNotExist still proves the operation is routed and
handled. The test prints a table of every operation and fails if any operation outside
NOT_YET_IMPLEMENTED is missing, or if one listed there has been implemented (so the list shrinks
as work lands).

SNS: botocore's model speaks awsQuery only, so each operation is called once, through a boto3
"sns" client with a minimal valid request. The same rule decides (`InvalidAction`, or a 404/501
without an error code, means unknown), and the test fails if any operation is unknown.
"""

from __future__ import annotations

import json

import botocore.session
import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

from conftest import unique_name
from helpers import ACCOUNT_ID, REGION, find_local, json_request, local_name, query_request

# Operations of the model the server does not implement yet; empty now that every SQS operation
# is served. A name added here must answer with a well-formed error until it is implemented.
NOT_YET_IMPLEMENTED: frozenset[str] = frozenset()

def placeholder(shape):
    """A syntactically valid value for a shape, for operations without a hand-written request."""
    if shape.type_name == "structure":
        return {name: placeholder(member) for name, member in shape.members.items() if name in shape.required_members}
    if shape.type_name == "list":
        return [placeholder(shape.member)]
    if shape.type_name == "map":
        return {"key": placeholder(shape.value)}
    if shape.type_name in ("integer", "long"):
        return 1
    if shape.type_name == "boolean":
        return False
    if shape.type_name == "blob":
        return "AA=="
    if shape.enum:
        return shape.enum[0]
    return "placeholder"


def minimal_requests(queue_url: str, queue_arn: str, receipt_handle: str) -> dict[str, dict]:
    return {
        "AddPermission": {"QueueUrl": queue_url, "Label": "coverage", "AWSAccountIds": [ACCOUNT_ID], "Actions": ["SendMessage"]},
        "RemovePermission": {"QueueUrl": queue_url, "Label": "coverage"},
        "ChangeMessageVisibility": {"QueueUrl": queue_url, "ReceiptHandle": receipt_handle, "VisibilityTimeout": 0},
        "ChangeMessageVisibilityBatch": {
            "QueueUrl": queue_url,
            "Entries": [{"Id": "e1", "ReceiptHandle": receipt_handle, "VisibilityTimeout": 0}],
        },
        "CreateQueue": {"QueueName": queue_url.rsplit("/", 1)[1]},
        "DeleteMessage": {"QueueUrl": queue_url, "ReceiptHandle": receipt_handle},
        "DeleteMessageBatch": {"QueueUrl": queue_url, "Entries": [{"Id": "e1", "ReceiptHandle": receipt_handle}]},
        "GetQueueAttributes": {"QueueUrl": queue_url, "AttributeNames": ["All"]},
        "GetQueueUrl": {"QueueName": queue_url.rsplit("/", 1)[1]},
        "ListDeadLetterSourceQueues": {"QueueUrl": queue_url},
        "ListQueueTags": {"QueueUrl": queue_url},
        "ListQueues": {},
        "PurgeQueue": {"QueueUrl": queue_url},
        "ReceiveMessage": {"QueueUrl": queue_url},
        "SendMessage": {"QueueUrl": queue_url, "MessageBody": "coverage"},
        "SendMessageBatch": {"QueueUrl": queue_url, "Entries": [{"Id": "e1", "MessageBody": "coverage"}]},
        "SetQueueAttributes": {"QueueUrl": queue_url, "Attributes": {"VisibilityTimeout": "30"}},
        "TagQueue": {"QueueUrl": queue_url, "Tags": {"coverage": "yes"}},
        "UntagQueue": {"QueueUrl": queue_url, "TagKeys": ["coverage"]},
        "StartMessageMoveTask": {"SourceArn": queue_arn},
        "ListMessageMoveTasks": {"SourceArn": queue_arn},
        "CancelMessageMoveTask": {"TaskHandle": "placeholder"},
        # DeleteQueue runs last (see ORDER_LAST) so the other requests see a live queue.
        "DeleteQueue": {"QueueUrl": queue_url},
    }


ORDER_LAST = ("DeleteQueue",)


def json_outcome(response) -> tuple[bool, str]:
    """(implemented, what the server said) for an awsJson reply."""
    if response.status == 200:
        return True, "200"
    try:
        error_type = response.json().get("__type", "")
    except ValueError:
        error_type = ""
    query_error = response.headers.get("x-amzn-query-error", "") or ""
    code = error_type.rsplit("#", 1)[-1] or query_error.split(";", 1)[0] or f"HTTP {response.status}"
    unknown = (
        error_type.endswith("UnknownOperationException")
        or query_error.startswith("InvalidAction;")
        or (response.status in (404, 501) and not error_type)
    )
    return not unknown, f"{response.status} {code}"


def query_outcome(response) -> tuple[bool, str]:
    if response.status == 200:
        return True, "200"
    try:
        root = response.xml()
        code_element = find_local(root, "Error", "Code") if local_name(root) == "ErrorResponse" else None
        code = code_element.text if code_element is not None else ""
    except Exception:
        code = ""
    unknown = code == "InvalidAction" or (response.status in (404, 501) and not code)
    return not unknown, f"{response.status} {code or 'unparsable'}"


def test_every_model_operation_is_implemented(endpoint, sqs, capsys):
    model = botocore.session.get_session().get_service_model("sqs")
    operations = list(model.operation_names)
    assert len(operations) >= 23, operations

    queue_url = sqs.create_queue(QueueName=unique_name("coverage"))["QueueUrl"]
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{queue_url.rsplit('/', 1)[1]}"
    sqs.send_message(QueueUrl=queue_url, MessageBody="for a receipt handle")
    receipt_handle = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0, WaitTimeSeconds=2)["Messages"][0]["ReceiptHandle"]
    requests = minimal_requests(queue_url, queue_arn, receipt_handle)

    ordered = [name for name in operations if name not in ORDER_LAST] + [name for name in ORDER_LAST if name in operations]
    rows = []
    try:
        for name in ordered:
            operation = model.operation_model(name)
            payload = requests.get(name)
            if payload is None:  # an operation newer than this test: fill required members
                payload = placeholder(operation.input_shape) if operation.input_shape else {}
            json_ok, json_said = json_outcome(json_request(endpoint, name, payload))
            # The query probe carries only QueueUrl/QueueName: an implemented operation answers
            # with a validation error (MissingParameter, ...), an unknown one with InvalidAction.
            query_ok, query_said = query_outcome(
                query_request(endpoint + "/", {"Action": name, "QueueUrl": f"{endpoint}/{ACCOUNT_ID}/{unique_name('absent')}"})
            )
            rows.append((name, json_ok, json_said, query_ok, query_said))
    finally:
        try:
            sqs.delete_queue(QueueUrl=queue_url)
        except Exception:
            pass

    rows.sort()
    width = max(len(row[0]) for row in rows)
    lines = [
        f"SQS API coverage against botocore {botocore.__version__} ({len(rows)} operations)",
        f"{'operation':<{width}}  {'awsJson':<15} {'json reply':<40} {'awsQuery':<15} query reply",
    ]
    for name, json_ok, json_said, query_ok, query_said in rows:
        json_label = "implemented" if json_ok else "NOT implemented"
        query_label = "implemented" if query_ok else "NOT implemented"
        lines.append(f"{name:<{width}}  {json_label:<15} {json_said:<40} {query_label:<15} {query_said}")
    implemented = sum(1 for row in rows if row[1])
    lines.append(f"implemented over awsJson: {implemented}/{len(rows)}")
    with capsys.disabled():
        print("\n" + "\n".join(lines))

    missing = sorted(row[0] for row in rows if not (row[1] and row[3]) and row[0] not in NOT_YET_IMPLEMENTED)
    assert missing == [], f"operations not implemented: {missing}"
    now_implemented = sorted(row[0] for row in rows if row[1] and row[3] and row[0] in NOT_YET_IMPLEMENTED)
    assert now_implemented == [], f"implemented now, remove from NOT_YET_IMPLEMENTED: {now_implemented}"


# --- SNS ----------------------------------------------------------------------------------------

DATA_PROTECTION_POLICY = json.dumps(
    {
        "Name": "coverage",
        "Description": "deny inbound email addresses",
        "Version": "2021-06-01",
        "Statement": [
            {
                "Sid": "deny-email",
                "DataDirection": "Inbound",
                "Principal": ["*"],
                "DataIdentifier": ["arn:aws:dataprotection::aws:data-identifier/EmailAddress"],
                "Operation": {"Deny": {}},
            }
        ],
    }
)


def sns_minimal_requests(topic_arn: str, queue_arn: str, subscription_arn: str) -> dict[str, dict]:
    return {
        "AddPermission": {"TopicArn": topic_arn, "Label": "coverage", "AWSAccountId": [ACCOUNT_ID], "ActionName": ["Publish"]},
        "RemovePermission": {"TopicArn": topic_arn, "Label": "coverage"},
        "ConfirmSubscription": {"TopicArn": topic_arn, "Token": "placeholder"},  # InvalidParameter proves routing
        "CreateTopic": {"Name": topic_arn.rsplit(":", 1)[1]},
        "GetDataProtectionPolicy": {"ResourceArn": topic_arn},
        "PutDataProtectionPolicy": {"ResourceArn": topic_arn, "DataProtectionPolicy": DATA_PROTECTION_POLICY},
        "GetSubscriptionAttributes": {"SubscriptionArn": subscription_arn},
        "SetSubscriptionAttributes": {"SubscriptionArn": subscription_arn, "AttributeName": "RawMessageDelivery", "AttributeValue": "true"},
        "GetTopicAttributes": {"TopicArn": topic_arn},
        "SetTopicAttributes": {"TopicArn": topic_arn, "AttributeName": "DisplayName", "AttributeValue": "coverage"},
        "ListSubscriptions": {},
        "ListSubscriptionsByTopic": {"TopicArn": topic_arn},
        "ListTagsForResource": {"ResourceArn": topic_arn},
        "ListTopics": {},
        "Publish": {"TopicArn": topic_arn, "Message": "coverage"},
        "PublishBatch": {"TopicArn": topic_arn, "PublishBatchRequestEntries": [{"Id": "e1", "Message": "coverage"}]},
        "Subscribe": {"TopicArn": topic_arn, "Protocol": "sqs", "Endpoint": queue_arn},
        "TagResource": {"ResourceArn": topic_arn, "Tags": [{"Key": "coverage", "Value": "yes"}]},
        "UntagResource": {"ResourceArn": topic_arn, "TagKeys": ["coverage"]},
        # Unsubscribe and DeleteTopic run last (see SNS_ORDER_LAST).
        "Unsubscribe": {"SubscriptionArn": subscription_arn},
        "DeleteTopic": {"TopicArn": topic_arn},
    }


SNS_ORDER_LAST = ("Unsubscribe", "DeleteTopic")


def sns_outcome(call, payload: dict) -> tuple[bool, str]:
    """(implemented, what the server said) for one boto3 (awsQuery) call."""
    try:
        call(**payload)
    except ClientError as error:
        status = error.response["ResponseMetadata"]["HTTPStatusCode"]
        code = error.response["Error"].get("Code", "")
        unknown = code == "InvalidAction" or (status in (404, 501) and not code)
        return not unknown, f"{status} {code or 'no code'}"
    return True, "200"


def test_every_sns_model_operation_is_implemented(sns, sqs, capsys):
    model = botocore.session.get_session().get_service_model("sns")
    operations = list(model.operation_names)
    assert len(operations) >= 42, operations

    topic_arn = sns.create_topic(Name=unique_name("coverage"))["TopicArn"]
    queue_url = sqs.create_queue(QueueName=unique_name("coverage"))["QueueUrl"]
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{queue_url.rsplit('/', 1)[1]}"
    subscription_arn = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"]
    requests = sns_minimal_requests(topic_arn, queue_arn, subscription_arn)

    ordered = [name for name in operations if name not in SNS_ORDER_LAST] + [name for name in SNS_ORDER_LAST if name in operations]
    rows = []
    try:
        for name in ordered:
            payload = requests.get(name)
            if payload is None:  # SMS, mobile push, and operations newer than this test: fill required members
                operation = model.operation_model(name)
                payload = placeholder(operation.input_shape) if operation.input_shape else {}
            implemented, said = sns_outcome(getattr(sns, xform_name(name)), payload)
            rows.append((name, implemented, said))
    finally:
        for cleanup in (lambda: sns.delete_topic(TopicArn=topic_arn), lambda: sqs.delete_queue(QueueUrl=queue_url)):
            try:
                cleanup()
            except Exception:
                pass

    rows.sort()
    width = max(len(row[0]) for row in rows)
    lines = [
        f"SNS API coverage against botocore {botocore.__version__} ({len(rows)} operations, awsQuery)",
        f"{'operation':<{width}}  {'status':<15} reply",
    ]
    for name, implemented, said in rows:
        lines.append(f"{name:<{width}}  {'implemented' if implemented else 'NOT implemented':<15} {said}")
    lines.append(f"implemented: {sum(1 for row in rows if row[1])}/{len(rows)}")
    with capsys.disabled():
        print("\n" + "\n".join(lines))

    missing = sorted(name for name, implemented, _ in rows if not implemented)
    assert missing == [], f"SNS operations not implemented: {missing}"
