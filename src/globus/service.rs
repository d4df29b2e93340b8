//! The Globus services: what each one is called, which resource server its
//! tokens are for, which scopes it needs, and where it is.

use super::collections::url_scope;
use crate::login::environment::{service_url, service_url_in, UnknownEnvironment};
use crate::scopes::Scope;

/// A Globus service: Auth, Transfer, Groups, Search, Flows, Timers or
/// Compute, with its resource server, its default scopes and its URL in
/// each environment, as globus-sdk 4.10 has them.
///
/// ```
/// use tower_gare::globus::Service;
///
/// let transfer = Service::named("transfer").unwrap();
/// assert_eq!(transfer, Service::TRANSFER);
/// assert_eq!(transfer.resource_server(), "transfer.api.globus.org");
/// assert_eq!(
///     transfer.default_scopes()[0].to_string(),
///     "urn:globus:auth:scope:transfer.api.globus.org:all",
/// );
/// assert_eq!(transfer.base_url_in("sandbox").unwrap(), "https://transfer.api.sandbox.globuscs.info/");
/// ```
// `Eq` too: a `match` on the constants (as the `globus_api` example does)
// needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Service {
    /// Its name in `globus_sdk.config` (`timer` for Timers).
    name: &'static str,
    resource_server: &'static str,
    /// How its scopes are named: a URN on its resource server, or a URL
    /// on a client id (Flows, Timers and Compute break the convention).
    scope_form: ScopeForm,
    /// The names of the scopes the Python client registers with its app.
    default_scopes: &'static [&'static str],
    /// Where under the base URL its API is: the prefix a request must have
    /// to get this service's token. Groups' is narrower than `v2/` because
    /// a local fake may serve Auth (`v2/`) on the same port.
    api_path: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ScopeForm {
    Urn,
    Url(&'static str),
}

impl Service {
    /// Globus Auth. Its default scopes are OpenID Connect's `openid`,
    /// `profile` and `email` (`AuthClient`'s).
    ///
    /// ```
    /// # use tower_gare::globus::Service;
    /// let scopes: Vec<String> = Service::AUTH.default_scopes().iter().map(|s| s.to_string()).collect();
    /// assert_eq!(scopes, ["openid", "profile", "email"]);
    /// ```
    pub const AUTH: Service = Service {
        name: "auth",
        resource_server: "auth.globus.org",
        scope_form: ScopeForm::Urn,
        default_scopes: &["openid", "profile", "email"],
        api_path: "v2/",
    };

    /// Globus Transfer (`TransferScopes.all`).
    ///
    /// ```
    /// # use tower_gare::globus::Service;
    /// assert_eq!(Service::TRANSFER.api_url_in("production").unwrap(), "https://transfer.api.globus.org/v0.10/");
    /// ```
    pub const TRANSFER: Service = Service {
        name: "transfer",
        resource_server: "transfer.api.globus.org",
        scope_form: ScopeForm::Urn,
        default_scopes: &["all"],
        api_path: "v0.10/",
    };

    /// Globus Groups. Its default scope is
    /// `view_my_groups_and_memberships` (`GroupsClient`'s), not `all`.
    ///
    /// ```
    /// # use tower_gare::globus::Service;
    /// assert_eq!(
    ///     Service::GROUPS.default_scopes()[0].to_string(),
    ///     "urn:globus:auth:scope:groups.api.globus.org:view_my_groups_and_memberships",
    /// );
    /// ```
    pub const GROUPS: Service = Service {
        name: "groups",
        resource_server: "groups.api.globus.org",
        scope_form: ScopeForm::Urn,
        default_scopes: &["view_my_groups_and_memberships"],
        api_path: "v2/groups/",
    };

    /// Globus Search. Its default scope is `search` (`SearchClient`'s).
    ///
    /// ```
    /// # use tower_gare::globus::Service;
    /// assert_eq!(
    ///     Service::SEARCH.default_scopes()[0].to_string(),
    ///     "urn:globus:auth:scope:search.api.globus.org:search",
    /// );
    /// ```
    pub const SEARCH: Service = Service {
        name: "search",
        resource_server: "search.api.globus.org",
        scope_form: ScopeForm::Urn,
        default_scopes: &["search"],
        api_path: "v1/",
    };

    /// Globus Flows, the service (`FlowsScopes.all`); a run of one flow
    /// needs that flow's own scope, [`flow_user`](super::flow_user).
    ///
    /// ```
    /// # use tower_gare::globus::Service;
    /// assert_eq!(Service::FLOWS.resource_server(), "flows.globus.org");
    /// assert_eq!(
    ///     Service::FLOWS.default_scopes()[0].to_string(),
    ///     "https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/all",
    /// );
    /// ```
    pub const FLOWS: Service = Service {
        name: "flows",
        resource_server: "flows.globus.org",
        scope_form: ScopeForm::Url("eec9b274-0c81-4334-bdc2-54e90e689b9a"),
        default_scopes: &["all"],
        api_path: "",
    };

    /// Globus Timers (`TimersScopes.timer`); its environment name is
    /// `timer` (`GLOBUS_SDK_SERVICE_URL_TIMER`).
    ///
    /// ```
    /// # use tower_gare::globus::Service;
    /// assert_eq!(Service::TIMERS.name(), "timer");
    /// assert_eq!(Service::TIMERS.base_url_in("production").unwrap(), "https://timer.automate.globus.org/");
    /// ```
    pub const TIMERS: Service = Service {
        name: "timer",
        resource_server: "524230d7-ea86-4a52-8312-86065a9e0417",
        scope_form: ScopeForm::Url("524230d7-ea86-4a52-8312-86065a9e0417"),
        default_scopes: &["timer"],
        api_path: "",
    };

    /// Globus Compute (`ComputeScopes.all`); its resource server is
    /// `funcx_service`.
    ///
    /// ```
    /// # use tower_gare::globus::Service;
    /// assert_eq!(Service::COMPUTE.resource_server(), "funcx_service");
    /// assert_eq!(
    ///     Service::COMPUTE.default_scopes()[0].to_string(),
    ///     "https://auth.globus.org/scopes/facd7ccc-c5f4-42aa-916b-a0e270e2c2a9/all",
    /// );
    /// ```
    pub const COMPUTE: Service = Service {
        name: "compute",
        resource_server: "funcx_service",
        scope_form: ScopeForm::Url("facd7ccc-c5f4-42aa-916b-a0e270e2c2a9"),
        default_scopes: &["all"],
        api_path: "",
    };

    /// Every service above: the crate's one table of them (the login's
    /// [`ResourceServers::globus`](crate::login::ResourceServers::globus)
    /// is built from it).
    ///
    /// ```
    /// # use tower_gare::globus::Service;
    /// let names: Vec<&str> = Service::ALL.iter().map(|s| s.name()).collect();
    /// assert_eq!(names, ["auth", "transfer", "groups", "search", "flows", "timer", "compute"]);
    /// ```
    pub const ALL: [Service; 7] = [
        Self::AUTH,
        Self::TRANSFER,
        Self::GROUPS,
        Self::SEARCH,
        Self::FLOWS,
        Self::TIMERS,
        Self::COMPUTE,
    ];

    /// Its name in the environment's configuration, as the Python SDK's
    /// `service_name` and `GLOBUS_SDK_SERVICE_URL_<NAME>` use it: `timer`
    /// for Timers, otherwise the service's own name.
    ///
    /// ```
    /// # use tower_gare::globus::Service;
    /// assert_eq!(Service::GROUPS.name(), "groups");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The service of that name: a [`name`](Service::name), or `timers`
    /// for Timers (what people call it).
    ///
    /// ```
    /// # use tower_gare::globus::Service;
    /// assert_eq!(Service::named("timers"), Some(Service::TIMERS));
    /// assert_eq!(Service::named("timer"), Some(Service::TIMERS));
    /// assert_eq!(Service::named("nexus"), None);
    /// ```
    pub fn named(name: &str) -> Option<Service> {
        let name = if name == "timers" { "timer" } else { name };
        Self::ALL.into_iter().find(|service| service.name == name)
    }

    /// The resource server its tokens are for (the Python client's
    /// `resource_server`).
    ///
    /// ```
    /// # use tower_gare::globus::Service;
    /// assert_eq!(Service::TIMERS.resource_server(), "524230d7-ea86-4a52-8312-86065a9e0417");
    /// ```
    pub fn resource_server(&self) -> &'static str {
        self.resource_server
    }

    /// The scopes the Python client registers with its `GlobusApp` when it
    /// is given none (its `default_scope_requirements`).
    ///
    /// ```
    /// use tower_gare::globus::Service;
    /// use tower_gare::login::Login;
    ///
    /// let service = Service::TRANSFER;
    /// let builder = Login::builder("client id")
    ///     .scope_requirements(service.resource_server(), service.default_scopes());
    /// # let _ = builder;
    /// ```
    pub fn default_scopes(&self) -> Vec<Scope> {
        self.default_scopes
            .iter()
            .map(|name| self.named_scope(name))
            .collect()
    }

    /// The service's scope called `name`, named as Globus Auth names it: a
    /// URN on the resource server (`urn:globus:auth:scope:<resource
    /// server>:<name>`), or for Flows, Timers and Compute a URL on their
    /// client id (`https://auth.globus.org/scopes/<client id>/<name>`).
    /// Auth's OpenID Connect scopes (`openid`, `profile`, `email`) are
    /// their bare names. Whether the service has such a scope is not
    /// checked: Globus Auth says so at login.
    ///
    /// A `name` that is empty or has a character outside ASCII letters,
    /// digits, `_`, `-` and `.` would make a malformed scope string: it is
    /// an [`InvalidScopeName`].
    ///
    /// ```
    /// # use tower_gare::globus::Service;
    /// # fn main() -> Result<(), tower_gare::globus::InvalidScopeName> {
    /// assert_eq!(Service::GROUPS.scope("all")?.to_string(), "urn:globus:auth:scope:groups.api.globus.org:all");
    /// assert_eq!(
    ///     Service::FLOWS.scope("run_status")?.to_string(),
    ///     "https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/run_status",
    /// );
    /// assert_eq!(Service::AUTH.scope("openid")?.to_string(), "openid");
    /// assert_eq!(
    ///     Service::AUTH.scope("view_identity_set")?.to_string(),
    ///     "urn:globus:auth:scope:auth.globus.org:view_identity_set",
    /// );
    /// assert!(Service::GROUPS.scope("all[*x]").is_err());
    /// # Ok(()) }
    /// ```
    pub fn scope(&self, name: &str) -> Result<Scope, InvalidScopeName> {
        let well_formed = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !well_formed {
            return Err(InvalidScopeName {
                name: name.to_owned(),
            });
        }
        Ok(self.named_scope(name))
    }

    /// The scope called `name`, one of the crate's own names (checked by
    /// the tests, not at run time).
    pub(crate) fn named_scope(&self, name: &str) -> Scope {
        if *self == Self::AUTH && matches!(name, "openid" | "profile" | "email") {
            return Scope::new(name);
        }
        match self.scope_form {
            ScopeForm::Urn => Scope::new(format!(
                "urn:globus:auth:scope:{}:{name}",
                self.resource_server
            )),
            ScopeForm::Url(client_id) => url_scope(client_id, name),
        }
    }

    /// Its base URL in the environment `GLOBUS_SDK_ENVIRONMENT` names
    /// (production when unset), unless `GLOBUS_SDK_SERVICE_URL_<NAME>`
    /// overrides it (then as given): `globus_sdk.config.get_service_url`.
    ///
    /// ```
    /// # use tower_gare::globus::Service;
    /// // With neither variable set, production's.
    /// # if std::env::var_os("GLOBUS_SDK_ENVIRONMENT").is_none()
    /// #     && std::env::var_os("GLOBUS_SDK_SERVICE_URL_SEARCH").is_none() {
    /// assert_eq!(Service::SEARCH.base_url().unwrap(), "https://search.api.globus.org/");
    /// # }
    /// ```
    pub fn base_url(&self) -> Result<String, UnknownEnvironment> {
        service_url(self.name)
    }

    /// Its base URL in the named environment (`production`, `preview`,
    /// `sandbox`, `integration`, `test`, `staging`), ignoring the
    /// variables.
    ///
    /// ```
    /// # use tower_gare::globus::Service;
    /// assert_eq!(Service::FLOWS.base_url_in("preview").unwrap(), "https://preview.flows.automate.globus.org/");
    /// assert!(Service::FLOWS.base_url_in("moon").is_err());
    /// ```
    pub fn base_url_in(&self, environment: &str) -> Result<String, UnknownEnvironment> {
        service_url_in(self.name, environment)
    }

    /// Where its API is: [`base_url`](Service::base_url) and the path this
    /// crate maps to the service's resource server
    /// ([`ResourceServers::globus`](crate::login::ResourceServers::globus)):
    /// Auth's `v2/`, Transfer's `v0.10/`, Groups' `v2/groups/`, Search's
    /// `v1/`; the base URL itself for Flows, Timers and Compute. Always ends
    /// in `/`.
    ///
    /// ```
    /// # use tower_gare::globus::Service;
    /// # if std::env::var_os("GLOBUS_SDK_ENVIRONMENT").is_none()
    /// #     && std::env::var_os("GLOBUS_SDK_SERVICE_URL_GROUPS").is_none() {
    /// assert_eq!(Service::GROUPS.api_url().unwrap(), "https://groups.api.globus.org/v2/groups/");
    /// # }
    /// ```
    pub fn api_url(&self) -> Result<String, UnknownEnvironment> {
        self.base_url().map(|base| self.under(base))
    }

    /// The same in the named environment, ignoring the variables.
    ///
    /// ```
    /// # use tower_gare::globus::Service;
    /// assert_eq!(Service::AUTH.api_url_in("sandbox").unwrap(), "https://auth.sandbox.globuscs.info/v2/");
    /// assert_eq!(Service::TIMERS.api_url_in("test").unwrap(), "https://test.timer.automate.globus.org/");
    /// ```
    pub fn api_url_in(&self, environment: &str) -> Result<String, UnknownEnvironment> {
        self.base_url_in(environment).map(|base| self.under(base))
    }

    /// `base` (which an override may give without its `/`) and the API path.
    fn under(&self, mut base: String) -> String {
        if !base.ends_with('/') {
            base.push('/');
        }
        base.push_str(self.api_path);
        base
    }
}

/// A scope name [`Service::scope`] refused: it would make a malformed scope
/// string (empty, or a character outside ASCII letters, digits, `_`, `-`
/// and `.`).
///
/// ```
/// # use tower_gare::globus::Service;
/// let error = Service::TRANSFER.scope("all files").unwrap_err();
/// assert_eq!(error.name(), "all files");
/// assert_eq!(error.to_string(), "\"all files\" is not a scope name");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidScopeName {
    name: String,
}

impl InvalidScopeName {
    /// The name as given.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Display for InvalidScopeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Quoted and escaped: it is the caller's input.
        write!(f, "{:?} is not a scope name", self.name)
    }
}

impl std::error::Error for InvalidScopeName {}
