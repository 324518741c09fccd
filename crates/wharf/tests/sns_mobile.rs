//! SNS platform applications and endpoints, account SMS settings, opt-outs and the SMS sandbox
//! through aws-sdk-sns: every operation's answer, SNS's errors, NextToken paging, the one-time
//! password a new sandbox number is texted (read back from `/_wharf/sns/sms-messages`), callers
//! of another account, and that all of it survives a restart on the same data directory.

mod common;

use aws_sdk_sns::error::ProvideErrorMetadata;
use common::{code, config, gcm_application, platform_endpoint, raw_request, sns_client_as, TestServer, ACCOUNT};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use wharf::config::UserConfig;
use wharf::Server;
use wharf_domain::{Clock, SystemClock};

/// The message of a failed SDK call.
fn message<E: ProvideErrorMetadata, R>(error: &aws_sdk_sns::error::SdkError<E, R>) -> String {
    error.as_service_error().and_then(|service| service.message()).unwrap_or("").to_string()
}

fn status<E, R: HttpStatus>(error: &aws_sdk_sns::error::SdkError<E, R>) -> u16 {
    error.raw_response().map(HttpStatus::status_code).unwrap_or(0)
}

trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_sns::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// The texts recorded for a phone number, oldest first.
async fn texts_to(server: &TestServer, number: &str) -> Vec<String> {
    common::sns_outbox_drained(server).await;
    let path = format!("/_wharf/sns/sms-messages?PhoneNumber={}", number.replace('+', "%2B"));
    let response = raw_request(&server.endpoint, false, "GET", &path, &[], "").await;
    assert_eq!(response.status, 200, "{}", response.text());
    let messages = response.json()["Messages"].as_array().cloned().unwrap_or_default();
    messages.iter().map(|message| message["Message"].as_str().unwrap_or("").to_string()).collect()
}

/// The one-time password of the newest verification text to a number.
async fn password_sent_to(server: &TestServer, number: &str) -> String {
    let texts = texts_to(server, number).await;
    let newest = texts.last().expect("a verification text");
    let password = newest.strip_prefix("Your Amazon SNS verification code is: ").expect("the verification text");
    assert!(password.len() == 6 && password.bytes().all(|byte| byte.is_ascii_digit()), "{newest}");
    password.to_string()
}

#[tokio::test]
async fn platform_applications_are_created_read_changed_listed_and_deleted() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let arn = gcm_application(&sns, "shop.app-1").await;
    assert_eq!(arn, format!("arn:aws:sns:us-east-1:{ACCOUNT}:app/GCM/shop.app-1"));
    assert_eq!(gcm_application(&sns, "shop.app-1").await, arn, "the same attributes give the same application");
    let different = sns
        .create_platform_application()
        .name("shop.app-1")
        .platform("GCM")
        .attributes("PlatformCredential", "other-key")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&different), "InvalidParameter");

    let attributes = sns.get_platform_application_attributes().platform_application_arn(&arn).send().await.unwrap();
    let attributes = attributes.attributes().unwrap();
    assert_eq!(attributes.get("Enabled").map(String::as_str), Some("true"));
    assert!(!attributes.contains_key("PlatformCredential"), "the credential is secret: {attributes:?}");

    sns.set_platform_application_attributes()
        .platform_application_arn(&arn)
        .attributes("Enabled", "false")
        .attributes("SuccessFeedbackSampleRate", "50")
        .attributes("EventEndpointCreated", format!("arn:aws:sns:us-east-1:{ACCOUNT}:events"))
        .send()
        .await
        .unwrap();
    let attributes = sns.get_platform_application_attributes().platform_application_arn(&arn).send().await.unwrap();
    let attributes = attributes.attributes().unwrap();
    assert_eq!(attributes["Enabled"], "false");
    assert_eq!(attributes["SuccessFeedbackSampleRate"], "50");
    for (name, value) in
        [("Enabled", "maybe"), ("Bogus", "x"), ("SuccessFeedbackSampleRate", "101"), ("PlatformCredential", "")]
    {
        let error = sns
            .set_platform_application_attributes()
            .platform_application_arn(&arn)
            .attributes(name, value)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&error), "InvalidParameter", "{name}={value}");
    }

    let apns = sns
        .create_platform_application()
        .name("ios")
        .platform("APNS")
        .attributes("PlatformCredential", "private-key")
        .attributes("PlatformPrincipal", "certificate")
        .send()
        .await
        .unwrap()
        .platform_application_arn
        .unwrap();
    let listed = sns.list_platform_applications().send().await.unwrap();
    let listed: Vec<(&str, Option<&str>)> = listed
        .platform_applications()
        .iter()
        .map(|application| {
            let enabled = application.attributes().and_then(|attributes| attributes.get("Enabled")).map(String::as_str);
            (application.platform_application_arn().unwrap(), enabled)
        })
        .collect();
    assert_eq!(listed, vec![(apns.as_str(), Some("true")), (arn.as_str(), Some("false"))]);

    sns.delete_platform_application().platform_application_arn(&apns).send().await.unwrap();
    sns.delete_platform_application().platform_application_arn(&apns).send().await.expect("delete is idempotent");
    let missing = sns.get_platform_application_attributes().platform_application_arn(&apns).send().await.unwrap_err();
    assert_eq!((code(&missing).as_str(), status(&missing)), ("NotFound", 404));
    let missing = sns
        .set_platform_application_attributes()
        .platform_application_arn(&apns)
        .attributes("Enabled", "true")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&missing), "NotFound");
    assert_eq!(sns.list_platform_applications().send().await.unwrap().platform_applications().len(), 1);
}

