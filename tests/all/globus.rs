//! The `globus` module against globus-sdk 4.10.0: every service's resource
//! server, default scopes and URL in every environment, and the scopes of
//! collections and flows, pinned here as the SDK computed them; and, when
//! a Python with the SDK is at hand (`GLOBUS_SDK_PYTHON`, else
//! `target/ci-venv/bin/python`), computed again by it for more ids.
#![cfg(feature = "login")]

use http::Uri;
use serde_json::{json, Value};
use tower_gare::globus::{self, Service};
use tower_gare::login::ResourceServers;
use tower_gare::scopes::{self, Scope};

use crate::token_file_python::{python, sdk_python, show_version};

const C1: &str = "5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00";
const C2: &str = "0f6c1b2a-3e4d-4c5b-8a9f-112233445566";
const FLOW: &str = "9d3b5a7e-2c1f-4e8d-b6a0-abcdef012345";

fn strings(scopes: &[Scope]) -> Vec<String> {
    scopes.iter().map(Scope::to_string).collect()
}

/// (name, resource server, default scopes), from the SDK's clients'
/// `service_name`, `resource_server` and `default_scope_requirements`.
const SERVICES: [(&str, &str, &[&str]); 7] = [
    ("auth", "auth.globus.org", &["openid", "profile", "email"]),
    (
        "transfer",
        "transfer.api.globus.org",
        &["urn:globus:auth:scope:transfer.api.globus.org:all"],
    ),
    (
        "groups",
        "groups.api.globus.org",
        &["urn:globus:auth:scope:groups.api.globus.org:view_my_groups_and_memberships"],
    ),
    (
        "search",
        "search.api.globus.org",
        &["urn:globus:auth:scope:search.api.globus.org:search"],
    ),
    (
        "flows",
        "flows.globus.org",
        &["https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/all"],
    ),
    (
        "timer",
        "524230d7-ea86-4a52-8312-86065a9e0417",
        &["https://auth.globus.org/scopes/524230d7-ea86-4a52-8312-86065a9e0417/timer"],
    ),
    (
        "compute",
        "funcx_service",
        &["https://auth.globus.org/scopes/facd7ccc-c5f4-42aa-916b-a0e270e2c2a9/all"],
    ),
];

#[test]
fn each_service_is_the_sdks() {
    assert_eq!(Service::ALL.len(), SERVICES.len());
    for (service, (name, resource_server, defaults)) in Service::ALL.iter().zip(SERVICES) {
        assert_eq!(service.name(), name);
        assert_eq!(Service::named(name), Some(*service));
        assert_eq!(service.resource_server(), resource_server, "{name}");
        assert_eq!(strings(&service.default_scopes()), defaults, "{name}");
    }
    let named = [
        ("auth", Service::AUTH),
        ("transfer", Service::TRANSFER),
        ("groups", Service::GROUPS),
        ("search", Service::SEARCH),
        ("flows", Service::FLOWS),
        ("timers", Service::TIMERS),
        ("timer", Service::TIMERS),
        ("compute", Service::COMPUTE),
    ];
    for (name, service) in named {
        assert_eq!(Service::named(name), Some(service), "{name}");
    }
    for unknown in ["", "Transfer", "nexus", "actions", "gcs", "timers "] {
        assert_eq!(Service::named(unknown), None, "{unknown:?}");
    }
}

