//! The one HTTP client SNS delivers through (http and https subscriptions, Lambda invokes): plain
//! HTTP for `http://` URLs, rustls (ring provider) for `https://` URLs, verifying the server's
//! certificate against the [`TrustRoots`] it is built from.

use crate::tls_roots::{TrustError, TrustRoots};
use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;

/// The shared delivery client; cloning it shares its connection pool.
pub type DeliveryClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds the delivery client trusting `roots`.
pub fn build(roots: &TrustRoots) -> Result<DeliveryClient, TrustError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| TrustError::Setup(error.to_string()))?
        .with_root_certificates(roots.root_store()?)
        .with_no_client_auth();
    let connector =
        hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn https_to_an_endpoint_without_tls_fails_instead_of_falling_back() {
        let client = build(&TrustRoots::mozilla()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            // Answers whatever arrives first (a request, or a TLS ClientHello) in plain HTTP.
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
            }
        });
        let request = hyper::Request::post(format!("https://{address}/")).body(Full::new(Bytes::new())).unwrap();
        assert!(client.request(request).await.is_err());
        let request = hyper::Request::post(format!("http://{address}/")).body(Full::new(Bytes::new())).unwrap();
        assert!(client.request(request).await.unwrap().status().is_success());
    }
}
