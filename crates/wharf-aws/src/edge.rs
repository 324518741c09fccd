//! The HTTP edge: one listener for every AWS service. It speaks HTTP/1.1 and HTTP/2 with prior
//! knowledge on the same plain port, limits request size before buffering, authenticates,
//! routes each request to a service and operation, and records per-operation metrics.
//!
//! Routing: `X-Amz-Target: <Prefix>.<Operation>` selects an awsJson service by prefix; otherwise
//! an `Action` parameter (query string or form body) selects an awsQuery service by the SigV4
//! signing name, else by `Version`, else the first service. Paths under `/_wharf/` go to the
//! admin handler, authenticated like service requests unless the handler calls them public.

use crate::auth::Authenticator;
use crate::connection::{ConnectionIo, Counted, Handling};
use crate::service::{AwsRequest, AwsResponse, AwsService, EdgeError, Protocol};
use crate::sigv4::{self, RequestToVerify};
use crate::wire::query::QueryParams;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

/// A request for a `/_wharf/…` path; admin handlers read no body (a signed body is verified).
#[derive(Debug, Clone, Copy)]
pub struct AdminRequest<'a> {
    pub method: &'a str,
    /// The path after `/_wharf/`.
    pub path: &'a str,
    /// The query string, without `?`.
    pub query: &'a str,
}

/// An admin answer: status, content type and body.
pub type AdminReply = (u16, &'static str, Bytes);

/// Serves `/_wharf/…` paths.
pub trait AdminHandler: Send + Sync + 'static {
    /// Whether `path` (after `/_wharf/`) is served to anyone. Every other admin path needs, once
    /// users are configured, a SigV4 signature from one of them, like the services themselves.
    fn is_public(&self, path: &str) -> bool;

    /// Returns the reply, or `None` for an unknown path.
    fn handle<'a>(
        &'a self,
        request: AdminRequest<'a>,
    ) -> std::pin::Pin<Box<dyn Future<Output = Option<AdminReply>> + Send + 'a>>;
}

#[derive(Debug, Clone)]
pub struct EdgeConfig {
    pub request_bytes_max: usize,
    /// Overrides the base URL taken from the request's Host header.
    pub advertised_url: Option<String>,
    pub region: String,
    /// How long in-flight requests may take to finish after shutdown begins.
    pub drain_timeout: Duration,
    /// How long a client may take to send a request's headers (HTTP/1.1) before the connection
    /// is closed, so slow or stalled clients cannot hold connections open. The same bound applies
    /// to a new connection's first bytes (before it is known to speak HTTP/1.1 or HTTP/2), and
    /// an HTTP/2 connection silent for this long is pinged and closed unless it answers within it.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's whole body once its headers are in. A body
    /// that trickles in or stalls would otherwise hold the connection and its request task
    /// forever; past this the request is answered 408 `RequestTimeout` and the body dropped.
    pub body_read_timeout: Duration,
}

/// The most bytes an HTTP/1.1 request line and headers may take (hyper's read buffer limit);
/// a longer head is answered 431 and the connection closed, so no client can make the server
/// buffer an unbounded head. 256 KiB leaves room for long presigned URLs and GET-style awsQuery.
pub const HTTP1_HEAD_BYTES_MAX: usize = 256 * 1024;
/// The most header fields an HTTP/1.1 request may carry (431 above it). SDKs send about ten.
pub const HTTP1_HEADERS_MAX: usize = 100;
/// The most bytes of headers (as HTTP/2 counts them, 32 bytes per field plus names and values)
/// an HTTP/2 request may carry.
pub const HTTP2_HEADER_LIST_BYTES_MAX: u32 = 256 * 1024;
/// The most requests one HTTP/2 connection may have in flight at once.
pub const HTTP2_STREAMS_MAX: u32 = 200;

pub struct Edge {
    services: Vec<Arc<dyn AwsService>>,
    authenticator: Authenticator,
    admin: Arc<dyn AdminHandler>,
    config: EdgeConfig,
}

const ADMIN_PREFIX: &str = "/_wharf/";

