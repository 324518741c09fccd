//! SNS email delivery to an SMTP relay over TLS: a mail sink on 127.0.0.1 with a certificate from
//! a test CA (trusted through `[sns] https_ca_file`) receives the confirmation mail over SMTPS
//! (`smtps://`, TLS from the first byte) and over STARTTLS (`smtp://…?tls=starttls`); a relay
//! whose CA Wharf does not trust gets no mail, because Wharf refuses its certificate.

mod common;

use common::tls::{refused_as_unknown_ca, TestCa};
use common::{TestServer, HANG_TIMEOUT};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWrite, AsyncWriteExt as _, BufReader};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

/// What the sink saw.
enum Event {
    /// A mail it accepted: the envelope recipient, the DATA text, and whether it came over TLS.
    Mail {
        to: String,
        data: String,
        over_tls: bool,
    },
    HandshakeFailed(std::io::Error),
}

#[derive(Clone, Copy)]
enum Mode {
    Smtps,
    StartTls,
}

/// How one SMTP conversation ended.
enum Ending<S> {
    Closed,
    /// The client asked for STARTTLS and was told to go ahead: the stream to upgrade.
    StartTls(S),
}

/// Speaks just enough SMTP to accept mail; offers STARTTLS when `offer_starttls`.
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    greet: bool,
    offer_starttls: bool,
    over_tls: bool,
    events: &mpsc::UnboundedSender<Event>,
) -> Ending<S> {
    let mut stream = BufReader::new(stream);
    if greet && stream.write_all(b"220 sink ready\r\n").await.is_err() {
        return Ending::Closed;
    }
    let mut to = String::new();
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
            return Ending::Closed;
        }
        let line = line.trim_end().to_string();
        let command = line.to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("EHLO") && offer_starttls {
            b"250-sink\r\n250 STARTTLS\r\n"
        } else if command.starts_with("STARTTLS") {
            let _ = stream.write_all(b"220 go ahead\r\n").await;
            return Ending::StartTls(stream.into_inner());
        } else if command.starts_with("RCPT TO:") {
            to = line[8..].trim().trim_matches(['<', '>']).to_string();
            b"250 ok\r\n"
        } else if command.starts_with("DATA") {
            let _ = stream.write_all(b"354 go ahead\r\n").await;
            let mut data = String::new();
            loop {
                let mut line = String::new();
                if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return Ending::Closed;
                }
                if line.trim_end() == "." {
                    break;
                }
                data.push_str(&line);
            }
            let _ = events.send(Event::Mail { to: to.clone(), data, over_tls });
            b"250 queued\r\n"
        } else if command.starts_with("QUIT") {
            let _ = stream.write_all(b"221 bye\r\n").await;
            return Ending::Closed;
        } else {
            b"250 ok\r\n"
        };
        if stream.write_all(reply).await.is_err() {
            return Ending::Closed;
        }
    }
}

/// Upgrades `stream` with `acceptor`, reporting a failed handshake.
async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    acceptor: &TlsAcceptor,
    stream: S,
    events: &mpsc::UnboundedSender<Event>,
) -> Option<tokio_rustls::server::TlsStream<S>> {
    match acceptor.accept(stream).await {
        Ok(stream) => Some(stream),
        Err(error) => {
            let _ = events.send(Event::HandshakeFailed(error));
            None
        }
    }
}

/// A mail sink on 127.0.0.1 presenting a certificate `ca` signed; returns its port and events.
async fn tls_mail_sink(ca: &TestCa, mode: Mode) -> (u16, mpsc::UnboundedReceiver<Event>) {
    let acceptor = ca.acceptor();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, events) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (acceptor, events) = (acceptor.clone(), sender.clone());
            tokio::spawn(async move {
                match mode {
                    Mode::Smtps => {
                        if let Some(stream) = handshake(&acceptor, stream, &events).await {
                            converse(stream, true, false, true, &events).await;
                        }
                    }
                    Mode::StartTls => {
                        if let Ending::StartTls(stream) = converse(stream, true, true, false, &events).await {
                            if let Some(stream) = handshake(&acceptor, stream, &events).await {
                                converse(stream, false, false, true, &events).await;
                            }
                        }
                    }
                }
            });
        }
    });
    (port, events)
}

