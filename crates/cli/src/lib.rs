//! The CLI's library: what the `remediator` binary renders beyond its tables.
//!
//! [`pages`]: the status and preflight as one self-contained HTML file each.

pub mod pages;
