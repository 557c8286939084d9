//! docker's `--health-*` flags, merged over the image's check into the
//! engine's `HealthConfig`.

use serde_json::Value;

use engine::health::MIN_DURATION_NS;
pub use engine::health::{Health, HealthConfig};

/// docker's `--health-*` flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HealthArgs {
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "string")]
    pub cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval", value_name = "duration", allow_hyphen_values = true)]
    pub interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries", value_name = "int", allow_negative_numbers = true)]
    pub retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-period", value_name = "duration", allow_hyphen_values = true)]
    pub start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-interval", value_name = "duration", allow_hyphen_values = true)]
    pub start_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout", value_name = "duration", allow_hyphen_values = true)]
    pub timeout: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
}

impl HealthArgs {
    fn any_set(&self) -> bool {
        self.cmd.is_some()
            || self.interval.is_some()
            || self.retries.is_some()
            || self.start_period.is_some()
            || self.start_interval.is_some()
            || self.timeout.is_some()
    }

    /// The container's check: these flags over the image's `Healthcheck`
    /// field by field, as docker merges them. None: no check at all.
    pub fn merge(&self, image: Option<&Value>) -> Result<Option<HealthConfig>, String> {
        if self.no_healthcheck {
            if self.any_set() {
                return Err("--no-healthcheck conflicts with --health-* options".into());
            }
            return Ok(Some(HealthConfig { test: vec!["NONE".into()], ..HealthConfig::default() }));
        }
        let image: Option<HealthConfig> = image.and_then(|v| serde_json::from_value(v.clone()).ok());
        if !self.any_set() {
            return Ok(image);
        }
        let base = image.unwrap_or_default();
        let retries = match self.retries {
            Some(r) if r < 0 => return Err("--health-retries cannot be negative".into()),
            Some(r) => u32::try_from(r).map_err(|_| format!("--health-retries out of range: {r}"))?,
            None => 0,
        };
        let merged = HealthConfig {
            test: self.cmd.as_ref().map_or(base.test, |c| vec!["CMD-SHELL".into(), c.clone()]),
            interval: pick(duration("interval", &self.interval)?, base.interval),
            timeout: pick(duration("timeout", &self.timeout)?, base.timeout),
            start_period: pick(duration("start-period", &self.start_period)?, base.start_period),
            start_interval: pick(duration("start-interval", &self.start_interval)?, base.start_interval),
            retries: if retries == 0 { base.retries } else { retries },
        };
        Ok(Some(merged))
    }
}

fn pick(flag: u64, image: u64) -> u64 {
    if flag == 0 {
        image
    } else {
        flag
    }
}

/// A `--health-NAME` duration in nanoseconds (0 if not given).
fn duration(name: &str, value: &Option<String>) -> Result<u64, String> {
    let Some(v) = value else { return Ok(0) };
    if v.starts_with('-') {
        return Err(format!("--health-{name} cannot be negative"));
    }
    let ns = dockerfile::instructions::parse_duration(v)
        .map_err(|e| format!("invalid argument {v:?} for \"--health-{name}\" flag: {e}"))?;
    if ns > 0 && ns < MIN_DURATION_NS {
        let field = match name {
            "start-period" => "StartPeriod",
            "start-interval" => "StartInterval",
            "timeout" => "Timeout",
            _ => "Interval",
        };
        return Err(format!("{field} in Healthcheck cannot be less than 1ms"));
    }
    Ok(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_image_field_by_field() {
        let image = serde_json::json!({"Test": ["CMD", "true"], "Interval": 5_000_000_000u64, "Retries": 2});
        let flags = HealthArgs { timeout: Some("2s".into()), ..HealthArgs::default() };
        let merged = flags.merge(Some(&image)).expect("merges").expect("a check");
        assert_eq!(merged.test, vec!["CMD", "true"]);
        assert_eq!((merged.interval, merged.timeout, merged.retries), (5_000_000_000, 2_000_000_000, 2));
        let flags = HealthArgs { cmd: Some("curl -f x".into()), ..HealthArgs::default() };
        let merged = flags.merge(Some(&image)).expect("merges").expect("a check");
        assert_eq!(merged.argv(), vec!["/bin/sh", "-c", "curl -f x"]);
        let none = HealthArgs { no_healthcheck: true, ..HealthArgs::default() };
        assert!(!none.merge(Some(&image)).expect("merges").expect("NONE").active());
        assert_eq!(HealthArgs::default().merge(None), Ok(None));
    }

    #[test]
    fn bad_flags_are_refused_as_docker_does() {
        let both = HealthArgs { no_healthcheck: true, cmd: Some("true".into()), ..HealthArgs::default() };
        assert_eq!(both.merge(None), Err("--no-healthcheck conflicts with --health-* options".into()));
        let negative = HealthArgs { retries: Some(-1), ..HealthArgs::default() };
        assert_eq!(negative.merge(None), Err("--health-retries cannot be negative".into()));
        let tiny = HealthArgs { interval: Some("10us".into()), ..HealthArgs::default() };
        assert_eq!(tiny.merge(None), Err("Interval in Healthcheck cannot be less than 1ms".into()));
        let neg = HealthArgs { timeout: Some("-1s".into()), ..HealthArgs::default() };
        assert_eq!(neg.merge(None), Err("--health-timeout cannot be negative".into()));
    }
}
