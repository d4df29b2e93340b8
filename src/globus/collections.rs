//! Scopes of Globus Connect Server collections: each collection is its own
//! resource server (its id), at its own URL, so only its scopes are here.

use super::id::{uuid, InvalidId};
use super::Service;
use crate::scopes::Scope;

/// `https://auth.globus.org/scopes/<id>/<name>`: how Globus Auth names the
/// scopes of a resource server registered by client id.
pub(super) fn url_scope(id: &str, name: &str) -> Scope {
    Scope::new(format!("https://auth.globus.org/scopes/{id}/{name}"))
}

/// A collection's `data_access` scope: what a mapped collection (non-High-
/// Assurance GCS) asks consent for before Transfer may reach its data. The
/// Python SDK's `GCSCollectionScopes(collection_id).data_access`.
///
/// Usually it goes under Transfer's scope: see [`transfer_data_access`].
///
/// ```
/// use tower_gare::globus;
///
/// let scope = globus::collection_data_access("5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00").unwrap();
/// assert_eq!(
///     scope.to_string(),
///     "https://auth.globus.org/scopes/5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00/data_access",
/// );
/// assert!(globus::collection_data_access("not-a-uuid").is_err());
/// ```
pub fn collection_data_access(collection_id: &str) -> Result<Scope, InvalidId> {
    Ok(url_scope(uuid("collection", collection_id)?, "data_access"))
}

/// A collection's `https` scope: for reading and writing its files over
/// HTTPS at the collection's own URL (the token's resource server is the
/// collection id). The Python SDK's `GCSCollectionScopes(collection_id).https`.
///
/// ```
/// use tower_gare::globus;
///
/// let scope = globus::collection_https("5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00").unwrap();
/// assert_eq!(
///     scope.to_string(),
///     "https://auth.globus.org/scopes/5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00/https",
/// );
/// ```
pub fn collection_https(collection_id: &str) -> Result<Scope, InvalidId> {
    Ok(url_scope(uuid("collection", collection_id)?, "https"))
}

/// Transfer's `all` scope with each collection's `data_access` under it,
/// optional, exactly as the Python SDK's
/// `TransferClient.add_app_data_access_scope(collection_ids)` builds it:
/// so one login consents to Transfer reaching those collections, and a
/// collection the user may not consent to does not fail the whole login.
/// The ids keep their order, and repeats are kept, as the SDK keeps them;
/// no ids give Transfer's `all` alone.
///
/// Give it to [`LoginBuilder::scope_requirements`](crate::login::LoginBuilder::scope_requirements)
/// for Transfer's resource server.
///
/// ```
/// use tower_gare::globus;
///
/// let scope = globus::transfer_data_access(["5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00"]).unwrap();
/// assert_eq!(
///     scope.to_string(),
///     "urn:globus:auth:scope:transfer.api.globus.org:all\
///      [*https://auth.globus.org/scopes/5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00/data_access]",
/// );
/// // One bad id and nothing is built.
/// assert!(globus::transfer_data_access(["5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00", "x[y]"]).is_err());
/// ```
pub fn transfer_data_access(
    collection_ids: impl IntoIterator<Item = impl AsRef<str>>,
) -> Result<Scope, InvalidId> {
    let mut scope = Service::TRANSFER.named_scope("all");
    for id in collection_ids {
        scope = scope.with_dependency(collection_data_access(id.as_ref())?.optional());
    }
    Ok(scope)
}