/// `get_service_url(name, environment)` for every service, in the order
/// of `Service::ALL`.
const URLS: [(&str, [&str; 7]); 6] = [
    (
        "production",
        [
            "https://auth.globus.org/",
            "https://transfer.api.globus.org/",
            "https://groups.api.globus.org/",
            "https://search.api.globus.org/",
            "https://flows.automate.globus.org/",
            "https://timer.automate.globus.org/",
            "https://compute.api.globus.org/",
        ],
    ),
    (
        "preview",
        [
            "https://auth.preview.globus.org/",
            "https://transfer.api.preview.globus.org/",
            "https://groups.api.preview.globus.org/",
            "https://search.api.preview.globus.org/",
            "https://preview.flows.automate.globus.org/",
            "https://preview.timer.automate.globus.org/",
            "https://compute.api.preview.globus.org/",
        ],
    ),
    (
        "sandbox",
        [
            "https://auth.sandbox.globuscs.info/",
            "https://transfer.api.sandbox.globuscs.info/",
            "https://groups.api.sandbox.globuscs.info/",
            "https://search.api.sandbox.globuscs.info/",
            "https://sandbox.flows.automate.globus.org/",
            "https://sandbox.timer.automate.globus.org/",
            "https://compute.api.sandbox.globuscs.info/",
        ],
    ),
    (
        "integration",
        [
            "https://auth.integration.globuscs.info/",
            "https://transfer.api.integration.globuscs.info/",
            "https://groups.api.integration.globuscs.info/",
            "https://search.api.integration.globuscs.info/",
            "https://integration.flows.automate.globus.org/",
            "https://integration.timer.automate.globus.org/",
            "https://compute.api.integration.globuscs.info/",
        ],
    ),
    (
        "test",
        [
            "https://auth.test.globuscs.info/",
            "https://transfer.api.test.globuscs.info/",
            "https://groups.api.test.globuscs.info/",
            "https://search.api.test.globuscs.info/",
            "https://test.flows.automate.globus.org/",
            "https://test.timer.automate.globus.org/",
            "https://compute.api.test.globuscs.info/",
        ],
    ),
    (
        "staging",
        [
            "https://auth.staging.globuscs.info/",
            "https://transfer.api.staging.globuscs.info/",
            "https://groups.api.staging.globuscs.info/",
            "https://search.api.staging.globuscs.info/",
            "https://staging.flows.automate.globus.org/",
            "https://staging.timer.automate.globus.org/",
            "https://compute.api.staging.globuscs.info/",
        ],
    ),
];

#[test]
fn base_urls_are_the_sdks_in_every_environment() {
    for (environment, urls) in URLS {
        for (service, url) in Service::ALL.iter().zip(urls) {
            assert_eq!(service.base_url_in(environment).unwrap(), url);
        }
    }
    let error = Service::AUTH.base_url_in("moon").unwrap_err();
    assert_eq!(error.0, "moon");
}

#[test]
fn api_urls_are_the_base_url_and_the_api_path() {
    let paths = ["v2/", "v0.10/", "v2/groups/", "v1/", "", "", ""];
    for (environment, urls) in URLS {
        for ((service, url), path) in Service::ALL.iter().zip(urls).zip(paths) {
            let api = service.api_url_in(environment).unwrap();
            assert_eq!(api, format!("{url}{path}"));
            assert!(api.ends_with('/'));
        }
    }
}

/// The login's map of Globus's services is built from `Service::ALL`: a
/// request under each service's API URL gets its resource server.
#[test]
fn the_logins_globus_map_is_the_services() {
    let map = ResourceServers::globus();
    for service in Service::ALL {
        let Ok(api) = service.api_url() else { continue };
        let uri: Uri = format!("{api}x").parse().unwrap();
        assert_eq!(
            map.for_uri(&uri).as_deref(),
            Some(service.resource_server()),
            "{api}"
        );
    }
}

#[test]
fn service_scopes_are_named_as_globus_auth_names_them() {
    let cases = [
        (Service::AUTH, "openid", "openid"),
        (Service::AUTH, "email", "email"),
        (
            Service::AUTH,
            "view_identity_set",
            "urn:globus:auth:scope:auth.globus.org:view_identity_set",
        ),
        (
            Service::TRANSFER,
            "gcp_install",
            "urn:globus:auth:scope:transfer.api.globus.org:gcp_install",
        ),
        (
            Service::GROUPS,
            "all",
            "urn:globus:auth:scope:groups.api.globus.org:all",
        ),
        (
            Service::SEARCH,
            "ingest",
            "urn:globus:auth:scope:search.api.globus.org:ingest",
        ),
        (
            Service::FLOWS,
            "run_manage",
            "https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/run_manage",
        ),
        (
            Service::TIMERS,
            "timer",
            "https://auth.globus.org/scopes/524230d7-ea86-4a52-8312-86065a9e0417/timer",
        ),
        (
            Service::COMPUTE,
            "all",
            "https://auth.globus.org/scopes/facd7ccc-c5f4-42aa-916b-a0e270e2c2a9/all",
        ),
    ];
    for (service, name, scope) in cases {
        assert_eq!(service.scope(name).unwrap().to_string(), scope);
    }
}

