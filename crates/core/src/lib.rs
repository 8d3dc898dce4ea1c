//! The remediator's core: parse a retirement notice, plan what each affected resource needs,
//! act through narrow ports, and report one outcome per resource.
//!
//! ```text
//! raw event ──parse──▶ Notice ──observe (ports)──▶ plan ──act (ports)──▶ Report
//! ```
//!
//! Nothing here knows about the AWS SDK; `remediator-aws` implements the ports.

pub mod accounts;
pub mod appspec;
pub mod bounds;
pub mod confirm;
pub mod defer;
pub mod engine;
pub mod explain;
pub mod follow;
pub mod instance_plan;
pub mod ledger;
pub mod metrics;
pub mod names;
pub mod notice;
pub mod notify;
pub mod outcome;
pub mod pacing;
pub mod parse_error;
pub mod pipeline;
pub mod plan;
pub mod pod;
pub mod ports;
pub mod preflight;
pub mod run;
pub mod target;
#[cfg(test)]
mod target_tests;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod window;

pub use engine::{Backoff, Rate, Remediator, Settings};
pub use names::{Action, Code, EventCode, Risk};
pub use notice::{parse_slice, parse_value, ParseError, Parsed, PodNotice, RetirementNotice};
pub use outcome::{Disposition, Outcome, Report, Status};
pub use pipeline::{Notice, Remediate};
pub use target::{PodRef, ServiceRef, Target, TaskRef};
