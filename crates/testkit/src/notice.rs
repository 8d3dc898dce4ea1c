//! The one builder of the notices tests deliver. It starts from a real fixture of
//! `events-fixtures/` published now, so the fixtures stay the documentation of each shape, and
//! changes only what a test says; every date stays relative to the run.
//!
//! ```ignore
//! // The organizational view's notice: received at home, about a member's service.
//! let event = Notice::ecs()
//!     .naming(&["prod|web"])
//!     .account(HOME)
//!     .affected_account(MEMBER)
//!     .build();
//! // Health's update of it twenty minutes later: the same dates AWS acts on.
//! let update = Notice::ecs().naming(&["prod|web"]).updated(now + Duration::minutes(20));
//! ```

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::clock::{self, Form};

/// A notice being built: a fixture's event, published now, changed one field at a time.
#[derive(Debug, Clone)]
pub struct Notice(Value);

impl Notice {
    /// `name` (a file of `events-fixtures/`) published now, each date keeping its offset.
    pub fn fixture(name: &str) -> Notice {
        Notice(crate::fixture_now(name))
    }

    /// An ECS task retirement naming services as `cluster|service`
    /// (`health-ecs-services-pipe.json`): `upcoming`, AWS retiring a week after publication.
    pub fn ecs() -> Notice {
        Notice::fixture("health-ecs-services-pipe.json")
    }

    /// An EC2 scheduled event, from `health-ec2-<kind>.json` (`instance-retirement`,
    /// `persistent-retirement`, `instance-stop`, `instance-reboot`, `instance-reboot-closed`).
    pub fn ec2(kind: &str) -> Notice {
        Notice::fixture(&format!("health-ec2-{kind}.json"))
    }

    /// An EKS Fargate pod scheduled termination (`eks-fargate-pod-scheduled-termination.json`).
    pub fn eks_pod() -> Notice {
        Notice::fixture("eks-fargate-pod-scheduled-termination.json")
    }

    /// Names `entities` in both `resources` and `affectedEntities` (as Health does), and
    /// nothing else.
    pub fn naming<S: AsRef<str>>(self, entities: &[S]) -> Notice {
        self.resources(entities).entities(entities)
    }

    /// `resources` alone names `entities`.
    pub fn resources<S: AsRef<str>>(mut self, entities: &[S]) -> Notice {
        self.0["resources"] = json!(entities.iter().map(AsRef::as_ref).collect::<Vec<_>>());
        self
    }

    /// `detail.affectedEntities` alone names `entities`.
    pub fn entities<S: AsRef<str>>(mut self, entities: &[S]) -> Notice {
        self.0["detail"]["affectedEntities"] = entities
            .iter()
            .map(|e| json!({ "entityValue": e.as_ref() }))
            .collect();
        self
    }

    /// Published at `at`: every date moves with `time`, keeping its offset to it.
    pub fn published(mut self, at: DateTime<Utc>) -> Notice {
        clock::shift_event(&mut self.0, at);
        self
    }

    /// Health's update of the notice at `at`: `time` and `lastUpdatedTime` move to `at`, the
    /// dates AWS acts on stay where they are.
    pub fn updated(self, at: DateTime<Utc>) -> Notice {
        self.date(&["time"], at, Form::Rfc3339).date(
            &["detail", "lastUpdatedTime"],
            at,
            Form::Rfc2822,
        )
    }

    /// AWS acts from `at` (`startTime`).
    pub fn starting_at(self, at: DateTime<Utc>) -> Notice {
        self.date(&["detail", "startTime"], at, Form::Rfc2822)
    }

    /// AWS acts from `after` the notice's publication (negative: it has begun).
    pub fn starting_in(self, after: Duration) -> Notice {
        let at = self.time() + after;
        self.starting_at(at)
    }

    /// AWS's window ends `after` the notice's publication (`endTime`).
    pub fn ending_in(self, after: Duration) -> Notice {
        let at = self.time() + after;
        self.date(&["detail", "endTime"], at, Form::Rfc2822)
    }

    /// EKS deletes the pod `after` the event's publication (`scheduledTerminationTime`).
    pub fn terminating_in(self, after: Duration) -> Notice {
        let at = self.time() + after;
        self.date(&["detail", "scheduledTerminationTime"], at, Form::ZonedUtc)
    }

    /// Health's `statusCode`: `upcoming`, `open` or `closed`.
    pub fn status(mut self, code: &str) -> Notice {
        self.0["detail"]["statusCode"] = json!(code);
        self
    }

    /// The account whose bus delivered the event (`account`).
    pub fn account(mut self, account: &str) -> Notice {
        self.0["account"] = json!(account);
        self
    }

    /// The account the notice is about, as the organizational view says it
    /// (`detail.affectedAccount`).
    pub fn affected_account(mut self, account: &str) -> Notice {
        self.0["detail"]["affectedAccount"] = json!(account);
        self
    }

    /// The Region of the event, of its Health detail and of its `eventArn` (which names it).
    pub fn region(mut self, region: &str) -> Notice {
        self.0["region"] = json!(region);
        self.0["detail"]["eventRegion"] = json!(region);
        let arn = self.arn();
        let mut parts: Vec<&str> = arn.split(':').collect();
        parts[3] = region;
        self.0["detail"]["eventArn"] = json!(parts.join(":"));
        self
    }

    /// Another notice of the same kind: `id` ends its `eventArn`.
    pub fn arn_id(mut self, id: &str) -> Notice {
        let arn = self.arn();
        let (kind, _) = arn
            .rsplit_once('/')
            .unwrap_or_else(|| panic!("eventArn {arn} has no id"));
        self.0["detail"]["eventArn"] = json!(format!("{kind}/{id}"));
        self
    }

    /// The event, as EventBridge delivers it.
    pub fn build(self) -> Value {
        self.0
    }

    fn time(&self) -> DateTime<Utc> {
        clock::published(&self.0).unwrap_or_else(|| panic!("the notice has no time: {}", self.0))
    }

    fn arn(&self) -> String {
        self.0["detail"]["eventArn"]
            .as_str()
            .unwrap_or_else(|| panic!("the notice has no eventArn: {}", self.0))
            .to_owned()
    }

    /// Writes `at` in `form` at `path` (a field of the event, or of its detail).
    fn date(mut self, path: &[&str], at: DateTime<Utc>, form: Form) -> Notice {
        let field = path.iter().fold(&mut self.0, |value, key| &mut value[*key]);
        *field = json!(clock::write(at, form));
        self
    }
}
