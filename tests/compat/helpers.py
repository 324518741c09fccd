"""Helpers shared by the compatibility tests: SQS MD5 digests and raw (hand-built) requests.

botocore does not check SQS digests itself (unlike the Java, .NET, Go and Ruby SDKs), so the
tests recompute them here with the algorithm those SDKs use.
"""

from __future__ import annotations

import hashlib
import json
import struct
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REGION = "us-east-1"
ACCOUNT_ID = "000000000000"
QUERY_NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/"
QUERY_VERSION = "2012-11-05"
CREDENTIALS = Credentials("test", "test")


def md5_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.md5(data).hexdigest()


def md5_of_message_attributes(attributes: dict) -> str:
    """The digest SQS returns as MD5OfMessageAttributes (and MD5OfMessageSystemAttributes).

    `attributes` has boto3's shape: name -> {"DataType", "StringValue" | "BinaryValue"}.
    """
    buffer = bytearray()

    def put(value: bytes) -> None:
        buffer.extend(struct.pack(">I", len(value)))
        buffer.extend(value)

    for name in sorted(attributes, key=lambda text: text.encode("utf-8")):
        value = attributes[name]
        data_type = value["DataType"]
        put(name.encode("utf-8"))
        put(data_type.encode("utf-8"))
        if data_type.startswith("Binary"):
            buffer.append(2)
            binary = value["BinaryValue"]
            put(binary if isinstance(binary, bytes) else binary.encode("utf-8"))
        else:
            buffer.append(1)
            put(value["StringValue"].encode("utf-8"))
    return hashlib.md5(bytes(buffer)).hexdigest()


class RawResponse:
    def __init__(self, status: int, headers, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8")) if self.body else {}

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)


def _send(method: str, url: str, body: bytes | None, headers: dict, sign: bool = True) -> RawResponse:
    if sign:
        request = AWSRequest(method=method, url=url, data=body or b"", headers=headers)
        SigV4Auth(CREDENTIALS, "sqs", REGION).add_auth(request)
        headers = dict(request.headers.items())
    http_request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(http_request, timeout=60) as response:
            return RawResponse(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return RawResponse(error.code, error.headers, error.read())


def json_request(endpoint: str, operation: str, payload: dict) -> RawResponse:
    """An awsJson 1.0 request as current SDKs send it."""
    body = json.dumps(payload).encode("utf-8")
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"AmazonSQS.{operation}",
        "x-amzn-query-mode": "true",
    }
    return _send("POST", endpoint + "/", body, headers)


def query_request(url: str, params: dict, method: str = "POST") -> RawResponse:
    """A legacy awsQuery request: form-encoded POST (or GET with a query string)."""
    fields = {"Version": QUERY_VERSION, **params}
    encoded = urllib.parse.urlencode(fields)
    if method == "GET":
        return _send("GET", f"{url}?{encoded}", None, {})
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    return _send("POST", url, encoded.encode("utf-8"), headers)


def q(tag: str) -> str:
    """A tag name in the SQS awsQuery namespace, for ElementTree paths."""
    return f"{{{QUERY_NAMESPACE}}}{tag}"


def local_name(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def find_local(element: ET.Element, *path: str) -> ET.Element | None:
    """Walks child elements by local name, whatever namespace they carry."""
    current = element
    for name in path:
        current = next((child for child in current if local_name(child) == name), None)
        if current is None:
            return None
    return current


def error_code(error) -> str:
    """The error code boto3 shows users (the awsQuery code, from x-amzn-query-error)."""
    return error.response["Error"]["Code"]
