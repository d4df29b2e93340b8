//! Which resource server a request goes to, so the login hands back the
//! right one of the tokens it got.

use std::borrow::Cow;

use http::Uri;

use super::environment::{service_url, RESOURCE_SERVERS};
use crate::redrive::Origin;

/// Maps request URIs to resource servers: the longest matching URL prefix
/// wins; with no match, the host name is the resource server
/// (`transfer.api.globus.org` is Transfer's).
///
/// ```
/// use http::Uri;
/// use tower_gare::login::ResourceServers;
///
/// let map = ResourceServers::new()
///     .with("http://127.0.0.1:9000/v0.10/", "transfer.api.globus.org")
///     .with("http://127.0.0.1:9000/v2/groups", "groups.api.globus.org");
/// assert_eq!(map.for_uri(&Uri::from_static("http://127.0.0.1:9000/v2/groups/my_groups")), "groups.api.globus.org");
/// assert_eq!(map.for_uri(&Uri::from_static("https://transfer.api.globus.org/v0.10/task_list")), "transfer.api.globus.org");
/// ```
#[derive(Debug, Clone, Default)]
pub struct ResourceServers {
    rules: Vec<(Origin, String, String)>,
}

impl ResourceServers {
    /// No rules: every request's resource server is its host name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests whose URL starts with `url_prefix` go to `resource_server`.
    pub fn with(mut self, url_prefix: &str, resource_server: &str) -> Self {
        if let Ok(uri) = url_prefix.parse::<Uri>() {
            self.rules.push((
                Origin::from_uri(&uri),
                uri.path().to_owned(),
                resource_server.to_owned(),
            ));
        }
        self
    }

    /// Rules for the Globus services a login hands out tokens for, at the
    /// URLs the environment gives them (`GLOBUS_SDK_ENVIRONMENT`,
    /// `GLOBUS_SDK_SERVICE_URL_*`): so Transfer on a local fake server still
    /// gets Transfer's token.
    pub fn globus() -> Self {
        let mut map = Self::new();
        for (service, resource_server, api_path) in RESOURCE_SERVERS {
            if let Ok(base) = service_url(service) {
                let base = if base.ends_with('/') {
                    base
                } else {
                    format!("{base}/")
                };
                map = map.with(&format!("{base}{api_path}"), resource_server);
            }
        }
        map
    }

    /// The resource server `uri` belongs to.
    pub fn for_uri(&self, uri: &Uri) -> String {
        self.of(uri).into_owned()
    }

    /// The resource server `uri` belongs to, borrowed from the rules when a
    /// rule names it: what the credentials step looks up on every request,
    /// without allocating.
    pub(crate) fn of(&self, uri: &Uri) -> Cow<'_, str> {
        let rule = self
            .rules
            .iter()
            // The path first: it is the cheaper look, and rules for one
            // origin (Globus's services) differ in it.
            .filter(|(origin, path, _)| {
                uri.path().starts_with(path.as_str()) && origin.matches(uri)
            })
            .max_by_key(|(_, path, _)| path.len());
        match rule {
            Some((_, _, resource_server)) => Cow::Borrowed(resource_server),
            None => {
                let host = uri.host().unwrap_or_default();
                if host.bytes().any(|b| b.is_ascii_uppercase()) {
                    Cow::Owned(host.to_ascii_lowercase())
                } else {
                    Cow::Owned(host.to_owned())
                }
            }
        }
    }
}
