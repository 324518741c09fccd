"""SNS email delivery, through boto3: a second Wharf configured with `[sns] smtp_server` pointing
at a local SMTP sink on 127.0.0.1 mails the confirmation (`email`: a text mail with the
SubscribeURL; `email-json`: the signed JSON confirmation); the test confirms as a person or a
program would (following the link, or ConfirmSubscription with the token), publishes, and reads
the notification mail (`email`: subject and text; `email-json`: the signed JSON notification)."""

from __future__ import annotations

import email
import email.policy
import json
import queue
import re
import socketserver
import threading
import urllib.parse
import urllib.request
from email.message import EmailMessage

import pytest
from cryptography.hazmat.primitives import hashes

from conftest import make_client, running_wharf, unique_name
from test_sns import verify

WAIT_SECONDS = 20


class Mail:
    def __init__(self, recipients: list[str], message: EmailMessage):
        self.recipients = recipients
        self.message = message

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        return self.message.get_content()


class MailSink:
    """A minimal SMTP server on 127.0.0.1 that accepts every mail and queues it."""

    def __init__(self) -> None:
        self.mails: queue.Queue[Mail] = queue.Queue()
        mails = self.mails

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode("ascii") + b"\r\n")

            def handle(self) -> None:
                self.reply("220 sink ready")
                recipients: list[str] = []
                while line := self.rfile.readline():
                    command = line.decode("utf-8", "replace").rstrip("\r\n")
                    verb = command.upper()
                    if verb.startswith("RCPT TO:"):
                        recipients.append(command[8:].strip().strip("<>"))
                        self.reply("250 ok")
                    elif verb.startswith("DATA"):
                        self.reply("354 go ahead")
                        data = bytearray()
                        while (line := self.rfile.readline()) and line.rstrip(b"\r\n") != b".":
                            # Undo SMTP dot-stuffing.
                            data += line[1:] if line.startswith(b"..") else line
                        message = email.message_from_bytes(bytes(data), policy=email.policy.default)
                        mails.put(Mail(recipients, message))
                        recipients = []
                        self.reply("250 queued")
                    elif verb.startswith("QUIT"):
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("250 ok")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self) -> Mail:
        return self.mails.get(timeout=WAIT_SECONDS)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def mail_sink():
    sink = MailSink()
    yield sink
    sink.close()


@pytest.fixture(scope="module")
def mailing_sns(mail_sink):
    """An SNS client for a Wharf of its own that sends mail through the sink."""
    config = f'[sns]\nsmtp_server = "{mail_sink.address}"\nemail_from = "sns@wharf.test"\n'
    with running_wharf(config) as server:
        yield make_client(server.endpoint, "sns")


@pytest.fixture
def mailing_topic(mailing_sns):
    arn = mailing_sns.create_topic(Name=unique_name("mail"))["TopicArn"]
    yield arn
    mailing_sns.delete_topic(TopicArn=arn)


def test_email_confirms_by_link_then_mails_notifications(mailing_sns, mailing_topic, mail_sink):
    pending = mailing_sns.subscribe(TopicArn=mailing_topic, Protocol="email", Endpoint="ops@example.test")
    assert pending["SubscriptionArn"] == "pending confirmation"

    confirmation = mail_sink.next()
    assert confirmation.recipients == ["ops@example.test"]
    assert confirmation.message["To"] == "ops@example.test"
    assert confirmation.message["From"] == "sns@wharf.test"
    assert confirmation.subject == "AWS Notification - Subscription Confirmation"
    link = re.search(r"https?://\S*Action=ConfirmSubscription\S*", confirmation.text)
    assert link, confirmation.text
    # Confirming is a click on the link: an unsigned GET.
    with urllib.request.urlopen(link.group(0), timeout=WAIT_SECONDS) as response:
        assert response.status == 200
        assert b"<SubscriptionArn>" in response.read()
    subscription_arn = mailing_sns.list_subscriptions_by_topic(TopicArn=mailing_topic)["Subscriptions"][0][
        "SubscriptionArn"
    ]
    assert subscription_arn.startswith(mailing_topic + ":")

    mailing_sns.publish(TopicArn=mailing_topic, Subject="Deploy done", Message="All green.")
    notification = mail_sink.next()
    assert notification.recipients == ["ops@example.test"]
    assert notification.subject == "Deploy done"
    assert "All green." in notification.text
    assert "Action=Unsubscribe" in notification.text

    # Without a Subject the mail gets AWS's default one.
    mailing_sns.publish(TopicArn=mailing_topic, Message="No subject here.")
    untitled = mail_sink.next()
    assert untitled.subject == "AWS Notification Message"
    assert "No subject here." in untitled.text


def test_email_json_confirms_with_the_token_then_mails_signed_json(mailing_sns, mailing_topic, mail_sink):
    pending = mailing_sns.subscribe(TopicArn=mailing_topic, Protocol="email-json", Endpoint="bot@example.test")
    assert pending["SubscriptionArn"] == "pending confirmation"

    confirmation_mail = mail_sink.next()
    assert confirmation_mail.recipients == ["bot@example.test"]
    assert confirmation_mail.subject == "AWS Notification - Subscription Confirmation"
    confirmation = json.loads(confirmation_mail.text)
    assert confirmation["Type"] == "SubscriptionConfirmation"
    assert confirmation["TopicArn"] == mailing_topic
    assert "Action=ConfirmSubscription" in confirmation["SubscribeURL"]
    confirmed = mailing_sns.confirm_subscription(TopicArn=mailing_topic, Token=confirmation["Token"])
    assert confirmed["SubscriptionArn"].startswith(mailing_topic + ":")

    published = mailing_sns.publish(TopicArn=mailing_topic, Subject="Order", Message='{"order": 7}')
    notification_mail = mail_sink.next()
    assert notification_mail.recipients == ["bot@example.test"]
    assert notification_mail.subject == "Order"
    envelope = json.loads(notification_mail.text)
    assert envelope["Type"] == "Notification"
    assert envelope["MessageId"] == published["MessageId"]
    assert envelope["TopicArn"] == mailing_topic
    assert envelope["Subject"] == "Order"
    assert envelope["Message"] == '{"order": 7}'
    assert confirmed["SubscriptionArn"] in urllib.parse.unquote(envelope["UnsubscribeURL"])
    verify(envelope, hashes.SHA1())
