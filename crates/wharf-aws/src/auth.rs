//! Who is calling. With no users configured every request is accepted (signed with any key or
//! not signed at all) in the default account, as local AWS emulators do; with users configured,
//! every request must carry a valid SigV4 signature from one of them.

use crate::service::{Caller, EdgeError};
use crate::sigv4::{self, Credentials, RequestToVerify};
use std::collections::HashMap;

/// An access key and the account it acts in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account_id: String,
}

#[derive(Debug, Clone)]
pub struct Authenticator {
    users: HashMap<String, User>,
    default_account: String,
}

/// Used for unsigned requests when no users are configured.
const ANONYMOUS_ACCESS_KEY: &str = "anonymous";

impl Authenticator {
    pub fn new(users: Vec<User>, default_account: String) -> Self {
        Authenticator {
            users: users.into_iter().map(|user| (user.access_key_id.clone(), user)).collect(),
            default_account,
        }
    }

    /// The caller of an unsigned request to an operation that needs no signature.
    pub fn unsigned_caller(&self) -> Caller {
        Caller {
            account_id: self.default_account.clone(),
            access_key_id: ANONYMOUS_ACCESS_KEY.to_string(),
            authenticated: false,
        }
    }

    pub fn authenticate(&self, request: &RequestToVerify<'_>, now_unix_seconds: i64) -> Result<Caller, EdgeError> {
        if self.users.is_empty() {
            let access_key_id = sigv4::credential_scope(request)
                .ok()
                .flatten()
                .map(|scope| scope.access_key_id)
                .unwrap_or_else(|| ANONYMOUS_ACCESS_KEY.to_string());
            return Ok(Caller { account_id: self.default_account.clone(), access_key_id, authenticated: false });
        }
        let lookup = |access_key_id: &str| {
            self.users.get(access_key_id).map(|user| Credentials {
                secret_access_key: user.secret_access_key.clone(),
                account_id: user.account_id.clone(),
            })
        };
        match sigv4::verify(request, lookup, now_unix_seconds) {
            Ok(verified) => Ok(Caller {
                account_id: verified.account_id,
                access_key_id: verified.access_key_id,
                authenticated: true,
            }),
            Err(error) => Err(EdgeError { code: error.code(), status: error.http_status(), message: error.message() }),
        }
    }
}