#[tokio::test]
async fn platform_applications_need_a_valid_name_platform_and_credentials() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let create = |name: &str, platform: &str, attributes: &[(&str, &str)]| {
        let mut request = sns.create_platform_application().name(name).platform(platform);
        for (attribute, value) in attributes {
            request = request.attributes(*attribute, *value);
        }
        request.send()
    };
    let key = [("PlatformCredential", "key")];
    for (name, platform, attributes, reason) in [
        ("has space", "GCM", &key[..], "Name"),
        ("app", "FCM", &key[..], "Platform"),
        ("app", "GCM", &[("PlatformPrincipal", "p")][..], "PlatformCredential"),
        ("app", "APNS", &key[..], "PlatformPrincipal"),
        ("app", "GCM", &[("PlatformCredential", "key"), ("Enabled", "true")][..], "Invalid attribute name"),
        (
            "app",
            "GCM",
            &[("PlatformCredential", "key"), ("SuccessFeedbackRoleArn", "role")][..],
            "SuccessFeedbackRoleArn",
        ),
    ] {
        let error = create(name, platform, attributes).await.unwrap_err();
        assert_eq!(code(&error), "InvalidParameter", "{name} {platform} {attributes:?}");
        assert!(message(&error).contains(reason), "{}", message(&error));
    }
    assert_eq!(message(&create("app", "FCM", &key).await.unwrap_err()), "Invalid parameter: Platform");
    // APNS with token-based signing needs no certificate principal.
    let token_based = [
        ("PlatformCredential", "signing-key"),
        ("ApplePlatformTeamID", "TEAM123"),
        ("ApplePlatformBundleID", "com.example.app"),
        ("AuthenticationMethod", "Token"),
    ];
    let created = create("ios-token", "APNS_SANDBOX", &token_based).await.unwrap();
    assert_eq!(
        created.platform_application_arn(),
        Some(format!("arn:aws:sns:us-east-1:{ACCOUNT}:app/APNS_SANDBOX/ios-token").as_str())
    );
    let missing = sns.create_platform_application().name("app").platform("GCM").send().await.unwrap_err();
    assert_eq!(code(&missing), "InvalidParameter");
    assert!(message(&missing).contains("PlatformCredential"), "{}", message(&missing));
    let bad_arn = sns.get_platform_application_attributes().platform_application_arn("a-fake-arn").send().await;
    assert_eq!(code(&bad_arn.unwrap_err()), "InvalidParameter");
}

