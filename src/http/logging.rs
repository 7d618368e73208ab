//! One structured log line per request. Only the route pattern and resource type are logged,
//! never ids, query strings or bodies, so no patient data reaches the logs.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::Error;

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let start = Instant::now();
    let method = req.method().to_string();
    let res = next.call(req).await;
    // Routing happens inside the call, so the matched route is read from the answer.
    let (status, route, resource_type) = match &res {
        Ok(r) => (
            r.status().as_u16(),
            r.request().match_pattern(),
            r.request().match_info().get("type").map(str::to_string),
        ),
        Err(e) => (e.as_response_error().status_code().as_u16(), None, None),
    };
    tracing::info!(
        method,
        route = route.as_deref().unwrap_or("(unmatched)"),
        resource_type = resource_type.as_deref().unwrap_or("-"),
        status,
        latency_ms = (start.elapsed().as_secs_f64() * 1e6).round() / 1e3,
        "request"
    );
    res
}
