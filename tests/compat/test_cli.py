"""The AWS CLI (v1, from requirements.txt) against the server, parsing its JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import unique_name
from helpers import md5_hex, md5_of_message_attributes

pytestmark = pytest.mark.cli

CLI_TIMEOUT_SECONDS = 60


@pytest.fixture(scope="module")
def aws(endpoint, tmp_path_factory):
    home = tmp_path_factory.mktemp("aws-cli-home")
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION="us-east-1",
        # Keep the developer's own AWS configuration out of the run.
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        AWS_PAGER="",
    )

    def run(*args: str):
        # `python -m awscli` runs the CLI installed beside this interpreter (the suite's venv).
        command = [sys.executable, "-m", "awscli", "--endpoint-url", endpoint, "--output", "json", "sqs", *args]
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_SECONDS)
        assert completed.returncode == 0, f"{' '.join(args)} failed ({completed.returncode}):\n{completed.stderr}"
        return json.loads(completed.stdout) if completed.stdout.strip() else {}

    def fail(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "awscli", "--endpoint-url", endpoint, "--output", "json", "sqs", *args]
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_SECONDS)
        assert completed.returncode != 0, completed.stdout
        return completed

    run.fail = fail
    return run


def test_cli_queue_and_message_lifecycle(aws):
    name = unique_name("cli")
    url = aws("create-queue", "--queue-name", name, "--attributes", "VisibilityTimeout=40")["QueueUrl"]
    assert url.endswith("/" + name)
    assert aws("get-queue-url", "--queue-name", name)["QueueUrl"] == url
    assert url in aws("list-queues", "--queue-name-prefix", name)["QueueUrls"]

    attributes = aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "All")["Attributes"]
    assert attributes["VisibilityTimeout"] == "40"
    assert attributes["MaximumMessageSize"] == "1048576"
    assert attributes["MessageRetentionPeriod"] == "345600"

    message_attributes = {
        "source": {"DataType": "String", "StringValue": "cli"},
        "weight": {"DataType": "Number.float", "StringValue": "1.5"},
    }
    sent = aws(
        "send-message",
        "--queue-url",
        url,
        "--message-body",
        "from the cli ✓",
        "--message-attributes",
        json.dumps(message_attributes),
    )
    assert sent["MD5OfMessageBody"] == md5_hex("from the cli ✓")
    assert sent["MD5OfMessageAttributes"] == md5_of_message_attributes(message_attributes)

    received = aws(
        "receive-message",
        "--queue-url",
        url,
        "--attribute-names",
        "All",
        "--message-attribute-names",
        "All",
        "--wait-time-seconds",
        "5",
    )
    messages = received["Messages"]
    assert len(messages) == 1
    message = messages[0]
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == "from the cli ✓"
    assert message["MD5OfBody"] == md5_hex("from the cli ✓")
    assert message["MessageAttributes"] == message_attributes
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"

    aws("delete-message", "--queue-url", url, "--receipt-handle", message["ReceiptHandle"])
    assert aws("receive-message", "--queue-url", url, "--visibility-timeout", "0").get("Messages", []) == []

    aws("delete-queue", "--queue-url", url)
    assert url not in aws("list-queues", "--queue-name-prefix", name).get("QueueUrls", [])


def test_cli_send_message_batch_and_purge(aws):
    url = aws("create-queue", "--queue-name", unique_name("cli"))["QueueUrl"]
    try:
        entries = [{"Id": f"e{index}", "MessageBody": f"body {index}"} for index in range(3)]
        result = aws("send-message-batch", "--queue-url", url, "--entries", json.dumps(entries))
        assert sorted(entry["Id"] for entry in result["Successful"]) == ["e0", "e1", "e2"]
        counts = aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "ApproximateNumberOfMessages")
        assert counts["Attributes"]["ApproximateNumberOfMessages"] == "3"
        aws("purge-queue", "--queue-url", url)
        counts = aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "ApproximateNumberOfMessages")
        assert counts["Attributes"]["ApproximateNumberOfMessages"] == "0"
    finally:
        aws("delete-queue", "--queue-url", url)


def test_cli_tags(aws):
    url = aws("create-queue", "--queue-name", unique_name("cli"), "--tags", "team=wharf")["QueueUrl"]
    try:
        aws("tag-queue", "--queue-url", url, "--tags", "env=ci")
        assert aws("list-queue-tags", "--queue-url", url)["Tags"] == {"team": "wharf", "env": "ci"}
    finally:
        aws("delete-queue", "--queue-url", url)


def test_cli_reports_missing_queue(aws):
    completed = aws.fail("get-queue-url", "--queue-name", unique_name("missing"))
    assert "AWS.SimpleQueueService.NonExistentQueue" in completed.stderr or "QueueDoesNotExist" in completed.stderr
