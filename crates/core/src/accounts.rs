//! Which accounts the remediator acts in (central mode, `remediator_sdk::central`), and what
//! each account's ECS settings say about when AWS retires its tasks.

use chrono::{DateTime, Utc};

use crate::ports::EventWindow;
use crate::target::Target;
use crate::window::Windows;

/// What an account's ECS settings say about how AWS retires its Fargate tasks (since December
/// 2025: `fargateTaskRetirementWaitPeriod` 0, 7 or 14 days after the notice;
/// `fargateEventWindows`, retirements only inside the account's EC2 instance event windows), as
/// notes for the report. `settings` are `ListAccountSettings` (effective) pairs.
pub fn retirement_notes(settings: &[(String, String)]) -> Vec<String> {
    let get = |name: &str| {
        settings
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let mut notes = Vec::new();
    match get("fargateTaskRetirementWaitPeriod") {
        Some("0") => notes.push(
            "fargateTaskRetirementWaitPeriod is 0: AWS retires the tasks as soon as it notifies; the remediator can only race it (set 7 or 14 days to give it time)".to_owned(),
        ),
        Some(days) => notes.push(format!(
            "fargateTaskRetirementWaitPeriod is {days} days: AWS retires the tasks that long after the notice"
        )),
        None => {}
    }
    if let Some(state) = get("fargateEventWindows") {
        notes.push(if state.eq_ignore_ascii_case("enabled") {
            "fargateEventWindows is enabled: AWS retires tasks only inside the account's EC2 instance event windows".to_owned()
        } else {
            format!("fargateEventWindows is {state}: AWS may retire tasks at any time after the wait period")
        });
    }
    notes
}

/// Whether `fargateEventWindows` is enabled among the account's settings.
pub fn event_windows_enabled(settings: &[(String, String)]) -> bool {
    settings
        .iter()
        .any(|(n, v)| n == "fargateEventWindows" && v.eq_ignore_ascii_case("enabled"))
}

/// When AWS retires the notice's tasks at the earliest, when the account has
/// `fargateEventWindows` enabled: AWS then retires a task only inside the EC2 instance event
/// windows its tags associate with it (`aws:ecs:fargateTask=true`, or the task's
/// `aws:ecs:clusterArn` / `aws:ecs:serviceArn`), so not before the first one open at or after
/// the notice's `deadline`. `None` when that is not later than the deadline, or when a target is
/// in no window (AWS retires it on its usual schedule); the string says why for `timing`.
pub fn earliest_retirement(
    deadline: DateTime<Utc>,
    targets: &[Target],
    windows: &[EventWindow],
) -> Option<(DateTime<Utc>, String)> {
    let mut earliest: Option<(DateTime<Utc>, String)> = None;
    for target in targets {
        let (cluster, service) = match target {
            Target::Service(s) => (Some(s.cluster.as_str()), Some(s.service.as_str())),
            Target::Task(t) => (t.cluster.as_deref(), None),
            Target::Pod(_)
            | Target::Instance(_)
            | Target::Unrecognized { .. }
            | Target::Elsewhere(_) => continue,
        };
        let mine = windows
            .iter()
            .filter(|w| associates(w, cluster, service))
            .fold(Windows::default(), |all, w| all.and(w.windows.clone()));
        let first = mine.first_open_from(deadline)?;
        if earliest.as_ref().is_none_or(|(at, _)| first.start < *at) {
            earliest = Some((first.start, first.window));
        }
    }
    let (at, window) = earliest?;
    (at > deadline).then(|| {
        (
            at,
            format!(
                "fargateEventWindows is enabled: AWS retires these tasks only inside their EC2 instance event windows, so not before {} (event window {window:?}), later than the notice's {}",
                at.to_rfc3339(),
                deadline.to_rfc3339()
            ),
        )
    })
}

/// Whether the EC2 instance event window `w` applies to a Fargate task of `cluster` (and of
/// `service`, for a service's task): its tags `aws:ecs:fargateTask=true`, the cluster's ARN
/// (`aws:ecs:clusterArn`) or the service's (`aws:ecs:serviceArn`), as the ECS developer guide's
/// task retirement page associates them.
pub fn associates(w: &EventWindow, cluster: Option<&str>, service: Option<&str>) -> bool {
    w.tags.iter().any(|(k, v)| match k.as_str() {
        "aws:ecs:fargateTask" => v == "true",
        "aws:ecs:clusterArn" => cluster.is_some_and(|c| v.ends_with(&format!(":cluster/{c}"))),
        "aws:ecs:serviceArn" => match (cluster, service) {
            (Some(c), Some(s)) => v.ends_with(&format!(":service/{c}/{s}")),
            _ => false,
        },
        _ => false,
    })
}

/// Which accounts central mode acts in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounts {
    /// `MEMBER_ROLE_NAME`: the role assumed in member accounts; `None`: central mode off.
    pub member_role: Option<String>,
    /// `ACCOUNTS_INCLUDE`: when not empty, only these accounts.
    pub include: Vec<String>,
    /// `ACCOUNTS_EXCLUDE`: never these accounts.
    pub exclude: Vec<String>,
    /// `CONFIRM_NOTICES=health-api`: ask AWS Health that the event exists and lists each
    /// resource before acting ([`crate::confirm`]).
    pub confirm_notices: bool,
}

