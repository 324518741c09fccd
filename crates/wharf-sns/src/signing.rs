//! The RSA key, self-signed certificate and signatures of the messages SNS delivers (notifications
//! and subscription and unsubscribe confirmations), so that receivers can run the standard
//! verification recipe: fetch the certificate at `SigningCertURL`, take its public key and check
//! the base64 `Signature` over the canonical string.
//!
//! The key is a 2048-bit RSA key, like the one AWS signs with. It comes from, in this order: PEM
//! text from the configuration; `private-key.pem` in the key directory (normally
//! `<data_dir>/sns-signing/`); or it is generated. Generation is lazy: it happens on the first
//! signature or certificate request, so a server (or a test) that never delivers a signed message
//! never pays for it. A generated key is then written to the key directory (mode 0600, beside
//! `certificate.pem`), or, without a directory (in-memory mode), kept in memory only.
//!
//! The certificate is a pure function of the key: fixed subject, validity and extensions, a serial
//! derived from the public key, and PKCS#1 v1.5 signatures, which are deterministic. So the same
//! key always yields byte-for-byte the same certificate, and only the key must be kept.
//!
//! This module does not serve the certificate, build envelopes or choose a topic's signature
//! version; it must not touch anything but its key directory.

use base64::Engine as _;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::sha2::{Digest as _, Sha256};
use rsa::traits::PublicKeyParts as _;
use rsa::PrivateKey;
use std::fmt;
use std::fs;
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::OnceLock;
use std::time::Instant;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder as _, CertificateBuilder};
use x509_cert::der::pem::LineEnding;
use x509_cert::der::{DateTime, Encode as _, EncodePem as _};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier};
use x509_cert::ext::{Extension, ToExtension as _};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};
use x509_cert::TbsCertificate;

/// The private key's file in the key directory: unencrypted PKCS#8 PEM, mode 0600.
pub const KEY_FILE_NAME: &str = "private-key.pem";

/// The certificate's file in the key directory, written for operators who want to give it to a
/// verifier by hand; Wharf itself always rebuilds the certificate from the key.
pub const CERTIFICATE_FILE_NAME: &str = "certificate.pem";

/// The size of generated keys, the size AWS's SNS signing keys have.
const GENERATED_KEY_BITS: usize = 2048;

/// Loaded and configured keys smaller than this are refused: signatures from them can be forged.
const KEY_BYTES_MIN: usize = 2048 / 8;

/// A PEM private key of the largest size `rsa` accepts (8192 bits) is about 6.5 KiB.
const KEY_PEM_BYTES_MAX: u64 = 64 * 1024;

/// The certificate's subject and issuer. Verifiers that check the certificate's names (the AWS SDK
/// for Java 2.x message manager accepts an issuer with `CN=Amazon...`) accept it; the names still
/// say plainly that Wharf, not AWS, signed.
const CERTIFICATE_SUBJECT: &str = "CN=Amazon SNS compatible signer (Wharf),O=Wharf";

/// Which hash the signature uses: the topic attribute `SignatureVersion`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SignatureVersion {
    /// SHA1withRSA, the default of every topic.
    #[default]
    V1,
    /// SHA256withRSA.
    V2,
}

impl SignatureVersion {
    /// The version an attribute value names: `"1"` or `"2"`.
    pub fn parse(text: &str) -> Option<SignatureVersion> {
        match text {
            "1" => Some(SignatureVersion::V1),
            "2" => Some(SignatureVersion::V2),
            _ => None,
        }
    }

    /// The value of the envelope's `SignatureVersion` member.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureVersion::V1 => "1",
            SignatureVersion::V2 => "2",
        }
    }
}

/// The kind of signed message: the envelope's `Type` member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    Notification,
    SubscriptionConfirmation,
    UnsubscribeConfirmation,
}

impl MessageKind {
    /// The value of the envelope's `Type` member and of the `x-amz-sns-message-type` header.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Notification => "Notification",
            MessageKind::SubscriptionConfirmation => "SubscriptionConfirmation",
            MessageKind::UnsubscribeConfirmation => "UnsubscribeConfirmation",
        }
    }
}

/// The envelope members a signature covers, exactly as they appear (unescaped) in the envelope.
#[derive(Clone, Copy, Debug)]
pub struct SigningFields<'a> {
    pub kind: MessageKind,
    pub message: &'a str,
    pub message_id: &'a str,
    /// Signed for notifications only, and only when the envelope has a `Subject`.
    pub subject: Option<&'a str>,
    /// Signed for confirmations only; they always carry it.
    pub subscribe_url: Option<&'a str>,
    /// The envelope's `Timestamp`, e.g. `2019-01-31T04:37:04.321Z`.
    pub timestamp: &'a str,
    /// Signed for confirmations only; they always carry it.
    pub token: Option<&'a str>,
    pub topic_arn: &'a str,
}

