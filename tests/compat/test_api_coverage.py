"""Keeps API coverage honest: every operation in botocore's SQS, SNS and Kinesis models is tried
against the server.

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

Kinesis: each operation of botocore's model is called once through a boto3 "kinesis" client
(awsJson 1.1) with a minimal request; `UnknownOperationException` (or a 404/501 without a code)
means unknown. The served set must equal the server's own `OPERATIONS` list (wharf-kinesis's
ops/mod.rs), and every other operation must be listed in KINESIS_NOT_YET_IMPLEMENTED.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

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


# --- Kinesis ------------------------------------------------------------------------------------

# The operations of botocore's Kinesis model the server does not serve yet: it must answer each
# with UnknownOperationException. Empty now that every Kinesis operation is served.
KINESIS_NOT_YET_IMPLEMENTED: frozenset[str] = frozenset()

KINESIS_OPERATIONS_SOURCE = Path(__file__).resolve().parents[2] / "crates" / "wharf-kinesis" / "src" / "ops" / "mod.rs"


def kinesis_claimed_operations() -> set[str]:
    """The operations the server says it implements: `OPERATIONS` in wharf-kinesis's ops/mod.rs."""
    source = KINESIS_OPERATIONS_SOURCE.read_text()
    match = re.search(r"pub const OPERATIONS: &\[&str\] = &\[(.*?)\];", source, re.S)
    assert match, f"no OPERATIONS list in {KINESIS_OPERATIONS_SOURCE}"
    return set(re.findall(r'"([A-Za-z]+)"', match.group(1)))


KINESIS_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "kinesis:GetRecords", "Resource": "*"}
        ],
    }
)


