//! The HTTPS adapter for Git server APIs: hyper's client on the SDK's own stack (one hyper, one
//! rustls, ring), the system's root certificates, HTTP/1.1. Timeouts are the caller's
//! (`GitApi`'s retry policy).

use crate::ports::{BoxFuture, HttpClient, NextPage, OutboundRequest, OutboundResponse};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// hyper + rustls.
pub struct HttpsClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpsClient {
    /// With the system's root certificates; `Err` when none can be loaded.
    pub fn new() -> Result<Self, String> {
        // Small requests and answers: no Nagle delay.
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| format!("no root certificates for HTTPS: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Ok(Self { client: Client::builder(TokioExecutor::new()).build(connector) })
    }
}

impl HttpClient for HttpsClient {
    fn send<'a>(&'a self, request: &'a OutboundRequest) -> BoxFuture<'a, Result<OutboundResponse, String>> {
        Box::pin(async move {
            let mut builder = hyper::Request::builder().method(request.method).uri(&request.url);
            for (name, value) in &request.headers {
                builder = builder.header(*name, value);
            }
            let http_request =
                builder.body(Full::new(Bytes::from(request.body.clone()))).map_err(|e| format!("bad request: {e}"))?;
            let response = self.client.request(http_request).await.map_err(|e| network_error(&e))?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let next = next_page(response.headers());
            // A body past the request's limit is reported as such, never read as a cut document.
            let (body, exceeded) = match Limited::new(response.into_body(), request.limit).collect().await {
                Ok(collected) => (collected.to_bytes().to_vec(), false),
                Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => (Vec::new(), true),
                Err(e) => return Err(format!("the answer broke off: {e}")),
            };
            Ok(OutboundResponse { status, retry_after, next, body, exceeded })
        })
    }
}

/// The next page a list answer names: `Link: <url>; rel="next"`, else `X-Next-Page: n`.
fn next_page(headers: &hyper::HeaderMap) -> Option<NextPage> {
    let link =
        headers.get_all("link").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).find_map(|part| {
            let (url, params) = part.split_once(';')?;
            params
                .split(';')
                .any(|p| p.trim() == "rel=\"next\"")
                .then(|| url.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
        });
    link.map(NextPage::Url).or_else(|| {
        headers
            .get("x-next-page")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .map(NextPage::Number)
    })
}

/// The error chain of a failed request, without the URL's query (never a credential: those
/// travel in headers).
fn network_error(e: &hyper_util::client::legacy::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