/// The canonical string SNS signs: `Name\nValue\n` for each signed member, in byte order of the
/// names. Notifications sign Message, MessageId, Subject (if present), Timestamp, TopicArn and Type;
/// confirmations sign Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn and Type.
/// Verifiers include an optional member only when the envelope has it, and so does this.
pub fn string_to_sign(fields: &SigningFields<'_>) -> String {
    let (subject, subscribe_url, token) = match fields.kind {
        MessageKind::Notification => (fields.subject, None, None),
        MessageKind::SubscriptionConfirmation | MessageKind::UnsubscribeConfirmation => {
            (None, fields.subscribe_url, fields.token)
        }
    };
    let members = [
        ("Message", Some(fields.message)),
        ("MessageId", Some(fields.message_id)),
        ("Subject", subject),
        ("SubscribeURL", subscribe_url),
        ("Timestamp", Some(fields.timestamp)),
        ("Token", token),
        ("TopicArn", Some(fields.topic_arn)),
        ("Type", Some(fields.kind.as_str())),
    ];
    let length = members.iter().filter_map(|(name, value)| value.map(|value| name.len() + value.len() + 2)).sum();
    let mut text = String::with_capacity(length);
    for (name, value) in members {
        if let Some(value) = value {
            text.push_str(name);
            text.push('\n');
            text.push_str(value);
            text.push('\n');
        }
    }
    text
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("cannot create the SNS signing key directory {path}: {source}")]
    CreateDirectory { path: PathBuf, source: io::Error },
    #[error("cannot read the SNS signing key {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error(
        "the SNS signing key {origin} is not an unencrypted RSA private key in PEM \
         (PKCS#8 \"BEGIN PRIVATE KEY\" or PKCS#1 \"BEGIN RSA PRIVATE KEY\"): {reason}"
    )]
    InvalidKey { origin: String, reason: String },
    #[error("the SNS signing key {origin} has {bits} bits; at least 2048 are required")]
    KeyTooSmall { origin: String, bits: usize },
    #[error("cannot generate an SNS signing key: {0}")]
    Generate(String),
    #[error("cannot build the SNS signing certificate: {0}")]
    Certificate(String),
}

/// Signs SNS messages and provides the certificate that verifies them. Cheap to share in an `Arc`.
pub struct Signer {
    /// Set once: at `open` when a key was configured or found, else on first use. `None` records
    /// that generating a key failed, which is logged once and leaves messages unsigned.
    key: OnceLock<Option<KeyMaterial>>,
    /// Where a key generated on first use is written; `None` in memory-only mode.
    directory: Option<PathBuf>,
}

struct KeyMaterial {
    private_key: PrivateKey,
    /// The same key for OpenSSL, which makes the per-message signatures.
    signing_key: openssl::pkey::PKey<openssl::pkey::Private>,
    certificate_pem: String,
}

impl Signer {
    /// The signer for a configured PEM key (PKCS#8 or PKCS#1) if given; else for the key in
    /// `directory` (created if missing), loading it now or generating and writing it on first use;
    /// else for a key generated on first use and kept in memory. A configured key is never
    /// written to `directory`. Fails on a key that cannot be read or parsed, so a damaged key is
    /// reported at start rather than silently replaced.
    pub fn open(directory: Option<&Path>, configured_pem: Option<&str>) -> Result<Signer, SigningError> {
        if let Some(pem) = configured_pem {
            let origin = "from the configuration";
            if pem.len() as u64 > KEY_PEM_BYTES_MAX {
                return Err(SigningError::InvalidKey {
                    origin: origin.to_string(),
                    reason: format!("it is longer than {KEY_PEM_BYTES_MAX} bytes"),
                });
            }
            return Ok(Signer::ready(KeyMaterial::new(parse_private_key(pem, origin)?, origin)?));
        }
        let Some(directory) = directory else {
            return Ok(Signer { key: OnceLock::new(), directory: None });
        };
        create_directory(directory)?;
        match load(directory)? {
            Some(material) => Ok(Signer::ready(material)),
            None => Ok(Signer { key: OnceLock::new(), directory: Some(directory.to_path_buf()) }),
        }
    }

    fn ready(material: KeyMaterial) -> Signer {
        Signer { key: OnceLock::from(Some(material)), directory: None }
    }

    /// The self-signed X.509 certificate of the signing key, in PEM; empty only if a key could not
    /// be generated (logged).
    pub fn certificate_pem(&self) -> String {
        self.material().map(|material| material.certificate_pem.clone()).unwrap_or_default()
    }

