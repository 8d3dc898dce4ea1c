//! The CLI's library: the command line's definition and what the `remediator` binary renders
//! beyond its tables.
//!
//! [`args`]: every subcommand and option (and the help the reference `commands.md` is made of);
//! [`pages`]: the status and preflight as one self-contained HTML file each.

pub mod args;
pub mod pages;