#[test]
fn a_scope_name_that_would_break_the_string_is_an_error() {
    for bad in ["", "a b", "a[b]", "*a", "a\"", "a\n"] {
        let error = Service::GROUPS.scope(bad).unwrap_err();
        assert_eq!(error.name(), bad);
        assert!(!error.to_string().contains('\n'), "{error}");
        assert_eq!(error.to_string(), format!("{bad:?} is not a scope name"));
    }
}

#[test]
fn collection_and_flow_scopes_are_the_sdks() {
    assert_eq!(
        globus::collection_data_access(C1).unwrap().to_string(),
        "https://auth.globus.org/scopes/5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00/data_access"
    );
    assert_eq!(
        globus::collection_https(C1).unwrap().to_string(),
        "https://auth.globus.org/scopes/5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00/https"
    );
    assert_eq!(
        globus::flow_user(FLOW).unwrap().to_string(),
        "https://auth.globus.org/scopes/9d3b5a7e-2c1f-4e8d-b6a0-abcdef012345/flow_9d3b5a7e_2c1f_4e8d_b6a0_abcdef012345_user"
    );
    // TransferClient.add_app_data_access_scope: one id, two, none, a repeat.
    assert_eq!(
        globus::transfer_data_access([C1]).unwrap().to_string(),
        "urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00/data_access]"
    );
    assert_eq!(
        globus::transfer_data_access(vec![C1.to_owned(), C2.to_owned()]).unwrap().to_string(),
        "urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00/data_access *https://auth.globus.org/scopes/0f6c1b2a-3e4d-4c5b-8a9f-112233445566/data_access]"
    );
    assert_eq!(
        globus::transfer_data_access(Vec::<&str>::new())
            .unwrap()
            .to_string(),
        "urn:globus:auth:scope:transfer.api.globus.org:all"
    );
    assert_eq!(
        globus::transfer_data_access([C1, C1]).unwrap().to_string(),
        "urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00/data_access *https://auth.globus.org/scopes/5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00/data_access]"
    );
    // SpecificFlowClient.add_app_transfer_data_access_scope.
    assert_eq!(
        globus::flow_transfer_data_access(FLOW, [C1, C2]).unwrap().to_string(),
        "https://auth.globus.org/scopes/9d3b5a7e-2c1f-4e8d-b6a0-abcdef012345/flow_9d3b5a7e_2c1f_4e8d_b6a0_abcdef012345_user[*urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00/data_access *https://auth.globus.org/scopes/0f6c1b2a-3e4d-4c5b-8a9f-112233445566/data_access]]"
    );
    assert_eq!(
        globus::flow_transfer_data_access(FLOW, [""; 0]).unwrap().to_string(),
        "https://auth.globus.org/scopes/9d3b5a7e-2c1f-4e8d-b6a0-abcdef012345/flow_9d3b5a7e_2c1f_4e8d_b6a0_abcdef012345_user[*urn:globus:auth:scope:transfer.api.globus.org:all]"
    );
}

/// What the builders make is one scope to the crate's own parser, whose
/// optional marks and nesting are the builders'.
#[test]
fn built_scopes_parse_back_to_themselves() {
    let built = globus::flow_transfer_data_access(FLOW, [C1, C2]).unwrap();
    let parsed = scopes::parse(&built.to_string()).unwrap();
    assert_eq!(parsed, [built]);
}

#[test]
fn an_id_that_is_not_a_uuid_builds_no_scope() {
    let bad = [
        "",
        " ",
        "my collection",
        "5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00 openid",
        "5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00]",
        "[5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00",
        "\"5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00\"",
        "*5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00",
        // Python's uuid.UUID takes these, and the SDK puts them in the
        // scope as given, where Globus Auth has no such scope.
        "{5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00}",
        "urn:uuid:5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00",
        "5a2e3c1a1d774f5e9c6b0b7d3f2e1a00",
    ];
    for id in bad {
        let error = globus::collection_data_access(id).unwrap_err();
        assert_eq!(error.id(), id);
        assert!(error.to_string().starts_with("collection id "), "{error}");
        assert!(globus::collection_https(id).is_err());
        assert!(globus::transfer_data_access([C1, id]).is_err());
        let error = globus::flow_user(id).unwrap_err();
        assert!(error.to_string().starts_with("flow id "), "{error}");
        assert!(globus::flow_transfer_data_access(id, [C1]).is_err());
        assert!(globus::flow_transfer_data_access(FLOW, [id]).is_err());
    }
    // Control characters are escaped in the message, never printed raw.
    let error = globus::collection_data_access("\u{1b}[2J").unwrap_err();
    assert!(!error.to_string().contains('\u{1b}'));
}