    /// The base64 (standard alphabet) RSA PKCS#1 v1.5 signature of the fields' string to sign,
    /// over SHA-1 for version 1 and SHA-256 for version 2; empty only if no key could be
    /// generated or the RSA operation failed (both logged).
    pub fn sign(&self, version: SignatureVersion, fields: &SigningFields<'_>) -> String {
        let Some(material) = self.material() else {
            return String::new();
        };
        let text = string_to_sign(fields);
        let digest = match version {
            SignatureVersion::V1 => openssl::hash::MessageDigest::sha1(),
            SignatureVersion::V2 => openssl::hash::MessageDigest::sha256(),
        };
        // An RSA key signs with PKCS#1 v1.5 padding unless told otherwise.
        let signature = openssl::sign::Signer::new(digest, &material.signing_key)
            .and_then(|mut signer| signer.sign_oneshot_to_vec(text.as_bytes()));
        match signature {
            Ok(bytes) => base64::engine::general_purpose::STANDARD.encode(bytes),
            Err(error) => {
                tracing::error!(%error, "signing an SNS message failed; it is sent unsigned");
                String::new()
            }
        }
    }

    fn material(&self) -> Option<&KeyMaterial> {
        self.key.get_or_init(|| self.generate()).as_ref()
    }

    /// Generates the key on first use (`OnceLock` runs this once, other callers wait) and writes
    /// it to the key directory if there is one. A key that cannot be written is still used, so
    /// delivery goes on; the next start then generates another and the certificate changes.
    fn generate(&self) -> Option<KeyMaterial> {
        let started = Instant::now();
        let material = PrivateKey::new(&mut getrandom::SysRng, GENERATED_KEY_BITS)
            .map_err(|error| SigningError::Generate(error.to_string()))
            .and_then(|private_key| KeyMaterial::new(private_key, "just generated"));
        let material = match material {
            Ok(material) => material,
            Err(error) => {
                tracing::error!(%error, "SNS messages are sent unsigned");
                return None;
            }
        };
        let generation_ms = started.elapsed().as_millis();
        match &self.directory {
            Some(directory) => match persist(directory, &material) {
                Ok(()) => {
                    tracing::info!(generation_ms, directory = %directory.display(), "generated the SNS signing key")
                }
                Err(error) => tracing::warn!(
                    %error,
                    "generated an SNS signing key that could not be saved; it is used until this process ends"
                ),
            },
            None => tracing::info!(generation_ms, "generated an in-memory SNS signing key"),
        }
        Some(material)
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.key.get() {
            None => "generated on first use",
            Some(Some(_)) => "ready",
            Some(None) => "failed",
        };
        formatter.debug_struct("Signer").field("key", &state).field("directory", &self.directory).finish()
    }
}

impl KeyMaterial {
    fn new(private_key: PrivateKey, origin: &str) -> Result<KeyMaterial, SigningError> {
        if private_key.size() < KEY_BYTES_MIN {
            return Err(SigningError::KeyTooSmall { origin: origin.to_string(), bits: private_key.size() * 8 });
        }
        let certificate_pem = self_signed_certificate(&private_key)?;
        let der = private_key.to_pkcs8_der().map_err(|error| SigningError::InvalidKey {
            origin: origin.to_string(),
            reason: format!("it cannot be encoded as PKCS#8: {error}"),
        })?;
        let signing_key = openssl::pkey::PKey::private_key_from_pkcs8(der.as_bytes()).map_err(|error| {
            SigningError::InvalidKey { origin: origin.to_string(), reason: format!("OpenSSL refuses it: {error}") }
        })?;
        Ok(KeyMaterial { private_key, signing_key, certificate_pem })
    }
}

fn parse_private_key(pem: &str, origin: &str) -> Result<PrivateKey, SigningError> {
    let invalid = |reason: String| SigningError::InvalidKey { origin: origin.to_string(), reason };
    if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
        use rsa::pkcs1::DecodeRsaPrivateKey as _;
        PrivateKey::from_pkcs1_pem(pem).map_err(|error| invalid(error.to_string()))
    } else if pem.contains("-----BEGIN PRIVATE KEY-----") {
        PrivateKey::from_pkcs8_pem(pem).map_err(|error| invalid(error.to_string()))
    } else if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        Err(invalid("it is encrypted".to_string()))
    } else {
        Err(invalid("no private key PEM block found".to_string()))
    }
}

fn create_directory(directory: &Path) -> Result<(), SigningError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(directory).map_err(|source| SigningError::CreateDirectory { path: directory.to_path_buf(), source })
}

