//! Where Globus services are, found the way the Python SDK finds them.
//!
//! ```
//! use tower_gare::login::environment::service_url_in;
//!
//! // GLOBUS_SDK_ENVIRONMENT=sandbox, or GLOBUS_SDK_SERVICE_URL_AUTH=http://127.0.0.1:8000/
//! // for a local fake: `service_url("auth")` reads both.
//! assert_eq!(service_url_in("auth", "sandbox").unwrap(), "https://auth.sandbox.globuscs.info/");
//! ```

use std::fmt;

/// The variable that picks the environment (`production` when unset).
pub const ENVIRONMENT_VAR: &str = "GLOBUS_SDK_ENVIRONMENT";

/// An environment name the SDK does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEnvironment(pub String);

impl fmt::Display for UnknownEnvironment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unrecognized Globus environment {:?} (known: production, preview, sandbox, integration, test, staging)", self.0)
    }
}

impl std::error::Error for UnknownEnvironment {}

/// The base URL of `service` (`auth`, `transfer`, `groups`, `flows`,
/// `timer`, `search`, ...; [`Service::name`](crate::globus::Service::name)
/// for the services the crate knows) in the environment `GLOBUS_SDK_ENVIRONMENT`
/// names, unless `GLOBUS_SDK_SERVICE_URL_<SERVICE>` overrides it; exactly
/// as `globus_sdk.config.get_service_url` does. The URL ends in `/`.
///
/// ```
/// use tower_gare::login::environment::service_url_in;
///
/// assert_eq!(service_url_in("auth", "production").unwrap(), "https://auth.globus.org/");
/// assert_eq!(service_url_in("transfer", "sandbox").unwrap(), "https://transfer.api.sandbox.globuscs.info/");
/// assert_eq!(service_url_in("flows", "preview").unwrap(), "https://preview.flows.automate.globus.org/");
/// assert!(service_url_in("auth", "moon").is_err());
/// ```
pub fn service_url(service: &str) -> Result<String, UnknownEnvironment> {
    let var = format!("GLOBUS_SDK_SERVICE_URL_{}", service.to_ascii_uppercase());
    if let Some(url) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
        return Ok(url);
    }
    let environment = std::env::var(ENVIRONMENT_VAR).unwrap_or_else(|_| "production".to_owned());
    service_url_in(service, &environment)
}

/// The base URL of `service` in the named environment, ignoring overrides.
pub fn service_url_in(service: &str, environment: &str) -> Result<String, UnknownEnvironment> {
    let domain = match environment {
        "production" => "globus.org",
        "preview" => "preview.globus.org",
        "sandbox" | "integration" | "test" | "staging" => {
            return Ok(generic_url(
                service,
                environment,
                &format!("{environment}.globuscs.info"),
            ))
        }
        other => return Err(UnknownEnvironment(other.to_owned())),
    };
    if environment == "production" {
        let special = match service {
            "nexus" => Some("https://nexus.api.globusonline.org/"),
            "timer" => Some("https://timer.automate.globus.org/"),
            "flows" => Some("https://flows.automate.globus.org/"),
            "actions" => Some("https://actions.automate.globus.org/"),
            _ => None,
        };
        if let Some(url) = special {
            return Ok(url.to_owned());
        }
    }
    Ok(generic_url(service, environment, domain))
}

fn generic_url(service: &str, environment: &str, domain: &str) -> String {
    match service {
        "app" | "auth" => format!("https://{service}.{domain}/"),
        "actions" | "flows" | "timer" => {
            format!("https://{environment}.{service}.automate.globus.org/")
        }
        _ => format!("https://{service}.api.{domain}/"),
    }
}
