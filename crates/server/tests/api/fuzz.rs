//! A fuzzing pass over the whole HTTP surface (issue 12): requests generated from the routing
//! tables (Power BI, identity, SCIM, Graph, the same tables `docs/compatibility.md` is written
//! from), with boundary and random path ids, query values and bodies, each sent with the
//! dialect's credentials and without. No answer may be a 5xx, except 501 for an operation
//! pbi-access does not build.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;

use crate::backend_test_with;
use crate::helpers::*;

const PATH_VALUES: &[&str] = &[
    "",
    "00000000-0000-0000-0000-000000000000",
    "not-a-guid",
    "%00",
    "%FF%FE",
    "..",
    "'",
    "%27%20or%201%3D1",
    "%C3%A9",
    "null",
    "-1",
    "99999999999999999999",
    "a%2Fb",
];

const QUERIES: &[&str] = &[
    "",
    "?$top=-1",
    "?$top=99999999999999999999",
    "?$top=abc&$skip=-5",
    "?$filter=",
    "?$filter=%28%28%28",
    "?$filter=name%20eq%20%27",
    "?$filter=not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20not%20name%20eq%20%27a%27",
    "?$expand=users,reports,nothing&$select=x",
    "?continuationToken=garbage",
    "?continuationToken=%27AAAA%27",
    "?startDateTime=%272026-13-45T99:00:00Z%27&endDateTime=%27x%27",
    "?filter=userName%20eq&startIndex=0&count=-1",
    "?$skiptoken=%%%&$count=true",
    "?$search=%22displayName:%22",
    "?%ZZ=1&&&=",
];

const BODIES: &[&str] = &[
    "{}",
    "[]",
    "null",
    "{",
    "\"text\"",
    "{\"identifier\":null,\"principalType\":\"User\",\"groupUserAccessRight\":\"Admin\"}",
    "{\"emailAddress\":\"x@y\",\"groupUserAccessRight\":\"Owner\"}",
    "{\"name\":\"\"}",
    "{\"userName\":12,\"active\":\"maybe\"}",
    "{\"Operations\":[{\"op\":\"replace\",\"path\":\"emails[type eq \\\"work\\\"].value\",\"value\":1}]}",
    "{\"workspaces\":[\"x\"],\"datasetSchema\":7}",
    "{\"@odata.id\":\"https://graph.microsoft.com/v1.0/directoryObjects/x\"}",
    "{\"addLicenses\":[{\"skuId\":\"nope\"}],\"removeLicenses\":\"x\"}",
    "grant_type=password&username=&password=&client_id=x&scope=",
];

fn fill(path: &str, rng: &mut StdRng, tenant: &str, known: &[String]) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map(|e| start + e + 1).unwrap_or(rest.len());
        let name = &rest[start + 1..end - 1];
        let value = if name == "tenant" && rng.gen_bool(0.8) {
            tenant.to_string()
        } else if rng.gen_bool(0.3) {
            known[rng.gen_range(0..known.len())].clone()
        } else if rng.gen_bool(0.1) {
            "x".repeat(rng.gen_range(200..3000))
        } else {
            PATH_VALUES[rng.gen_range(0..PATH_VALUES.len())].to_string()
        };
        out.push_str(&value);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

backend_test_with!(
    no_generated_request_gets_a_5xx,
    |c: &mut pbi_server::config::Config| c.throttling.enabled = false,
    |app: TestApp| async move {
        let mut ops: Vec<pbi_wire::ops::Op> = pbi_wire::ops::powerbi::ALL.to_vec();
        ops.extend(pbi_wire::ops::identity::ALL);
        ops.extend(pbi_server::api::scim::routes_summary());
        ops.extend(pbi_server::api::graph::routes_summary());
        let admin = app.user_token("admin").await;
        let graph = app.graph_app_token().await;
        let tenant = app.tenant_id().to_string();
        let known = vec![
            app.ws("Team").to_string(),
            app.user_id("member").to_string(),
            upn("member"),
            app.artifact("Team", "Dataset", "Sales").to_string(),
            app.app_id().to_string(),
        ];
        let mut rng = StdRng::seed_from_u64(12);
        let http = reqwest::Client::new();
        let (mut sent, mut failures) = (0usize, Vec::new());
        let started = std::time::Instant::now();
        for op in &ops {
            for _ in 0..10 {
                let path = fill(op.path, &mut rng, &tenant, &known);
                let query = QUERIES[rng.gen_range(0..QUERIES.len())];
                let method = if rng.gen_bool(0.9) { op.method } else { ["GET", "POST", "PATCH", "DELETE", "PUT"][rng.gen_range(0..5)] };
                let mut request = http.request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(&format!("{path}{query}")));
                let credential = if path.contains("/scim/v2") {
                    Some(SCIM_SECRET)
                } else if path.starts_with("/graph") {
                    Some(graph.as_str())
                } else {
                    Some(admin.as_str())
                };
                if let Some(c) = credential.filter(|_| rng.gen_bool(0.85)) {
                    request = request.bearer_auth(c);
                }
                if method != "GET" && rng.gen_bool(0.8) {
                    let body = if rng.gen_bool(0.1) {
                        "[".repeat(rng.gen_range(100..5000))
                    } else {
                        BODIES[rng.gen_range(0..BODIES.len())].to_string()
                    };
                    let ct = ["application/json", "application/scim+json", "application/x-www-form-urlencoded", "text/plain"]
                        [rng.gen_range(0..4)];
                    request = request.header("content-type", ct).body(body);
                }
                let response = request.send().await.unwrap_or_else(|e| panic!("{method} {path}{query}: {e}"));
                sent += 1;
                let status = response.status().as_u16();
                if status >= 500 && status != 501 {
                    failures.push(format!(
                        "{status} {method} {}{query}: {}",
                        &path[..path.len().min(120)],
                        response.text().await.unwrap_or_default()
                    ));
                }
            }
        }
        println!("fuzz: {sent} requests over {} operations in {:?}, {} 5xx", ops.len(), started.elapsed(), failures.len());
        assert!(failures.is_empty(), "{} of {sent} generated requests got a 5xx:\n{}", failures.len(), failures.join("\n"));
    }
);
