//! The connector's token lifetime as the real platform has it: Lambda freezes an idle
//! environment and the monotonic clock stops with it, while the API server ages the token by
//! the wall clock and answers 401 once it is older than 15 minutes.
//!
//! The connector runs over a fake [`ClusterAccess`] (counting the tokens it signs, `token-1`,
//! `token-2`, …) and the test kit's [`ScriptedKube`], which asserts each request of a scenario
//! in order with the bearer token it must carry (the kube-rs controller-rs `tower-test`
//! pattern), and once the code has finished fails on any request it did not expect. The tests
//! run in microseconds: no monotonic time passes, only the injected wall clock moves.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use kube::client::{ClientBuilder, ConfigExt};
use remediator_core::follow::{Followed, Verdict};
use remediator_core::pipeline::{pod_target, Remediate};
use remediator_core::testing::{at, pod_notice};
use remediator_core::{PodNotice, Settings, Status};
use remediator_kube::connect::{
    BearerToken, BoxFuture, ClusterAccess, ClusterEndpoint, ConnectError,
};
use remediator_kube::{EksConnector, PodRemediator};
use remediator_testkit::kube_objects::{
    deployment, namespace, replica_set, web_pod, DEPLOYMENT, NAMESPACE, POD, REPLICA_SET as RS,
};
use remediator_testkit::scripted_kube::{Expect, KubeService, ScriptedKube};
use serde_json::{json, Value};

/// Endpoints and tokens without AWS: every token is new (`token-N`), and each call is counted.
#[derive(Clone, Default)]
struct FakeAccess {
    describes: Arc<AtomicUsize>,
    tokens: Arc<AtomicUsize>,
    credentials_expire: Option<DateTime<Utc>>,
}

impl FakeAccess {
    fn tokens(&self) -> usize {
        self.tokens.load(Ordering::SeqCst)
    }
}

impl ClusterAccess for FakeAccess {
    fn endpoint<'a>(
        &'a self,
        _cluster: &'a str,
    ) -> BoxFuture<'a, Result<ClusterEndpoint, ConnectError>> {
        self.describes.fetch_add(1, Ordering::SeqCst);
        Box::pin(async {
            Ok(ClusterEndpoint {
                server: "https://prod.gr7.us-east-1.eks.amazonaws.com".into(),
                certificate_authority: None,
            })
        })
    }

    fn token<'a>(
        &'a self,
        _cluster: &'a str,
        _now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<BearerToken, ConnectError>> {
        let n = self.tokens.fetch_add(1, Ordering::SeqCst) + 1;
        let credentials_expire = self.credentials_expire;
        Box::pin(async move {
            Ok(BearerToken {
                token: format!("token-{n}"),
                credentials_expire,
            })
        })
    }
}

/// A wall clock the test moves.
#[derive(Clone)]
struct Clock(Arc<Mutex<DateTime<Utc>>>);

impl Clock {
    fn at(t: DateTime<Utc>) -> Clock {
        Clock(Arc::new(Mutex::new(t)))
    }

    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock")
    }

    /// The environment sleeps (frozen) for `d`: the wall clock moves, nothing else does.
    fn freeze_for(&self, d: TimeDelta) {
        *self.0.lock().expect("clock") += d;
    }
}

/// A connector whose clients send to `service` with their bearer token.
fn connector(access: &FakeAccess, clock: &Clock, service: KubeService) -> EksConnector {
    let clock = clock.clone();
    EksConnector::with_access(access.clone(), None)
        .with_clock(move || clock.now())
        .with_transport(move |config| {
            let auth = config.auth_layer()?.expect("a bearer token in the config");
            Ok(
                ClientBuilder::new(service.clone(), config.default_namespace.clone())
                    .with_layer(&auth)
                    .build(),
            )
        })
}

/// A GET of `path` with `token`, answered 200 with `answer`.
fn get(path: &str, token: &str, answer: Value) -> Expect {
    Expect::get(path, answer).with_token(token)
}

