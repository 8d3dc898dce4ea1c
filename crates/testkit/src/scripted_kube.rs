//! A request-asserting fake Kubernetes API (the kube-rs controller-rs `tower-test` pattern):
//! the client under test sends through an in-process mock service, and the fake answers a
//! scenario of expected requests in order, asserting each one's method, path and (when the
//! scenario names one) bearer token. Unlike [`crate::fake_kube::FakeKube`] it keeps no objects:
//! every answer is in the scenario.
//!
//! The end of a scenario is checked, not waited for. [`ScriptedKube::run`] drives the code under
//! test to completion while it serves, then fails when an expected request never came or one
//! came that the scenario did not have. The code awaits each response, so by the time it
//! finishes every request it made has reached the fake: no sleep decides that none is missing.
//!
//! ```ignore
//! let (client, mut kube) = ScriptedKube::client();
//! let outcome = kube
//!     .run(
//!         vec![Expect::get(POD, pod(None)), Expect::patch(DEPLOYMENT)],
//!         PodRestarter::new(client).remediate(&notice, now, false),
//!     )
//!     .await;
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use http::{Method, Request, Response};
use kube::client::Body;
use serde_json::{json, Value};
use tower_test::mock::{self, Handle, Mock};

use crate::fake_kube::{api_status, Seen};

/// The mock service a kube client sends through (`kube::Client::new`, or a `ClientBuilder`
/// with layers of its own).
pub type KubeService = Mock<Request<Body>, Response<Body>>;

/// How long the code under test may take before the fake gives up on it. Only a hang ends
/// there: a missing or an extra request is found as soon as the code finishes.
const HANG_GUARD: Duration = Duration::from_secs(10);

/// One expected request, and the fake's answer to it.
#[derive(Debug, Clone)]
pub struct Expect {
    method: Method,
    path: String,
    token: Option<String>,
    status: u16,
    answer: Value,
}

impl Expect {
    /// A GET of `path`, answered 200 with `answer`.
    pub fn get(path: &str, answer: Value) -> Expect {
        Expect {
            method: Method::GET,
            path: path.to_owned(),
            token: None,
            status: 200,
            answer,
        }
    }

    /// A PATCH of `path`, answered 200 with an empty object.
    pub fn patch(path: &str) -> Expect {
        Expect {
            method: Method::PATCH,
            ..Expect::get(path, json!({}))
        }
    }

    /// A GET of `path`, answered with the API error `code` / `reason`.
    pub fn failure(path: &str, code: u16, reason: &str) -> Expect {
        Expect {
            status: code,
            ..Expect::get(path, api_status(code, reason))
        }
    }

    /// A GET of `path`, answered 404 NotFound.
    pub fn missing(path: &str) -> Expect {
        Expect::failure(path, 404, "NotFound")
    }

    /// A GET of `path`, answered 403 Forbidden (RBAC).
    pub fn forbidden(path: &str) -> Expect {
        Expect::failure(path, 403, "Forbidden")
    }

    /// A GET of `path`, answered 401 Unauthorized, as the EKS API server answers an expired or
    /// unknown token.
    pub fn unauthorized(path: &str) -> Expect {
        Expect::failure(path, 401, "Unauthorized")
    }

    /// The request must carry `Authorization: Bearer <token>`.
    pub fn with_token(mut self, token: &str) -> Expect {
        self.token = Some(token.to_owned());
        self
    }

    fn describe(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Panics unless `seen` is this request.
    fn assert_matches(&self, seen: &Seen) {
        assert_eq!(
            (seen.method.as_str(), seen.path.as_str()),
            (self.method.as_str(), self.path.as_str()),
            "the fake Kubernetes API expected {}",
            self.describe()
        );
        if let Some(token) = &self.token {
            assert_eq!(
                seen.authorization.as_deref(),
                Some(format!("Bearer {token}").as_str()),
                "the bearer token of {}",
                self.describe()
            );
        }
    }

    fn response(&self) -> Response<Body> {
        json_response(self.status, &self.answer)
    }
}

/// The requests of one [`ScriptedKube::run`]: those still expected, and those that came
/// after the last expected one.
struct Script {
    expected: VecDeque<Expect>,
    unexpected: Vec<String>,
}

impl Script {
    /// Answers `seen` with the next expected request's answer, asserting it is that request;
    /// one the scenario does not have gets a 500 and is remembered.
    fn answer(&mut self, seen: &Seen) -> Response<Body> {
        match self.expected.pop_front() {
            Some(expect) => {
                expect.assert_matches(seen);
                expect.response()
            }
            None => {
                self.unexpected
                    .push(format!("{} {}", seen.method, seen.path));
                json_response(
                    500,
                    &api_status(500, "the fake Kubernetes API did not expect this request"),
                )
            }
        }
    }

