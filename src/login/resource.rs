//! Which resource server a request goes to, so the login hands back the
//! right one of the tokens it got; and which requests are none of its
//! business.

use http::Uri;

use crate::globus::Service;
use crate::redrive::Origin;

/// Maps request URLs to resource servers, by URL prefix: a rule covers the
/// requests to its scheme, host and port whose path is the rule's path or
/// goes on below it (a rule for `/flows` covers `/flows` and `/flows/x`,
/// never `/flowsevil`). The longest matching rule wins. A URL no rule
/// covers is mapped by a [`Login`](super::Login) only when its host, over
/// https on the default port, names a resource server the login has scope
/// requirements for; any other request passes through the login's layer
/// untouched.
///
/// ```
/// use http::Uri;
/// use tower_gare::login::ResourceServers;
///
/// let map = ResourceServers::new()
///     .with("http://127.0.0.1:9000/v0.10/", "transfer.api.globus.org")
///     .with("http://127.0.0.1:9000/v2/groups", "groups.api.globus.org");
/// let of = |url: &'static str| map.for_uri(&Uri::from_static(url));
/// assert_eq!(of("http://127.0.0.1:9000/v2/groups/my_groups").as_deref(), Some("groups.api.globus.org"));
/// assert_eq!(of("http://127.0.0.1:9000/v2/groupsevil"), None);
/// assert_eq!(of("http://127.0.0.1:9001/v0.10/task_list"), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ResourceServers {
    rules: Vec<Rule>,
    /// The prefixes given to [`with`](ResourceServers::with) that are not
    /// absolute http(s) URLs: [`LoginBuilder::build`](super::LoginBuilder::build)
    /// refuses a map that has any, rather than leave its requests unmapped.
    invalid: Vec<String>,
}

#[derive(Debug, Clone)]
struct Rule {
    origin: Origin,
    /// The path, without a trailing `/` (`""` covers the whole origin).
    path: String,
    resource_server: String,
}

impl Rule {
    fn covers(&self, uri: &Uri) -> bool {
        // The path first: it is the cheaper look, and rules for one origin
        // (Globus's services) differ in it.
        let path = uri.path();
        let below = path.strip_prefix(self.path.as_str()).is_some_and(|rest| {
            // At a segment boundary only: `/flows` is not `/flowsevil`'s.
            rest.is_empty() || rest.starts_with('/')
        });
        below && self.origin.matches(uri)
    }
}

impl ResourceServers {
    /// No rules.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests whose URL starts with `url_prefix` (an absolute `http` or
    /// `https` URL; the prefix ends at a path-segment boundary) go to
    /// `resource_server`. A prefix that is not such a URL makes
    /// [`LoginBuilder::build`](super::LoginBuilder::build) fail with
    /// [`LoginConfigError::InvalidResourceServerRule`](super::LoginConfigError::InvalidResourceServerRule),
    /// naming it (see [`invalid_rules`](ResourceServers::invalid_rules)).
    ///
    /// ```
    /// use tower_gare::login::ResourceServers;
    ///
    /// let map = ResourceServers::new().with("not a url", "x").with("/relative/", "y");
    /// assert_eq!(map.invalid_rules(), ["not a url", "/relative/"]);
    /// ```
    pub fn with(mut self, url_prefix: &str, resource_server: &str) -> Self {
        let parsed = url_prefix.parse::<Uri>().ok().filter(|uri| {
            matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some()
        });
        match parsed {
            Some(uri) => self.rules.push(Rule {
                origin: Origin::from_uri(&uri),
                path: uri.path().trim_end_matches('/').to_owned(),
                resource_server: resource_server.to_owned(),
            }),
            None => self.invalid.push(url_prefix.to_owned()),
        }
        self
    }

    /// The prefixes given to [`with`](ResourceServers::with) that are not
    /// absolute `http`/`https` URLs, as given.
    pub fn invalid_rules(&self) -> &[String] {
        &self.invalid
    }

    /// Rules for the Globus services ([`Service::ALL`]): each one's
    /// [`api_url`](Service::api_url) to its resource server, at the URLs the
    /// environment gives them (`GLOBUS_SDK_ENVIRONMENT`,
    /// `GLOBUS_SDK_SERVICE_URL_*`), so Transfer on a local fake server still
    /// gets Transfer's token. A service in an unknown environment gets no
    /// rule (and so no token), rather than production's.
    ///
    /// ```
    /// use http::Uri;
    /// use tower_gare::globus::Service;
    /// use tower_gare::login::ResourceServers;
    ///
    /// let map = ResourceServers::globus();
    /// # if std::env::var_os("GLOBUS_SDK_ENVIRONMENT").is_none()
    /// #     && std::env::var_os("GLOBUS_SDK_SERVICE_URL_TRANSFER").is_none() {
    /// let uri = Uri::from_static("https://transfer.api.globus.org/v0.10/task_list");
    /// assert_eq!(map.for_uri(&uri).as_deref(), Some(Service::TRANSFER.resource_server()));
    /// # }
    /// ```
    pub fn globus() -> Self {
        Service::ALL
            .iter()
            .filter_map(|service| Some((service.api_url().ok()?, service.resource_server())))
            .fold(Self::new(), |map, (url, resource_server)| {
                map.with(&url, resource_server)
            })
    }

    /// The resource server of the rule that covers `uri`, if one does.
    pub fn for_uri(&self, uri: &Uri) -> Option<String> {
        self.rule_for(uri).map(str::to_owned)
    }

    /// The same, borrowed from the rules: what the credentials step looks
    /// up on every request, without allocating.
    pub(crate) fn rule_for(&self, uri: &Uri) -> Option<&str> {
        self.rules
            .iter()
            .filter(|rule| rule.covers(uri))
            .max_by_key(|rule| rule.path.len())
            .map(|rule| rule.resource_server.as_str())
    }
}