#[tokio::test]
async fn platform_endpoints_are_idempotent_per_token_and_change_their_attributes() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let application = gcm_application(&sns, "shop").await;
    let created = sns
        .create_platform_endpoint()
        .platform_application_arn(&application)
        .token("device-token-1")
        .custom_user_data("user 42")
        .send()
        .await
        .unwrap()
        .endpoint_arn
        .unwrap();
    let prefix = format!("arn:aws:sns:us-east-1:{ACCOUNT}:endpoint/GCM/shop/");
    let id = created.strip_prefix(&prefix).expect("endpoint ARN");
    assert!(uuid_like(id), "{id}");
    let again = sns
        .create_platform_endpoint()
        .platform_application_arn(&application)
        .token("device-token-1")
        .custom_user_data("user 42")
        .send()
        .await
        .unwrap();
    assert_eq!(again.endpoint_arn(), Some(created.as_str()), "same token and user data: the same endpoint");
    let conflict = sns
        .create_platform_endpoint()
        .platform_application_arn(&application)
        .token("device-token-1")
        .custom_user_data("user 43")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&conflict), "InvalidParameter");
    assert_eq!(
        message(&conflict),
        format!(
            "Invalid parameter: Token Reason: Endpoint {created} already exists with the same Token, but different attributes."
        )
    );

    let attributes = sns.get_endpoint_attributes().endpoint_arn(&created).send().await.unwrap();
    let attributes: Vec<(&str, &str)> =
        attributes.attributes().unwrap().iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
    let mut attributes = attributes;
    attributes.sort();
    assert_eq!(attributes, vec![("CustomUserData", "user 42"), ("Enabled", "true"), ("Token", "device-token-1")]);

    sns.set_endpoint_attributes()
        .endpoint_arn(&created)
        .attributes("Enabled", "false")
        .attributes("Token", "device-token-2")
        .attributes("CustomUserData", "")
        .send()
        .await
        .unwrap();
    let attributes = sns.get_endpoint_attributes().endpoint_arn(&created).send().await.unwrap();
    let attributes = attributes.attributes().unwrap();
    assert_eq!(attributes.get("Enabled").map(String::as_str), Some("false"));
    assert_eq!(attributes.get("Token").map(String::as_str), Some("device-token-2"));
    assert!(!attributes.contains_key("CustomUserData"), "an empty value removes it");
    // A disabled endpoint is returned for its token when Enabled is not asked for.
    let again = sns.create_platform_endpoint().platform_application_arn(&application).token("device-token-2").send();
    assert_eq!(again.await.unwrap().endpoint_arn(), Some(created.as_str()));
    let enabled = sns
        .create_platform_endpoint()
        .platform_application_arn(&application)
        .token("device-token-2")
        .attributes("Enabled", "true")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&enabled), "InvalidParameter");

    // Attributes win over the CustomUserData parameter.
    let other = sns
        .create_platform_endpoint()
        .platform_application_arn(&application)
        .token("device-token-3")
        .custom_user_data("parameter")
        .attributes("CustomUserData", "attribute")
        .attributes("Enabled", "false")
        .send()
        .await
        .unwrap()
        .endpoint_arn
        .unwrap();
    let attributes = sns.get_endpoint_attributes().endpoint_arn(&other).send().await.unwrap();
    assert_eq!(attributes.attributes().unwrap()["CustomUserData"], "attribute");
    assert_eq!(attributes.attributes().unwrap()["Enabled"], "false");

    sns.delete_endpoint().endpoint_arn(&other).send().await.unwrap();
    sns.delete_endpoint().endpoint_arn(&other).send().await.expect("delete is idempotent");
    let missing = sns.get_endpoint_attributes().endpoint_arn(&other).send().await.unwrap_err();
    assert_eq!(
        (code(&missing).as_str(), message(&missing).as_str(), status(&missing)),
        ("NotFound", "Endpoint does not exist", 404)
    );
    let missing = sns.set_endpoint_attributes().endpoint_arn(&other).attributes("Enabled", "true").send().await;
    assert_eq!(code(&missing.unwrap_err()), "NotFound");
    let listed = sns.list_endpoints_by_platform_application().platform_application_arn(&application).send().await;
    let listed: Vec<String> =
        listed.unwrap().endpoints().iter().map(|endpoint| endpoint.endpoint_arn().unwrap().to_string()).collect();
    assert_eq!(listed, vec![created.clone()]);
}

