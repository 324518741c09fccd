"""SNS platform applications and endpoints, account SMS settings, opt-outs and the SMS sandbox,
through boto3 (awsQuery): every operation's answer and SNS's errors, NextToken paging, the
one-time password a new sandbox number is texted (read back from Wharf's SMS recorder at
`/_wharf/sns/sms-messages`), and the XML of a reply checked element by element before botocore
parses it with the SNS model."""

from __future__ import annotations

import json
import random
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError
from botocore.parsers import QueryParser

from conftest import unique_name
from helpers import ACCOUNT_ID, CREDENTIALS, REGION, error_code, find_local, local_name

SNS_NAMESPACE = "http://sns.amazonaws.com/doc/2010-03-31/"
WAIT_SECONDS = 20
VERIFICATION_PREFIX = "Your Amazon SNS verification code is: "


def expect_error(code: str, call, **kwargs) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    assert error_code(caught.value) == code, caught.value.response
    return caught.value


def status_of(error: ClientError) -> int:
    return error.response["ResponseMetadata"]["HTTPStatusCode"]


def phone_number() -> str:
    """A fresh number for this run, so tests sharing the server do not meet."""
    return "+1555" + "".join(random.choice("0123456789") for _ in range(7))


def admin(endpoint: str, method: str, path: str, query: dict | None = None) -> dict:
    url = f"{endpoint}/_wharf/{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def opt_out(endpoint: str, number: str) -> None:
    """What a STOP reply from the phone would do."""
    reply = admin(endpoint, "POST", "sns/sms-opt-outs", {"AccountId": ACCOUNT_ID, "PhoneNumber": number})
    assert reply["OptedOut"] is True


