//! Settings from the environment, shared by the Lambda functions and the CLI.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `DRY_RUN` | `false` | compute and report the plan, make no mutating call |
//! | `OPT_IN_ONLY` | `false` | act only on resources or clusters tagged `retirement-remediator/enabled=true` |
//! | `MAX_CONCURRENCY` | `8` | API calls in flight at once |
//! | `UPDATE_SERVICE_RATE` | `5/50` | client-side pacing of UpdateService: `PER_SECOND/BURST`, `off` to disable |
//! | `SDK_MAX_ATTEMPTS` | `5` | attempts per call by the SDK's standard retry (throttling included) |
//! | `BACKOFF_ROUNDS` | `6` | extra backoff rounds when a call still ends throttled (1 s doubling to 20 s) |
//! | `DEADLINE_MARGIN_SECS` | `10` | stop starting calls this long before the Lambda deadline |

use std::time::Duration;

use remediator_core::{Rate, Settings};

/// A setting that could not be read. Reported at start-up, before any event is handled.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}={value:?} is invalid: {expected}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// Everything configurable, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub settings: Settings,
    pub sdk_max_attempts: u32,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut settings = Settings::default();
        let get = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (name, v))
        };

        if let Some((name, v)) = get("DRY_RUN") {
            settings.dry_run = parse_bool(name, &v)?;
        }
        if let Some((name, v)) = get("OPT_IN_ONLY") {
            settings.opt_in_only = parse_bool(name, &v)?;
        }
        if let Some((name, v)) = get("MAX_CONCURRENCY") {
            settings.concurrency =
                parse_num(name, &v, 1..=256, "a whole number from 1 to 256")? as usize;
        }
        if let Some((name, v)) = get("UPDATE_SERVICE_RATE") {
            settings.update_service_rate = parse_rate(name, &v)?;
        }
        if let Some((name, v)) = get("BACKOFF_ROUNDS") {
            settings.backoff.rounds = parse_num(name, &v, 0..=50, "a whole number from 0 to 50")?;
        }
        if let Some((name, v)) = get("DEADLINE_MARGIN_SECS") {
            settings.deadline_margin =
                Duration::from_secs(parse_num(name, &v, 0..=600, "seconds from 0 to 600")?.into());
        }
        let sdk_max_attempts = match get("SDK_MAX_ATTEMPTS") {
            Some((name, v)) => parse_num(name, &v, 1..=20, "a whole number from 1 to 20")?,
            None => 5,
        };
        Ok(Config {
            settings,
            sdk_max_attempts,
        })
    }
}

fn parse_bool(name: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ConfigError {
            name,
            value: v.to_owned(),
            expected: "true or false",
        }),
    }
}

fn parse_num(
    name: &'static str,
    v: &str,
    range: std::ops::RangeInclusive<u32>,
    expected: &'static str,
) -> Result<u32, ConfigError> {
    v.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or(ConfigError {
            name,
            value: v.to_owned(),
            expected,
        })
}

fn parse_rate(name: &'static str, v: &str) -> Result<Option<Rate>, ConfigError> {
    let err = || ConfigError {
        name,
        value: v.to_owned(),
        expected: "PER_SECOND/BURST (e.g. 5/50) or off",
    };
    if v.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let (per_second, burst) = v.trim().split_once('/').ok_or_else(err)?;
    let per_second: u32 = per_second.trim().parse().map_err(|_| err())?;
    let burst: u32 = burst.trim().parse().map_err(|_| err())?;
    if per_second == 0 || burst == 0 {
        return Err(err());
    }
    Ok(Some(Rate { per_second, burst }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn no_environment_gives_the_documented_defaults() {
        let c = config(&[]).expect("defaults");
        assert!(!c.settings.dry_run);
        assert_eq!(c.settings.concurrency, 8);
        assert_eq!(
            c.settings.update_service_rate,
            Some(Rate {
                per_second: 5,
                burst: 50
            })
        );
        assert_eq!(c.sdk_max_attempts, 5);
    }

    #[test]
    fn every_setting_is_read() {
        let c = config(&[
            ("DRY_RUN", "true"),
            ("MAX_CONCURRENCY", "3"),
            ("UPDATE_SERVICE_RATE", "2/10"),
            ("BACKOFF_ROUNDS", "0"),
            ("DEADLINE_MARGIN_SECS", "30"),
            ("SDK_MAX_ATTEMPTS", "2"),
        ])
        .expect("valid");
        assert!(c.settings.dry_run);
        assert_eq!(c.settings.concurrency, 3);
        assert_eq!(
            c.settings.update_service_rate,
            Some(Rate {
                per_second: 2,
                burst: 10
            })
        );
        assert_eq!(c.settings.backoff.rounds, 0);
        assert_eq!(c.settings.deadline_margin, Duration::from_secs(30));
        assert_eq!(c.sdk_max_attempts, 2);
    }

    #[test]
    fn pacing_can_be_switched_off() {
        assert_eq!(
            config(&[("UPDATE_SERVICE_RATE", "off")])
                .expect("off")
                .settings
                .update_service_rate,
            None
        );
    }

    #[test]
    fn a_bad_value_is_an_error_that_names_the_variable() {
        for (k, v) in [
            ("DRY_RUN", "maybe"),
            ("MAX_CONCURRENCY", "0"),
            ("MAX_CONCURRENCY", "lots"),
            ("UPDATE_SERVICE_RATE", "5"),
            ("UPDATE_SERVICE_RATE", "0/5"),
            ("SDK_MAX_ATTEMPTS", "99"),
        ] {
            let e = config(&[(k, v)]).expect_err(v);
            assert_eq!(e.name, k);
            assert!(e.to_string().contains(v), "{e}");
        }
    }
}