fn uuid_like(id: &str) -> bool {
    id.len() == 36 && id.bytes().all(|byte| byte.is_ascii_hexdigit() || byte == b'-')
}

#[tokio::test]
async fn platform_endpoint_errors() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let application = gcm_application(&sns, "shop").await;
    let missing_application = format!("arn:aws:sns:us-east-1:{ACCOUNT}:app/GCM/absent");
    let error = sns.create_platform_endpoint().platform_application_arn(&missing_application).token("t").send().await;
    let error = error.unwrap_err();
    assert_eq!((code(&error).as_str(), status(&error)), ("NotFound", 404));
    let error = sns.list_endpoints_by_platform_application().platform_application_arn(&missing_application).send();
    assert_eq!(code(&error.await.unwrap_err()), "NotFound");

    let create = |token: &str, attributes: &[(&str, &str)]| {
        let mut request = sns.create_platform_endpoint().platform_application_arn(&application).token(token);
        for (name, value) in attributes {
            request = request.attributes(*name, *value);
        }
        request.send()
    };
    let too_long = "x".repeat(2049);
    for (token, attributes) in [
        ("", &[][..]),
        ("t", &[("CustomUserData", too_long.as_str())][..]),
        ("t", &[("Enabled", "sometimes")][..]),
        ("t", &[("Color", "blue")][..]),
        ("t", &[("Token", "")][..]),
    ] {
        let error = create(token, attributes).await.unwrap_err();
        assert_eq!(code(&error), "InvalidParameter", "{token:?} {attributes:?}");
    }
    let largest = "x".repeat(2048);
    create("t", &[("CustomUserData", largest.as_str())]).await.expect("2048 bytes of user data");
    let error = sns.create_platform_endpoint().platform_application_arn(&application).send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameter", "Token is required");
    for bad in ["a-fake-arn", "arn:aws:sns:us-east-1:000000000000:endpoint/GCM/shop"] {
        assert_eq!(
            code(&sns.get_endpoint_attributes().endpoint_arn(bad).send().await.unwrap_err()),
            "InvalidParameter"
        );
        assert_eq!(code(&sns.delete_endpoint().endpoint_arn(bad).send().await.unwrap_err()), "InvalidParameter");
    }
}

#[tokio::test]
async fn endpoints_and_applications_page_by_100() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let application = gcm_application(&sns, "many").await;
    let mut created = BTreeSet::new();
    for index in 0..105 {
        created.insert(platform_endpoint(&sns, &application, &format!("token-{index}")).await);
    }
    let first = sns.list_endpoints_by_platform_application().platform_application_arn(&application).send().await;
    let first = first.unwrap();
    assert_eq!(first.endpoints().len(), 100);
    let token = first.next_token().expect("a second page").to_string();
    let second = sns
        .list_endpoints_by_platform_application()
        .platform_application_arn(&application)
        .next_token(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(second.endpoints().len(), 5);
    assert_eq!(second.next_token(), None);
    let listed: BTreeSet<String> = first
        .endpoints()
        .iter()
        .chain(second.endpoints())
        .map(|endpoint| endpoint.endpoint_arn().unwrap().to_string())
        .collect();
    assert_eq!(listed, created);
    let bad = sns
        .list_endpoints_by_platform_application()
        .platform_application_arn(&application)
        .next_token("not a token!")
        .send()
        .await;
    assert_eq!(code(&bad.unwrap_err()), "InvalidParameter");

    // Through the SDK's paginator too, over applications.
    for index in 0..104 {
        gcm_application(&sns, &format!("app-{index:03}")).await;
    }
    let pages: Vec<_> =
        sns.list_platform_applications().into_paginator().send().collect::<Result<Vec<_>, _>>().await.unwrap();
    let sizes: Vec<usize> = pages.iter().map(|page| page.platform_applications().len()).collect();
    assert_eq!(sizes, vec![100, 5]);

    // Deleting the application deletes its endpoints.
    sns.delete_platform_application().platform_application_arn(&application).send().await.unwrap();
    let gone = created.iter().next().unwrap();
    assert_eq!(code(&sns.get_endpoint_attributes().endpoint_arn(gone).send().await.unwrap_err()), "NotFound");
    let recreated = gcm_application(&sns, "many").await;
    let listed = sns.list_endpoints_by_platform_application().platform_application_arn(&recreated).send().await;
    assert!(listed.unwrap().endpoints().is_empty(), "a recreated application starts without endpoints");
}