impl Accounts {
    /// Why `account` is left out, if it is.
    pub fn excludes(&self, account: &str) -> Option<String> {
        if self.exclude.iter().any(|a| a == account) {
            return Some(format!("account {account} is in ACCOUNTS_EXCLUDE"));
        }
        if !self.include.is_empty() && !self.include.iter().any(|a| a == account) {
            return Some(format!("account {account} is not in ACCOUNTS_INCLUDE"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn the_retirement_settings_are_told_as_what_they_mean_for_the_remediator() {
        let at_once = retirement_notes(&pairs(&[
            ("fargateTaskRetirementWaitPeriod", "0"),
            ("fargateEventWindows", "enabled"),
            ("containerInsights", "enabled"),
        ]));

        assert_eq!(at_once.len(), 2, "{at_once:?}");
        assert!(at_once[0].contains("can only race it"), "{at_once:?}");
        assert!(at_once[1].contains("event windows"), "{at_once:?}");
        assert!(
            retirement_notes(&pairs(&[("fargateTaskRetirementWaitPeriod", "14")]))[0]
                .contains("14 days")
        );
        assert!(retirement_notes(&[]).is_empty());
    }

    fn window(name: &str, cron: &str, tag: (&str, &str)) -> EventWindow {
        EventWindow {
            name: name.into(),
            windows: Windows::ec2_cron(cron, name).unwrap_or_default(),
            tags: vec![(tag.0.into(), tag.1.into())],
        }
    }

    fn service(cluster: &str, name: &str) -> Target {
        Target::Service(crate::target::ServiceRef {
            cluster: cluster.into(),
            service: name.into(),
        })
    }

    #[test]
    fn with_event_windows_aws_retires_no_earlier_than_the_first_window_of_every_target() {
        use crate::testing::at;
        // Tuesday 09:00; `prod`'s window opens daily at 20:00, every Fargate task's on Friday.
        let deadline = at("2026-12-01T09:00:00Z");
        let windows = [
            window(
                "prod-nightly",
                "* 20-23 * * *",
                (
                    "aws:ecs:clusterArn",
                    "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
                ),
            ),
            window(
                "all-fargate",
                "* 2-6 * * 5",
                ("aws:ecs:fargateTask", "true"),
            ),
        ];

        let (at_earliest, why) = earliest_retirement(
            deadline,
            &[service("prod", "web"), service("batch", "x")],
            &windows,
        )
        .unwrap_or_else(|| panic!("later than the deadline"));

        // prod/web: its cluster's window at 20:00 the same day; batch/x only Friday's.
        assert_eq!(at_earliest, at("2026-12-01T20:00:00Z"));
        assert!(why.contains("prod-nightly"), "{why}");
        assert_eq!(
            earliest_retirement(deadline, &[service("batch", "x")], &windows).map(|(t, _)| t),
            Some(at("2026-12-04T02:00:00Z"))
        );
        assert_eq!(
            earliest_retirement(deadline, &[service("other", "x")], &windows[..1]),
            None,
            "a task in no window is retired on AWS's usual schedule"
        );
        assert_eq!(
            earliest_retirement(
                at("2026-12-01T21:00:00Z"),
                &[service("prod", "web")],
                &windows
            ),
            None,
            "a deadline inside a window is the deadline"
        );
        assert!(event_windows_enabled(&pairs(&[(
            "fargateEventWindows",
            "enabled"
        )])));
        assert!(!event_windows_enabled(&pairs(&[(
            "fargateEventWindows",
            "disabled"
        )])));
    }

    #[test]
    fn an_excluded_account_is_left_out_and_an_include_list_keeps_only_its_accounts() {
        let only = Accounts {
            include: vec!["111111111111".into()],
            exclude: vec!["222222222222".into()],
            ..Accounts::default()
        };

        assert_eq!(only.excludes("111111111111"), None);
        assert!(only
            .excludes("222222222222")
            .is_some_and(|why| why.contains("ACCOUNTS_EXCLUDE")));
        assert!(only
            .excludes("333333333333")
            .is_some_and(|why| why.contains("ACCOUNTS_INCLUDE")));
        assert_eq!(Accounts::default().excludes("333333333333"), None);
    }
}
