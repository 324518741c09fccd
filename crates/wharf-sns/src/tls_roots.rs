//! The certificate authorities SNS trusts when it delivers over TLS (https endpoints, Lambda,
//! SMTP relays): Mozilla's roots (the `webpki-roots` crate) and any extra CAs the operator names
//! in `[sns] https_ca_file`, such as a company CA or a test CA. As on AWS, an endpoint whose
//! certificate does not chain to one of them gets no delivery; there is no switch to accept
//! invalid certificates.

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

/// Why the extra CAs cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("the CA file is not PEM: {0}")]
    NotPem(String),
    #[error("the CA file holds no CERTIFICATE block")]
    NoCertificate,
    #[error("certificate {index} of the CA file is not a usable CA certificate: {reason}")]
    NotUsable { index: usize, reason: String },
    #[error("the TLS client cannot be set up: {0}")]
    Setup(String),
}

/// Mozilla's roots plus the extra CAs.
#[derive(Debug, Clone, Default)]
pub struct TrustRoots {
    extra: Vec<CertificateDer<'static>>,
}

impl TrustRoots {
    /// Mozilla's roots only.
    pub fn mozilla() -> TrustRoots {
        TrustRoots::default()
    }

    /// Mozilla's roots plus every certificate of a PEM file (other PEM blocks are ignored).
    pub fn with_extra_pem(pem: &[u8]) -> Result<TrustRoots, TrustError> {
        let extra = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| TrustError::NotPem(error.to_string()))?;
        if extra.is_empty() {
            return Err(TrustError::NoCertificate);
        }
        let roots = TrustRoots { extra };
        roots.root_store()?;
        Ok(roots)
    }

    /// The extra CAs, DER-encoded.
    pub fn extra(&self) -> &[CertificateDer<'static>] {
        &self.extra
    }

    /// Every trusted root, for a rustls client.
    pub fn root_store(&self) -> Result<RootCertStore, TrustError> {
        let mut store = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        for (index, certificate) in self.extra.iter().enumerate() {
            store
                .add(certificate.clone())
                .map_err(|error| TrustError::NotUsable { index: index + 1, reason: error.to_string() })?;
        }
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mozilla_roots_are_trusted_by_default() {
        let store = TrustRoots::mozilla().root_store().unwrap();
        assert_eq!(store.len(), webpki_roots::TLS_SERVER_ROOTS.len());
        assert!(store.len() > 100);
    }

    #[test]
    fn a_ca_file_needs_a_certificate() {
        assert!(matches!(TrustRoots::with_extra_pem(b""), Err(TrustError::NoCertificate)));
        assert!(matches!(TrustRoots::with_extra_pem(b"not pem at all"), Err(TrustError::NoCertificate)));
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(TrustRoots::with_extra_pem(garbage), Err(TrustError::NotUsable { index: 1, .. })));
    }
}