/// The key in `directory`, if there is one; refreshes `certificate.pem` if it is missing or stale.
fn load(directory: &Path) -> Result<Option<KeyMaterial>, SigningError> {
    let path = directory.join(KEY_FILE_NAME);
    let read_error = |source| SigningError::Read { path: path.clone(), source };
    let file = match fs::File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(read_error(error)),
    };
    let metadata = file.metadata().map_err(read_error)?;
    let origin = path.display().to_string();
    if metadata.len() > KEY_PEM_BYTES_MAX {
        return Err(SigningError::InvalidKey {
            origin,
            reason: format!("the file is longer than {KEY_PEM_BYTES_MAX} bytes"),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the SNS signing key is readable by other users; chmod 600 it");
        }
    }
    let mut pem = String::new();
    file.take(KEY_PEM_BYTES_MAX).read_to_string(&mut pem).map_err(read_error)?;
    let material = KeyMaterial::new(parse_private_key(&pem, &origin)?, &origin)?;
    let certificate_path = directory.join(CERTIFICATE_FILE_NAME);
    // The copy is for operators only, so a read-only key directory is no reason to refuse to start.
    if fs::read_to_string(&certificate_path).ok().as_deref() != Some(material.certificate_pem.as_str()) {
        if let Err(error) = write_file(directory, CERTIFICATE_FILE_NAME, material.certificate_pem.as_bytes(), 0o644) {
            tracing::warn!(%error, "cannot refresh the copy of the SNS signing certificate");
        }
    }
    Ok(Some(material))
}

fn persist(directory: &Path, material: &KeyMaterial) -> Result<(), SigningError> {
    let pem = material.private_key.to_pkcs8_pem(LineEnding::LF).map_err(|error| SigningError::Write {
        path: directory.join(KEY_FILE_NAME),
        source: io::Error::other(error.to_string()),
    })?;
    write_file(directory, KEY_FILE_NAME, pem.as_bytes(), 0o600)?;
    write_file(directory, CERTIFICATE_FILE_NAME, material.certificate_pem.as_bytes(), 0o644)
}

/// Writes through a temporary file, fsyncs, renames over `name` and fsyncs the directory, so a
/// crash leaves either the old file or the whole new one. The temporary file is created with
/// `mode` already set, so a private key is never readable by others, not even for a moment.
fn write_file(directory: &Path, name: &str, contents: &[u8], mode: u32) -> Result<(), SigningError> {
    let path = directory.join(name);
    let temporary = directory.join(format!(".{name}.tmp"));
    let result = (|| {
        match fs::remove_file(&temporary) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temporary, &path)?;
        #[cfg(unix)]
        fs::File::open(directory)?.sync_all()?;
        Ok(())
    })();
    result.map_err(|source| {
        let _ = fs::remove_file(&temporary);
        SigningError::Write { path, source }
    })
}

/// The certificate's profile: self-issued, usable both to verify signatures (digitalSignature)
/// and as its own trust anchor (a CA that signed itself, as `openssl req -x509` makes them).
struct SelfSigned {
    subject: Name,
}

impl BuilderProfile for SelfSigned {
    fn get_issuer(&self, subject: &Name) -> Name {
        subject.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        subject_public_key: SubjectPublicKeyInfoRef<'_>,
        _issuer_public_key: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut extensions = Vec::new();
        let basic_constraints = BasicConstraints { ca: true, path_len_constraint: Some(0) };
        extensions.push(basic_constraints.to_extension(tbs.subject(), &extensions)?);
        let key_usage = KeyUsage(KeyUsages::DigitalSignature | KeyUsages::KeyCertSign);
        extensions.push(key_usage.to_extension(tbs.subject(), &extensions)?);
        let key_identifier = SubjectKeyIdentifier::try_from(subject_public_key)?;
        extensions.push(key_identifier.to_extension(tbs.subject(), &extensions)?);
        Ok(extensions)
    }
}

