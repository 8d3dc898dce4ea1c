//! The member accounts of the organization (`ORGANIZATION_ACCOUNTS=on`): Organizations
//! `ListAccounts`, every page, the accounts whose `State` is `ACTIVE`.
//!
//! What the reference says and how it shapes this (read 2026-12, the Organizations API
//! reference and the SDK's `ListAccounts` docs):
//! - only the management account or a delegated administrator may call it: anywhere else the
//!   answer is an error, which the preflight reports as a finding naming the setting to change;
//! - a page can be empty while more follow: the paginator goes on until `NextToken` is absent;
//! - `Status` was retired on 2026-09-09 in favour of `State` (`PENDING_ACTIVATION`, `ACTIVE`,
//!   `SUSPENDED`, `PENDING_CLOSURE`, `CLOSED`): only `State` is read, and an account without one
//!   is left out (nothing is read in an account that is not known to be active).

use aws_config::SdkConfig;
use aws_sdk_organizations::types::{Account, AccountState};

/// The ids of the organization's `ACTIVE` accounts, in the order Organizations lists them.
pub async fn active_accounts(base: &SdkConfig) -> Result<Vec<String>, String> {
    let client = aws_sdk_organizations::Client::new(base);
    let pages: Vec<_> = client
        .list_accounts()
        .into_paginator()
        .send()
        .collect()
        .await;
    let mut accounts = Vec::new();
    for page in pages {
        let page = page.map_err(|e| {
            format!(
                "Organizations ListAccounts failed ({})",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            )
        })?;
        accounts.extend(page.accounts().iter().filter_map(active));
    }
    Ok(accounts)
}

/// The account's id when Organizations says it is `ACTIVE` and the id is twelve digits.
fn active(account: &Account) -> Option<String> {
    let id = account.id()?;
    let well_formed = id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit());
    (account.state() == Some(&AccountState::Active) && well_formed).then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str, state: Option<AccountState>) -> Account {
        Account::builder().id(id).set_state(state).build()
    }

    #[test]
    fn only_active_accounts_with_a_twelve_digit_id_are_members() {
        assert_eq!(
            active(&account("111122223333", Some(AccountState::Active))),
            Some("111122223333".to_owned())
        );
        assert_eq!(
            active(&account("111122223333", Some(AccountState::Suspended))),
            None
        );
        assert_eq!(
            active(&account("111122223333", Some(AccountState::PendingClosure))),
            None
        );
        assert_eq!(active(&account("111122223333", None)), None);
        assert_eq!(
            active(&account("1111-2222", Some(AccountState::Active))),
            None
        );
    }
}