#[tokio::test]
async fn sms_attributes_are_merged_and_checked() {
    let server = TestServer::start().await;
    let sns = server.sns();
    assert!(sns.get_sms_attributes().send().await.unwrap().attributes().unwrap_or(&Default::default()).is_empty());
    sns.set_sms_attributes()
        .attributes("DefaultSMSType", "Transactional")
        .attributes("MonthlySpendLimit", "20")
        .send()
        .await
        .unwrap();
    sns.set_sms_attributes()
        .attributes("DefaultSenderID", "Wharf")
        .attributes("DeliveryStatusSuccessSamplingRate", "10")
        .send()
        .await
        .unwrap();
    let all = sns.get_sms_attributes().send().await.unwrap();
    let mut all: Vec<(String, String)> = all.attributes().unwrap().clone().into_iter().collect();
    all.sort();
    let expected = [
        ("DefaultSMSType", "Transactional"),
        ("DefaultSenderID", "Wharf"),
        ("DeliveryStatusSuccessSamplingRate", "10"),
        ("MonthlySpendLimit", "20"),
    ];
    let mut expected: Vec<(String, String)> =
        expected.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    expected.sort();
    assert_eq!(all, expected);
    let some = sns.get_sms_attributes().attributes("DefaultSMSType").attributes("UsageReportS3Bucket").send();
    let some = some.await.unwrap();
    assert_eq!(some.attributes().unwrap().len(), 1);
    assert_eq!(some.attributes().unwrap()["DefaultSMSType"], "Transactional");
    for (name, value) in [
        ("MonthlySpendLimit", "1.5"),
        ("DeliveryStatusSuccessSamplingRate", "101"),
        ("DefaultSMSType", "Marketing"),
        ("DefaultSenderID", "twelve-chars"),
        ("Unknown", "x"),
    ] {
        let error = sns.set_sms_attributes().attributes(name, value).send().await.unwrap_err();
        assert_eq!(code(&error), "InvalidParameter", "{name}={value}");
    }
    let error = sns.get_sms_attributes().attributes("Unknown").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameter");
}

#[tokio::test]
async fn opted_out_numbers_are_checked_listed_paged_and_opted_in() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let engine = &server.server.engine().expect("serving");
    let number = "+15555550100";
    let checked = sns.check_if_phone_number_is_opted_out().phone_number(number).send().await.unwrap();
    assert!(!checked.is_opted_out());
    let mut numbers: Vec<String> = (0..105).map(|index| format!("+1555555{index:04}")).collect();
    for number in &numbers {
        wharf_sns::opt_out_phone_number(engine, ACCOUNT, number).await.unwrap();
    }
    wharf_sns::opt_out_phone_number(engine, "111111111111", "+15555559999").await.unwrap();
    assert!(wharf_sns::opt_out_phone_number(engine, ACCOUNT, "not-a-number").await.is_err());
    let checked = sns.check_if_phone_number_is_opted_out().phone_number(number).send().await.unwrap();
    assert!(checked.is_opted_out());

    let first = sns.list_phone_numbers_opted_out().send().await.unwrap();
    assert_eq!(first.phone_numbers().len(), 100);
    let second =
        sns.list_phone_numbers_opted_out().next_token(first.next_token().expect("a second page")).send().await.unwrap();
    assert_eq!(second.next_token(), None);
    let listed: Vec<String> = first.phone_numbers().iter().chain(second.phone_numbers()).cloned().collect();
    numbers.sort();
    assert_eq!(listed, numbers, "only this account's numbers, in order");

    sns.opt_in_phone_number().phone_number(number).send().await.unwrap();
    sns.opt_in_phone_number().phone_number(number).send().await.expect("opting in twice is fine");
    let checked = sns.check_if_phone_number_is_opted_out().phone_number(number).send().await.unwrap();
    assert!(!checked.is_opted_out());
    for bad in ["", "phone", "+1"] {
        let error = sns.check_if_phone_number_is_opted_out().phone_number(bad).send().await.unwrap_err();
        assert_eq!(code(&error), "InvalidParameter", "{bad:?}");
        assert_eq!(code(&sns.opt_in_phone_number().phone_number(bad).send().await.unwrap_err()), "InvalidParameter");
    }
}

