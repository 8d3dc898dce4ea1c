//! `remediator preflight`: before any notice, what a retirement would hurt today. The readings
//! (adapters) feed the remediator's own planner and these readiness rules; what comes out is one
//! [`Preflight`]: the findings, what the remediator would do for each resource, and a summary.
//!
//! The JSON shape is the CLI's `--json` output and the scheduled preflight's summary:
//! `{"findings": [{"account", "region", "resource", "risk", "severity", "why", "fix"}],
//! "resources": [...], "summary": {...}}`. `risk` is a stable [`Risk`] name.

pub mod ecs;
pub mod eks;
pub mod report;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::names::{Action, Code, Risk};

/// How much a finding matters. `high`: a retirement causes an outage or loses work, or the
/// remediator cannot act; the CLI exits 1 when any is found.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Severity {
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl Risk {
    /// The severity a finding of this risk has.
    pub fn severity(self) -> Severity {
        match self {
            Risk::OutageAtRetirement
            | Risk::UnownedStandaloneTask
            | Risk::RoleNotPassable
            | Risk::RetirementWaitZero
            | Risk::BarePod
            | Risk::MemberUnreadable
            | Risk::NoRoomToReplace => Severity::High,
            Risk::ExternalController
            | Risk::AppspecUnreadable
            | Risk::TasksOutsideEventWindows
            | Risk::MaintenanceWindowMissesDeadline
            | Risk::PdbAllowsNoDisruption
            | Risk::OnDeleteStatefulSet
            | Risk::PausedDeployment
            | Risk::SingleInstanceCluster => Severity::Medium,
            Risk::NoCircuitBreaker | Risk::EventWindowTooShort | Risk::EventWindowsNearLimit => {
                Severity::Low
            }
        }
    }
}

/// One thing a retirement would hurt, and what to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub account: String,
    pub region: String,
    /// How the resource is named for people (`service prod/web`, `account settings`).
    pub resource: String,
    pub risk: Risk,
    pub severity: Severity,
    /// What was read that makes it a risk.
    pub why: String,
    /// What to change, as a command or a setting.
    pub fix: String,
}

impl Finding {
    /// A finding with its risk's severity.
    pub fn new(
        account: impl Into<String>,
        region: impl Into<String>,
        resource: impl Into<String>,
        risk: Risk,
        why: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            account: account.into(),
            region: region.into(),
            resource: resource.into(),
            risk,
            severity: risk.severity(),
            why: why.into(),
            fix: fix.into(),
        }
    }
}

/// What the remediator would do for one resource if a notice named it today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub account: String,
    pub region: String,
    pub resource: String,
    /// The planner's code (`would_force_new_deployment`, `no_room_to_replace`, …).
    pub code: Code,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    pub reason: String,
}

/// Counts for people and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// `account/region` scopes read.
    pub scopes: usize,
    pub resources: usize,
    pub findings: usize,
    pub by_severity: BTreeMap<String, usize>,
    pub by_risk: BTreeMap<String, usize>,
}

/// The whole preflight.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preflight {
    pub findings: Vec<Finding>,
    pub resources: Vec<Resource>,
    pub summary: Summary,
}

impl Preflight {
    /// Findings ordered by account, Region, severity (high first), then resource; the summary
    /// counted from them.
    pub fn new(mut findings: Vec<Finding>, resources: Vec<Resource>, scopes: usize) -> Self {
        findings.sort_by(|a, b| {
            (&a.account, &a.region, a.severity, &a.resource, a.risk).cmp(&(
                &b.account,
                &b.region,
                b.severity,
                &b.resource,
                b.risk,
            ))
        });
        let mut summary = Summary {
            scopes,
            resources: resources.len(),
            findings: findings.len(),
            ..Summary::default()
        };
        for f in &findings {
            *summary
                .by_severity
                .entry(f.severity.as_str().to_owned())
                .or_default() += 1;
            *summary
                .by_risk
                .entry(f.risk.as_str().to_owned())
                .or_default() += 1;
        }
        Preflight {
            findings,
            resources,
            summary,
        }
    }

    /// CLI exit status: 0 with no finding of severity `high`, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.findings.iter().any(|f| f.severity == Severity::High))
    }
}

/// What a preflight reads: the function's own account and the member accounts given (and, when
/// asked, the organization's), in each
/// Region; the rules; the clock; and when it must stop reading (a scheduled preflight's Lambda
/// deadline, less the time to report), after which the scopes left are findings, not gaps.
#[derive(Debug, Clone)]
pub struct Scopes {
    pub members: Vec<String>,
    /// `ORGANIZATION_ACCOUNTS=on`: the organization's active accounts are members too.
    pub organization: bool,
    pub regions: Vec<String>,
    pub rules: ecs::Rules,
    pub now: chrono::DateTime<chrono::Utc>,
    pub read_by: Option<tokio::time::Instant>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(risk: Risk, resource: &str) -> Finding {
        Finding::new("111122223333", "us-east-1", resource, risk, "why", "fix")
    }

    #[test]
    fn a_high_finding_makes_the_preflight_exit_1_and_a_low_one_does_not() {
        let low = Preflight::new(
            vec![finding(Risk::NoCircuitBreaker, "service a/b")],
            vec![],
            1,
        );
        let high = Preflight::new(
            vec![
                finding(Risk::NoCircuitBreaker, "service a/b"),
                finding(Risk::OutageAtRetirement, "service a/c"),
            ],
            vec![],
            1,
        );
        assert_eq!(low.exit_code(), 0);
        assert_eq!(high.exit_code(), 1);
        assert_eq!(
            high.findings[0].risk,
            Risk::OutageAtRetirement,
            "high first"
        );
        assert_eq!(high.summary.by_severity.get("high"), Some(&1));
        assert_eq!(high.summary.by_risk.get("no_circuit_breaker"), Some(&1));
    }

    #[test]
    fn the_json_has_the_documented_shape() {
        let p = Preflight::new(vec![finding(Risk::BarePod, "pod ns/p")], vec![], 1);
        let v = serde_json::to_value(&p).unwrap_or_default();
        assert_eq!(v["findings"][0]["risk"], "bare_pod");
        assert_eq!(v["findings"][0]["severity"], "high");
        for key in ["account", "region", "resource", "why", "fix"] {
            assert!(v["findings"][0].get(key).is_some(), "{key}");
        }
        assert!(v["resources"].is_array() && v["summary"].is_object());
    }
}
