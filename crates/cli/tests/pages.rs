//! The HTML pages as a browser sees them: each page rendered from fixture data, opened by
//! Debian's headless `chromium` (`make browser` installs it), and its dumped DOM checked.
//! Without chromium these tests skip, except under `CI=true`, where they fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use remediator_cli::pages::{preflight_page, status_page};
use remediator_core::ledger::{summarize, Entry, NoticeSummary, State};
use remediator_core::preflight::{Finding, Preflight, Resource};
use remediator_core::{Action, Code, Risk};

const SCRIPT: &str = "<script>alert('owned')</script>";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("a fixture moment")
        .with_timezone(&Utc)
}

fn now() -> DateTime<Utc> {
    at("2026-12-02T12:00:00Z")
}

// ---- fixtures ----

/// Findings of each severity in two accounts, one of them naming a `<script>`.
fn preflight() -> Preflight {
    let f = Finding::new;
    let findings = vec![
        f("111111111111", "us-east-1", "service prod/web", Risk::OutageAtRetirement,
          "desiredCount 1 with minimumHealthyPercent 0", "aws ecs update-service --cluster prod --service web --deployment-configuration minimumHealthyPercent=100"),
        f("111111111111", "us-east-1", "service prod/api", Risk::NoCircuitBreaker,
          "no deployment circuit breaker", "aws ecs update-service --cluster prod --service api --deployment-configuration deploymentCircuitBreaker={enable=true,rollback=true}"),
        f("111111111111", "eu-west-1", "deployment main/default/web", Risk::PausedDeployment,
          SCRIPT, "kubectl rollout resume deployment/web -n default"),
        f("222222222222", "us-east-1", "pod main/jobs/once", Risk::BarePod,
          "no controller owns the pod", "run it under a Deployment or a Job"),
        f("222222222222", "us-east-1", "service batch/worker", Risk::ExternalController,
          "deploymentController EXTERNAL", "replace its task sets before AWS's start"),
        f("222222222222", "us-east-1", "account settings", Risk::EventWindowTooShort,
          "a Fargate event window of 30 minutes", "lengthen the event window to at least an hour"),
    ];
    let resources = vec![
        resource(
            "111111111111",
            "service prod/web",
            Code::WouldForceNewDeployment,
            Some(Action::ForceNewDeployment),
        ),
        resource(
            "111111111111",
            "service prod/api",
            Code::NoRoomToReplace,
            None,
        ),
        resource(
            "222222222222",
            "task batch/3f2a",
            Code::WouldRelaunch,
            Some(Action::RelaunchTask),
        ),
    ];
    Preflight::new(findings, resources, 3)
}

fn resource(account: &str, name: &str, code: Code, action: Option<Action>) -> Resource {
    Resource {
        account: account.into(),
        region: "us-east-1".into(),
        resource: name.into(),
        code,
        action,
        reason: format!("the planner's {code}"),
    }
}

const ECS: &str =
    "arn:aws:health:us-east-1::event/ECS/AWS_ECS_TASK_PATCHING_RETIREMENT/X_1#111111111111";
const EKS: &str = "eks:us-west-2:main/default/web-0@2026-12-02T10:00:00+00:00#222222222222";
const BARE: &str =
    "arn:aws:health:eu-west-1::event/ECS/AWS_ECS_TASK_PATCHING_RETIREMENT/X_2#111111111111";

/// Resources acted on, verified, failed and pending (acted, awaiting a person) in three notices.
fn notices() -> Vec<NoticeSummary> {
    let deadline = at("2026-12-02T10:00:00Z");
    let seen = at("2026-11-28T09:00:00Z");
    let mut web = entry(
        ECS,
        "service prod/web",
        State::Verified,
        seen,
        Some(deadline),
    );
    web.acted_at = Some(at("2026-11-28T09:01:00Z"));
    web.verified_at = Some(at("2026-11-28T09:20:00Z"));
    web.before = Some("ecs-svc/111".into());
    web.after = Some("ecs-svc/222".into());
    let mut api = entry(ECS, "service prod/api", State::Acted, seen, Some(deadline));
    api.acted_at = Some(at("2026-11-28T09:02:00Z"));
    api.awaiting = Some("AFTER_PRODUCTION_TRAFFIC_SHIFT".into());
    api.reason = "awaiting approval at a lifecycle hook".into();
    let mut task = entry(ECS, SCRIPT, State::Failed, seen, Some(deadline));
    task.reason = "cannot pass the task role".into();
    let mut pod = entry(
        EKS,
        "pod main/default/web-0",
        State::Verified,
        at("2026-12-02T10:05:00Z"),
        Some(deadline + Duration::hours(1)),
    );
    pod.acted_at = Some(at("2026-12-02T10:06:00Z"));
    pod.verified_at = Some(at("2026-12-02T10:09:00Z"));
    let bare = entry(BARE, "service prod/cron", State::Failed, seen, None);
    summarize(vec![web, api, task, pod, bare], true)
}

