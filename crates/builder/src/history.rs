//! The `created_by` text of an image's history, as BuildKit's
//! dockerfile2llb writes it: Go's `fmt` renderings (`%v` of a string
//! list, `%q` of a list or of the health check struct, a map's sorted
//! keys) of what each instruction did, so that `docker history` reads
//! the same for an image from either builder.

use dockerfile::instructions::{ArgDecl, Command};
use serde_json::Value;

/// Go's `strconv.Quote`: a double-quoted string with Go's escapes.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `%q` of a `[]string`: `["a" "b"]`.
pub fn go_quoted_list(v: &[String]) -> String {
    format!("[{}]", v.iter().map(|s| go_quote(s)).collect::<Vec<_>>().join(" "))
}

/// `%v` of a `[]string`: `[a b]`.
fn go_list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

/// `%q` of an int: Go quotes it as a rune literal (`'\x03'`).
fn go_rune(n: i64) -> String {
    match u32::try_from(n).ok().and_then(char::from_u32) {
        Some('\'') => "'\\''".into(),
        Some('\\') => "'\\\\'".into(),
        Some(c @ ' '..='~') => format!("'{c}'"),
        Some('\x07') => "'\\a'".into(),
        Some('\x08') => "'\\b'".into(),
        Some('\t') => "'\\t'".into(),
        Some('\n') => "'\\n'".into(),
        Some('\x0b') => "'\\v'".into(),
        Some('\x0c') => "'\\f'".into(),
        Some('\r') => "'\\r'".into(),
        Some(c) if (c as u32) < 0x80 => format!("'\\x{:02x}'", c as u32),
        Some(c) => format!("'{c}'"),
        None => format!("%!q(int={n})"),
    }
}

/// Go's `time.Duration.String()` of nanoseconds: `1m30s`, `500ms`, `0s`.
pub fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let ns = ns.unsigned_abs();
    if ns < 1_000_000_000 {
        let (unit, div) = match ns {
            n if n < 1_000 => ("ns", 1),
            n if n < 1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{sign}{}{unit}", fraction(ns, div));
    }
    let (h, rest) = (ns / 3_600_000_000_000, ns % 3_600_000_000_000);
    let (m, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let secs = format!("{}s", fraction(rest, 1_000_000_000));
    match (h, m) {
        (0, 0) => format!("{sign}{secs}"),
        (0, m) => format!("{sign}{m}m{secs}"),
        (h, m) => format!("{sign}{h}h{m}m{secs}"),
    }
}

/// `n / div` with its fraction's trailing zeros dropped, as Go prints.
fn fraction(n: u64, div: u64) -> String {
    let (whole, frac) = (n / div, n % div);
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    format!("{whole}.{}", format!("{frac:0width$}").trim_end_matches('0'))
}

/// An ARG's history text: each declaration as written (`ARG A=1 B`).
pub fn arg(decls: &[ArgDecl]) -> String {
    let one = |d: &ArgDecl| match &d.default {
        Some(v) => format!("{}={v}", d.name),
        None => d.name.clone(),
    };
    format!("ARG {}", decls.iter().map(one).collect::<Vec<_>>().join(" "))
}

/// A RUN's history text: the stage's build args (`|N K=V ...`), then
/// the command as run.
pub fn run(args: &[(String, String)], argv: &[String]) -> String {
    let mut words: Vec<String> = Vec::new();
    if !args.is_empty() {
        words.push(format!("|{}", args.len()));
        words.extend(args.iter().map(|(k, v)| format!("{k}={v}")));
    }
    words.extend(argv.iter().cloned());
    format!("RUN {} # buildkit", words.join(" "))
}

/// The history text of an instruction that only changes the config,
/// from the config it left (`config` is the image config's `config`);
/// None for one BuildKit records no entry for (ONBUILD).
pub fn config_step(cmd: &Command, config: &Value, fallback: String) -> Option<String> {
    let strings = |k: &str| -> Vec<String> {
        config[k]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    Some(match cmd {
        Command::Onbuild(_) => return None,
        Command::Shell(s) => format!("SHELL {}", go_list(s)),
        Command::Volume(v) => format!("VOLUME {}", go_list(v)),
        Command::Cmd(_) => format!("CMD {}", go_quoted_list(&strings("Cmd"))),
        Command::Entrypoint(_) => format!("ENTRYPOINT {}", go_quoted_list(&strings("Entrypoint"))),
        Command::Expose(p) => {
            let keys: Vec<String> = crate::config::port_specs(p).into_iter().map(|k| format!("{k}:{{}}")).collect();
            format!("EXPOSE map[{}]", keys.join(" "))
        }
        Command::Healthcheck(_) => {
            let h = &config["Healthcheck"];
            let d = |k: &str| go_quote(&go_duration(h[k].as_i64().unwrap_or(0)));
            format!(
                "HEALTHCHECK &{{{} {} {} {} {}}}",
                go_quoted_list(
                    &h["Test"].as_array().map_or_else(Vec::new, |a| {
                        a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
                    })
                ),
                d("Interval"),
                d("Timeout"),
                d("StartPeriod"),
                go_rune(h["Retries"].as_i64().unwrap_or(0))
            )
        }
        Command::Workdir(_) => format!("WORKDIR {}", config["WorkingDir"].as_str().unwrap_or("/")),
        _ => fallback,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_renders_as_buildkit_wrote() {
        assert_eq!(go_duration(5_000_000_000), "5s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(500_000_000), "500ms");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_rune(4), "'\\x04'");
        assert_eq!(go_rune(0), "'\\x00'");
        assert_eq!(go_rune(65), "'A'");
        assert_eq!(go_quote("a\"b\\\n"), "\"a\\\"b\\\\\\n\"");
        assert_eq!(go_quoted_list(&["a".into(), "b c".into()]), "[\"a\" \"b c\"]");
    }

    #[test]
    fn history_texts_are_buildkits() {
        let ports = vec!["9000-9002".to_owned(), "80/UDP".to_owned(), "443".to_owned()];
        assert_eq!(
            config_step(&Command::Expose(ports), &Value::Null, String::new()).as_deref(),
            Some("EXPOSE map[443/tcp:{} 80/udp:{} 9000/tcp:{} 9001/tcp:{} 9002/tcp:{}]")
        );
        let hc = serde_json::json!({"Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000i64,
                                    "Timeout": 2_000_000_000i64, "Retries": 4}});
        let cmd = Command::Healthcheck(Default::default());
        assert_eq!(
            config_step(&cmd, &hc, String::new()).as_deref(),
            Some("HEALTHCHECK &{[\"CMD-SHELL\" \"true\"] \"5s\" \"2s\" \"0s\" '\\x04'}")
        );
        assert_eq!(config_step(&Command::Onbuild("RUN x".into()), &Value::Null, String::new()), None);
        let args = [("A".to_owned(), "1".to_owned())];
        assert_eq!(
            run(&args, &["/bin/sh".into(), "-c".into(), "echo $A".into()]),
            "RUN |1 A=1 /bin/sh -c echo $A # buildkit"
        );
        assert_eq!(run(&[], &["true".into()]), "RUN true # buildkit");
    }
}
