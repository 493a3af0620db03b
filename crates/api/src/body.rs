//! A request body must arrive whole within [`BODY_DEADLINE`] of its head. Without a deadline a
//! client that announces `Content-Length: 60000` and sends one byte holds its connection, a
//! descriptor and a task for as long as it likes, and a thousand such clients starve every
//! other request of descriptors. The body is read here, before any handler (so a handler never
//! waits on a client), and a request that has not sent it in time gets a 408 and its
//! connection closed. Requests that announce no body (every GET, the streams among them) pass
//! straight through, unbuffered.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use crate::ApiError;
use crate::app::BODY_LIMIT;

/// Long enough for the largest body we take (64 KiB) over a very poor mobile link.
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);

pub async fn within_deadline(request: Request, next: Next) -> Response {
    let announces_body = request.headers().contains_key(header::TRANSFER_ENCODING)
        || request
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if !announces_body {
        return next.run(request).await;
    }
    let declared_over = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n > BODY_LIMIT as u64);
    if declared_over {
        // The handler refuses it from the header alone, reading nothing, and audits it.
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(BODY_DEADLINE, gather(body)).await {
        // Over the limit or not, the handler gets what came: its limit refuses (and audits)
        // a body over it exactly as before.
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(_)) => closing(ApiError::bad_request(
            "the request body was cut off before its end",
        )),
        Err(_) => closing(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within {} s",
                BODY_DEADLINE.as_secs()
            ),
        )),
    }
}

/// The body's bytes, up to one frame past the limit: enough for the limit to see it is over.
async fn gather(mut body: Body) -> Result<Vec<u8>, axum::Error> {
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            bytes.extend_from_slice(&data);
            if bytes.len() > BODY_LIMIT {
                break;
            }
        }
    }
    Ok(bytes)
}

/// What is left of the body may still be on its way: the connection cannot carry another
/// request, so it is closed after the answer.
fn closing(error: ApiError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