async fn next(events: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    tokio::time::timeout(HANG_TIMEOUT, events.recv()).await.expect("the sink hears from Wharf").expect("sink runs")
}

/// A server sending mail through `smtp_server`, trusting `ca`.
async fn server(smtp_server: String, ca: &TestCa, dir: &std::path::Path) -> TestServer {
    let mut config = common::config(None);
    config.sns_smtp_server = Some(smtp_server);
    config.sns_https_ca_file = Some(ca.write_pem(dir, "ca.pem"));
    TestServer::start_with(config, None).await
}

/// Subscribes `address` by email and returns the confirmation mail the sink received.
async fn confirmation_mail(server: &TestServer, events: &mut mpsc::UnboundedReceiver<Event>, address: &str) -> Event {
    let sns = server.sns();
    let topic_arn = sns.create_topic().name("mailing").send().await.unwrap().topic_arn.unwrap();
    let output = sns.subscribe().topic_arn(&topic_arn).protocol("email").endpoint(address).send().await.unwrap();
    assert_eq!(output.subscription_arn(), Some("pending confirmation"));
    next(events).await
}

fn assert_confirmation_over_tls(event: Event, address: &str) {
    match event {
        Event::Mail { to, data, over_tls } => {
            assert!(over_tls, "the mail came in the clear");
            assert_eq!(to, address);
            assert!(data.contains("Subject: AWS Notification - Subscription Confirmation"), "{data}");
        }
        Event::HandshakeFailed(error) => panic!("the TLS handshake failed: {error}"),
    }
}

#[tokio::test]
async fn mail_goes_through_an_smtps_relay() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Wharf test CA");
    let (port, mut events) = tls_mail_sink(&ca, Mode::Smtps).await;
    let server = server(format!("smtps://localhost:{port}"), &ca, dir.path()).await;
    let mail = confirmation_mail(&server, &mut events, "ops@example.test").await;
    assert_confirmation_over_tls(mail, "ops@example.test");
}

#[tokio::test]
async fn mail_goes_through_a_starttls_relay() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Wharf test CA");
    let (port, mut events) = tls_mail_sink(&ca, Mode::StartTls).await;
    let server = server(format!("smtp://127.0.0.1:{port}?tls=starttls"), &ca, dir.path()).await;
    let mail = confirmation_mail(&server, &mut events, "dev@example.test").await;
    assert_confirmation_over_tls(mail, "dev@example.test");
}

#[tokio::test]
async fn a_relay_whose_ca_is_not_trusted_gets_no_mail() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = TestCa::new("Wharf test CA");
    let stranger = TestCa::new("Unknown CA");
    let (port, mut events) = tls_mail_sink(&stranger, Mode::Smtps).await;
    let server = server(format!("smtps://localhost:{port}"), &trusted, dir.path()).await;
    match confirmation_mail(&server, &mut events, "ops@example.test").await {
        Event::HandshakeFailed(error) => assert!(refused_as_unknown_ca(&error), "{error}"),
        Event::Mail { .. } => panic!("a mail reached a relay Wharf must not trust"),
    }
}

#[test]
fn an_smtp_server_in_no_known_form_stops_wharf_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wharf.toml");
    std::fs::write(&config, "[sns]\nsmtp_server = \"smtp://mail.internal?tls=opportunistic\"\n").unwrap();
    let command = common::wharf_command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--in-memory",
        "--config",
        config.to_str().unwrap(),
    ]);
    let line = common::assert_startup_failure(&common::run_to_exit(command));
    assert!(line.contains("sns.smtp_server") && line.contains("smtps://host:port"), "{line}");
}
