//! `docker login`'s check: the registry's answer to `GET /v2/` with the
//! credentials. oci-client's auth trusts basic credentials without asking
//! the registry, so this one request is made directly with reqwest.

use std::time::Duration;

use crate::auth::Credentials;
use crate::session::{api_host, is_insecure, speaks_plain_http};
use crate::{error_chain, Options, RegistryError};

pub(crate) async fn check(registry: &str, creds: &Credentials, opts: &Options) -> Result<(), RegistryError> {
    let host = api_host(registry);
    let insecure = is_insecure(registry, opts);
    let scheme = if insecure && speaks_plain_http(host).await { "http" } else { "https" };
    let client = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(insecure)
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| RegistryError::Protocol(error_chain(&e)))?;
    let url = format!("{scheme}://{host}/v2/");
    let transport = |e: reqwest::Error| RegistryError::Transient(format!("Get \"{url}\": {}", error_chain(&e)));
    let res = client.get(&url).basic_auth(&creds.username, Some(&creds.secret)).send().await.map_err(transport)?;
    if res.status().is_success() {
        return Ok(());
    }
    let challenge = res
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if res.status() == reqwest::StatusCode::UNAUTHORIZED && challenge.to_ascii_lowercase().starts_with("bearer ") {
        let realm = param(&challenge, "realm").unwrap_or_default();
        let mut query = vec![("account", creds.username.clone())];
        if let Some(service) = param(&challenge, "service") {
            query.push(("service", service));
        }
        let tok = client
            .get(&realm)
            .query(&query)
            .basic_auth(&creds.username, Some(&creds.secret))
            .send()
            .await
            .map_err(transport)?;
        if tok.status().is_success() {
            return Ok(());
        }
        return Err(RegistryError::Unauthorized {
            what: format!("Get \"{url}\""),
            detail: format!(": token server {realm} answered {}", tok.status()),
        });
    }
    if res.status() == reqwest::StatusCode::UNAUTHORIZED {
        return Err(RegistryError::Unauthorized {
            what: format!("Get \"{url}\""),
            detail: ": incorrect username or password".into(),
        });
    }
    Err(RegistryError::Protocol(format!("Get \"{url}\": {}", res.status())))
}

/// A parameter of a `WWW-Authenticate` challenge: `realm="..."`.
fn param(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let end = challenge[start..].find('"')? + start;
    Some(challenge[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn challenge_params() {
        let c = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#;
        assert_eq!(super::param(c, "realm").as_deref(), Some("https://auth.docker.io/token"));
        assert_eq!(super::param(c, "service").as_deref(), Some("registry.docker.io"));
        assert_eq!(super::param(c, "scope"), None);
    }
}
