//! Authorization requirements compared and combined: the one place that
//! decides when two GAREs ask for the same thing, what a login asking for
//! both must carry, and whether a finished login met a requirement.
//!
//! Session requirements (identities, policies, domains, MFA) are sets: their
//! order in a GARE means nothing, and a login that meets them all meets any
//! subset.

use super::AuthorizationParameters;

impl AuthorizationParameters {
    /// The parameters in a canonical form, for comparing two requirements:
    /// the identity, policy, domain and scope lists sorted, without
    /// duplicates, and no `session_message` (text for people, no
    /// requirement). Unset lists stay unset, and MFA, `prompt` and the extra
    /// parameters are kept as they are.
    ///
    /// ```
    /// use tower_gare::gare::AuthorizationParameters;
    ///
    /// let a = AuthorizationParameters {
    ///     session_message: Some("please log in".into()),
    ///     required_scopes: Some(vec!["b".into(), "a".into(), "b".into()]),
    ///     ..Default::default()
    /// };
    /// let b = AuthorizationParameters {
    ///     required_scopes: Some(vec!["a".into(), "b".into()]),
    ///     ..Default::default()
    /// };
    /// assert_eq!(a.normalized(), b.normalized());
    /// assert_eq!(a.normalized().required_scopes.unwrap(), ["a", "b"]);
    /// ```
    pub fn normalized(&self) -> AuthorizationParameters {
        let mut out = self.clone();
        out.session_message = None;
        for list in [
            &mut out.session_required_identities,
            &mut out.session_required_policies,
            &mut out.session_required_single_domain,
            &mut out.required_scopes,
        ]
        .into_iter()
        .flatten()
        {
            list.sort_unstable();
            list.dedup();
        }
        out
    }

    /// Adds `other`'s session requirements to these, so that one login
    /// meets both: the identities, policies and domains not already here
    /// (appended in `other`'s order), MFA if either asks for it, and
    /// `other`'s `prompt` only when these have none (the first one asked
    /// stands). Scopes, the message and the extra parameters are left alone.
    ///
    /// ```
    /// use tower_gare::gare::AuthorizationParameters;
    ///
    /// let mut mine = AuthorizationParameters {
    ///     session_required_policies: Some(vec!["p1".into()]),
    ///     prompt: Some("login".into()),
    ///     ..Default::default()
    /// };
    /// mine.merge_session(&AuthorizationParameters {
    ///     session_required_policies: Some(vec!["p2".into(), "p1".into()]),
    ///     session_required_mfa: Some(true),
    ///     prompt: Some("none".into()),
    ///     ..Default::default()
    /// });
    /// assert_eq!(mine.session_required_policies.unwrap(), ["p1", "p2"]);
    /// assert_eq!(mine.session_required_mfa, Some(true));
    /// assert_eq!(mine.prompt.as_deref(), Some("login"));
    /// ```
    pub fn merge_session(&mut self, other: &AuthorizationParameters) {
        for (mine, theirs) in [
            (
                &mut self.session_required_identities,
                &other.session_required_identities,
            ),
            (
                &mut self.session_required_policies,
                &other.session_required_policies,
            ),
            (
                &mut self.session_required_single_domain,
                &other.session_required_single_domain,
            ),
        ] {
            for value in theirs.iter().flatten() {
                let list = mine.get_or_insert_with(Vec::new);
                if !list.contains(value) {
                    list.push(value.clone());
                }
            }
        }
        if other.session_required_mfa == Some(true) {
            self.session_required_mfa = Some(true);
        }
        if self.prompt.is_none() {
            self.prompt.clone_from(&other.prompt);
        }
    }

