//! The SMTP relay `email` and `email-json` subscriptions are delivered through, from
//! `[sns] smtp_server`: where it is, and whether the connection is plain, upgraded with STARTTLS
//! or TLS from the start (SMTPS). TLS verifies the relay's certificate against [`TrustRoots`].
//!
//! | `smtp_server`                      | connection           | default port |
//! |------------------------------------|----------------------|--------------|
//! | `host:port`, `smtp://host:port`    | plain SMTP           | 25           |
//! | `smtp://host:port?tls=starttls`    | STARTTLS, required   | 587          |
//! | `smtps://host:port`                | TLS from the start   | 465          |

use crate::tls_roots::TrustRoots;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use std::time::Duration;

const SMTP_PORT: u16 = 25;
const SUBMISSION_PORT: u16 = 587;
const SUBMISSIONS_PORT: u16 = 465;

/// Why `smtp_server` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MailRelayError {
    #[error(
        "sns.smtp_server {0:?} is not host:port, smtp://host:port, smtp://host:port?tls=starttls or smtps://host:port"
    )]
    Form(String),
    #[error("cannot set up TLS to the SMTP relay: {0}")]
    Tls(String),
}

/// How the connection to the relay is secured.
#[derive(Clone)]
enum Security {
    Plain,
    StartTls(TlsParameters),
    Implicit(TlsParameters),
}

/// Where and as whom email notifications are sent.
#[derive(Clone)]
pub struct MailRelay {
    host: String,
    port: u16,
    security: Security,
    /// The sender, `[sns] email_from`.
    pub from: String,
}

impl std::fmt::Debug for MailRelay {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let security = match self.security {
            Security::Plain => "plain",
            Security::StartTls(_) => "starttls",
            Security::Implicit(_) => "smtps",
        };
        formatter
            .debug_struct("MailRelay")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &security)
            .field("from", &self.from)
            .finish()
    }
}

/// What the `smtp_server` text says, before any TLS is set up.
#[derive(Debug, PartialEq, Eq)]
struct Spec<'a> {
    host: &'a str,
    port: u16,
    tls: Option<Mode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    StartTls,
    Implicit,
}

impl MailRelay {
    /// Reads `server` (see the module's table); TLS trusts `roots`.
    pub fn new(server: &str, from: String, roots: &TrustRoots) -> Result<MailRelay, MailRelayError> {
        let spec = parse(server).ok_or_else(|| MailRelayError::Form(server.to_string()))?;
        let security = match spec.tls {
            None => Security::Plain,
            Some(mode) => {
                let mut builder =
                    TlsParameters::builder(spec.host.to_string()).certificate_store(CertificateStore::WebpkiRoots);
                for certificate in roots.extra() {
                    let certificate = Certificate::from_der(certificate.to_vec())
                        .map_err(|error| MailRelayError::Tls(error.to_string()))?;
                    builder = builder.add_root_certificate(certificate);
                }
                let parameters = builder.build_rustls().map_err(|error| MailRelayError::Tls(error.to_string()))?;
                match mode {
                    Mode::StartTls => Security::StartTls(parameters),
                    Mode::Implicit => Security::Implicit(parameters),
                }
            }
        };
        Ok(MailRelay { host: spec.host.to_string(), port: spec.port, security, from })
    }

    /// A transport for one delivery attempt, giving up after `timeout`.
    pub fn transport(&self, timeout: Duration) -> AsyncSmtpTransport<Tokio1Executor> {
        let tls = match &self.security {
            Security::Plain => Tls::None,
            Security::StartTls(parameters) => Tls::Required(parameters.clone()),
            Security::Implicit(parameters) => Tls::Wrapper(parameters.clone()),
        };
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.as_str())
            .port(self.port)
            .tls(tls)
            .timeout(Some(timeout))
            .build()
    }
}

/// Splits `smtp_server` into host, port and TLS mode; `None` if it is not one of the forms.
fn parse(server: &str) -> Option<Spec<'_>> {
    let (scheme, rest) = match server.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, server),
    };
    let (authority, query) = match rest.split_once('?') {
        Some((authority, query)) => (authority, Some(query)),
        None => (rest, None),
    };
    let tls = match (scheme, query) {
        (None | Some("smtp"), None) => None,
        (Some("smtp"), Some("tls=starttls")) => Some(Mode::StartTls),
        (Some("smtps"), None) => Some(Mode::Implicit),
        _ => return None,
    };
    let default_port = match tls {
        None => SMTP_PORT,
        Some(Mode::StartTls) => SUBMISSION_PORT,
        Some(Mode::Implicit) => SUBMISSIONS_PORT,
    };
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    let (host, port) = match authority.strip_prefix('[') {
        // An IPv6 address: `[::1]` or `[::1]:25`.
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']')?;
            match after.strip_prefix(':') {
                Some(port) => (host, port.parse().ok()?),
                None if after.is_empty() => (host, default_port),
                None => return None,
            }
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().ok()?),
            None => (authority, default_port),
        },
    };
    let valid_host = !host.is_empty()
        && !host.contains(['/', '@', ' ', '[', ']'])
        && (host.contains(':') == authority.starts_with('['));
    valid_host.then_some(Spec { host, port, tls })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(host: &str, port: u16, tls: Option<Mode>) -> Option<Spec<'_>> {
        Some(Spec { host, port, tls })
    }

    #[test]
    fn the_forms_of_smtp_server() {
        assert_eq!(parse("127.0.0.1:1025"), spec("127.0.0.1", 1025, None));
        assert_eq!(parse("mail.internal"), spec("mail.internal", 25, None));
        assert_eq!(parse("smtp://mail.internal"), spec("mail.internal", 25, None));
        assert_eq!(parse("smtp://mail.internal:2525/"), spec("mail.internal", 2525, None));
        assert_eq!(parse("smtp://mail.internal?tls=starttls"), spec("mail.internal", 587, Some(Mode::StartTls)));
        assert_eq!(parse("smtp://mail.internal:25?tls=starttls"), spec("mail.internal", 25, Some(Mode::StartTls)));
        assert_eq!(parse("smtps://mail.internal"), spec("mail.internal", 465, Some(Mode::Implicit)));
        assert_eq!(parse("smtps://[::1]:1465"), spec("::1", 1465, Some(Mode::Implicit)));
        assert_eq!(parse("[::1]"), spec("::1", 25, None));
    }

    #[test]
    fn other_forms_are_refused() {
        for bad in [
            "",
            ":25",
            "mail.internal:port",
            "mail.internal:70000",
            "http://mail.internal",
            "smtps://mail.internal?tls=starttls",
            "smtp://mail.internal?tls=opportunistic",
            "smtp://user@mail.internal",
            "::1",
            "[::1]x",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tls_relays_are_set_up_with_the_trusted_roots() {
        let roots = TrustRoots::mozilla();
        for server in ["smtps://mail.internal", "smtp://mail.internal?tls=starttls", "mail.internal:25"] {
            let relay = MailRelay::new(server, "sns@example.test".into(), &roots).unwrap();
            let _transport = relay.transport(Duration::from_secs(1));
        }
        assert!(matches!(
            MailRelay::new("smtp://x?tls=yes", String::new(), &roots),
            Err(MailRelayError::Form(text)) if text == "smtp://x?tls=yes"
        ));
    }
}