impl Edge {
    pub fn new(
        services: Vec<Arc<dyn AwsService>>,
        authenticator: Authenticator,
        admin: Arc<dyn AdminHandler>,
        config: EdgeConfig,
    ) -> Arc<Self> {
        Arc::new(Edge { services, authenticator, admin, config })
    }

    /// Accepts connections until `shutdown` resolves, then lets in-flight requests finish for up
    /// to the drain timeout.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.config.header_read_timeout)
            .max_buf_size(HTTP1_HEAD_BYTES_MAX)
            .max_headers(HTTP1_HEADERS_MAX);
        // hyper has no idle timeout for HTTP/2: a peer that went silent (or never sent a frame
        // after the preface) is found out by a ping it does not answer.
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(HTTP2_HEADER_LIST_BYTES_MAX)
            .max_concurrent_streams(HTTP2_STREAMS_MAX)
            .keep_alive_interval(self.config.header_read_timeout)
            .keep_alive_timeout(self.config.header_read_timeout);
        let mut connections = tokio::task::JoinSet::new();
        let (draining, draining_watch) = tokio::sync::watch::channel(false);
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = &mut shutdown => break,
            };
            let (stream, _) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let edge = self.clone();
            let handling = Arc::new(Handling::default());
            let counted = handling.clone();
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let edge = edge.clone();
                let handled = counted.start();
                async move { Ok::<_, Infallible>(edge.dispatch(request).await.map(|body| Counted::new(body, handled))) }
            });
            let stream = ConnectionIo::new(stream, self.config.header_read_timeout, draining_watch.clone(), handling);
            let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
            let watched = graceful.watch(connection);
            connections.spawn(async move {
                if let Err(error) = watched.await {
                    tracing::debug!(%error, "connection ended with an error");
                }
            });
            // Reap finished connection tasks so the set stays as small as the open connections.
            while connections.try_join_next().is_some() {}
        }
        drop(listener);
        draining.send_replace(true);
        if tokio::time::timeout(self.config.drain_timeout, graceful.shutdown()).await.is_err() {
            tracing::warn!("drain timeout passed with requests still in flight");
        }
        // Every connection task, and the handles to the services it holds, is gone once `serve`
        // returns, so the caller can close storage right after.
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }

    async fn dispatch(&self, request: Request<Incoming>) -> Response<EdgeBody> {
        let started = Instant::now();
        let request_id = uuid::Uuid::new_v4().to_string();
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_string();
        if let Some(admin_path) = path.strip_prefix(ADMIN_PREFIX) {
            if !self.admin.is_public(admin_path) {
                let verified = match self.read_body(&parts.headers, body).await {
                    Ok(body) => {
                        let headers = signed_headers(&parts);
                        let request = RequestToVerify {
                            method: parts.method.as_str(),
                            path: &path,
                            query: parts.uri.query().unwrap_or(""),
                            headers: &headers,
                            body: &body,
                        };
                        self.authenticator.authenticate(&request, unix_seconds())
                    }
                    Err(error) => Err(error),
                };
                if let Err(error) = verified {
                    let body = serde_json::json!({ "Error": error.code, "Message": error.message }).to_string();
                    return plain_response(error.status, "application/json", Bytes::from(body));
                }
            }
            let request = AdminRequest {
                method: parts.method.as_str(),
                path: admin_path,
                query: parts.uri.query().unwrap_or(""),
            };
            return match self.admin.handle(request).await {
                Some((status, content_type, body)) => plain_response(status, content_type, body),
                None => plain_response(404, "text/plain", Bytes::from_static(b"not found\n")),
            };
        }
        let target = header(&parts.headers, "x-amz-target").map(str::to_string);
        let protocol = if target.is_some() { Protocol::Json } else { Protocol::Query };

        let body = match self.read_body(&parts.headers, body).await {
            Ok(body) => body,
            Err(error) => return self.reject(protocol, None, &error, &request_id),
        };
        let query_string = parts.uri.query().unwrap_or("");
        let (service, operation, params) = match self.route(target.as_deref(), &parts.headers, query_string, &body) {
            Ok(routed) => routed,
            Err((service, error)) => return self.reject(protocol, service, &error, &request_id),
        };
        let host = header(&parts.headers, "host").or(parts.uri.authority().map(|authority| authority.as_str()));
        let unsigned = header(&parts.headers, "authorization").is_none() && !query_string.contains("X-Amz-Signature=");
        let caller = if unsigned && service.allows_unsigned(&operation) {
            self.authenticator.unsigned_caller()
        } else {
            let headers = signed_headers(&parts);
            let request = RequestToVerify {
                method: parts.method.as_str(),
                path: &path,
                query: query_string,
                headers: &headers,
                body: &body,
            };
            match self.authenticator.authenticate(&request, unix_seconds()) {
                Ok(caller) => caller,
                Err(error) => return self.reject(protocol, Some(service.clone()), &error, &request_id),
            }
        };
        let base_url = match &self.config.advertised_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", host.unwrap_or("localhost:4566")),
        };
        let service_name = service.signing_name();
        let aws_request = AwsRequest {
            protocol,
            operation: operation.clone(),
            body,
            params,
            caller,
            region: self.config.region.clone(),
            base_url,
            path,
            content_type: header(&parts.headers, "content-type").unwrap_or_default().to_string(),
            request_id: request_id.clone(),
        };
        let response = service.handle(aws_request).await;
        let status = response.status.to_string();
        let labels = [("service", service_name.to_string()), ("operation", operation), ("status", status)];
        metrics::counter!("wharf_requests_total", &labels).increment(1);
        metrics::histogram!("wharf_request_duration_seconds", &labels[..2]).record(started.elapsed().as_secs_f64());
        into_http(response, &request_id)
    }

    async fn read_body(&self, headers: &HeaderMap, body: Incoming) -> Result<Bytes, EdgeError> {
        let too_large = || EdgeError {
            code: "RequestEntityTooLarge",
            status: 413,
            message: format!("Request body must be at most {} bytes.", self.config.request_bytes_max),
        };
        let declared = header(headers, "content-length").and_then(|length| length.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.config.request_bytes_max as u64) {
            return Err(too_large());
        }
        let collecting = Limited::new(body, self.config.request_bytes_max).collect();
        let Ok(collected) = tokio::time::timeout(self.config.body_read_timeout, collecting).await else {
            return Err(EdgeError {
                code: "RequestTimeout",
                status: 408,
                message: format!(
                    "The request body was not received within {} ms.",
                    self.config.body_read_timeout.as_millis()
                ),
            });
        };
        match collected {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(too_large()),
            Err(_) => Err(EdgeError {
                code: "IncompleteBody",
                status: 400,
                message: "The request body ended before it was complete.".into(),
            }),
        }
    }

    #[allow(clippy::type_complexity)]
    fn route(
        &self,
        target: Option<&str>,
        headers: &HeaderMap,
        query_string: &str,
        body: &Bytes,
    ) -> Result<(Arc<dyn AwsService>, String, QueryParams), (Option<Arc<dyn AwsService>>, EdgeError)> {
        if let Some(target) = target {
            let (prefix, operation) = target.split_once('.').unwrap_or((target, ""));
            return match self.services.iter().find(|service| service.json_target_prefix() == prefix) {
                Some(service) if !operation.is_empty() => {
                    Ok((service.clone(), operation.to_string(), QueryParams::default()))
                }
                found => Err((found.cloned(), unknown_operation(target))),
            };
        }
        let form = header(headers, "content-type")
            .is_some_and(|content_type| content_type.starts_with("application/x-www-form-urlencoded"));
        let sources: Vec<&[u8]> =
            if form { vec![query_string.as_bytes(), body.as_ref()] } else { vec![query_string.as_bytes()] };
        let default_service = self.services.first().cloned();
        let params = QueryParams::parse(&sources).map_err(|error| {
            (
                default_service.clone(),
                EdgeError { code: "MalformedQueryString", status: 400, message: error.to_string() },
            )
        })?;
        let signing_name = signing_name(headers, query_string);
        let version = params.get("Version");
        let service = self
            .services
            .iter()
            .find(|service| signing_name.as_deref() == Some(service.signing_name()))
            .or_else(|| self.services.iter().find(|service| version == Some(service.query_version())))
            // Links a service hands out (SNS's SubscribeURL) carry neither a signature nor a
            // Version: the action alone names the service.
            .or_else(|| {
                let action = params.get("Action")?;
                self.services.iter().find(|service| service.allows_unsigned(action))
            })
            .or(default_service.as_ref())
            .cloned();
        let Some(service) = service else {
            return Err((None, unknown_operation("")));
        };
        match params.get("Action") {
            Some(action) if !action.is_empty() => {
                let action = action.to_string();
                Ok((service, action, params))
            }
            _ => Err((
                Some(service),
                EdgeError {
                    code: "MissingAction",
                    status: 400,
                    message: "The request must contain the parameter Action.".into(),
                },
            )),
        }
    }

    fn reject(
        &self,
        protocol: Protocol,
        service: Option<Arc<dyn AwsService>>,
        error: &EdgeError,
        request_id: &str,
    ) -> Response<EdgeBody> {
        match service.or_else(|| self.services.first().cloned()) {
            Some(service) => into_http(service.edge_error(protocol, error, request_id), request_id),
            None => plain_response(error.status, "text/plain", Bytes::from(error.message.clone())),
        }
    }
}