    /// Whether a login made with these session requirements met what
    /// `wanted` asks: every identity, policy and domain it names, MFA if it
    /// asks for MFA, and its `prompt` if it has one. An unset list asks for
    /// nothing; scopes are not compared (consent is not a session's).
    ///
    /// ```
    /// use tower_gare::gare::AuthorizationParameters;
    ///
    /// let done = AuthorizationParameters {
    ///     session_required_identities: Some(vec!["id1".into(), "id2".into()]),
    ///     session_required_mfa: Some(true),
    ///     ..Default::default()
    /// };
    /// let wanted = AuthorizationParameters {
    ///     session_required_identities: Some(vec!["id2".into()]),
    ///     ..Default::default()
    /// };
    /// assert!(done.covers_session(&wanted));
    /// assert!(!wanted.covers_session(&done));
    /// ```
    pub fn covers_session(&self, wanted: &AuthorizationParameters) -> bool {
        let within = |want: &Option<Vec<String>>, have: &Option<Vec<String>>| {
            let have = have.as_deref().unwrap_or_default();
            want.iter().flatten().all(|w| have.contains(w))
        };
        within(
            &wanted.session_required_identities,
            &self.session_required_identities,
        ) && within(
            &wanted.session_required_policies,
            &self.session_required_policies,
        ) && within(
            &wanted.session_required_single_domain,
            &self.session_required_single_domain,
        ) && (wanted.session_required_mfa != Some(true) || self.session_required_mfa == Some(true))
            && (wanted.prompt.is_none() || self.prompt == wanted.prompt)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::AuthorizationParameters;

    fn list(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn normalized_sorts_dedups_and_forgets_the_message() {
        let mut params = AuthorizationParameters {
            session_message: Some("hi".into()),
            session_required_identities: list(&["b", "a", "b"]),
            session_required_policies: list(&["z", "y"]),
            session_required_single_domain: list(&["d", "d"]),
            required_scopes: list(&["s2", "s1"]),
            session_required_mfa: Some(false),
            prompt: Some("login".into()),
            ..Default::default()
        };
        params.extra.insert("x".into(), json!(1));
        let normal = params.normalized();
        assert_eq!(normal.session_message, None);
        assert_eq!(normal.session_required_identities, list(&["a", "b"]));
        assert_eq!(normal.session_required_policies, list(&["y", "z"]));
        assert_eq!(normal.session_required_single_domain, list(&["d"]));
        assert_eq!(normal.required_scopes, list(&["s1", "s2"]));
        assert_eq!(normal.session_required_mfa, Some(false));
        assert_eq!(normal.prompt.as_deref(), Some("login"));
        assert_eq!(normal.extra["x"], 1);
        assert_eq!(normal.normalized(), normal, "idempotent");
    }

    #[test]
    fn normalized_keeps_unset_and_empty_apart() {
        let unset = AuthorizationParameters::default();
        let empty = AuthorizationParameters {
            required_scopes: Some(Vec::new()),
            ..Default::default()
        };
        assert_ne!(unset.normalized(), empty.normalized());
    }

    #[test]
    fn merge_session_unions_ors_and_keeps_the_first_prompt() {
        let mut mine = AuthorizationParameters {
            session_message: Some("mine".into()),
            session_required_identities: list(&["i1"]),
            session_required_mfa: Some(false),
            required_scopes: list(&["s1"]),
            ..Default::default()
        };
        let theirs = AuthorizationParameters {
            session_message: Some("theirs".into()),
            session_required_identities: list(&["i2", "i1"]),
            session_required_single_domain: list(&["example.org"]),
            session_required_mfa: Some(true),
            required_scopes: list(&["s2"]),
            prompt: Some("login".into()),
            ..Default::default()
        };
        mine.merge_session(&theirs);
        assert_eq!(mine.session_required_identities, list(&["i1", "i2"]));
        assert_eq!(mine.session_required_policies, None);
        assert_eq!(mine.session_required_single_domain, list(&["example.org"]));
        assert_eq!(mine.session_required_mfa, Some(true));
        assert_eq!(mine.prompt.as_deref(), Some("login"));
        // Not session requirements: left alone.
        assert_eq!(mine.session_message.as_deref(), Some("mine"));
        assert_eq!(mine.required_scopes, list(&["s1"]));

        mine.merge_session(&AuthorizationParameters {
            prompt: Some("none".into()),
            session_required_mfa: Some(false),
            ..Default::default()
        });
        assert_eq!(
            mine.prompt.as_deref(),
            Some("login"),
            "the first prompt stands"
        );
        assert_eq!(
            mine.session_required_mfa,
            Some(true),
            "MFA is never taken back"
        );
    }

    #[test]
    fn merge_session_adds_no_empty_lists() {
        let mut mine = AuthorizationParameters::default();
        mine.merge_session(&AuthorizationParameters {
            session_required_policies: Some(Vec::new()),
            session_required_mfa: Some(false),
            ..Default::default()
        });
        assert_eq!(mine, AuthorizationParameters::default());
    }

    #[test]
    fn covers_session_asks_for_every_item_mfa_and_the_prompt() {
        let done = AuthorizationParameters {
            session_required_identities: list(&["i1", "i2"]),
            session_required_policies: list(&["p1"]),
            session_required_mfa: Some(true),
            prompt: Some("login".into()),
            ..Default::default()
        };
        let nothing = AuthorizationParameters::default();
        assert!(done.covers_session(&nothing));
        assert!(nothing.covers_session(&nothing));
        let wanted = |f: fn(&mut AuthorizationParameters)| {
            let mut params = AuthorizationParameters::default();
            f(&mut params);
            params
        };
        assert!(done.covers_session(&wanted(|p| p.session_required_identities = list(&["i2"]))));
        assert!(!done.covers_session(&wanted(|p| p.session_required_identities = list(&["i3"]))));
        assert!(!done.covers_session(&wanted(|p| p.session_required_single_domain = list(&["d"]))));
        assert!(done.covers_session(&wanted(|p| p.session_required_single_domain = Some(vec![]))));
        assert!(done.covers_session(&wanted(|p| p.session_required_mfa = Some(true))));
        assert!(!nothing.covers_session(&wanted(|p| p.session_required_mfa = Some(true))));
        assert!(nothing.covers_session(&wanted(|p| p.session_required_mfa = Some(false))));
        assert!(done.covers_session(&wanted(|p| p.prompt = Some("login".into()))));
        assert!(!done.covers_session(&wanted(|p| p.prompt = Some("none".into()))));
        // Scopes are consent, not a session's.
        assert!(nothing.covers_session(&wanted(|p| p.required_scopes = list(&["s"]))));
    }
}
