//! The edge's view of one accepted TCP connection: [`ConnectionIo`] wraps the socket with the two
//! rules hyper cannot enforce by itself (a deadline on the first bytes, and ending an idle
//! connection's reads once the server drains), and [`Handling`] counts the requests of the
//! connection being handled (from the call to the last byte of the reply, see [`Counted`]),
//! which the second rule needs.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The bytes an HTTP/2 client with prior knowledge opens with.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How many of one connection's requests are being handled right now.
#[derive(Debug, Default)]
pub(crate) struct Handling(AtomicUsize);

impl Handling {
    /// Counts a request as handled until the returned guard drops.
    pub(crate) fn start(self: &Arc<Self>) -> HandlingGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        HandlingGuard(self.clone())
    }

    fn idle(&self) -> bool {
        self.0.load(Ordering::Acquire) == 0
    }
}

pub(crate) struct HandlingGuard(Arc<Handling>);

impl Drop for HandlingGuard {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A reply body that keeps its request counted as handled until hyper has written all of it (or
/// dropped it with the connection): a reply still being written is part of handling.
pub(crate) struct Counted<B> {
    body: B,
    _handling: HandlingGuard,
}

impl<B> Counted<B> {
    pub(crate) fn new(body: B, handling: HandlingGuard) -> Self {
        Counted { body, _handling: handling }
    }
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for Counted<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(context)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// An accepted connection's socket, with two rules on reads.
///
/// **First bytes.** hyper-util's auto builder reads up to the 24-byte HTTP/2 preface to choose
/// between HTTP/1.1 and HTTP/2 before either protocol's own timers start, and waits for those
/// bytes forever: a client that connects and sends nothing, or a prefix of the preface, would
/// hold a connection (and a task) until it chose to leave. Until the bytes read either differ
/// from the preface (HTTP/1.1, whose header read timeout then takes over) or complete it
/// (HTTP/2, whose keep-alive ping then takes over), a read still pending at the deadline fails
/// with `TimedOut` and hyper closes the connection.
///
/// **Draining.** Once the server drains, hyper closes idle connections, but one that has sent
/// part of a request head is not idle to hyper: it waits for the rest, up to the header read
/// timeout, and so holds the whole drain. Once draining, a read that would wait while none of
/// the connection's requests is being handled ends the stream instead: nothing of such a
/// request was accepted, so closing loses nothing, while requests being handled read their
/// bodies and write their replies as usual.
pub(crate) struct ConnectionIo {
    stream: tokio::net::TcpStream,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// How many bytes have been read so far, while the deadline runs.
    seen: usize,
    /// Resolves when the server starts draining; `None` once it has.
    draining: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    handling: Arc<Handling>,
}

impl ConnectionIo {
    pub(crate) fn new(
        stream: tokio::net::TcpStream,
        first_bytes_timeout: Duration,
        mut draining: tokio::sync::watch::Receiver<bool>,
        handling: Arc<Handling>,
    ) -> Self {
        let draining = Box::pin(async move {
            // A dropped sender means the server is gone: draining too.
            let _ = draining.wait_for(|draining| *draining).await;
        });
        ConnectionIo {
            stream,
            deadline: Some(Box::pin(tokio::time::sleep(first_bytes_timeout))),
            seen: 0,
            draining: Some(draining),
            handling,
        }
    }

    /// Whether the server is draining; registers for a wake-up when it starts, if not yet.
    fn poll_draining(&mut self, context: &mut Context<'_>) -> bool {
        let started = match self.draining.as_mut() {
            None => return true,
            Some(draining) => draining.as_mut().poll(context).is_ready(),
        };
        if started {
            self.draining = None;
        }
        started
    }
}

impl tokio::io::AsyncRead for ConnectionIo {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(context, buf) {
            Poll::Ready(Ok(())) => {
                if this.deadline.is_some() {
                    let read = &buf.filled()[before..];
                    let start = this.seen.min(H2_PREFACE.len());
                    let end = (start + read.len()).min(H2_PREFACE.len());
                    let still_preface = read[..end - start] == H2_PREFACE[start..end];
                    this.seen += read.len();
                    // End of stream, a byte not the preface's, or the whole preface: decided.
                    if read.is_empty() || !still_preface || this.seen >= H2_PREFACE.len() {
                        this.deadline = None;
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let expired = this.deadline.as_mut().is_some_and(|deadline| deadline.as_mut().poll(context).is_ready());
                if expired {
                    let error = std::io::Error::new(std::io::ErrorKind::TimedOut, "no request arrived in time");
                    return Poll::Ready(Err(error));
                }
                if this.poll_draining(context) && this.handling.idle() {
                    // End of stream: hyper closes the connection.
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
            failed => failed,
        }
    }
}

impl tokio::io::AsyncWrite for ConnectionIo {
    fn poll_write(self: Pin<&mut Self>, context: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(context, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(context, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(context)
    }
}
