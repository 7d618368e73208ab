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
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "(unmatched)".to_string());
    let resource_type = req.match_info().get("type").map(str::to_string);
    let res = next.call(req).await;
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    tracing::info!(
        method,
        route,
        resource_type = resource_type.as_deref().unwrap_or("-"),
        status,
        latency_ms = start.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    res
}