/// What the installed SDK computes for the same inputs, and more ids.
const SDK: &str = r#"
import json, sys
import globus_sdk as g
from globus_sdk.config import get_service_url
from globus_sdk.scopes import GCSCollectionScopes, SpecificFlowScopes
args = json.load(sys.stdin)
clients = [g.AuthClient, g.TransferClient, g.GroupsClient, g.SearchClient,
           g.FlowsClient, g.TimersClient, g.ComputeClientV3]
services = []
for c in clients:
    defaults = c.default_scope_requirements
    if isinstance(defaults, property):
        defaults = defaults.fget(None)
    urls = {e: get_service_url(c.service_name, e) for e in args["environments"]}
    services.append({"name": c.service_name, "resource_server": c.resource_server,
                     "defaults": [str(s) for s in defaults], "urls": urls})
added = []
class Stub:
    def add_app_scope(self, scope):
        added.append(str(scope))
        return self
out = {"services": services, "data_access": [], "https": [], "user": [],
       "transfer": [], "flow": []}
for i in args["ids"]:
    out["data_access"].append(str(GCSCollectionScopes(i).data_access))
    out["https"].append(str(GCSCollectionScopes(i).https))
    out["user"].append(str(SpecificFlowScopes(i).user))
for ids in args["lists"]:
    g.TransferClient.add_app_data_access_scope(Stub(), ids)
    out["transfer"].append(added.pop())
    stub = Stub()
    stub.scopes = SpecificFlowScopes(args["ids"][0])
    g.SpecificFlowClient.add_app_transfer_data_access_scope(stub, ids)
    out["flow"].append(added.pop())
print(json.dumps(out))
"#;

#[test]
fn the_python_sdk_agrees() {
    const TEST: &str = "globus::the_python_sdk_agrees";
    let Some(py) = sdk_python(TEST) else { return };
    show_version(&py, TEST);
    let environments: Vec<&str> = URLS.iter().map(|(e, _)| *e).collect();
    let ids = [
        FLOW,
        C1,
        C2,
        "00000000-0000-0000-0000-000000000000",
        "FFFFFFFF-AAAA-BBBB-CCCC-0123456789AB",
    ];
    let lists: Vec<Vec<&str>> = vec![
        vec![],
        vec![C1],
        vec![C1, C2],
        vec![C2, C1, C2],
        ids.to_vec(),
    ];
    let sdk = python(
        &py,
        SDK,
        &json!({"environments": environments, "ids": ids, "lists": lists}),
    );
    let services = sdk["services"].as_array().unwrap();
    assert_eq!(services.len(), Service::ALL.len());
    for (service, theirs) in Service::ALL.iter().zip(services) {
        assert_eq!(theirs["name"], service.name());
        assert_eq!(theirs["resource_server"], service.resource_server());
        assert_eq!(
            theirs["defaults"],
            json!(strings(&service.default_scopes()))
        );
        for environment in &environments {
            assert_eq!(
                theirs["urls"][environment],
                service.base_url_in(environment).unwrap(),
                "{} in {environment}",
                service.name()
            );
        }
    }
    let column = |key: &str| -> Vec<String> {
        sdk[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let ours = |f: fn(&str) -> Result<Scope, globus::InvalidId>| -> Vec<String> {
        ids.iter().map(|id| f(id).unwrap().to_string()).collect()
    };
    assert_eq!(column("data_access"), ours(globus::collection_data_access));
    assert_eq!(column("https"), ours(globus::collection_https));
    assert_eq!(column("user"), ours(globus::flow_user));
    let transfer: Vec<String> = lists
        .iter()
        .map(|ids| globus::transfer_data_access(ids).unwrap().to_string())
        .collect();
    assert_eq!(column("transfer"), transfer);
    let flow: Vec<String> = lists
        .iter()
        .map(|l| {
            globus::flow_transfer_data_access(ids[0], l)
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(column("flow"), flow);
    let _: Value = sdk;
}
