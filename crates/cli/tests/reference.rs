//! The references the CLI's help and `remediator explain` print stay what the repository shows:
//! `crates/cli/commands.md` is clap-markdown's rendering of the command line, and every code of
//! `remediator_core::names` is explained by the binary as `crates/core/outcomes.md` says.
//!
//! `REMEDIATOR_WRITE_REFERENCE=1 cargo test -p remediator-cli --test reference` rewrites
//! `commands.md` after a change of the command line.

use std::path::PathBuf;
use std::process::Command;

use clap::CommandFactory;
use remediator_cli::args::Cli;

fn commands_md() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("commands.md")
}

fn remediator(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_remediator"))
        .args(args)
        .env_remove("LEDGER_TABLE")
        .output()
        .unwrap_or_else(|e| panic!("remediator {args:?}: {e}"))
}

fn generated() -> String {
    clap_markdown::help_markdown::<Cli>()
}

#[test]
fn the_command_reference_is_the_markdown_of_the_command_line() {
    let path = commands_md();
    if std::env::var_os("REMEDIATOR_WRITE_REFERENCE").is_some() {
        std::fs::write(&path, generated()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    let kept = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        kept == generated(),
        "{} differs from the command line's help: run \
         REMEDIATOR_WRITE_REFERENCE=1 cargo test -p remediator-cli --test reference",
        path.display()
    );
}

#[test]
fn every_subcommand_s_help_as_the_binary_prints_it_is_in_the_reference() {
    let kept = std::fs::read_to_string(commands_md()).unwrap_or_default();
    let cli = Cli::command();
    let mut checked = 0;
    for sub in cli.get_subcommands().filter(|s| s.get_name() != "help") {
        let out = remediator(&[sub.get_name(), "--help"]);
        assert!(out.status.success(), "{} --help failed", sub.get_name());
        let help = String::from_utf8_lossy(&out.stdout);
        // Each option the binary lists, and each line of its examples, is in the reference.
        for arg in sub.get_arguments().filter_map(|a| a.get_long()) {
            assert!(
                help.contains(&format!("--{arg}")),
                "{} --help lacks --{arg}",
                sub.get_name()
            );
            assert!(
                kept.contains(&format!("--{arg}")),
                "commands.md lacks {} --{arg}",
                sub.get_name()
            );
        }
        let after = sub
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        for line in after
            .lines()
            .filter(|l| l.trim_start().starts_with("remediator "))
        {
            assert!(
                help.contains(line.trim()),
                "{} --help lacks {line}",
                sub.get_name()
            );
            assert!(kept.contains(line.trim()), "commands.md lacks {line}");
        }
        assert!(
            help.contains("Exit status:") || sub.has_subcommands(),
            "{} --help names no exit status",
            sub.get_name()
        );
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} subcommands checked");
}

#[test]
fn remediator_explain_prints_the_reference_entry_of_every_code() {
    for (kind, name) in remediator_core::explain::every_name() {
        let out = remediator(&["explain", name]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "explain {name} ({kind}) failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for entry in remediator_core::explain::explain(name) {
            assert!(
                text.contains(entry.text),
                "explain {name} does not print its entry"
            );
        }
        assert!(
            text.contains("Next:"),
            "explain {name} says nothing to do next"
        );
    }
}

#[test]
fn remediator_explain_of_an_unknown_code_exits_2_and_suggests_near_ones() {
    let out = remediator(&["explain", "stalled"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rollout_stalled"), "{err}");
}
