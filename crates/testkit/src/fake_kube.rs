//! A stateful fake Kubernetes API server on a loopback port, for running the real client
//! (through `EKS_ENDPOINT_URL`) end to end: objects live at their API paths, `GET` returns them
//! (404 otherwise), `PATCH` applies a JSON merge patch, and every request is recorded. A `GET`
//! of a collection (`/api/v1/pods`, `/apis/apps/v1/namespaces/shop/deployments`) lists the
//! objects under it, filtered by `labelSelector` and paged by `limit` / `continue`: see
//! [`crate::fake_kube_list`].
//!
//! For asserting each request of a scenario in order instead, see [`crate::scripted_kube`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

/// One request a fake Kubernetes API saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    /// The JSON body, if it had one.
    pub body: Option<Value>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

impl Seen {
    /// Reads `request`, its body included.
    pub async fn read<B: hyper::body::Body>(request: Request<B>) -> Seen {
        let (parts, body) = request.into_parts();
        let bytes = crate::read_body(body).await;
        Seen {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            body: serde_json::from_slice(&bytes).ok(),
            authorization: parts
                .headers
                .get(hyper::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }
}

/// The body of a Kubernetes API error: a `Status` with `code` and `reason` (also its message).
pub fn api_status(code: u16, reason: &str) -> Value {
    json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "reason": reason, "message": reason, "code": code })
}

#[derive(Default)]
struct State {
    objects: HashMap<String, Value>,
    seen: Vec<Seen>,
}

/// The running fake. It stops with the test's runtime.
#[derive(Clone)]
pub struct FakeKube {
    url: String,
    state: Arc<Mutex<State>>,
}

impl FakeKube {
    /// Serves `objects` (API path → object) on a free loopback port.
    pub async fn start(objects: Vec<(&str, Value)>) -> FakeKube {
        let (listener, addr) = crate::loopback().await;
        let url = format!("http://{addr}");
        let state = Arc::new(Mutex::new(State {
            objects: objects
                .into_iter()
                .map(|(p, o)| (p.to_owned(), o))
                .collect(),
            seen: Vec::new(),
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(answer(&state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeKube { url, state }
    }

    /// `http://127.0.0.1:PORT`, for `EKS_ENDPOINT_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .seen
            .clone()
    }

    /// The object stored at `path`.
    pub fn object(&self, path: &str) -> Option<Value> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .objects
            .get(path)
            .cloned()
    }
}

async fn answer(state: &Mutex<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let seen = Seen::read(req).await;
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    state.seen.push(seen.clone());
    let (status, value) = match (seen.method.as_str(), state.objects.get_mut(&seen.path)) {
        ("GET", Some(object)) => (200, object.clone()),
        ("GET", None) if crate::fake_kube_list::is_collection(&seen.path) => (
            200,
            crate::fake_kube_list::list(&state.objects, &seen.path, &seen.query),
        ),
        ("PATCH", Some(object)) => {
            if let Some(patch) = &seen.body {
                merge(object, patch);
            }
            (200, object.clone())
        }
        _ => (404, api_status(404, "NotFound")),
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(value.to_string())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}