/// A GET of `path` with `token`, answered 401, as the EKS API server answers an expired token.
fn unauthorized(path: &str, token: &str) -> Expect {
    Expect::unauthorized(path).with_token(token)
}

fn t0() -> DateTime<Utc> {
    at("2026-11-25T10:05:00Z")
}

fn notice() -> PodNotice {
    pod_notice(at("2026-11-25T10:00:00Z"), at("2026-11-30T12:00:00Z"))
}

/// Deployment `web` restarted after the notice, its rollout finished.
fn rolled_out_deployment() -> Value {
    let mut rolled_out = deployment(Some("2026-11-25T10:05:00Z"), 3);
    rolled_out["status"]["readyReplicas"] = json!(3);
    rolled_out["status"]["availableReplicas"] = json!(3);
    rolled_out
}

/// One GET through `client`, answered by the fake with the token it must carry.
async fn read_namespace(client: kube::Client, fake: &mut ScriptedKube, token: &str) {
    fake.run(
        vec![get(NAMESPACE, token, namespace(&[]))],
        Api::<Namespace>::all(client).get("shop"),
    )
    .await
    .expect("the fake answers");
}

#[tokio::test]
async fn a_client_older_than_the_refresh_time_by_the_wall_clock_is_rebuilt_with_a_new_token() {
    let access = FakeAccess::default();
    let clock = Clock::at(t0());
    let (service, mut fake) = ScriptedKube::new();
    let connector = connector(&access, &clock, service);

    connector.client("prod").await.expect("client");
    assert_eq!(access.tokens(), 1);
    clock.freeze_for(TimeDelta::minutes(9));
    connector.client("prod").await.expect("client");
    assert_eq!(access.tokens(), 1, "a 9-minute-old token is still used");

    // Lambda froze the environment for a while: 16 minutes passed on the wall clock, none on
    // the monotonic one. The token is past its 15 minutes; the cache must not hand it out.
    clock.freeze_for(TimeDelta::minutes(7));
    let second = connector.client("prod").await.expect("client");

    assert_eq!(access.tokens(), 2, "a new token is signed");
    assert_eq!(access.describes.load(Ordering::SeqCst), 2);
    read_namespace(second, &mut fake, "token-2").await;
}

#[tokio::test]
async fn a_token_is_renewed_well_before_it_expires() {
    let access = FakeAccess::default();
    let clock = Clock::at(t0());
    let (service, mut fake) = ScriptedKube::new();
    let connector = connector(&access, &clock, service);

    connector.client("prod").await.expect("client");
    clock.freeze_for(TimeDelta::minutes(10) + TimeDelta::seconds(1));
    connector.client("prod").await.expect("client");

    assert_eq!(
        access.tokens(),
        2,
        "renewed at 10 of its 15 minutes, leaving room for calls in flight and clock skew"
    );
    fake.assert_no_more_requests();
}

#[tokio::test]
async fn a_token_is_renewed_when_the_credentials_that_signed_it_expire() {
    let access = FakeAccess {
        credentials_expire: Some(t0() + TimeDelta::minutes(3)),
        ..FakeAccess::default()
    };
    let clock = Clock::at(t0());
    let (service, mut fake) = ScriptedKube::new();
    let connector = connector(&access, &clock, service);

    connector.client("prod").await.expect("client");
    clock.freeze_for(TimeDelta::minutes(2));
    connector.client("prod").await.expect("client");
    assert_eq!(access.tokens(), 1);
    clock.freeze_for(TimeDelta::minutes(2));
    connector.client("prod").await.expect("client");

    assert_eq!(access.tokens(), 2);
    fake.assert_no_more_requests();
}

#[tokio::test]
async fn a_wall_clock_set_back_before_the_signing_time_gets_a_new_token() {
    let access = FakeAccess::default();
    let clock = Clock::at(t0());
    let (service, mut fake) = ScriptedKube::new();
    let connector = connector(&access, &clock, service);

    connector.client("prod").await.expect("client");
    clock.freeze_for(TimeDelta::minutes(-30));
    connector.client("prod").await.expect("client");
    connector.client("prod").await.expect("client");

    assert_eq!(
        access.tokens(),
        2,
        "one new token, aged from the corrected clock"
    );
    fake.assert_no_more_requests();
}

