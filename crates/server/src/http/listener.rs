//! The accept loop shared by both listeners: TLS handshake (bounded in time), the peer's
//! verified certificate and address put into every request's extensions, HTTP/1.1 and
//! HTTP/2 with a header read timeout, and graceful shutdown (stop accepting, let
//! in-flight requests finish within a grace period).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::Service;

use super::tls::PeerCertificate;

/// What a request knows about the connection it came on.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub remote: SocketAddr,
    /// Present when the client presented a certificate the TLS verifier accepted.
    pub peer_certificate: Option<Arc<PeerCertificate>>,
}

#[derive(Debug, Clone, Copy)]
pub struct ListenOptions {
    /// Limit for the TLS handshake and for reading request headers.
    pub header_timeout: Duration,
    /// How long in-flight requests may take to finish after shutdown begins.
    pub grace: Duration,
}

/// Serves `router` on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    options: ListenOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();

    loop {
        let (stream, remote) = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls_stream = match tokio::time::timeout(options.header_timeout, acceptor.accept(stream)).await
            {
                Ok(Ok(tls_stream)) => tls_stream,
                Ok(Err(err)) => {
                    tracing::debug!(%remote, error = %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%remote, "TLS handshake timed out");
                    return;
                }
            };
            let peer_certificate = tls_stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| PeerCertificate::from_der(leaf.as_ref()))
                .map(Arc::new);
            let info = ConnectionInfo {
                remote,
                peer_certificate,
            };
            let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(info.clone());
                let mut router = router.clone();
                async move { router.call(request).await }
            });
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(tls_stream), service);
            if let Err(err) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(%remote, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(options.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("grace period over; closing the remaining connections");
    }
}