fn entry(
    notice: &str,
    target: &str,
    state: State,
    seen: DateTime<Utc>,
    deadline: Option<DateTime<Utc>>,
) -> Entry {
    Entry {
        notice: notice.into(),
        resource: target.replace(' ', ":"),
        target: target.into(),
        state,
        action: matches!(state, State::Acted | State::Verified)
            .then_some(Action::ForceNewDeployment),
        code: Some(if state == State::Failed {
            Code::ApiError
        } else {
            Code::ForcedNewDeployment
        }),
        before: None,
        after: None,
        after_created_at: None,
        service: None,
        awaiting: None,
        reason: String::new(),
        attempts: 1,
        first_seen: seen,
        updated_at: seen + Duration::minutes(30),
        acted_at: None,
        notice_status: Some("upcoming".into()),
        deadline,
        lease_until: None,
        owner: None,
        expires_at: seen + Duration::days(30),
        checks: u32::from(state == State::Verified),
        verified_at: None,
    }
}

// ---- the browser ----

/// Debian's chromium, or `None` (skip) when it is missing outside CI.
fn chromium() -> Option<PathBuf> {
    let path =
        PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    if path.exists() {
        return Some(path);
    }
    let message = format!(
        "{} is missing: run `make browser` (Debian's chromium package)",
        path.display()
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
    eprintln!("skipped: {message}");
    None
}

/// `html` written to a temporary file and the DOM headless chromium builds from it.
fn dom(html: &str, name: &str) -> Option<String> {
    let chromium = chromium()?;
    let dir = std::env::temp_dir().join(format!("remediator-pages-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let page = dir.join(format!("{name}.html"));
    std::fs::write(&page, html).expect("the page written");
    // The page is static (no script reads a clock): chromium runs on the real clock even in
    // the year-ahead run, where libfaketime in its dozen processes made it take minutes.
    let out = Command::new(&chromium)
        .env_remove("LD_PRELOAD")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg("--dump-dom")
        .arg(url(&page))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        dom.contains("</html>"),
        "chromium dumped no document: {dom}"
    );
    Some(dom)
}

fn url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The text of the first `<section` element opening with `open` (sections do not nest here).
fn section<'a>(dom: &'a str, open: &str) -> &'a str {
    let start = dom
        .find(open)
        .unwrap_or_else(|| panic!("no {open} in the page"));
    let end = dom[start..]
        .find("</section>")
        .map_or(dom.len(), |e| start + e);
    &dom[start..end]
}