def kinesis_minimal_requests(stream: str, stream_arn: str, shard_iterator: str) -> dict[str, dict]:
    consumer_arn = f"{stream_arn}/consumer/coverage-absent:1"
    shard = "shardId-000000000000"
    return {
        "AddTagsToStream": {"StreamName": stream, "Tags": {"coverage": "yes"}},
        "CreateStream": {"StreamName": stream, "ShardCount": 1},  # ResourceInUseException proves routing
        "DecreaseStreamRetentionPeriod": {"StreamName": stream, "RetentionPeriodHours": 24},
        "DeleteResourcePolicy": {"ResourceARN": stream_arn},
        "DeregisterStreamConsumer": {"StreamARN": stream_arn, "ConsumerName": "coverage"},
        "DescribeAccountSettings": {},
        "DescribeLimits": {},
        "DescribeStream": {"StreamName": stream},
        "DescribeStreamConsumer": {"StreamARN": stream_arn, "ConsumerName": "coverage"},
        "DescribeStreamSummary": {"StreamName": stream},
        "DisableEnhancedMonitoring": {"StreamName": stream, "ShardLevelMetrics": ["IncomingBytes"]},
        "EnableEnhancedMonitoring": {"StreamName": stream, "ShardLevelMetrics": ["IncomingBytes"]},
        "GetRecords": {"ShardIterator": shard_iterator},
        "GetResourcePolicy": {"ResourceARN": stream_arn},
        "GetShardIterator": {"StreamName": stream, "ShardId": shard, "ShardIteratorType": "LATEST"},
        "IncreaseStreamRetentionPeriod": {"StreamName": stream, "RetentionPeriodHours": 48},
        "ListShards": {"StreamName": stream},
        "ListStreamConsumers": {"StreamARN": stream_arn},
        "ListStreams": {},
        "ListTagsForResource": {"ResourceARN": stream_arn},
        "ListTagsForStream": {"StreamName": stream},
        "MergeShards": {"StreamName": stream, "ShardToMerge": shard, "AdjacentShardToMerge": "shardId-000000000001"},
        "PutRecord": {"StreamName": stream, "Data": b"coverage", "PartitionKey": "coverage"},
        "PutRecords": {"StreamName": stream, "Records": [{"Data": b"coverage", "PartitionKey": "coverage"}]},
        "PutResourcePolicy": {"ResourceARN": stream_arn, "Policy": KINESIS_POLICY},
        "RegisterStreamConsumer": {"StreamARN": stream_arn, "ConsumerName": "coverage"},
        "RemoveTagsFromStream": {"StreamName": stream, "TagKeys": ["coverage"]},
        "SplitShard": {"StreamName": stream, "ShardToSplit": shard, "NewStartingHashKey": str(2**126)},
        "StartStreamEncryption": {"StreamName": stream, "EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
        "StopStreamEncryption": {"StreamName": stream, "EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
        # A consumer that does not exist: an error reply, not a five-minute event stream.
        "SubscribeToShard": {"ConsumerARN": consumer_arn, "ShardId": shard, "StartingPosition": {"Type": "LATEST"}},
        "TagResource": {"ResourceARN": stream_arn, "Tags": {"coverage": "yes"}},
        "UntagResource": {"ResourceARN": stream_arn, "TagKeys": ["coverage"]},
        "UpdateAccountSettings": {"MinimumThroughputBillingCommitment": {"Status": "DISABLED"}},
        "UpdateMaxRecordSize": {"StreamARN": stream_arn, "MaxRecordSizeInKiB": 1024},
        "UpdateShardCount": {"StreamName": stream, "TargetShardCount": 2, "ScalingType": "UNIFORM_SCALING"},
        "UpdateStreamMode": {"StreamARN": stream_arn, "StreamModeDetails": {"StreamMode": "PROVISIONED"}},
        "UpdateStreamRecordDistributionStrategy": {"StreamARN": stream_arn, "RecordDistributionStrategy": "AUTO"},
        "UpdateStreamWarmThroughput": {"StreamARN": stream_arn, "WarmThroughputMiBps": 1},
        # DeleteStream runs last (see KINESIS_ORDER_LAST) so the other requests see a live stream.
        "DeleteStream": {"StreamName": stream, "EnforceConsumerDeletion": True},
    }


KINESIS_ORDER_LAST = ("DeleteStream",)


def kinesis_outcome(call, payload: dict) -> tuple[bool, str]:
    """(implemented, what the server said) for one boto3 (awsJson 1.1) call."""
    try:
        result = call(**payload)
    except ClientError as error:
        status = error.response["ResponseMetadata"]["HTTPStatusCode"]
        code = error.response["Error"].get("Code", "")
        unknown = code == "UnknownOperationException" or (status in (404, 501) and not code)
        return not unknown, f"{status} {code or 'no code'}"
    stream = result.get("EventStream")
    if stream is not None:  # SubscribeToShard answered with an event stream: it is served
        stream.close()
    return True, "200"


def test_every_kinesis_model_operation_is_known(kinesis, capsys):
    model = botocore.session.get_session().get_service_model("kinesis")
    operations = list(model.operation_names)
    assert len(operations) >= 40, operations
    claimed = kinesis_claimed_operations()
    assert claimed <= set(operations), f"claimed but not in botocore's model: {sorted(claimed - set(operations))}"

    stream = unique_name("coverage")
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    description = kinesis.describe_stream(StreamName=stream)["StreamDescription"]
    stream_arn = description["StreamARN"]
    shard_iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=description["Shards"][0]["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    requests = kinesis_minimal_requests(stream, stream_arn, shard_iterator)

    ordered = [name for name in operations if name not in KINESIS_ORDER_LAST] + [
        name for name in KINESIS_ORDER_LAST if name in operations
    ]
    rows = []
    try:
        for name in ordered:
            payload = requests.get(name)
            if payload is None:  # queues, channels and operations newer than this test
                operation = model.operation_model(name)
                payload = placeholder(operation.input_shape) if operation.input_shape else {}
            implemented, said = kinesis_outcome(getattr(kinesis, xform_name(name)), payload)
            rows.append((name, implemented, said))
    finally:
        try:
            kinesis.delete_stream(StreamName=stream, EnforceConsumerDeletion=True)
        except Exception:
            pass

    rows.sort()
    width = max(len(row[0]) for row in rows)
    lines = [
        f"Kinesis API coverage against botocore {botocore.__version__} ({len(rows)} operations, awsJson 1.1)",
        f"{'operation':<{width}}  {'status':<15} reply",
    ]
    for name, implemented, said in rows:
        lines.append(f"{name:<{width}}  {'implemented' if implemented else 'NOT implemented':<15} {said}")
    lines.append(f"implemented: {sum(1 for row in rows if row[1])}/{len(rows)}")
    with capsys.disabled():
        print("\n" + "\n".join(lines))

    implemented = {name for name, ok, _ in rows if ok}
    assert implemented == claimed, (
        f"served but not claimed: {sorted(implemented - claimed)}; claimed but unknown: {sorted(claimed - implemented)}"
    )
    missing = sorted(name for name, ok, _ in rows if not ok and name not in KINESIS_NOT_YET_IMPLEMENTED)
    assert missing == [], f"Kinesis operations not implemented: {missing}"
    now_implemented = sorted(name for name, ok, _ in rows if ok and name in KINESIS_NOT_YET_IMPLEMENTED)
    assert now_implemented == [], f"implemented now, remove from KINESIS_NOT_YET_IMPLEMENTED: {now_implemented}"