fn unknown_operation(target: &str) -> EdgeError {
    EdgeError {
        code: "UnknownOperationException",
        status: 400,
        message: format!("The operation {target} is not recognised."),
    }
}

/// The service named in the SigV4 credential scope, from either signature form.
fn signing_name(headers: &HeaderMap, query_string: &str) -> Option<String> {
    let headers: Vec<(&str, &str)> =
        headers.iter().filter_map(|(name, value)| value.to_str().ok().map(|value| (name.as_str(), value))).collect();
    let request = RequestToVerify { method: "", path: "", query: query_string, headers: &headers, body: &[] };
    sigv4::credential_scope(&request).ok().flatten().map(|scope| scope.service)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn unix_seconds() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_secs() as i64).unwrap_or(0)
}

fn into_http(response: AwsResponse, request_id: &str) -> Response<EdgeBody> {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", response.content_type)
        .header("x-amzn-requestid", request_id);
    for (name, value) in response.headers {
        builder = builder.header(name, value);
    }
    let body = match response.stream {
        Some(chunks) => EdgeBody::Right(ChannelBody { first: Some(response.body), chunks }),
        None => EdgeBody::Left(Full::new(response.body)),
    };
    builder.body(body).unwrap_or_else(|_| internal_error())
}

/// The headers a signature covers. HTTP/2 carries the host as `:authority`, but signers sign it
/// as `host`, so it is added as one when missing.
fn signed_headers(parts: &http::request::Parts) -> Vec<(&str, &str)> {
    let mut headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| value.to_str().ok().map(|value| (name.as_str(), value)))
        .collect();
    if header(&parts.headers, "host").is_none() {
        if let Some(authority) = parts.uri.authority() {
            headers.push(("host", authority.as_str()));
        }
    }
    headers
}

fn plain_response(status: u16, content_type: &'static str, body: Bytes) -> Response<EdgeBody> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type)
        .body(EdgeBody::Left(Full::new(body)))
        .unwrap_or_else(|_| internal_error())
}

fn internal_error() -> Response<EdgeBody> {
    let mut response = Response::new(EdgeBody::Left(Full::new(Bytes::from_static(b"internal error\n"))));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

/// A reply body: whole, or streamed from a channel.
type EdgeBody = http_body_util::Either<Full<Bytes>, ChannelBody>;

/// A streamed body: a first chunk, then whatever the service sends until it drops its sender.
/// The channel is bounded, so a slow client holds the service back instead of filling memory.
struct ChannelBody {
    first: Option<Bytes>,
    chunks: tokio::sync::mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        if let Some(first) = self.first.take().filter(|first| !first.is_empty()) {
            return std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(first))));
        }
        self.chunks.poll_recv(context).map(|chunk| chunk.map(|chunk| Ok(hyper::body::Frame::data(chunk))))
    }
}
