//! The decision records the `tracing` feature emits: one per response the
//! engine looked at, with its origin, path and outcome, and never a token.
#![cfg(feature = "tracing")]

use std::sync::{Arc, Mutex};

use http::{Request, StatusCode};
use tower::ServiceExt;
use tower_gare::redrive::{GareRedriveLayer, RedriveOutcome};
use tower_gare::testing::{RecordingReauthenticator, ScriptedService};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use crate::support::TOKEN;

/// Every event's fields, as `name=value` text.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl Subscriber for Events {
    fn enabled(&self, _metadata: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _span: &Id, _values: &Record<'_>) {}
    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _span: &Id) {}
    fn exit(&self, _span: &Id) {}
}

#[tokio::test(flavor = "current_thread")]
async fn each_decision_is_recorded_with_its_outcome_and_never_a_token() {
    let events = Events::default();
    let _guard = tracing::subscriber::set_default(events.clone());
    let api = ScriptedService::new().gare_until_authorized(
        StatusCode::FORBIDDEN,
        tower_gare::testing::gares::consent_required(&["transfer:all"]),
        TOKEN,
    );
    let service = tower::Layer::layer(
        &GareRedriveLayer::new(RecordingReauthenticator::returning(TOKEN)),
        api,
    );
    let request = Request::get("https://transfer.example.org/v0.10/ls?secret=q")
        .body(String::new())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::Redriven)
    ));
    let events = events.0.lock().unwrap().clone();
    let decision = events
        .iter()
        .find(|e| e.contains("outcome=Redriven"))
        .unwrap_or_else(|| panic!("no decision record in {events:?}"));
    assert!(
        decision.contains("origin=https://transfer.example.org:443"),
        "{decision}"
    );
    assert!(decision.contains("path=\"/v0.10/ls\""), "{decision}");
    for event in &events {
        assert!(!event.contains(TOKEN), "a token in {event}");
        assert!(!event.contains("secret=q"), "a query in {event}");
    }
}
