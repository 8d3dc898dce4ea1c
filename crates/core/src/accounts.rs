//! Which accounts the remediator acts in (central mode, `remediator_aws::central`).

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

/// Which accounts central mode acts in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounts {
    /// `MEMBER_ROLE_NAME`: the role assumed in member accounts; `None`: central mode off.
    pub member_role: Option<String>,
    /// `ACCOUNTS_INCLUDE`: when not empty, only these accounts.
    pub include: Vec<String>,
    /// `ACCOUNTS_EXCLUDE`: never these accounts.
    pub exclude: Vec<String>,
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
