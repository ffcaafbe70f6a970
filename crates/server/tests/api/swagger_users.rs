//! Microsoft's Swagger against the server: every user-management operation (every path with
//! `/users`) is served, and calls built from its schemas with real ids of the fixture tenant get
//! no server error.
//!
//! `data/powerbi-swagger-users.json` is the subset of Microsoft's `sdk/swaggers/swagger.json`
//! (microsoft/PowerBI-CSharp, commit 4ad33dd6, MIT) holding those paths and the definitions they
//! reference, with the examples left out.

use serde_json::{json, Map, Value};

use crate::backend_test_with;
use crate::helpers::{upn, TestApp};

const SWAGGER: &str = include_str!("data/powerbi-swagger-users.json");

fn swagger() -> Value {
    serde_json::from_str(SWAGGER).expect("the Swagger subset is JSON")
}

/// Every (method, path, operationId) of the subset.
fn operations(swagger: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in swagger["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method != "parameters" {
                out.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    out
}

#[test]
fn every_swagger_user_operation_is_in_the_operation_table_and_built() {
    let swagger = swagger();
    let ops = operations(&swagger);
    assert_eq!(ops.len(), 30, "Microsoft's Swagger has 30 operations on paths with /users");
    let routes = pbi_server::api::powerbi::routes();
    for (method, path, op) in &ops {
        let route = routes
            .iter()
            .find(|r| r.op.method == method && r.op.path == path)
            .unwrap_or_else(|| panic!("{method} {path} ({}) is not in the routing table", op["operationId"]));
        assert!(route.handler.is_some(), "{method} {path} answers 501");
        assert!(route.op.id.starts_with(op["operationId"].as_str().unwrap()), "{} vs {}", route.op.id, op["operationId"]);
    }
}

/// A value for `schema`, with real names where the property says what it is.
fn example(swagger: &Value, schema: &Value, name: &str) -> Value {
    if let Some(r) = schema["$ref"].as_str() {
        let def = &swagger["definitions"][r.trim_start_matches("#/definitions/")];
        return example(swagger, def, name);
    }
    if let Some(enum_values) = schema["enum"].as_array() {
        let pick = enum_values.iter().find(|v| *v != "None").or(enum_values.first()).cloned().unwrap_or(Value::Null);
        return if name == "principalType" { json!("User") } else { pick };
    }
    let mut props = Map::new();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        if let Value::Object(m) = example(swagger, part, name) {
            props.extend(m);
        }
    }
    if let Some(properties) = schema["properties"].as_object() {
        for (key, prop) in properties {
            props.insert(key.clone(), example(swagger, prop, key));
        }
    }
    if !props.is_empty() {
        return Value::Object(props);
    }
    match (schema["type"].as_str(), schema["format"].as_str()) {
        (Some("string"), Some("uuid")) => json!(uuid::Uuid::new_v4()),
        (Some("string"), Some("date-time")) => json!("2024-01-01T00:00:00Z"),
        (Some("string"), _) if matches!(name, "identifier" | "emailAddress") => json!(upn("viewer")),
        (Some("string"), _) => json!("pbi-access"),
        (Some("boolean"), _) => json!(false),
        (Some("integer"), _) | (Some("number"), _) => json!(1),
        (Some("array"), _) => json!([]),
        _ => json!({}),
    }
}

/// A real id of the fixture for a path parameter.
fn path_value(app: &TestApp, name: &str) -> String {
    let pick = |kind: &str, item: &str| app.artifact("Team", kind, item).to_string();
    match name {
        "groupId" => app.ws("Team").to_string(),
        "datasetId" => pick("Dataset", "Sales"),
        "reportId" => pick("Report", "Sales Report"),
        "dashboardId" => pick("Dashboard", "Pulse"),
        "dataflowId" => pick("Dataflow", "Prep"),
        "appId" => pick("App", "Team App"),
        "capacityId" => app.fixture.capacities["Fixture F64"].to_string(),
        "pipelineId" => app.fixture.pipelines["Release"].to_string(),
        "gatewayId" => app.fixture.gateways["On-premises"].to_string(),
        "datasourceId" => app.fixture.datasources[&("On-premises".to_string(), "Warehouse".to_string())].to_string(),
        "userId" => app.user_id("viewer").to_string(),
        "user" | "identifier" | "emailAdress" => upn("viewer"),
        other => panic!("no fixture value for path parameter {other}"),
    }
}

backend_test_with!(
    swagger_user_operations_with_real_ids_get_no_server_error,
    |c: &mut pbi_server::config::Config| c.throttling.enabled = false,
    |app: TestApp| async move {
        let swagger = swagger();
        let callers = [("owner", app.user_token("owner").await), ("admin", app.user_token("admin").await), ("app", app.app_token().await)];
        let mut seen = Vec::new();
        for (caller, token) in &callers {
            for (method, path, op) in operations(&swagger) {
                let mut url = path.clone();
                let mut body = None;
                for param in op["parameters"].as_array().into_iter().flatten() {
                    let name = param["name"].as_str().unwrap();
                    match param["in"].as_str() {
                        Some("path") => url = url.replace(&format!("{{{name}}}"), &path_value(&app, name)),
                        Some("body") => body = Some(example(&swagger, &param["schema"], name)),
                        _ => {}
                    }
                }
                let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
                let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
                let (status, answer, _) = app.call(method.clone(), &url, Some(token), body, &[]).await;
                assert!(status < 500, "{caller}: {method} {url} ({}) answered {status}: {answer}", op["operationId"]);
                seen.push(status);
            }
        }
        // Not everything is refused: each caller gets through somewhere.
        assert!(seen.iter().filter(|s| **s == 200).count() >= 20, "{seen:?}");
    }
);
