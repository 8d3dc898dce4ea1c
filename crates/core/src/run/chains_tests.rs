//! Several chains of checks for one notice, and the one final summary they send
//! ([`crate::ledger::SUMMARY_MARKER`]).

use super::*;

/// The notice updated to name one more service: a delivery whose scope differs, so it starts a
/// chain of checks of its own beside the first one.
fn updated_with(service: &str) -> Value {
    let mut event = event();
    let entity = format!("prod|{service}");
    if let Some(r) = event["resources"].as_array_mut() {
        r.push(json!(entity));
    }
    if let Some(a) = event["detail"]["affectedEntities"].as_array_mut() {
        a.push(json!({ "entityValue": entity }));
    }
    event
}

#[tokio::test]
async fn two_chains_of_checks_for_one_notice_send_one_final_summary_once_nothing_is_followed() {
    let (fake, schedules, inbox) = (Fake::default(), Schedules::default(), Inbox::default());
    let controls = controls(&schedules, &inbox, None);
    let run = |payload: Value, request: &'static str, at: DateTime<Utc>| {
        let (fake, controls) = (&fake, &controls);
        async move {
            handle(fake, controls, delivery(payload, request), at)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    let first = run(event(), "r-1", now()).await;
    let update = run(updated_with("search"), "r-2", now() + Duration::minutes(1)).await;
    let (check_a, check_b) = (
        scheduled(&schedules, &first),
        scheduled(&schedules, &update),
    );
    assert_ne!(check_a, check_b, "the update starts a chain of its own");
    if let Ok(mut done) = fake.rolled_out.lock() {
        *done = true;
    }

    // Chain A verifies its two services while chain B still follows `search`: not the last word.
    let a_ends = run(check_a, "r-3", now() + Duration::minutes(6)).await;
    // Chain B verifies `search` (the other two are verified already): nothing left anywhere.
    let b_ends = run(check_b.clone(), "r-4", now() + Duration::minutes(7)).await;
    // The scheduler delivers B's check again (at least once): the summary is not sent again.
    let b_again = run(check_b, "r-5", now() + Duration::minutes(8)).await;

    assert!(
        a_ends.ends_chain() && !a_ends.is_final_check(),
        "{a_ends:#?}"
    );
    assert!(
        a_ends
            .final_elsewhere
            .as_deref()
            .is_some_and(|why| why.contains("prod/search")),
        "{:?}",
        a_ends.final_elsewhere
    );
    assert!(b_ends.is_final_check(), "{b_ends:#?}");
    assert!(b_again.ends_chain() && !b_again.is_final_check());
    assert!(
        b_ends.outcomes.iter().all(|o| o.code == Code::Verified) && b_ends.outcomes.len() == 3,
        "the final summary covers every resource of the notice: {b_ends:#?}"
    );
    let finals: Vec<String> = inbox
        .titles()
        .into_iter()
        .filter(|t| t.contains("(final)"))
        .collect();
    assert_eq!(
        finals.len(),
        1,
        "one final summary per notice: {:?}",
        inbox.titles()
    );
    assert_eq!(
        fake.acts().len(),
        3,
        "each service forced once: {:?}",
        fake.acts()
    );
}