#[tokio::test]
async fn sandbox_numbers_are_texted_a_password_and_verified() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let status = sns.get_sms_sandbox_account_status().send().await.unwrap();
    assert!(!status.is_in_sandbox());

    let number = "+15555550142";
    sns.create_sms_sandbox_phone_number()
        .phone_number(number)
        .language_code(aws_sdk_sns::types::LanguageCodeString::EnGb)
        .send()
        .await
        .unwrap();
    let password = password_sent_to(&server, number).await;
    let listed = sns.list_sms_sandbox_phone_numbers().send().await.unwrap();
    let listed: Vec<(&str, &str)> = listed
        .phone_numbers()
        .iter()
        .map(|entry| (entry.phone_number().unwrap(), entry.status().unwrap().as_str()))
        .collect();
    assert_eq!(listed, vec![(number, "Pending")]);

    let wrong = if password == "000000" { "111111" } else { "000000" };
    let error = sns.verify_sms_sandbox_phone_number().phone_number(number).one_time_password(wrong).send().await;
    let error = error.unwrap_err();
    assert_eq!((code(&error).as_str(), status_of(&error)), ("VerificationException", 400));
    assert_eq!(message(&error), "Invalid one-time password");
    // Asking again sends a new password; the old one no longer works unless it was drawn again.
    sns.create_sms_sandbox_phone_number().phone_number(number).send().await.unwrap();
    assert_eq!(texts_to(&server, number).await.len(), 2);
    let password = password_sent_to(&server, number).await;
    sns.verify_sms_sandbox_phone_number().phone_number(number).one_time_password(&password).send().await.unwrap();
    let listed = sns.list_sms_sandbox_phone_numbers().send().await.unwrap();
    assert_eq!(listed.phone_numbers()[0].status().unwrap().as_str(), "Verified");
    sns.create_sms_sandbox_phone_number().phone_number(number).send().await.expect("a verified number stays verified");
    assert_eq!(texts_to(&server, number).await.len(), 2, "and is not texted again");

    sns.delete_sms_sandbox_phone_number().phone_number(number).send().await.unwrap();
    let error = sns.delete_sms_sandbox_phone_number().phone_number(number).send().await.unwrap_err();
    assert_eq!((code(&error).as_str(), status_of(&error)), ("ResourceNotFound", 404));
    let error = sns.verify_sms_sandbox_phone_number().phone_number(number).one_time_password("123456").send().await;
    assert_eq!(code(&error.unwrap_err()), "ResourceNotFound");
    assert!(sns.list_sms_sandbox_phone_numbers().send().await.unwrap().phone_numbers().is_empty());
}

fn status_of<E>(error: &aws_sdk_sns::error::SdkError<E, aws_sdk_sns::config::http::HttpResponse>) -> u16 {
    status(error)
}

