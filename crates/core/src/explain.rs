//! The outcomes reference (`crates/core/outcomes.md`): one entry per name of [`crate::names`],
//! what it means, whether anything was done, what to do next. `remediator explain CODE` prints
//! an entry; the tests below keep the reference and the names in step.

/// The reference as written: Markdown, one `### `code`` heading per entry.
pub const REFERENCE: &str = include_str!("../outcomes.md");

/// One entry of the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The name the entry explains (`rollout_stalled`).
    pub name: &'static str,
    /// The section it sits in (`Outcome codes: follow-up checks`, `Preflight risks`).
    pub kind: &'static str,
    /// The entry's text, without its heading.
    pub text: &'static str,
}

/// Every entry, in the reference's order.
pub fn entries() -> Vec<Entry> {
    let mut out = Vec::new();
    for section in REFERENCE.split("\n## ").skip(1) {
        let mut parts = section.split("\n### ");
        let kind = parts.next().and_then(|k| k.lines().next()).unwrap_or("");
        for entry in parts {
            let (heading, text) = entry.split_once('\n').unwrap_or((entry, ""));
            let name = heading.trim().trim_matches('`');
            out.push(Entry {
                name,
                kind,
                text: text.trim(),
            });
        }
    }
    out
}

/// The entries for `name` (an outcome code and a preflight risk can share one), or none.
pub fn explain(name: &str) -> Vec<Entry> {
    let wanted = name.trim().trim_matches('`').to_ascii_lowercase();
    entries().into_iter().filter(|e| e.name == wanted).collect()
}

/// Every name [`crate::names`] defines, with the kind of name it is.
pub fn every_name() -> Vec<(&'static str, &'static str)> {
    use crate::names::{Action, Code, EventCode, Risk};
    use strum::IntoEnumIterator;
    Code::iter()
        .map(|c| ("outcome code", c.as_str()))
        .chain(Action::iter().map(|a| ("action", a.as_str())))
        .chain(EventCode::iter().map(|e| ("event code", e.as_str())))
        .chain(Risk::iter().map(|r| ("preflight risk", r.as_str())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_matches(kind: &str, section: &str) -> bool {
        match kind {
            "outcome code" => section.starts_with("Outcome codes"),
            "action" => section == "Actions",
            "event code" => section == "Event codes",
            _ => section == "Preflight risks",
        }
    }

    #[test]
    fn every_name_has_an_entry_of_its_kind_with_a_next_step() {
        let missing: Vec<String> = every_name()
            .into_iter()
            .filter(|(kind, name)| {
                !explain(name)
                    .iter()
                    .any(|e| kind_matches(kind, e.kind) && e.text.contains("Next:"))
            })
            .map(|(kind, name)| format!("{kind} {name}"))
            .collect();
        assert!(
            missing.is_empty(),
            "outcomes.md has no entry for {missing:?}"
        );
    }

    #[test]
    fn every_entry_explains_a_name_that_exists() {
        let names: Vec<&str> = every_name().into_iter().map(|(_, n)| n).collect();
        let stray: Vec<&str> = entries()
            .into_iter()
            .map(|e| e.name)
            .filter(|n| !names.contains(n))
            .collect();
        assert!(
            stray.is_empty(),
            "outcomes.md explains unknown names {stray:?}"
        );
    }

    #[test]
    fn an_entry_is_found_by_its_name_in_any_case_or_quoting() {
        let found = explain("`Rollout_Stalled`");
        assert_eq!(found.len(), 1);
        assert!(
            found[0].text.contains("ROLLOUT_TIMEOUT"),
            "{}",
            found[0].text
        );
        assert_eq!(found[0].kind, "Outcome codes: follow-up checks");
        assert!(explain("no_such_code").is_empty());
    }

    #[test]
    fn a_name_shared_by_an_outcome_and_a_risk_has_both_entries() {
        let kinds: Vec<&str> = explain("no_room_to_replace")
            .iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            ["Outcome codes: ECS services", "Preflight risks"],
            "{kinds:?}"
        );
    }
}
