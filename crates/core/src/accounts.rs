//! Which accounts the remediator acts in (central mode, `remediator_aws::central`).

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
