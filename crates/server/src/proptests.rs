//! Property tests for every parser that takes text from outside (issue 12): the three filter
//! languages, SCIM PATCH paths and documents, continuation tokens and the `TenantSpec` import.
//! Arbitrary input never panics; what should round-trip does.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::api::graph::odata::{parse_dir_filter, FieldKind};
use crate::api::powerbi::continuation::{percent_encode, ContinuationKey};
use crate::api::powerbi::odata::{parse_activity_filter, parse_admin_filter, parse_filter, GROUP_FIELDS};
use crate::api::scim::filter::{matches, parse_filter as parse_scim_filter, parse_patch_path};
use crate::api::scim::patch::apply_patch;
use crate::domain::{Caller, CallerKind};

/// Text built from the filter languages' own words and symbols, so the parsers get past the
/// tokenizer and deep into the grammar, mixed with arbitrary characters.
fn filter_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("not ".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just(" and ".to_string()),
        Just(" or ".to_string()),
        Just("name eq 'x'".to_string()),
        Just("userName eq \"x\"".to_string()),
        Just("displayName eq 'x'".to_string()),
        Just("contains(name,'a')".to_string()),
        Just("startswith(displayName,'a')".to_string()),
        Just("users/any(u: u/groupUserAccessRight eq 'Admin')".to_string()),
        Just("emails[type eq \"work\"]".to_string()),
        Just(" pr".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(" in ('a','b')".to_string()),
        "[ -~]{0,6}",
        "\\PC{0,3}",
    ];
    prop::collection::vec(piece, 0..60).prop_map(|p| p.concat())
}

const GRAPH_FIELDS: &[crate::api::graph::odata::Field] = &[
    ("displayName", "displayName", FieldKind::Text),
    ("mail", "mail", FieldKind::Text),
    ("accountEnabled", "accountEnabled", FieldKind::Bool),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn filter_parsers_never_panic(text in filter_text()) {
        let _ = parse_filter(&text, GROUP_FIELDS);
        let _ = parse_admin_filter(&text);
        let _ = parse_activity_filter(&text);
        let _ = parse_dir_filter(&text, GRAPH_FIELDS, "microsoft.graph.user");
        if let Ok(f) = parse_scim_filter(&text) {
            let user = json!({"userName": "x", "emails": [{"type": "work", "value": "x"}]});
            let _ = matches(&f, user.as_object().unwrap());
        }
        let _ = parse_patch_path(&text);
    }

    #[test]
    fn nesting_past_the_limit_is_refused_never_a_stack_overflow(depth in 0usize..3000) {
        let pbi = format!("{}name eq 'x'", "not ".repeat(depth));
        prop_assert_eq!(parse_filter(&pbi, GROUP_FIELDS).is_ok(), depth <= crate::domain::filter::MAX_FILTER_DEPTH && pbi.len() <= 4096);
        let graph = format!("{}displayName eq 'x'{}", "(".repeat(depth), ")".repeat(depth));
        let _ = parse_dir_filter(&graph, GRAPH_FIELDS, "microsoft.graph.user");
        let scim = format!("{}userName eq \"x\"{}", "not (".repeat(depth), ")".repeat(depth));
        if depth > crate::domain::filter::MAX_FILTER_DEPTH {
            prop_assert!(parse_scim_filter(&scim).is_err());
        }
    }

    #[test]
    fn scim_patch_never_panics(path in filter_text(), op in prop_oneof![Just("add"), Just("replace"), Just("remove"), Just("Replace"), Just("bogus")],
                               value in prop_oneof![Just(json!(null)), Just(json!("v")), Just(json!(1)), Just(json!({"displayName": "d"})), Just(json!([{"value": "m"}]))]) {
        let mut doc: Map<String, Value> = json!({"userName": "a@b.c", "emails": [{"type": "work", "value": "a@b.c"}], "name": {"givenName": "A"}})
            .as_object().unwrap().clone();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": op, "path": path, "value": value}]});
        let _ = apply_patch(&mut doc, body.as_object().unwrap());
    }

    #[test]
    fn continuation_tokens_round_trip_and_garbage_is_refused(last in any::<i64>(), query in "[ -~]{0,40}", garbage in "\\PC{0,80}", flip in any::<prop::sample::Index>()) {
        let key = ContinuationKey::derive("test key");
        let caller = Caller { tenant_id: Uuid::nil(), object_id: Uuid::nil(), kind: CallerKind::User { upn: "a@b".into() }, scopes: vec![] };
        let token = key.issue("op", &caller, i64::MAX, &query, &last);
        let opened: (String, i64) = key.open(&token, "op", &caller, 0, |_: &String| true).expect("own token opens");
        prop_assert_eq!(opened, (query.clone(), last));
        // As it travels in a URI.
        let encoded = percent_encode(&token);
        prop_assert!(key.open::<String, i64>(&encoded, "op", &caller, 0, |_| true).is_ok());
        // Anything else: refused, never a panic.
        let _ = key.open::<String, i64>(&garbage, "op", &caller, 0, |_| true);
        let mut bytes = token.into_bytes();
        let i = flip.index(bytes.len());
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        prop_assert!(key.open::<String, i64>(&tampered, "op", &caller, 0, |_| true).is_err());
    }

    #[test]
    fn tenant_spec_import_never_panics_and_round_trips(text in prop_oneof![
        "\\PC{0,200}",
        Just(r#"{"name":"t","domain":"t.onmicrosoft.com"}"#.to_string()),
        Just(r#"{"name":"t","domain":"t.onmicrosoft.com","users":[{"upn":"a@t.onmicrosoft.com","displayName":"A"}]}"#.to_string()),
        Just(r#"{"name":1}"#.to_string()),
        Just(r#"{"users":[{"upn":null}]}"#.to_string()),
    ]) {
        if let Ok(spec) = serde_json::from_str::<crate::tenant::TenantSpec>(&text) {
            let again = serde_json::to_string(&spec).unwrap();
            let back: crate::tenant::TenantSpec = serde_json::from_str(&again).expect("a spec reads back what it writes");
            prop_assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(&spec).unwrap());
        }
    }
}