#[tokio::test]
async fn sandbox_and_origination_number_errors_and_paging() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let opted_out = "+15555550150";
    wharf_sns::opt_out_phone_number(&server.server.engine().expect("serving"), ACCOUNT, opted_out).await.unwrap();
    let error = sns.create_sms_sandbox_phone_number().phone_number(opted_out).send().await.unwrap_err();
    assert_eq!((code(&error).as_str(), status_of(&error)), ("OptedOut", 400));
    for bad in ["+1234567", "1234567890", "+1-555-0100", "+123456789012345678901"] {
        let error = sns.create_sms_sandbox_phone_number().phone_number(bad).send().await.unwrap_err();
        assert_eq!(code(&error), "InvalidParameter", "{bad}");
    }
    let error = sns
        .create_sms_sandbox_phone_number()
        .phone_number("+15555550151")
        .language_code(aws_sdk_sns::types::LanguageCodeString::from("xx-XX"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidParameter");
    let error = sns.verify_sms_sandbox_phone_number().phone_number("+15555550151").one_time_password("12ab56").send();
    assert_eq!(code(&error.await.unwrap_err()), "InvalidParameter");

    for index in 0..5 {
        sns.create_sms_sandbox_phone_number().phone_number(format!("+1555555020{index}")).send().await.unwrap();
    }
    let first = sns.list_sms_sandbox_phone_numbers().max_results(3).send().await.unwrap();
    assert_eq!(first.phone_numbers().len(), 3);
    let second = sns
        .list_sms_sandbox_phone_numbers()
        .max_results(3)
        .next_token(first.next_token().expect("a second page"))
        .send()
        .await
        .unwrap();
    assert_eq!(second.phone_numbers().len(), 2);
    assert_eq!(second.next_token(), None);
    for bad in [0, 101] {
        let error = sns.list_sms_sandbox_phone_numbers().max_results(bad).send().await.unwrap_err();
        assert_eq!(code(&error), "InvalidParameter", "{bad}");
    }

    let numbers = sns.list_origination_numbers().send().await.unwrap();
    assert!(numbers.phone_numbers().is_empty());
    assert_eq!(numbers.next_token(), None);
    assert!(sns.list_origination_numbers().max_results(30).send().await.is_ok());
    for bad in [0, 31] {
        let error = sns.list_origination_numbers().max_results(bad).send().await.unwrap_err();
        assert_eq!((code(&error).as_str(), status_of(&error)), ("ValidationException", 400), "{bad}");
    }
}

#[tokio::test]
async fn applications_endpoints_and_numbers_belong_to_the_callers_account() {
    let mut settings = config(None);
    settings.users = vec![
        UserConfig {
            access_key_id: "AKIDALICE0000001".into(),
            secret_access_key: "alice-secret".into(),
            account_id: Some("111111111111".into()),
        },
        UserConfig {
            access_key_id: "AKIDBOB000000002".into(),
            secret_access_key: "bob-secret".into(),
            account_id: Some("222222222222".into()),
        },
    ];
    let server = TestServer::start_with(settings, None).await;
    let alice = sns_client_as(&server.endpoint, "AKIDALICE0000001", "alice-secret");
    let bob = sns_client_as(&server.endpoint, "AKIDBOB000000002", "bob-secret");
    let application = gcm_application(&alice, "alice-app").await;
    assert!(application.contains(":111111111111:app/GCM/alice-app"), "{application}");
    let device = platform_endpoint(&alice, &application, "alice-device").await;

    let error = bob.get_platform_application_attributes().platform_application_arn(&application).send().await;
    assert_eq!(code(&error.unwrap_err()), "AuthorizationError");
    let error = bob.create_platform_endpoint().platform_application_arn(&application).token("t").send().await;
    assert_eq!(code(&error.unwrap_err()), "AuthorizationError");
    let error = bob.delete_endpoint().endpoint_arn(&device).send().await;
    assert_eq!(code(&error.unwrap_err()), "AuthorizationError");
    let error = bob.delete_platform_application().platform_application_arn(&application).send().await;
    assert_eq!(code(&error.unwrap_err()), "AuthorizationError");
    assert!(bob.list_platform_applications().send().await.unwrap().platform_applications().is_empty());

    alice.set_sms_attributes().attributes("DefaultSMSType", "Promotional").send().await.unwrap();
    let bobs = bob.get_sms_attributes().send().await.unwrap();
    assert!(bobs.attributes().is_none_or(|attributes| attributes.is_empty()));
    wharf_sns::opt_out_phone_number(&server.server.engine().expect("serving"), "111111111111", "+15555550160")
        .await
        .unwrap();
    let checked = bob.check_if_phone_number_is_opted_out().phone_number("+15555550160").send().await.unwrap();
    assert!(!checked.is_opted_out(), "an opt-out is per account");
    let checked = alice.check_if_phone_number_is_opted_out().phone_number("+15555550160").send().await.unwrap();
    assert!(checked.is_opted_out());
}

/// Starts a server on `dir`, on the wall clock.
async fn start_on(dir: &Path) -> TestServer {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let server = Server::start_with_clock(config(Some(dir.to_path_buf())), clock).await.expect("server starts");
    let endpoint = format!("http://{}", server.local_addr);
    TestServer { server, clock: None, endpoint }
}

#[tokio::test]
async fn mobile_and_sms_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_on(dir.path()).await;
    let sns = server.sns();
    let application = gcm_application(&sns, "durable").await;
    let device = sns
        .create_platform_endpoint()
        .platform_application_arn(&application)
        .token("durable-token")
        .custom_user_data("kept")
        .send()
        .await
        .unwrap()
        .endpoint_arn
        .unwrap();
    sns.set_sms_attributes().attributes("DefaultSMSType", "Transactional").send().await.unwrap();
    wharf_sns::opt_out_phone_number(&server.server.engine().expect("serving"), ACCOUNT, "+15555550170").await.unwrap();
    sns.create_sms_sandbox_phone_number().phone_number("+15555550171").send().await.unwrap();
    let password = password_sent_to(&server, "+15555550171").await;

    let TestServer { server: running, .. } = server;
    running.shutdown().await.expect("clean shutdown");
    let server = start_on(dir.path()).await;
    let sns = server.sns();

    let attributes = sns.get_platform_application_attributes().platform_application_arn(&application).send().await;
    assert_eq!(attributes.unwrap().attributes().unwrap()["Enabled"], "true");
    let attributes = sns.get_endpoint_attributes().endpoint_arn(&device).send().await.unwrap();
    let attributes = attributes.attributes().unwrap();
    assert_eq!((attributes["Token"].as_str(), attributes["CustomUserData"].as_str()), ("durable-token", "kept"));
    let again = sns.create_platform_endpoint().platform_application_arn(&application).token("durable-token");
    assert_eq!(again.custom_user_data("kept").send().await.unwrap().endpoint_arn(), Some(device.as_str()));
    let sms = sns.get_sms_attributes().send().await.unwrap();
    assert_eq!(sms.attributes().unwrap()["DefaultSMSType"], "Transactional");
    let checked = sns.check_if_phone_number_is_opted_out().phone_number("+15555550170").send().await.unwrap();
    assert!(checked.is_opted_out());
    // The password texted before the restart still verifies the number.
    sns.verify_sms_sandbox_phone_number()
        .phone_number("+15555550171")
        .one_time_password(&password)
        .send()
        .await
        .unwrap();
    let listed = sns.list_sms_sandbox_phone_numbers().send().await.unwrap();
    assert_eq!(listed.phone_numbers()[0].status().unwrap().as_str(), "Verified");
    server.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn query_replies_are_awsquery_xml() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let application = gcm_application(&sns, "xml").await;
    platform_endpoint(&sns, &application, "xml-token").await;
    sns.set_sms_attributes().attributes("DefaultSMSType", "Promotional").send().await.unwrap();
    let form = format!(
        "Action=ListEndpointsByPlatformApplication&Version=2010-03-31&PlatformApplicationArn={}",
        common::form_value(&application)
    );
    let response = common::query_call(&server.endpoint, "/", &form).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let text = response.text();
    assert!(text.contains("<ListEndpointsByPlatformApplicationResult><Endpoints><member><EndpointArn>"), "{text}");
    assert!(text.contains("<entry><key>Token</key><value>xml-token</value></entry>"), "{text}");
    let response = common::query_call(
        &server.endpoint,
        "/",
        "Action=GetSMSAttributes&Version=2010-03-31&attributes.member.1=DefaultSMSType",
    )
    .await;
    let text = response.text();
    assert!(
        text.contains(
            "<GetSMSAttributesResult><attributes><entry><key>DefaultSMSType</key><value>Promotional</value></entry></attributes></GetSMSAttributesResult>"
        ),
        "{text}"
    );
    let headers =
        [("x-amz-target", "SNS_20100331.CheckIfPhoneNumberIsOptedOut"), ("content-type", "application/x-amz-json-1.0")];
    let response =
        raw_request(&server.endpoint, false, "POST", "/", &headers, r#"{"phoneNumber":"+15555550180"}"#).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let json: Value = response.json();
    assert_eq!(json, serde_json::json!({ "isOptedOut": false }));
}
