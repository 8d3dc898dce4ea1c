//! A fault-injecting proxy in front of moto: the local AWS cannot throttle, fail or answer late,
//! so the fault suite (`tests/faults/`) puts this between the real SDK clients and moto.
//!
//! It names each request by its operation, read the way each protocol carries it: the
//! `X-Amz-Target` header (JSON protocols: ECS, DynamoDB, CodeDeploy), the form's `Action`
//! (query protocol: SNS, STS; EC2, with its own error shape), or the method and path (EventBridge Scheduler's REST
//! protocol: `POST /schedules/NAME` is `CreateSchedule`). Faults are queued per operation and
//! served in order, then requests pass through untouched:
//!
//! - [`Fault::Throttle`]: answered as that protocol answers throttling (400 `ThrottlingException`,
//!   SNS's `Throttling`, Scheduler's 429), never forwarded;
//! - [`Fault::ServerError`]: a 500, never forwarded;
//! - [`Fault::LateAnswer`]: forwarded (the change takes effect in moto), answered only after the
//!   delay: with a shorter SDK attempt timeout, an ambiguous failure;
//! - [`Fault::Hang`]: never answered;
//! - [`Fault::Together`]: held until every request it was injected for has arrived, then all
//!   forwarded at once: two deliveries' reads of the ledger both happen before either claims,
//!   whatever the scheduler would have done.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::config::Credentials;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// What the proxy does to one request of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    ServerError,
    LateAnswer(Duration),
    Hang,
    /// Refused: 403 `AccessDenied` (IAM said no), never forwarded.
    AccessDenied,
    /// Answered 200 with this body by the proxy, never forwarded: an operation moto does not
    /// implement (EC2 instance event windows), modelled as AWS documents its answer.
    Answer(String),
    /// Held until all the requests it was queued for (`inject(op, Together, n)`: `n` of them)
    /// have arrived, then forwarded together: forces a race instead of hoping for one.
    Together,
    /// Refused with HTTP 400 and this error code (a JSON-protocol service's own refusal, such
    /// as AWS Health's `SubscriptionRequiredException`), never forwarded.
    Refuse(String),
}

#[derive(Debug, Default)]
struct State {
    faults: HashMap<String, VecDeque<Fault>>,
    /// Requests per operation that reached the proxy (faulted or not).
    seen: HashMap<String, usize>,
    /// Requests per operation that reached moto.
    forwarded: HashMap<String, usize>,
    /// The barrier [`Fault::Together`] requests of an operation wait at.
    gates: HashMap<String, Arc<tokio::sync::Barrier>>,
    /// Added to every request before it is forwarded ([`FaultProxy::delay_every`]).
    latency: Duration,
}

/// The proxy, serving until dropped with its runtime.
#[derive(Debug, Clone)]
pub struct FaultProxy {
    endpoint: String,
    state: Arc<Mutex<State>>,
}

