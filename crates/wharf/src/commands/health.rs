//! docker's `--health-*` flags, into the API's `Healthcheck` (the engine
//! merges it over the image's check).

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

    /// The API's `Healthcheck` these flags ask for, as docker's CLI builds
    /// it: None (the image's check), `["NONE"]` (`--no-healthcheck`), or
    /// the fields given (zeros are the image's; the engine merges).
    pub fn to_api(&self) -> Result<Option<engine::api::HealthConfig>, String> {
        if self.no_healthcheck {
            if self.any_set() {
                return Err("--no-healthcheck conflicts with --health-* options".into());
            }
            return Ok(Some(engine::api::HealthConfig { test: Some(vec!["NONE".into()]), ..Default::default() }));
        }
        if !self.any_set() {
            return Ok(None);
        }
        if self.retries.is_some_and(|r| r < 0) {
            return Err("--health-retries cannot be negative".into());
        }
        Ok(Some(engine::api::HealthConfig {
            test: self.cmd.as_ref().map(|c| vec!["CMD-SHELL".into(), c.clone()]),
            interval: duration("interval", &self.interval)?,
            timeout: duration("timeout", &self.timeout)?,
            start_period: duration("start-period", &self.start_period)?,
            start_interval: duration("start-interval", &self.start_interval)?,
            retries: self.retries,
        }))
    }
}

/// A `--health-NAME` duration in nanoseconds (None if not given).
fn duration(name: &str, value: &Option<String>) -> Result<Option<i64>, String> {
    let Some(v) = value else { return Ok(None) };
    if v.starts_with('-') {
        return Err(format!("--health-{name} cannot be negative"));
    }
    let ns = dockerfile::instructions::parse_duration(v)
        .map_err(|e| format!("invalid argument {v:?} for \"--health-{name}\" flag: {e}"))?;
    Ok(Some(ns as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_the_apis_healthcheck() {
        let flags = HealthArgs { timeout: Some("2s".into()), ..HealthArgs::default() };
        let h = flags.to_api().expect("valid").expect("a check");
        assert_eq!((h.test, h.timeout, h.interval), (None, Some(2_000_000_000), None));
        let flags = HealthArgs { cmd: Some("curl -f x".into()), ..HealthArgs::default() };
        assert_eq!(
            flags.to_api().expect("valid").expect("valid").test,
            Some(vec!["CMD-SHELL".into(), "curl -f x".into()])
        );
        let none = HealthArgs { no_healthcheck: true, ..HealthArgs::default() };
        assert_eq!(none.to_api().expect("valid").expect("valid").test, Some(vec!["NONE".into()]));
        assert_eq!(HealthArgs::default().to_api(), Ok(None));
    }

    #[test]
    fn bad_flags_are_refused_as_docker_does() {
        let both = HealthArgs { no_healthcheck: true, cmd: Some("true".into()), ..HealthArgs::default() };
        assert_eq!(both.to_api(), Err("--no-healthcheck conflicts with --health-* options".into()));
        let negative = HealthArgs { retries: Some(-1), ..HealthArgs::default() };
        assert_eq!(negative.to_api(), Err("--health-retries cannot be negative".into()));
        let neg = HealthArgs { timeout: Some("-1s".into()), ..HealthArgs::default() };
        assert_eq!(neg.to_api(), Err("--health-timeout cannot be negative".into()));
    }
}
