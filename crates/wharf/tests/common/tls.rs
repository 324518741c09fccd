//! TLS for test endpoints: a throwaway certificate authority (rcgen, ring) that signs a server
//! certificate for `localhost` and 127.0.0.1, served through tokio-rustls. A test makes Wharf
//! trust the CA by writing its PEM into `[sns] https_ca_file`; a second CA stands for one Wharf
//! does not trust.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM.
    pub pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().expect("CA key");
        let certificate = params.self_signed(&key).expect("CA certificate");
        TestCa { pem: certificate.pem(), issuer: Issuer::new(params, key) }
    }

    /// Writes the CA certificate to `dir/name` and returns the path.
    pub fn write_pem(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.pem).expect("write CA file");
        path
    }

    /// A TLS acceptor presenting a certificate for `localhost` and 127.0.0.1 signed by this CA.
    pub fn acceptor(&self) -> TlsAcceptor {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("leaf parameters");
        params.distinguished_name.push(DnType::CommonName, "localhost");
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("leaf key");
        let certificate = params.signed_by(&key, &self.issuer).expect("leaf certificate");
        let chain = vec![CertificateDer::from(certificate.der().to_vec())];
        let private_key = PrivateKeyDer::from(key);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, private_key)
            .expect("server certificate");
        TlsAcceptor::from(Arc::new(config))
    }
}

/// True when a failed server handshake is the client refusing the certificate as signed by an
/// unknown CA (the alert rustls and other clients send for an untrusted chain).
pub fn refused_as_unknown_ca(error: &std::io::Error) -> bool {
    let alert = rustls::Error::AlertReceived(rustls::AlertDescription::UnknownCA);
    error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) == Some(&alert)
}