enum Protocol {
    Json,
    /// The query protocol (SNS, STS).
    Query,
    /// EC2's variant of the query protocol, with its own error shape.
    Ec2,
    Rest,
    /// Smithy RPC v2 CBOR (`/service/S/operation/Op`, `smithy-protocol: rpc-v2-cbor`): AWS
    /// Health's SDK speaks it.
    Cbor,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (moto's endpoint) on a loopback port.
    pub async fn start(upstream: &str) -> Self {
        let (listener, addr) = crate::loopback().await;
        let state = Arc::new(Mutex::new(State::default()));
        let proxy = FaultProxy {
            endpoint: format!("http://{addr}"),
            state: state.clone(),
        };
        let upstream = upstream.trim_end_matches('/').to_owned();
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (state, upstream, client) = (state.clone(), upstream.clone(), client.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (state, upstream, client) =
                            (state.clone(), upstream.clone(), client.clone());
                        async move { Ok::<_, Infallible>(handle(req, &state, &upstream, &client).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        proxy
    }

    /// Queues `fault` for the next `times` requests of `operation` (`UpdateService`,
    /// `PutItem`, `Publish`, `CreateSchedule`…).
    pub fn inject(&self, operation: &str, fault: Fault, times: usize) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if fault == Fault::Together {
            state.gates.insert(
                operation.to_owned(),
                Arc::new(tokio::sync::Barrier::new(times)),
            );
        }
        let queue = state.faults.entry(operation.to_owned()).or_default();
        queue.extend(std::iter::repeat_n(fault, times));
    }

    /// Every request from now on waits `latency` before it is forwarded: a slow service
    /// (DynamoDB throttled, a hot partition, a cold on-demand table), not a failing one.
    pub fn delay_every(&self, latency: Duration) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.latency = latency;
    }

    /// Drops the faults still queued for `operation`: from now on it reaches moto.
    pub fn clear(&self, operation: &str) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.faults.remove(operation);
    }

    /// Requests of `operation` that reached the proxy.
    pub fn seen(&self, operation: &str) -> usize {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.seen.get(operation).copied().unwrap_or(0)
    }

    /// Requests of `operation` that reached moto (and so took effect).
    pub fn forwarded(&self, operation: &str) -> usize {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.forwarded.get(operation).copied().unwrap_or(0)
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// An SDK configuration through the proxy with the production retry policy
    /// (`remediator_sdk::with_policy`: standard mode, 5 attempts) and `attempt_timeout` per
    /// attempt.
    pub async fn sdk_config(&self, attempt_timeout: Duration) -> SdkConfig {
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(crate::REGION))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .endpoint_url(&self.endpoint);
        remediator_sdk::with_policy(loader, 5, attempt_timeout)
            .load()
            .await
    }
}

/// A CBOR answer of the RPC v2 protocol: `body` (JSON) encoded as CBOR.
fn cbor(status: u16, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut bytes = Vec::new();
    if ciborium::into_writer(body, &mut bytes).is_err() {
        bytes.clear();
    }
    Response::builder()
        .status(status)
        .header("content-type", "application/cbor")
        .header("smithy-protocol", "rpc-v2-cbor")
        .header("x-amzn-requestid", "fault-proxy")
        .body(Full::new(Bytes::from(bytes)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn cbor_error(status: u16, code: &str) -> Response<Full<Bytes>> {
    cbor(
        status,
        &serde_json::json!({ "__type": code, "message": "injected by the fault proxy" }),
    )
}

fn respond(
    status: u16,
    content_type: &str,
    extra: Option<(&str, &str)>,
    body: String,
) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-amzn-requestid", "fault-proxy");
    if let Some((name, value)) = extra {
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn throttled(protocol: &Protocol) -> Response<Full<Bytes>> {
    match protocol {
        Protocol::Cbor => cbor_error(400, "ThrottlingException"),
        Protocol::Json => respond(
            400,
            "application/x-amz-json-1.1",
            Some(("x-amzn-errortype", "ThrottlingException")),
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_owned(),
        ),
        // EC2 speaks its own error shape and throttling code.
        Protocol::Ec2 => respond(
            503,
            "text/xml",
            None,
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>".to_owned(),
        ),
        Protocol::Query => respond(
            400,
            "text/xml",
            None,
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>".to_owned(),
        ),
        Protocol::Rest => respond(
            429,
            "application/json",
            Some(("x-amzn-errortype", "ThrottlingException")),
            r#"{"message":"Rate exceeded"}"#.to_owned(),
        ),
    }
}

fn access_denied(protocol: &Protocol) -> Response<Full<Bytes>> {
    match protocol {
        Protocol::Cbor => cbor_error(403, "AccessDeniedException"),
        Protocol::Query | Protocol::Ec2 => respond(
            403,
            "text/xml",
            None,
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform this action</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>".to_owned(),
        ),
        _ => respond(
            403,
            "application/json",
            Some(("x-amzn-errortype", "AccessDeniedException")),
            r#"{"__type":"AccessDeniedException","message":"not authorized to perform this action"}"#.to_owned(),
        ),
    }
}

fn server_error(protocol: &Protocol) -> Response<Full<Bytes>> {
    match protocol {
        Protocol::Cbor => cbor_error(500, "InternalFailure"),
        Protocol::Ec2 => respond(
            500,
            "text/xml",
            None,
            "<Response><Errors><Error><Code>InternalError</Code><Message>injected</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>".to_owned(),
        ),
        Protocol::Query => respond(
            500,
            "text/xml",
            None,
            "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>injected</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>".to_owned(),
        ),
        _ => respond(
            500,
            "application/json",
            Some(("x-amzn-errortype", "InternalFailure")),
            r#"{"__type":"InternalFailure","message":"injected"}"#.to_owned(),
        ),
    }
}

async fn handle<C>(
    req: Request<Incoming>,
    state: &Mutex<State>,
    upstream: &str,
    client: &Client<C, Full<Bytes>>,
) -> Response<Full<Bytes>>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let (parts, body) = req.into_parts();
    let body = crate::read_body(body).await;
    let probe = Request::from_parts(parts.clone(), ());
    let (op, protocol) = operation_of(&probe, &body);
    let (fault, gate, latency) = {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        *state.seen.entry(op.clone()).or_default() += 1;
        let fault = state.faults.get_mut(&op).and_then(VecDeque::pop_front);
        (fault, state.gates.get(&op).cloned(), state.latency)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(Fault::Throttle) => return throttled(&protocol),
        Some(Fault::ServerError) => return server_error(&protocol),
        Some(Fault::Hang) => std::future::pending::<()>().await,
        Some(Fault::AccessDenied) => return access_denied(&protocol),
        Some(Fault::Refuse(code)) if matches!(protocol, Protocol::Cbor) => {
            return cbor_error(400, &code)
        }
        Some(Fault::Answer(body)) if matches!(protocol, Protocol::Cbor) => {
            let json = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
            return cbor(200, &json);
        }
        Some(Fault::Refuse(code)) => {
            return respond(
                400,
                "application/x-amz-json-1.1",
                None,
                format!(r#"{{"__type":"{code}","message":"refused by the fault proxy"}}"#),
            )
        }
        Some(Fault::Answer(body)) => {
            let content_type = match protocol {
                Protocol::Query | Protocol::Ec2 => "text/xml",
                _ => "application/x-amz-json-1.1",
            };
            return respond(200, content_type, None, body);
        }
        Some(Fault::Together) => {
            if let Some(gate) = gate {
                gate.wait().await;
            }
        }
        Some(Fault::LateAnswer(_)) | None => {}
    }
    let uri = format!(
        "{upstream}{}",
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut forward = Request::builder().method(parts.method.clone()).uri(uri);
    for (name, value) in &parts.headers {
        forward = forward.header(name, value);
    }
    let Ok(forward) = forward.body(Full::new(body)) else {
        return server_error(&protocol);
    };
    let answer = client.request(forward).await;
    {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        *state.forwarded.entry(op).or_default() += 1;
    }
    if let Some(Fault::LateAnswer(delay)) = fault {
        tokio::time::sleep(delay).await;
    }
    match answer {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            Response::from_parts(parts, Full::new(crate::read_body(body).await))
        }
        Err(_) => server_error(&protocol),
    }
}

/// [`operation`] on a request whose body was read already.
fn operation_of(req: &Request<()>, body: &[u8]) -> (String, Protocol) {
    if let Some(target) = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        let op = target.rsplit('.').next().unwrap_or(target);
        return (op.to_owned(), Protocol::Json);
    }
    let path = req.uri().path();
    if let Some((_, op)) = path
        .strip_prefix("/service/")
        .and_then(|rest| rest.split_once("/operation/"))
    {
        return (op.trim_end_matches('/').to_owned(), Protocol::Cbor);
    }
    let form = String::from_utf8_lossy(body);
    if let Some(action) = form
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
    {
        let ec2 = form.split('&').any(|pair| pair == "Version=2016-11-15");
        let protocol = if ec2 { Protocol::Ec2 } else { Protocol::Query };
        return (action.to_owned(), protocol);
    }
    let path = req.uri().path();
    let op = match (req.method().as_str(), path.starts_with("/schedules")) {
        ("POST", true) => "CreateSchedule",
        ("PUT", true) => "UpdateSchedule",
        ("DELETE", true) => "DeleteSchedule",
        ("GET", true) if path.trim_end_matches('/') == "/schedules" => "ListSchedules",
        ("GET", true) => "GetSchedule",
        (method, _) => return (format!("{method} {path}"), Protocol::Rest),
    };
    (op.to_owned(), Protocol::Rest)
}
