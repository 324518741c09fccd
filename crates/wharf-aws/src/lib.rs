//! AWS plumbing shared by every AWS front-end.
//!
//! It owns what all AWS services have in common: the wire codecs ([`wire`], pure: no tokio, no
//! I/O, never panics on input), SigV4 verification and signing ([`sigv4`]), opaque tamper-evident tokens
//! ([`token`]), ARNs ([`arn`]), authentication ([`auth`]) and the HTTP edge ([`edge`]) that
//! routes requests to the services implementing [`service::AwsService`].
//!
//! It must not know any particular service's operations or the domain core: front-ends depend
//! on it, never the reverse.

pub mod arn;
pub mod auth;
mod connection;
pub mod edge;
pub mod service;
pub mod sigv4;
pub mod token;
pub mod wire;
