//! `--metrics-addr` / `[host] metrics_addr`: installs the Prometheus
//! recorder and serves its text format at `/metrics`.

use std::{net::SocketAddr, time::Duration};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::{output::note, Failure};

/// Latency buckets of `stateplug_store_call_duration_seconds`, in seconds:
/// from a memory read (sub-microsecond) to a slow remote commit.
const LATENCY_BUCKETS: &[f64] = &[
    1e-6, 5e-6, 2.5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 2.5e-2, 0.1, 0.5, 2.5, 10.0,
];
/// Buckets of `stateplug_store_write_group_size`, in writes per commit.
const GROUP_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Installs the recorder and starts serving `/metrics` on `addr` (port 0:
/// any free port). Returns the address it listens on. Call it before the
/// host is built: the host registers its metrics when it builds.
pub(crate) async fn serve(addr: SocketAddr) -> Result<SocketAddr, Failure> {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        Failure::usage(format!(
            "cannot serve metrics on {addr}: {e}; choose another --metrics-addr (port 0 picks a free one)"
        ))
    })?;
    let bound = listener
        .local_addr()
        .map_err(|e| Failure::usage(format!("cannot read the metrics address of {addr}: {e}")))?;
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(
                stateplug::layers::metrics::CALL_DURATION.to_string(),
            ),
            LATENCY_BUCKETS,
        )
        .and_then(|b| {
            b.set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(
                    stateplug::layers::metrics::WRITE_GROUP_SIZE.to_string(),
                ),
                GROUP_BUCKETS,
            )
        })
        .and_then(|b| {
            b.set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(
                    stateplug::layers::metrics::COMMIT_DURATION.to_string(),
                ),
                LATENCY_BUCKETS,
            )
        })
        .map_err(|e| Failure::failed(format!("cannot configure the metrics recorder: {e}")))?
        .install_recorder()
        .map_err(|e| Failure::failed(format!("cannot install the metrics recorder: {e}")))?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(5));
        loop {
            ticker.tick().await;
            upkeep.run_upkeep();
        }
    });
    tokio::spawn(accept(listener, handle));
    note!("serving metrics on http://{bound}/metrics");
    Ok(bound)
}

async fn accept(listener: TcpListener, handle: PrometheusHandle) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(respond(stream, handle.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics listener: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Answers one HTTP/1.x request: `GET /metrics` with the text format,
/// anything else with 404; then closes the connection.
async fn respond(mut stream: TcpStream, handle: PrometheusHandle) {
    let mut request = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    // The request line and headers end with an empty line; 16 KiB is plenty.
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => request.extend_from_slice(&buf[..n]),
        }
    }
    let line = request.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next(), parts.next());
    let (status, body) = match (method, path) {
        (Some(b"GET"), Some(p)) if p == b"/metrics" || p.starts_with(b"/metrics?") => {
            ("200 OK", handle.render())
        }
        _ => (
            "404 Not Found",
            "stateplug serves /metrics only\n".to_string(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if let Err(e) = stream.write_all(response.as_bytes()).await {
        tracing::debug!(error = %e, "metrics listener: the reader went away");
    }
    let _ = stream.shutdown().await;
}
