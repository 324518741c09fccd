//! SNS email delivery through a configured SMTP relay: a mail sink on 127.0.0.1 in the test
//! receives the confirmation mail, whose link confirms the subscription, then notifications
//! (`email` as text with the subject, `email-json` as the JSON notification).

mod common;

use bytes::Bytes;
use common::{raw_request, TestServer, HANG_TIMEOUT};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::sync::mpsc;

/// One mail the sink accepted: envelope recipient and the DATA text.
struct Mail {
    to: String,
    data: String,
}

/// A minimal SMTP server that accepts every mail and reports it.
async fn mail_sink() -> (String, mpsc::UnboundedReceiver<Mail>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (sender, mails) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let sender = sender.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink ready\r\n").await;
                let mut to = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let command = line.to_ascii_uppercase();
                    let reply: &[u8] = if command.starts_with("RCPT TO:") {
                        to = line[8..].trim().trim_matches(['<', '>']).to_string();
                        b"250 ok\r\n"
                    } else if command.starts_with("DATA") {
                        let _ = write.write_all(b"354 go ahead\r\n").await;
                        let mut data = String::new();
                        while let Ok(Some(line)) = lines.next_line().await {
                            if line == "." {
                                break;
                            }
                            data.push_str(&line);
                            data.push('\n');
                        }
                        let _ = sender.send(Mail { to: to.clone(), data });
                        b"250 queued\r\n"
                    } else if command.starts_with("QUIT") {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
    (address, mails)
}

async fn next(mails: &mut mpsc::UnboundedReceiver<Mail>) -> Mail {
    tokio::time::timeout(HANG_TIMEOUT, mails.recv()).await.expect("a mail arrives").expect("sink runs")
}

/// The text of a mail body, with quoted-printable soft line breaks and `=3D` undone.
fn unfold(data: &str) -> String {
    data.replace("=\n", "").replace("=3D", "=")
}

#[tokio::test]
async fn email_subscriptions_confirm_by_link_then_receive_notifications() {
    let (server_address, mut mails) = mail_sink().await;
    let mut config = common::config(None);
    config.sns_smtp_server = Some(server_address);
    let server = TestServer::start_with(config, None).await;
    let sns = server.sns();
    let topic_arn = sns.create_topic().name("mailing").send().await.unwrap().topic_arn.unwrap();
    let output =
        sns.subscribe().topic_arn(&topic_arn).protocol("email").endpoint("ops@example.test").send().await.unwrap();
    assert_eq!(output.subscription_arn(), Some("pending confirmation"));

    let confirmation = next(&mut mails).await;
    assert_eq!(confirmation.to, "ops@example.test");
    let text = unfold(&confirmation.data);
    assert!(text.contains("Subject: AWS Notification - Subscription Confirmation"), "{text}");
    let link = text
        .lines()
        .find(|line| line.contains("Action=ConfirmSubscription"))
        .expect("the mail carries the SubscribeURL")
        .trim()
        .to_string();
    let path = link.strip_prefix(&server.endpoint).expect("the link points at this server");
    assert_eq!(raw_request(&server.endpoint, false, "GET", path, &[], Bytes::new()).await.status, 200);

    sns.publish().topic_arn(&topic_arn).subject("Deploy done").message("All green.").send().await.unwrap();
    let notification = unfold(&next(&mut mails).await.data);
    assert!(notification.contains("Subject: Deploy done"), "{notification}");
    assert!(notification.contains("All green."), "{notification}");
    assert!(notification.contains("Action=Unsubscribe"), "{notification}");

    // email-json receives the JSON notification.
    sns.subscribe().topic_arn(&topic_arn).protocol("email-json").endpoint("bot@example.test").send().await.unwrap();
    let json_confirmation = unfold(&next(&mut mails).await.data);
    assert!(json_confirmation.contains("\"Type\":\"SubscriptionConfirmation\""), "{json_confirmation}");
}
