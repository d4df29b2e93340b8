//! Scopes of one flow: Flows runs each flow as a resource server of its
//! own (the flow's id), so a run needs the flow's scope, not Flows'.

use super::collections::{transfer_data_access, url_scope};
use super::id::{uuid, InvalidId};
use crate::scopes::Scope;

/// A flow's `user` scope: what starting a run of that flow needs (the
/// token's resource server is the flow id). The Python SDK's
/// `SpecificFlowScopes(flow_id).user`, which is `SpecificFlowClient`'s
/// default scope.
///
/// ```
/// use tower_gare::globus;
///
/// let scope = globus::flow_user("9d3b5a7e-2c1f-4e8d-b6a0-abcdef012345").unwrap();
/// assert_eq!(
///     scope.to_string(),
///     "https://auth.globus.org/scopes/9d3b5a7e-2c1f-4e8d-b6a0-abcdef012345/\
///      flow_9d3b5a7e_2c1f_4e8d_b6a0_abcdef012345_user",
/// );
/// assert!(globus::flow_user("").is_err());
/// ```
pub fn flow_user(flow_id: &str) -> Result<Scope, InvalidId> {
    let id = uuid("flow", flow_id)?;
    let name = format!("flow_{}_user", id.replace('-', "_"));
    Ok(url_scope(id, &name))
}

/// A flow's `user` scope with Transfer's `all` under it, optional, and each
/// collection's `data_access` under that, optional: what the Python SDK's
/// `SpecificFlowClient.add_app_transfer_data_access_scope(collection_ids)`
/// builds, so a run that moves data on those (mapped, non-High-Assurance)
/// collections does not stop for consent.
///
/// ```
/// use tower_gare::globus;
///
/// let scope = globus::flow_transfer_data_access(
///     "9d3b5a7e-2c1f-4e8d-b6a0-abcdef012345",
///     ["5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00"],
/// )
/// .unwrap();
/// assert_eq!(
///     scope.to_string(),
///     "https://auth.globus.org/scopes/9d3b5a7e-2c1f-4e8d-b6a0-abcdef012345/\
///      flow_9d3b5a7e_2c1f_4e8d_b6a0_abcdef012345_user\
///      [*urn:globus:auth:scope:transfer.api.globus.org:all\
///      [*https://auth.globus.org/scopes/5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00/data_access]]",
/// );
/// ```
pub fn flow_transfer_data_access(
    flow_id: &str,
    collection_ids: impl IntoIterator<Item = impl AsRef<str>>,
) -> Result<Scope, InvalidId> {
    let user = flow_user(flow_id)?;
    Ok(user.with_dependency(transfer_data_access(collection_ids)?.optional()))
}