/// Every `src`/`href` value in the DOM pointing outside the file (`http:`, `https:`, `//`).
fn external_references(dom: &str) -> Vec<String> {
    ["src=\"", "href=\"", "src='", "href='"]
        .iter()
        .flat_map(|attr| {
            dom.match_indices(attr)
                .map(move |(i, _)| &dom[i + attr.len()..])
        })
        .map(|rest| {
            rest.split(['"', '\''])
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|v| v.starts_with("http:") || v.starts_with("https:") || v.starts_with("//"))
        .collect()
}

fn assert_self_contained(dom: &str) {
    assert_eq!(
        external_references(dom),
        Vec::<String>::new(),
        "external references"
    );
    assert!(!dom.contains("<link"), "a <link> element");
    assert!(!dom.contains("<script"), "a <script> element");
    assert!(!dom.contains("url("), "a CSS url()");
    assert!(dom.contains("<style>"), "the inline style");
}

// ---- the preflight page ----

#[test]
fn the_preflight_page_lists_each_finding_with_its_risk_and_fix_grouped_by_account() {
    let p = preflight();
    let Some(dom) = dom(
        &preflight_page(&p, now()).expect("the page renders"),
        "preflight",
    ) else {
        return;
    };
    let scopes = [
        ("111111111111", "eu-west-1"),
        ("111111111111", "us-east-1"),
        ("222222222222", "us-east-1"),
    ];
    for (account, region) in scopes {
        let open =
            format!("<section class=\"group\" data-account=\"{account}\" data-region=\"{region}\"");
        let group = section(&dom, &open);
        for f in &p.findings {
            let inside = group.contains(&format!("data-risk=\"{}\"", f.risk));
            let here = f.account == account && f.region == region;
            assert_eq!(
                inside, here,
                "{} of {} {} in the group of {account} {region}",
                f.risk, f.account, f.region
            );
            if here {
                assert!(group.contains(&f.fix), "{}'s fix missing: {group}", f.risk);
            }
        }
    }
    let west = section(
        &dom,
        "data-account=\"111111111111\" data-region=\"eu-west-1\"",
    );
    assert!(west.contains("paused_deployment") && west.contains("kubectl rollout resume"));
    assert_eq!(
        dom.matches("class=\"group\"").count(),
        3,
        "one group per account and Region"
    );
}

#[test]
fn the_preflight_page_colours_each_severity_and_tables_what_the_remediator_would_do() {
    let Some(dom) = dom(
        &preflight_page(&preflight(), now()).expect("the page renders"),
        "severities",
    ) else {
        return;
    };
    for (sev, n) in [("high", 2), ("medium", 2), ("low", 2)] {
        assert_eq!(
            dom.matches(&format!("class=\"finding sev-{sev}\"")).count(),
            n,
            "{sev} findings"
        );
    }
    let summary = section(&dom, "<section class=\"summary\"");
    assert!(
        summary.contains("<b>6</b>findings") && summary.contains("<b>2</b>high"),
        "{summary}"
    );
    let table = &dom[dom
        .find("<table id=\"resources\"")
        .expect("the resources table")..];
    for cell in [
        "would_force_new_deployment",
        "force_new_deployment",
        "no_room_to_replace",
        "would_relaunch",
        "relaunch_task",
        "task batch/3f2a",
    ] {
        assert!(
            table.contains(cell),
            "{cell} missing from the resources table"
        );
    }
    assert_self_contained(&dom);
}

// ---- the status page ----

#[test]
fn the_status_page_draws_each_notices_window_with_a_marker_per_acted_resource() {
    let notices = notices();
    let Some(dom) = dom(
        &status_page(&notices, now()).expect("the page renders"),
        "timeline",
    ) else {
        return;
    };
    for n in &notices {
        let notice = section(&dom, &format!("data-notice=\"{}\"", n.notice));
        let acted = n.resources.iter().filter(|e| e.acted_at.is_some()).count();
        let verified = n
            .resources
            .iter()
            .filter(|e| e.verified_at.is_some())
            .count();
        assert_eq!(
            notice.matches("class=\"marker acted").count(),
            acted,
            "{}",
            n.notice
        );
        assert_eq!(
            notice.matches("class=\"marker verified").count(),
            verified,
            "{}",
            n.notice
        );
        assert!(
            notice.contains("class=\"timeline\""),
            "{} has no timeline",
            n.notice
        );
        assert_eq!(
            notice.contains("class=\"window\""),
            n.deadline.is_some(),
            "{}",
            n.notice
        );
    }
    let ecs = section(&dom, &format!("data-notice=\"{ECS}\""));
    assert!(
        ecs.contains("AWS starts 2026-12-02 10:00 UTC")
            && ecs.contains("ends 2026-12-04 10:00 UTC"),
        "{ecs}"
    );
    assert!(ecs.contains("class=\"marker acted state-verified\""));
    assert!(ecs.contains("class=\"marker acted state-acted\""));
    assert!(
        ecs.contains("class=\"now\""),
        "now lies inside AWS's window"
    );
}

#[test]
fn the_status_page_tables_every_resource_with_its_state() {
    let notices = notices();
    let Some(dom) = dom(
        &status_page(&notices, now()).expect("the page renders"),
        "table",
    ) else {
        return;
    };
    let ecs = section(&dom, &format!("data-notice=\"{ECS}\""));
    assert_eq!(ecs.matches("<tr class=\"resource\">").count(), 3);
    for cell in [
        "service prod/web",
        "service prod/api",
        "ecs-svc/111 → ecs-svc/222",
        "awaiting approval at a lifecycle hook",
        "cannot pass the task role",
    ] {
        assert!(ecs.contains(cell), "{cell} missing: {ecs}");
    }
    for state in ["verified", "acted", "failed"] {
        assert!(
            ecs.contains(&format!(
                "<span class=\"badge state-{state}\">{state}</span>"
            )),
            "{state}"
        );
    }
    assert_self_contained(&dom);
}

#[test]
fn a_script_tag_in_a_value_is_shown_as_text_not_run() {
    let Some(status) = dom(
        &status_page(&notices(), now()).expect("renders"),
        "escaped-status",
    ) else {
        return;
    };
    let Some(preflight) = dom(
        &preflight_page(&preflight(), now()).expect("renders"),
        "escaped-preflight",
    ) else {
        return;
    };
    for dom in [status, preflight] {
        assert!(
            !dom.contains("<script"),
            "a script element made it into the page"
        );
        assert!(
            dom.contains("&lt;script&gt;alert("),
            "the value is not shown as text"
        );
    }
}

#[test]
fn an_empty_ledger_and_a_clean_preflight_still_make_pages() {
    let status = status_page(&[], now()).expect("renders");
    let preflight = preflight_page(&Preflight::default(), now()).expect("renders");
    assert!(status.contains("the ledger holds no notice"));
    assert!(preflight.contains("no finding"));
}

/// `make pages`: the example pages crates/cli/README.md's screenshots show, written into `PAGES_OUT`.
#[test]
#[ignore = "run by `make pages`"]
fn the_example_pages_are_written_into_pages_out() {
    let out = PathBuf::from(std::env::var("PAGES_OUT").expect("PAGES_OUT names a directory"));
    let status = status_page(&notices(), now()).expect("renders");
    let preflight = preflight_page(&preflight(), now()).expect("renders");
    std::fs::write(out.join("status.html"), status).expect("status.html written");
    std::fs::write(out.join("preflight.html"), preflight).expect("preflight.html written");
}