def texts_to(endpoint: str, number: str, count: int) -> list[str]:
    """The SMS texts recorded for a number, once there are `count` of them."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        messages = admin(endpoint, "GET", "sns/sms-messages", {"PhoneNumber": number})["Messages"]
        if len(messages) >= count or time.monotonic() > deadline:
            return [message["Message"] for message in messages]
        time.sleep(0.05)


def password_in(text: str) -> str:
    assert text.startswith(VERIFICATION_PREFIX), text
    password = text[len(VERIFICATION_PREFIX) :]
    assert len(password) == 6 and password.isdigit(), text
    return password


@pytest.fixture
def make_application(sns):
    """Creates GCM platform applications with unique names and deletes them afterwards."""
    created: list[str] = []

    def create(platform: str = "GCM", **attributes: str) -> str:
        attributes = {"PlatformCredential": "server-key", **attributes}
        arn = sns.create_platform_application(Name=unique_name("app"), Platform=platform, Attributes=attributes)[
            "PlatformApplicationArn"
        ]
        created.append(arn)
        return arn

    yield create
    for arn in created:
        try:
            sns.delete_platform_application(PlatformApplicationArn=arn)
        except Exception:
            pass


# --- platform applications ----------------------------------------------------------------------


def test_platform_application_lifecycle(sns):
    name = unique_name("app")
    attributes = {"PlatformCredential": "server-key", "SuccessFeedbackSampleRate": "100"}
    arn = sns.create_platform_application(Name=name, Platform="GCM", Attributes=attributes)["PlatformApplicationArn"]
    assert arn == f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:app/GCM/{name}"
    again = sns.create_platform_application(Name=name, Platform="GCM", Attributes=attributes)
    assert again["PlatformApplicationArn"] == arn
    expect_error(
        "InvalidParameter",
        sns.create_platform_application,
        Name=name,
        Platform="GCM",
        Attributes={"PlatformCredential": "another-key"},
    )

    got = sns.get_platform_application_attributes(PlatformApplicationArn=arn)["Attributes"]
    assert got == {"Enabled": "true", "SuccessFeedbackSampleRate": "100"}, "PlatformCredential is never returned"
    sns.set_platform_application_attributes(
        PlatformApplicationArn=arn, Attributes={"Enabled": "false", "EventDeliveryFailure": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:failures"}
    )
    got = sns.get_platform_application_attributes(PlatformApplicationArn=arn)["Attributes"]
    assert got["Enabled"] == "false"
    assert got["EventDeliveryFailure"].endswith(":failures")

    listed = [
        application
        for page in sns.get_paginator("list_platform_applications").paginate()
        for application in page["PlatformApplications"]
    ]
    mine = [application for application in listed if application["PlatformApplicationArn"] == arn]
    assert mine == [{"PlatformApplicationArn": arn, "Attributes": got}]

    sns.delete_platform_application(PlatformApplicationArn=arn)
    sns.delete_platform_application(PlatformApplicationArn=arn)  # idempotent
    error = expect_error("NotFound", sns.get_platform_application_attributes, PlatformApplicationArn=arn)
    assert status_of(error) == 404
    expect_error("NotFound", sns.set_platform_application_attributes, PlatformApplicationArn=arn, Attributes={"Enabled": "true"})


@pytest.mark.parametrize(
    "platform, attributes, reason",
    [
        ("FCM", {"PlatformCredential": "key"}, "Invalid parameter: Platform"),
        ("GCM", {}, "PlatformCredential"),
        ("APNS", {"PlatformCredential": "key"}, "PlatformPrincipal"),
        ("GCM", {"PlatformCredential": "key", "Colour": "blue"}, "Invalid attribute name"),
        ("GCM", {"PlatformCredential": "key", "SuccessFeedbackSampleRate": "101"}, "SuccessFeedbackSampleRate"),
    ],
)
def test_bad_platform_applications_are_invalid_parameter(sns, platform, attributes, reason):
    error = expect_error(
        "InvalidParameter", sns.create_platform_application, Name=unique_name("app"), Platform=platform, Attributes=attributes
    )
    assert reason in error.response["Error"]["Message"]
    assert status_of(error) == 400


def test_application_names_and_apns_token_signing(sns, make_application):
    expect_error(
        "InvalidParameter", sns.create_platform_application, Name="has space", Platform="GCM", Attributes={"PlatformCredential": "k"}
    )
    arn = make_application("APNS_SANDBOX", ApplePlatformTeamID="TEAM1", ApplePlatformBundleID="com.example.app")
    assert ":app/APNS_SANDBOX/" in arn
    arn = make_application("APNS", PlatformPrincipal="certificate")
    assert ":app/APNS/" in arn


# --- platform endpoints -------------------------------------------------------------------------


def test_platform_endpoint_lifecycle(sns, make_application):
    application = make_application()
    arn = sns.create_platform_endpoint(PlatformApplicationArn=application, Token="device-1", CustomUserData="user 7")[
        "EndpointArn"
    ]
    name = application.rsplit("/", 1)[1]
    assert arn.startswith(f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:endpoint/GCM/{name}/")
    again = sns.create_platform_endpoint(PlatformApplicationArn=application, Token="device-1", CustomUserData="user 7")
    assert again["EndpointArn"] == arn
    error = expect_error(
        "InvalidParameter",
        sns.create_platform_endpoint,
        PlatformApplicationArn=application,
        Token="device-1",
        CustomUserData="user 8",
    )
    assert error.response["Error"]["Message"] == (
        f"Invalid parameter: Token Reason: Endpoint {arn} already exists with the same Token, but different attributes."
    )

    assert sns.get_endpoint_attributes(EndpointArn=arn)["Attributes"] == {
        "Token": "device-1",
        "Enabled": "true",
        "CustomUserData": "user 7",
    }
    sns.set_endpoint_attributes(EndpointArn=arn, Attributes={"Enabled": "false", "Token": "device-2"})
    assert sns.get_endpoint_attributes(EndpointArn=arn)["Attributes"] == {
        "Token": "device-2",
        "Enabled": "false",
        "CustomUserData": "user 7",
    }
    listed = sns.list_endpoints_by_platform_application(PlatformApplicationArn=application)
    assert listed["Endpoints"] == [{"EndpointArn": arn, "Attributes": sns.get_endpoint_attributes(EndpointArn=arn)["Attributes"]}]
    assert "NextToken" not in listed

    sns.delete_endpoint(EndpointArn=arn)
    sns.delete_endpoint(EndpointArn=arn)  # idempotent
    error = expect_error("NotFound", sns.get_endpoint_attributes, EndpointArn=arn)
    assert error.response["Error"]["Message"] == "Endpoint does not exist"
    expect_error("NotFound", sns.set_endpoint_attributes, EndpointArn=arn, Attributes={"Enabled": "true"})


def test_platform_endpoint_errors(sns, make_application):
    application = make_application()
    missing = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:app/GCM/{unique_name('absent')}"
    error = expect_error("NotFound", sns.create_platform_endpoint, PlatformApplicationArn=missing, Token="t")
    assert status_of(error) == 404
    expect_error("NotFound", sns.list_endpoints_by_platform_application, PlatformApplicationArn=missing)
    expect_error("InvalidParameter", sns.create_platform_endpoint, PlatformApplicationArn=application, Token="")
    expect_error(
        "InvalidParameter", sns.create_platform_endpoint, PlatformApplicationArn=application, Token="t", CustomUserData="x" * 2049
    )
    expect_error(
        "InvalidParameter", sns.create_platform_endpoint, PlatformApplicationArn=application, Token="t", Attributes={"Colour": "blue"}
    )
    expect_error("InvalidParameter", sns.get_endpoint_attributes, EndpointArn="a-fake-arn")


def test_endpoints_page_by_100_and_go_with_their_application(sns, make_application):
    application = make_application()
    created = {
        sns.create_platform_endpoint(PlatformApplicationArn=application, Token=f"token-{index}")["EndpointArn"]
        for index in range(105)
    }
    first = sns.list_endpoints_by_platform_application(PlatformApplicationArn=application)
    assert len(first["Endpoints"]) == 100
    second = sns.list_endpoints_by_platform_application(PlatformApplicationArn=application, NextToken=first["NextToken"])
    assert len(second["Endpoints"]) == 5
    assert "NextToken" not in second
    assert {endpoint["EndpointArn"] for endpoint in first["Endpoints"] + second["Endpoints"]} == created
    expect_error(
        "InvalidParameter", sns.list_endpoints_by_platform_application, PlatformApplicationArn=application, NextToken="not a token!"
    )

    sns.delete_platform_application(PlatformApplicationArn=application)
    expect_error("NotFound", sns.get_endpoint_attributes, EndpointArn=next(iter(created)))


# --- SMS settings and opt-outs ------------------------------------------------------------------


def test_sms_attributes(sns):
    sns.set_sms_attributes(attributes={"DefaultSMSType": "Transactional", "MonthlySpendLimit": "5"})
    sns.set_sms_attributes(attributes={"DefaultSenderID": "Wharf"})
    stored = sns.get_sms_attributes()["attributes"]
    assert {name: stored[name] for name in ("DefaultSMSType", "MonthlySpendLimit", "DefaultSenderID")} == {
        "DefaultSMSType": "Transactional",
        "MonthlySpendLimit": "5",
        "DefaultSenderID": "Wharf",
    }
    assert sns.get_sms_attributes(attributes=["DefaultSMSType"])["attributes"] == {"DefaultSMSType": "Transactional"}
    for name, value in [("DefaultSMSType", "Marketing"), ("MonthlySpendLimit", "2.5"), ("test", "test")]:
        expect_error("InvalidParameter", sns.set_sms_attributes, attributes={name: value})


def test_opt_out_check_list_and_opt_in(sns, endpoint):
    number = phone_number()
    assert sns.check_if_phone_number_is_opted_out(phoneNumber=number)["isOptedOut"] is False
    opt_out(endpoint, number)
    assert sns.check_if_phone_number_is_opted_out(phoneNumber=number)["isOptedOut"] is True
    listed = [number for page in sns.get_paginator("list_phone_numbers_opted_out").paginate() for number in page["phoneNumbers"]]
    assert number in listed
    sns.opt_in_phone_number(phoneNumber=number)
    assert sns.check_if_phone_number_is_opted_out(phoneNumber=number)["isOptedOut"] is False
    expect_error("InvalidParameter", sns.check_if_phone_number_is_opted_out, phoneNumber="not-a-number")
    expect_error("InvalidParameter", sns.opt_in_phone_number, phoneNumber="+1")


def test_opted_out_numbers_page_by_100(sns, endpoint):
    numbers = {phone_number() for _ in range(105)}
    for number in numbers:
        opt_out(endpoint, number)
    first = sns.list_phone_numbers_opted_out()
    assert len(first["phoneNumbers"]) == 100
    assert first["nextToken"]
    listed = [number for page in sns.get_paginator("list_phone_numbers_opted_out").paginate() for number in page["phoneNumbers"]]
    assert numbers <= set(listed)
    assert len(listed) == len(set(listed)), "no number is listed twice"
    for number in numbers:
        sns.opt_in_phone_number(phoneNumber=number)


# --- the SMS sandbox ----------------------------------------------------------------------------


def test_sandbox_number_is_texted_a_password_and_verified(sns, endpoint):
    assert sns.get_sms_sandbox_account_status()["IsInSandbox"] is False
    number = phone_number()
    sns.create_sms_sandbox_phone_number(PhoneNumber=number, LanguageCode="en-GB")
    password = password_in(texts_to(endpoint, number, 1)[-1])
    listed = [entry for page in sns.get_paginator("list_sms_sandbox_phone_numbers").paginate() for entry in page["PhoneNumbers"]]
    assert {"PhoneNumber": number, "Status": "Pending"} in listed

    wrong = "111111" if password == "000000" else "000000"
    error = expect_error("VerificationException", sns.verify_sms_sandbox_phone_number, PhoneNumber=number, OneTimePassword=wrong)
    assert status_of(error) == 400
    assert error.response["Error"]["Message"] == "Invalid one-time password"
    sns.verify_sms_sandbox_phone_number(PhoneNumber=number, OneTimePassword=password)
    listed = [entry for page in sns.get_paginator("list_sms_sandbox_phone_numbers").paginate() for entry in page["PhoneNumbers"]]
    assert {"PhoneNumber": number, "Status": "Verified"} in listed

    sns.delete_sms_sandbox_phone_number(PhoneNumber=number)
    error = expect_error("ResourceNotFound", sns.delete_sms_sandbox_phone_number, PhoneNumber=number)
    assert status_of(error) == 404
    expect_error("ResourceNotFound", sns.verify_sms_sandbox_phone_number, PhoneNumber=number, OneTimePassword="123456")


def test_sandbox_errors_and_paging(sns, endpoint):
    opted_out = phone_number()
    opt_out(endpoint, opted_out)
    error = expect_error("OptedOut", sns.create_sms_sandbox_phone_number, PhoneNumber=opted_out)
    assert status_of(error) == 400
    expect_error("InvalidParameter", sns.create_sms_sandbox_phone_number, PhoneNumber="+1234567")
    expect_error("InvalidParameter", sns.create_sms_sandbox_phone_number, PhoneNumber=phone_number(), LanguageCode="xx-XX")

    numbers = [phone_number() for _ in range(3)]
    for number in numbers:
        sns.create_sms_sandbox_phone_number(PhoneNumber=number)
    pages = list(sns.get_paginator("list_sms_sandbox_phone_numbers").paginate(PaginationConfig={"PageSize": 2}))
    assert all(len(page["PhoneNumbers"]) <= 2 for page in pages)
    listed = [entry["PhoneNumber"] for page in pages for entry in page["PhoneNumbers"]]
    assert set(numbers) <= set(listed)
    expect_error("InvalidParameter", sns.list_sms_sandbox_phone_numbers, MaxResults=101)
    for number in numbers:
        sns.delete_sms_sandbox_phone_number(PhoneNumber=number)


def test_list_origination_numbers_is_empty(sns):
    assert sns.list_origination_numbers()["PhoneNumbers"] == []
    assert sns.list_origination_numbers(MaxResults=30)["PhoneNumbers"] == []
    error = expect_error("ValidationException", sns.list_origination_numbers, MaxResults=31)
    assert status_of(error) == 400


# --- the awsQuery XML itself ----------------------------------------------------------------------


def sns_query(endpoint: str, params: dict) -> tuple[int, bytes]:
    """A signed awsQuery SNS request, as botocore would send it."""
    body = urllib.parse.urlencode({"Version": "2010-03-31", **params}).encode()
    request = AWSRequest(
        method="POST", url=endpoint + "/", data=body, headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    )
    SigV4Auth(CREDENTIALS, "sns", REGION).add_auth(request)
    http_request = urllib.request.Request(endpoint + "/", data=body, method="POST", headers=dict(request.headers.items()))
    with urllib.request.urlopen(http_request, timeout=30) as response:
        return response.status, response.read()


def parse_with_model(operation: str, status: int, body: bytes) -> dict:
    model = botocore.session.get_session().get_service_model("sns").operation_model(operation)
    parsed = QueryParser().parse({"status_code": status, "headers": {}, "body": body}, model.output_shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


def test_query_xml_of_lists_maps_and_string_lists(sns, endpoint, make_application):
    application = make_application()
    device = sns.create_platform_endpoint(PlatformApplicationArn=application, Token="xml-token")["EndpointArn"]

    status, body = sns_query(endpoint, {"Action": "ListEndpointsByPlatformApplication", "PlatformApplicationArn": application})
    root = ET.fromstring(body)
    assert root.tag == f"{{{SNS_NAMESPACE}}}ListEndpointsByPlatformApplicationResponse"
    members = list(find_local(root, "ListEndpointsByPlatformApplicationResult", "Endpoints"))
    assert [local_name(member) for member in members] == ["member"]
    entries = {
        find_local(entry, "key").text: find_local(entry, "value").text for entry in find_local(members[0], "Attributes")
    }
    assert entries == {"Token": "xml-token", "Enabled": "true"}
    assert find_local(members[0], "EndpointArn").text == device
    parsed = parse_with_model("ListEndpointsByPlatformApplication", status, body)
    assert parsed["Endpoints"] == [{"EndpointArn": device, "Attributes": {"Token": "xml-token", "Enabled": "true"}}]

    sns.set_sms_attributes(attributes={"DefaultSMSType": "Promotional"})
    status, body = sns_query(endpoint, {"Action": "GetSMSAttributes", "attributes.member.1": "DefaultSMSType"})
    root = ET.fromstring(body)
    attributes = find_local(root, "GetSMSAttributesResult", "attributes")
    assert [local_name(child) for child in attributes] == ["entry"]
    assert parse_with_model("GetSMSAttributes", status, body)["attributes"] == {"DefaultSMSType": "Promotional"}

    number = phone_number()
    opt_out(endpoint, number)
    status, body = sns_query(endpoint, {"Action": "ListPhoneNumbersOptedOut"})
    numbers = find_local(ET.fromstring(body), "ListPhoneNumbersOptedOutResult", "phoneNumbers")
    assert {local_name(child) for child in numbers} == {"member"}
    assert number in parse_with_model("ListPhoneNumbersOptedOut", status, body)["phoneNumbers"]
    sns.opt_in_phone_number(phoneNumber=number)

    status, body = sns_query(endpoint, {"Action": "CheckIfPhoneNumberIsOptedOut", "phoneNumber": number})
    assert find_local(ET.fromstring(body), "CheckIfPhoneNumberIsOptedOutResult", "isOptedOut").text == "false"
    assert parse_with_model("CheckIfPhoneNumberIsOptedOut", status, body) == {"isOptedOut": False}

    status, body = sns_query(endpoint, {"Action": "ListOriginationNumbers"})
    assert parse_with_model("ListOriginationNumbers", status, body)["PhoneNumbers"] == []
    status, body = sns_query(endpoint, {"Action": "DeleteEndpoint", "EndpointArn": device})
    assert find_local(ET.fromstring(body), "DeleteEndpointResult") is None, "DeleteEndpoint has no output shape"