fn remediator(access: &FakeAccess, clock: &Clock, service: KubeService) -> PodRemediator {
    PodRemediator::new(connector(access, clock, service), &Settings::default())
}

#[tokio::test]
async fn a_401_drops_the_client_and_the_restart_is_retried_once_with_a_new_token() {
    let access = FakeAccess::default();
    let clock = Clock::at(t0());
    let (service, mut fake) = ScriptedKube::new();
    let pods = remediator(&access, &clock, service);

    let outcomes = fake
        .run(
            vec![
                unauthorized(POD, "token-1"),
                get(POD, "token-2", web_pod()),
                get(RS, "token-2", replica_set()),
                get(DEPLOYMENT, "token-2", deployment(None, 3)),
                get(NAMESPACE, "token-2", namespace(&[])),
                Expect::patch(DEPLOYMENT).with_token("token-2"),
            ],
            pods.remediate(&notice(), None),
        )
        .await;

    assert_eq!(outcomes.len(), 1);
    let o = &outcomes[0];
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "restarted"),
        "{o:?}"
    );
    assert_eq!(access.tokens(), 2);
}

#[tokio::test]
async fn a_second_401_with_a_new_token_is_not_retried_again_and_names_the_access_entry() {
    let access = FakeAccess::default();
    let clock = Clock::at(t0());
    let (service, mut fake) = ScriptedKube::new();
    let pods = remediator(&access, &clock, service);

    let outcomes = fake
        .run(
            vec![unauthorized(POD, "token-1"), unauthorized(POD, "token-2")],
            pods.remediate(&notice(), None),
        )
        .await;

    let o = &outcomes[0];
    assert_eq!(
        (o.status, o.code.as_str(), o.retryable),
        (Status::Failed, "api_error", true),
        "{o:?}: a follow-up check tries again (the authenticator's own STS call can fail too)"
    );
    assert!(o.reason.contains("access entry"), "{o:?}");
    assert_eq!(access.tokens(), 2);
}

fn followed() -> Followed {
    Followed {
        target: pod_target(&notice()),
        action: None,
        code: None,
        before: None,
        after: Some("Deployment/web".into()),
        acted_at: t0(),
        after_created_at: None,
        service: None,
    }
}

#[tokio::test]
async fn a_401_on_a_follow_up_check_drops_the_client_and_checks_once_more_with_a_new_token() {
    let access = FakeAccess::default();
    let clock = Clock::at(t0());
    let (service, mut fake) = ScriptedKube::new();
    let pods = remediator(&access, &clock, service);

    let verdicts = fake
        .run(
            vec![
                unauthorized(POD, "token-1"),
                Expect::missing(POD).with_token("token-2"),
                get(DEPLOYMENT, "token-2", rolled_out_deployment()),
            ],
            pods.verify(&notice(), &[followed()], clock.now(), None),
        )
        .await;

    match &verdicts[..] {
        [Verdict::Verified(why)] => assert!(why.contains("Deployment shop/web"), "{why}"),
        other => panic!("expected one Verified, got {other:?}"),
    }
    assert_eq!(access.tokens(), 2);
}

#[tokio::test]
async fn a_second_401_on_a_follow_up_check_leaves_it_pending_after_one_retry() {
    let access = FakeAccess::default();
    let clock = Clock::at(t0());
    let (service, mut fake) = ScriptedKube::new();
    let pods = remediator(&access, &clock, service);

    let verdicts = fake
        .run(
            vec![unauthorized(POD, "token-1"), unauthorized(POD, "token-2")],
            pods.verify(&notice(), &[followed()], clock.now(), None),
        )
        .await;

    match &verdicts[..] {
        [Verdict::Pending(why)] => assert!(why.contains("access entry"), "{why}"),
        other => panic!("expected one Pending, got {other:?}"),
    }
    assert_eq!(access.tokens(), 2);
}