    fn next_expected(&self) -> String {
        self.expected
            .front()
            .map_or_else(|| "no request".to_owned(), Expect::describe)
    }

    /// Panics when a request of the scenario never came, or one came that it does not have.
    fn assert_complete(&self) {
        assert!(
            self.unexpected.is_empty(),
            "the fake Kubernetes API got requests the scenario does not have: {:?}",
            self.unexpected
        );
        assert!(
            self.expected.is_empty(),
            "the code under test finished without sending {:?}",
            self.expected
                .iter()
                .map(Expect::describe)
                .collect::<Vec<_>>()
        );
    }
}

/// The fake: the other end of a [`KubeService`]. It records every request it answers.
pub struct ScriptedKube {
    handle: Handle<Request<Body>, Response<Body>>,
    seen: Vec<Seen>,
}

impl ScriptedKube {
    /// A mock service for a kube client, and the fake that answers it.
    pub fn new() -> (KubeService, ScriptedKube) {
        let (service, handle) = mock::pair();
        (
            service,
            ScriptedKube {
                handle,
                seen: Vec::new(),
            },
        )
    }

    /// A kube client (default namespace `default`) over a mock service, and the fake.
    pub fn client() -> (kube::Client, ScriptedKube) {
        let (service, fake) = ScriptedKube::new();
        (kube::Client::new(service, "default"), fake)
    }

    /// Runs `code` to completion while answering its requests from `scenario`, in order; then
    /// asserts that every request of the scenario came and no other one did. Returns `code`'s
    /// output.
    pub async fn run<T>(&mut self, scenario: Vec<Expect>, code: impl Future<Output = T>) -> T {
        let mut script = Script {
            expected: scenario.into(),
            unexpected: Vec::new(),
        };
        let served = tokio::time::timeout(HANG_GUARD, async {
            let serve = self.serve(&mut script);
            tokio::select! {
                output = code => output,
                never = serve => match never {},
            }
        })
        .await;
        let Ok(output) = served else {
            panic!(
                "the code under test did not finish within {HANG_GUARD:?}; the fake Kubernetes API still expected {}",
                script.next_expected()
            );
        };
        script.assert_complete();
        self.assert_no_more_requests();
        output
    }

    /// Panics if a request is waiting for an answer. It looks at the queue once, without
    /// waiting: for the end of a scenario whose code has finished.
    pub fn assert_no_more_requests(&mut self) {
        if let Poll::Ready(Some((request, _))) = self.handle.poll_request() {
            panic!(
                "the fake Kubernetes API got a request after the scenario: {} {}",
                request.method(),
                request.uri()
            );
        }
    }

    /// Every request answered so far, in order.
    pub fn seen(&self) -> &[Seen] {
        &self.seen
    }

    /// The PATCH requests answered so far, in order.
    pub fn patches(&self) -> Vec<&Seen> {
        self.seen.iter().filter(|s| s.method == "PATCH").collect()
    }

    /// Answers requests from `script` until the test drops the future (the code under test
    /// finished); once every client is gone there is nothing left to answer.
    async fn serve(&mut self, script: &mut Script) -> Infallible {
        while let Some((request, send)) = self.handle.next_request().await {
            let seen = Seen::read(request).await;
            let response = script.answer(&seen);
            self.seen.push(seen);
            send.send_response(response);
        }
        std::future::pending().await
    }
}

fn json_response(status: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string().into_bytes()))
        .unwrap_or_else(|e| panic!("a fake Kubernetes API response: {e}"))
}
