//! Which of the known GARE shapes a document has, decided without copying it.

use serde_json::{Map, Value};

use super::legacy::{action_provider_consent, dependent_consent, parameters, transfer_consent};
use super::{canonical, Gare};

/// A document's GARE shape, in the order the reference SDK tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    Canonical,
    LegacyParameters,
    TransferConsent,
    ActionProviderConsent,
    DependentConsent,
}

impl Shape {
    /// The first shape `map` satisfies, or `None`.
    ///
    /// Every shape needs one of three markers (an `authorization_parameters`
    /// object, `code: "ConsentRequired"`, `error: "dependent_consent_required"`),
    /// so a document with none of them is turned away after three lookups.
    pub(super) fn of(map: &Map<String, Value>) -> Option<Shape> {
        let has_params = matches!(map.get("authorization_parameters"), Some(Value::Object(_)));
        let consent = matches!(map.get("code"), Some(Value::String(c)) if c == "ConsentRequired");
        let dependent = map.contains_key("error");
        if has_params {
            if canonical::check(map).is_ok() {
                return Some(Shape::Canonical);
            }
            if parameters::check(map).is_ok() {
                return Some(Shape::LegacyParameters);
            }
        }
        if consent {
            if transfer_consent::check(map).is_ok() {
                return Some(Shape::TransferConsent);
            }
            if action_provider_consent::check(map).is_ok() {
                return Some(Shape::ActionProviderConsent);
            }
        }
        if dependent && dependent_consent::check(map).is_ok() {
            return Some(Shape::DependentConsent);
        }
        None
    }

    /// The GARE of a document that has this shape, built by moving its values.
    pub(super) fn build(self, map: Map<String, Value>) -> Gare {
        match self {
            Shape::Canonical => canonical::build(map),
            Shape::LegacyParameters => parameters::build(map),
            Shape::TransferConsent => transfer_consent::build(map),
            Shape::ActionProviderConsent => action_provider_consent::build(map),
            Shape::DependentConsent => dependent_consent::build(map),
        }
    }
}
