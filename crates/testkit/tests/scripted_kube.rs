//! The scripted fake Kubernetes API itself: it answers a scenario in order, and fails a test on
//! a wrong request at once, and on a missing or an extra one as soon as the code has finished,
//! without waiting for anything.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use kube::client::Body;
use remediator_testkit::kube_objects::{namespace, NAMESPACE};
use remediator_testkit::scripted_kube::{Expect, ScriptedKube};
use serde_json::json;
use tower_service::Service;

/// Reads namespace `shop` `reads` times, and tells how many reads succeeded.
async fn read_namespace(client: kube::Client, reads: usize) -> usize {
    let api = Api::<Namespace>::all(client);
    let mut ok = 0;
    for _ in 0..reads {
        if api.get("shop").await.is_ok() {
            ok += 1;
        }
    }
    ok
}

/// Reads namespace `shop` `reads` times against `scenario`.
async fn read_namespace_against(scenario: Vec<Expect>, reads: usize) -> usize {
    let (client, mut fake) = ScriptedKube::client();
    fake.run(scenario, read_namespace(client, reads)).await
}

#[tokio::test]
async fn a_scenario_is_answered_in_order_and_each_request_is_recorded() {
    let (client, mut fake) = ScriptedKube::client();
    let api = Api::<Namespace>::all(client);

    let (read, patched) = fake
        .run(
            vec![
                Expect::get(NAMESPACE, namespace(&[])),
                Expect::patch(NAMESPACE),
            ],
            async {
                let read = api.get("shop").await;
                let patch = json!({ "metadata": { "labels": { "team": "shop" } } });
                let patched = api
                    .patch("shop", &PatchParams::default(), &Patch::Merge(&patch))
                    .await;
                (read, patched)
            },
        )
        .await;

    assert_eq!(
        read.expect("the scripted answer").metadata.name.as_deref(),
        Some("shop")
    );
    assert!(patched.is_ok(), "{patched:?}");
    let methods: Vec<&str> = fake.seen().iter().map(|s| s.method.as_str()).collect();
    assert_eq!(methods, ["GET", "PATCH"]);
    assert_eq!(
        fake.patches()[0].body,
        Some(json!({ "metadata": { "labels": { "team": "shop" } } }))
    );
}

#[tokio::test]
async fn an_api_error_in_the_scenario_reaches_the_client_as_that_status() {
    let (client, mut fake) = ScriptedKube::client();

    let read = fake
        .run(
            vec![Expect::forbidden(NAMESPACE)],
            Api::<Namespace>::all(client).get("shop"),
        )
        .await;

    match read {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("expected a 403, got {other:?}"),
    }
}

#[tokio::test]
#[should_panic(expected = "got requests the scenario does not have")]
async fn a_request_after_the_last_expected_one_fails_once_the_code_has_finished() {
    read_namespace_against(vec![Expect::get(NAMESPACE, namespace(&[]))], 2).await;
}

#[tokio::test]
#[should_panic(expected = "finished without sending")]
async fn an_expected_request_the_code_never_sends_fails_once_the_code_has_finished() {
    read_namespace_against(
        vec![
            Expect::get(NAMESPACE, namespace(&[])),
            Expect::patch(NAMESPACE),
        ],
        1,
    )
    .await;
}

#[tokio::test]
#[should_panic(expected = "expected GET /api/v1/namespaces/other")]
async fn a_request_for_another_path_fails_at_once() {
    read_namespace_against(
        vec![Expect::get("/api/v1/namespaces/other", namespace(&[]))],
        1,
    )
    .await;
}

#[tokio::test]
#[should_panic(expected = "the bearer token of GET")]
async fn a_request_without_the_expected_bearer_token_fails() {
    read_namespace_against(
        vec![Expect::get(NAMESPACE, namespace(&[])).with_token("token-1")],
        1,
    )
    .await;
}

#[tokio::test]
async fn no_request_passes_the_end_of_scenario_check() {
    let (_service, mut fake) = ScriptedKube::new();

    fake.assert_no_more_requests();
}

#[tokio::test]
#[should_panic(expected = "got a request after the scenario: GET /api/v1/namespaces/shop")]
async fn a_request_waiting_for_an_answer_fails_the_end_of_scenario_check() {
    let (mut service, mut fake) = ScriptedKube::new();
    std::future::poll_fn(|cx| service.poll_ready(cx))
        .await
        .expect("the mock is ready");
    let request = http::Request::get(NAMESPACE)
        .body(Body::empty())
        .expect("request");
    let _unanswered = service.call(request);

    fake.assert_no_more_requests();
}