/// Builds the certificate deterministically from the key (see the module comment): valid from
/// 2000-01-01 until 9999-12-31T23:59:59Z, RFC 5280's "no well-defined expiration", so it never
/// expires under a long-running server; signed with SHA256withRSA.
fn self_signed_certificate(private_key: &PrivateKey) -> Result<String, SigningError> {
    let failed = |error: &dyn fmt::Display| SigningError::Certificate(error.to_string());
    let public_key_info = SubjectPublicKeyInfoOwned::from_key(private_key.as_public_key()).map_err(|e| failed(&e))?;
    let public_key_der = public_key_info.to_der().map_err(|e| failed(&e))?;
    // A positive 16-byte serial without a leading zero octet: the first octet is in 0x40..=0x7f.
    let digest = Sha256::digest(&public_key_der);
    let mut serial = [0u8; 16];
    serial.copy_from_slice(&digest[..16]);
    serial[0] = (serial[0] & 0x3f) | 0x40;
    let serial_number = SerialNumber::new(&serial).map_err(|e| failed(&e))?;
    let not_before = DateTime::new(2000, 1, 1, 0, 0, 0).map_err(|e| failed(&e))?;
    let not_after = DateTime::new(9999, 12, 31, 23, 59, 59).map_err(|e| failed(&e))?;
    let validity = Validity::new(Time::from(not_before), Time::from(not_after));
    let subject = Name::from_str(CERTIFICATE_SUBJECT).map_err(|e| failed(&e))?;
    let builder = CertificateBuilder::new(SelfSigned { subject }, serial_number, validity, public_key_info)
        .map_err(|e| failed(&e))?;
    let signing_key = rsa::pkcs1v15::SigningKey::<Sha256>::new(private_key.clone());
    let certificate = builder.build::<_, rsa::pkcs1v15::Signature>(&signing_key).map_err(|e| failed(&e))?;
    certificate.to_pem(LineEnding::LF).map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use rsa::pkcs8::DecodePublicKey as _;
    use sha1::Sha1;

    /// A key made with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048` for these tests
    /// only, so most tests need no key generation and the known-answer test can compare with
    /// signatures OpenSSL made.
    const TEST_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCqktUbw9wc86PX
3UfuExWRzjgtpWttB9s8EEnvhNIKTwH1iPRpxeb88aePFS+CZkq78f4QZVaxd4f/
olfCoRSE46OcXy7onCiUd0O9DxUZqM57V+6lj9TrcFcJO8+EEqGGSKJVsgqkHPWn
Vy3ltnom/6wRNLEBE/b9+AQTbxxKUE0IqYyDyZi2y1sdQnI0hOXfq3BKhiV+2z26
yfQ4ip2vfqFRbBpo0hPsN0C5sp4TJ4dgvE9ZsX5zqX/Lue4YpflUrGV+jcSVHaLd
TvgCWMPF7UrsETcV2ThA8dlppJXvCJ+1eeJBparMofHReizjkRBv8G3VS8ehO2CF
QO5FIgDjAgMBAAECggEAHmqhitpxuU3u9RLV/Uu06HOsC+O4FNC2VO8YqBf4tnLh
SA38e5IZPxi+huLBvpCMGhisc/MGMw48F6c03BWKSaooJj3I6RzTlanwz9lNK26x
J0iGW0qbLsKxGonqVsRVvlLcc8iUYjBx073VhuVzwdmMruLE/4q2XBJqc6a4Fj4R
1xVg41u/OuiLaVO0gKQvLWZIAszORvTDfH8e/c0aCFtX3YH2wBb3y/dZP7wsd67d
NaOnhUl618kS3Oz2gqSO50bbWBGDIigRhUID5UABTGPu7aVZg6urcosBgnP+V95I
Vz4e4svvU3eMJCSKDe3ZFBapH4qYhppfty7SQKQUkQKBgQDfEa90w+uBFl5/JlDF
aZXBkaV0I+h88mXvAmkfGw8DdrJTUbWxLWfJr9WX0L/yQa55t5S1kHdpCNugA8me
jga/qDoDfSTa4YHBp0C8b6fuQ0s91vNLQ9hGwejzgmVVIGo/mwgr9Yj1FDiFPqHo
g5cWFTGijpyR+P/IzhtJFZS5UQKBgQDDwTc7Yn3suJpfQj33C5AFSNrEY2hv34My
aZej/leJ2Sv7ylURW0WqkTgAZi8dgvSztIxwkmh3SSMYPiUuavpRm+9q3jMehfbR
KHv5+1YIv/Pk+4ZoTzvr8EFFYT1JPmlFh/66CLZln+b2fLokffIMRlAk5gVlUcYE
qWlS9r5J8wKBgFU5vY5gGEc+k6YCrpNuDrBhBBTGb1nlhrp1clJXFTpejC03J7Lk
xSWSj4msUNmu7IlGcYOZCXZQ0xBkwhBY9Q0eqeORWZZi2B9z1lDoXAG1JjcfO98C
scv+5BC9PhfzBYT9p3acHdJ9AkcuMc/TDtN6D3erAvjmaFuBG32lyCexAoGADl06
OVBT3y/4m+7Xby5ZBho/e1O0ESl8jhFzgCQktkfKU3KYZWqmJQr86gKViHvYius/
tu73XXFvctL0lYBiF+TyX4wogh/gaZ6n4kMQIBo9wlq2lSbjRb/eekHVZm9++Awv
o+UJxVFDeGjUm+LmBQKP1PVQBgxHFIZ95QmYEwMCgYADxFB5NLOztud00JH7cT3B
THqMtsdA21YG+AYoEtmWRnAopcjcjEyfNRJPTZq558koNdkGBj8sF4opcA7VPSly
dkxH4Z1hrmdrPFU+e6SRqgys3q0bVHnmQUjCuozuf+O/buMUUcbA9lvu6XvDrWax
frHE7a/r7JckNworzPHYfg==
-----END PRIVATE KEY-----
";

    /// `openssl dgst -sha1 -sign key.pem` and `-sha256` over the string to sign of [`notification`].
    const OPENSSL_SIGNATURE_V1: &str = "k/57wIdtC7FfMgErPa0Zmw7vNnm9HUdi4I/2BHdSvMhVZ9WSm4a9ax9d/NoA7W5xNI1Dj/egEqvFK4YjFggknsWNLxr5tdIL5uwxMsmpm4pK57K2joo0+zcV/OHTM97Kax7/Gy26UppGlV/CdMPx2T/B4rOwUq1AAqKMoU/H6kBNoUAJIrTt8YNNy6z1TPNFn3LvVGkpo8S8de/i9lGK6mGUeEiTcP+b9vGu8XUDBCRrsnlHG3t73ut9TOmqMZWj1tu4yLRUlO/2eCtGOr8dOP+eZo4t07mXGTMtn++NcyO9m+ds4RAtD2xKoWq/DAndnZPQJnD3o2M3p47uo+k1xw==";
    const OPENSSL_SIGNATURE_V2: &str = "CXchqZeVKqF70tvyDfrUt6ZKAUtXg07LB6s8BTvVYJpixl2/tT8zJ/DJWc+u2Mv37Cczoa7M9GM/pnP9qg622WXulE1qYb+po3jrflIk9x8c3YUNwNVsjHiSwxtd2eZe8ZvRDbkHvlaPzd1ivtdYzZKC7Mn23GeTeyyigxD2/ugnYjzSehhyqP2X0tz/ywa8opnjCBQlKzDr0ji2qZJhBf2OEAHt7ywy0qPfQzJlnUpyT1+4DayjOvIrBjUtQFWB/KM2IquE9Ef5VOahPzJEb9wSqS4uS+PfGmQC9frLX0oO7N76if+A9Lowb3ruV4brv8SeGcPQ+OLHb5F/xrvTlw==";

    /// The notification of the AWS guide's string-to-sign example.
    fn notification(subject: Option<&'static str>) -> SigningFields<'static> {
        SigningFields {
            kind: MessageKind::Notification,
            message: "My Test Message",
            message_id: "4d4dc071-ddbf-465d-bba8-08f81c89da64",
            subject,
            subscribe_url: None,
            timestamp: "2019-01-31T04:37:04.321Z",
            token: None,
            topic_arn: "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
        }
    }

    /// The subscription confirmation of the AWS guide's string-to-sign example.
    fn confirmation(kind: MessageKind) -> SigningFields<'static> {
        SigningFields {
            kind,
            message: "My Test Message",
            message_id: "3d891288-136d-417f-bc05-901c108273ee",
            subject: None,
            subscribe_url: Some(
                "https://sns.us-east-2.amazonaws.com/?Action=ConfirmSubscription\
                 &TopicArn=arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P&Token=233...",
            ),
            timestamp: "2019-01-31T19:25:13.719Z",
            token: Some("233..."),
            topic_arn: "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
        }
    }

    fn test_signer() -> Signer {
        Signer::open(None, Some(TEST_KEY_PEM)).expect("the test key loads")
    }

    /// Verifies the way receivers do, through a separate X.509 implementation: parse the
    /// certificate PEM, take its public key, check the signature over the string to sign.
    fn verifies(certificate_pem: &str, version: SignatureVersion, fields: &SigningFields<'_>, signature: &str) -> bool {
        let (_, pem) = x509_parser::pem::parse_x509_pem(certificate_pem.as_bytes()).expect("certificate PEM");
        let certificate = pem.parse_x509().expect("X.509 certificate");
        let public_key = rsa::PublicKey::from_public_key_der(certificate.public_key().raw).expect("RSA public key");
        let Ok(signature) = STANDARD.decode(signature) else {
            return false;
        };
        let text = string_to_sign(fields);
        match version {
            SignatureVersion::V1 => public_key.pkcs1v15_verify::<Sha1>(text.as_bytes(), &signature).is_ok(),
            SignatureVersion::V2 => public_key.pkcs1v15_verify::<Sha256>(text.as_bytes(), &signature).is_ok(),
        }
    }

    #[test]
    fn notification_with_subject_is_signed_as_in_the_aws_example() {
        let expected = "Message\nMy Test Message\nMessageId\n4d4dc071-ddbf-465d-bba8-08f81c89da64\n\
                        Subject\nMy subject\nTimestamp\n2019-01-31T04:37:04.321Z\n\
                        TopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\n\
                        Type\nNotification\n";
        assert_eq!(string_to_sign(&notification(Some("My subject"))), expected);
    }

    #[test]
    fn notification_without_subject_leaves_the_subject_out() {
        let expected = "Message\nMy Test Message\nMessageId\n4d4dc071-ddbf-465d-bba8-08f81c89da64\n\
                        Timestamp\n2019-01-31T04:37:04.321Z\n\
                        TopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\n\
                        Type\nNotification\n";
        assert_eq!(string_to_sign(&notification(None)), expected);
        // An empty subject is still a subject the envelope carries.
        assert!(string_to_sign(&notification(Some(""))).contains("\nSubject\n\nTimestamp\n"));
    }

    #[test]
    fn notification_ignores_confirmation_members() {
        let fields = SigningFields { subscribe_url: Some("https://x"), token: Some("t"), ..notification(None) };
        assert_eq!(string_to_sign(&fields), string_to_sign(&notification(None)));
    }

    #[test]
    fn confirmations_are_signed_as_in_the_aws_example() {
        let expected = "Message\nMy Test Message\nMessageId\n3d891288-136d-417f-bc05-901c108273ee\n\
                        SubscribeURL\nhttps://sns.us-east-2.amazonaws.com/?Action=ConfirmSubscription\
                        &TopicArn=arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P&Token=233...\n\
                        Timestamp\n2019-01-31T19:25:13.719Z\nToken\n233...\n\
                        TopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\n\
                        Type\nSubscriptionConfirmation\n";
        assert_eq!(string_to_sign(&confirmation(MessageKind::SubscriptionConfirmation)), expected);
        let unsubscribe = expected.replace("Type\nSubscriptionConfirmation\n", "Type\nUnsubscribeConfirmation\n");
        assert_eq!(string_to_sign(&confirmation(MessageKind::UnsubscribeConfirmation)), unsubscribe);
        // A subject is never part of a confirmation's signature.
        let with_subject =
            SigningFields { subject: Some("ignored"), ..confirmation(MessageKind::SubscriptionConfirmation) };
        assert_eq!(string_to_sign(&with_subject), expected);
    }

    #[test]
    fn signatures_equal_the_ones_openssl_makes() {
        let signer = test_signer();
        let fields = notification(Some("My subject"));
        assert_eq!(signer.sign(SignatureVersion::V1, &fields), OPENSSL_SIGNATURE_V1);
        assert_eq!(signer.sign(SignatureVersion::V2, &fields), OPENSSL_SIGNATURE_V2);
    }

    #[test]
    fn signatures_verify_with_the_certificate_public_key() {
        let signer = test_signer();
        let certificate = signer.certificate_pem();
        let kinds = [
            notification(Some("My subject")),
            notification(None),
            confirmation(MessageKind::SubscriptionConfirmation),
            confirmation(MessageKind::UnsubscribeConfirmation),
        ];
        for fields in kinds {
            for version in [SignatureVersion::V1, SignatureVersion::V2] {
                let signature = signer.sign(version, &fields);
                assert!(verifies(&certificate, version, &fields, &signature), "{version:?} {:?}", fields.kind);
                let tampered = SigningFields { message: "My Test Message!", ..fields };
                assert!(!verifies(&certificate, version, &tampered, &signature));
            }
        }
        // A SHA-1 signature is not a SHA-256 one.
        let fields = notification(None);
        let signature = signer.sign(SignatureVersion::V1, &fields);
        assert!(!verifies(&certificate, SignatureVersion::V2, &fields, &signature));
    }

    #[test]
    fn certificate_is_a_valid_self_signed_certificate_of_the_key() {
        let signer = test_signer();
        let certificate_pem = signer.certificate_pem();
        assert!(certificate_pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        let (_, pem) = x509_parser::pem::parse_x509_pem(certificate_pem.as_bytes()).expect("certificate PEM");
        let certificate = pem.parse_x509().expect("X.509 certificate");
        assert_eq!(certificate.version(), x509_parser::x509::X509Version::V3);
        assert_eq!(certificate.subject().to_string(), certificate.issuer().to_string());
        assert!(certificate.subject().to_string().contains("CN=Amazon SNS compatible signer (Wharf)"));
        assert_eq!(certificate.validity().not_before.to_datetime().year(), 2000);
        assert_eq!(certificate.validity().not_after.to_datetime().year(), 9999);
        let key_usage = certificate.key_usage().expect("key usage parses").expect("key usage present");
        assert!(key_usage.value.digital_signature());
        let public_key = rsa::PublicKey::from_public_key_der(certificate.public_key().raw).expect("RSA public key");
        let expected_key = PrivateKey::from_pkcs8_pem(TEST_KEY_PEM).expect("test key").to_public_key();
        assert!(public_key == expected_key, "the certificate carries the signing key");
        // The certificate's own SHA256withRSA signature verifies with its key: it is self-signed.
        assert_eq!(certificate.signature_algorithm.algorithm.to_id_string(), "1.2.840.113549.1.1.11");
        public_key
            .pkcs1v15_verify::<Sha256>(certificate.tbs_certificate.as_ref(), &certificate.signature_value.data)
            .expect("the certificate signs itself");
        // And it is a function of the key.
        assert_eq!(test_signer().certificate_pem(), certificate_pem);
    }

    #[test]
    fn pkcs1_and_pkcs8_keys_are_accepted_and_a_configured_key_is_never_written() {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        let pkcs1 = PrivateKey::from_pkcs8_pem(TEST_KEY_PEM).expect("test key").to_pkcs1_pem(LineEnding::LF);
        let pkcs1 = pkcs1.expect("PKCS#1 encoding");
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let directory = tempfile::tempdir().expect("temporary directory");
        let signer = Signer::open(Some(directory.path()), Some(&pkcs1)).expect("PKCS#1 key loads");
        assert_eq!(signer.certificate_pem(), test_signer().certificate_pem());
        assert_eq!(fs::read_dir(directory.path()).expect("listing").count(), 0);
    }

    #[test]
    fn a_generated_key_is_written_on_first_use_and_loaded_on_the_next_open() {
        let root = tempfile::tempdir().expect("temporary directory");
        let directory = root.path().join("sns-signing");
        let signer = Signer::open(Some(&directory), None).expect("opens");
        assert!(directory.is_dir());
        assert!(!directory.join(KEY_FILE_NAME).exists(), "generation waits for the first use");

        let started = Instant::now();
        let certificate = signer.certificate_pem();
        eprintln!("generating a {GENERATED_KEY_BITS}-bit key and its certificate took {:?}", started.elapsed());
        let fields = notification(Some("My subject"));
        let signature = signer.sign(SignatureVersion::V1, &fields);
        assert!(verifies(&certificate, SignatureVersion::V1, &fields, &signature));
        assert_eq!(fs::read_to_string(directory.join(CERTIFICATE_FILE_NAME)).expect("certificate file"), certificate);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |path: &Path| fs::metadata(path).expect("metadata").permissions().mode() & 0o777;
            assert_eq!(mode(&directory.join(KEY_FILE_NAME)), 0o600);
            assert_eq!(mode(&directory), 0o700);
        }

        let reopened = Signer::open(Some(&directory), None).expect("reopens");
        assert!(format!("{reopened:?}").contains("ready"), "the saved key is loaded at open");
        assert_eq!(reopened.certificate_pem(), certificate);
        assert_eq!(reopened.sign(SignatureVersion::V1, &fields), signature);

        // The certificate file is only a copy: a missing one is written again.
        fs::remove_file(directory.join(CERTIFICATE_FILE_NAME)).expect("remove certificate");
        let again = Signer::open(Some(&directory), None).expect("reopens");
        assert_eq!(again.certificate_pem(), certificate);
        assert_eq!(fs::read_to_string(directory.join(CERTIFICATE_FILE_NAME)).expect("certificate file"), certificate);
    }

    #[test]
    fn a_corrupt_key_file_is_a_clear_error_and_is_left_alone() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join(KEY_FILE_NAME);
        let truncated = &TEST_KEY_PEM[..TEST_KEY_PEM.len() / 2];
        for contents in ["not a key at all\n", truncated] {
            fs::write(&path, contents).expect("write");
            let error = Signer::open(Some(directory.path()), None).expect_err("a corrupt key must not load");
            assert!(matches!(error, SigningError::InvalidKey { .. }), "{error:?}");
            let message = error.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains("is not an unencrypted RSA private key in PEM"), "{message}");
            assert_eq!(fs::read_to_string(&path).expect("read"), contents);
        }
    }

    #[test]
    fn unusable_configured_keys_are_refused() {
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let error = Signer::open(None, Some(encrypted)).expect_err("encrypted");
        assert!(error.to_string().contains("it is encrypted"), "{error}");

        let small = PrivateKey::new(&mut getrandom::SysRng, 1024).expect("1024-bit key");
        let small = small.to_pkcs8_pem(LineEnding::LF).expect("PEM");
        let error = Signer::open(None, Some(&small)).expect_err("too small");
        assert!(matches!(error, SigningError::KeyTooSmall { bits: 1024, .. }), "{error:?}");

        let error = Signer::open(None, Some(&"A".repeat(70_000))).expect_err("too long");
        assert!(error.to_string().contains("longer than"), "{error}");
    }

    #[test]
    fn in_memory_signer_generates_a_key_on_first_use() {
        let signer = Signer::open(None, None).expect("opens");
        assert!(format!("{signer:?}").contains("generated on first use"));
        let certificate = signer.certificate_pem();
        let fields = confirmation(MessageKind::SubscriptionConfirmation);
        let signature = signer.sign(SignatureVersion::V2, &fields);
        assert!(verifies(&certificate, SignatureVersion::V2, &fields, &signature));
        assert_eq!(signer.certificate_pem(), certificate, "the key is generated once");
        assert_ne!(certificate, test_signer().certificate_pem());
    }

    #[test]
    fn signature_versions_and_kinds_have_their_wire_names() {
        assert_eq!(SignatureVersion::parse("1"), Some(SignatureVersion::V1));
        assert_eq!(SignatureVersion::parse("2"), Some(SignatureVersion::V2));
        assert_eq!(SignatureVersion::parse("3"), None);
        assert_eq!(SignatureVersion::parse(" 1"), None);
        assert_eq!(SignatureVersion::default().as_str(), "1");
        assert_eq!(SignatureVersion::V2.as_str(), "2");
        assert_eq!(MessageKind::UnsubscribeConfirmation.as_str(), "UnsubscribeConfirmation");
    }

    #[test]
    fn signer_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Signer>();
    }
}
