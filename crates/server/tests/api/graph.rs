//! Microsoft Graph over HTTP, on both backends: users, deleted items, groups and members,
//! licenses with seats and propagation, errors, tenant isolation.

use std::time::Duration;

use pbi_server::Clock;
use reqwest::Method;
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::*;

const PRO: &str = "f8a1db68-be16-40ed-86d5-cb42ce701560";
const PPU: &str = "c1d032e0-5619-4761-9b5c-75b6831e1711";

#[track_caller]
fn assert_graph_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], json!(want_code), "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(body["error"]["innerError"]["request-id"].as_str().is_some_and(|r| !r.is_empty()), "{body}");
    assert!(body["error"]["innerError"]["date"].is_string(), "{body}");
}

fn new_user(local: &str) -> Value {
    json!({
        "accountEnabled": true,
        "displayName": format!("New {local}"),
        "mailNickname": local,
        "userPrincipalName": upn(local),
        "passwordProfile": {"forceChangePasswordNextSignIn": false, "password": PASSWORD},
        "usageLocation": "US"
    })
}

backend_test!(graph_needs_a_token_and_writes_need_privileges, |app: TestApp| async move {
    let (s, b, h) = app.call(Method::GET, "/graph/v1.0/users", None, None, &[]).await;
    assert_graph_error(s, &b, 401, "InvalidAuthenticationToken");
    assert!(h.get("www-authenticate").is_some());
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(b["error"]["innerError"]["request-id"].as_str().unwrap(), h["requestid"].to_str().unwrap());
    let (s, b, _) = app.call(Method::GET, "/graph/v1.0/users", Some("not.a.jwt"), None, &[]).await;
    assert_graph_error(s, &b, 401, "InvalidAuthenticationToken");
    // A user's Graph token reads, but may not write (no Global Administrator role).
    let token = app.user_token_scoped("admin", "https://graph.microsoft.com/.default").await;
    let (s, b, _) = app.call(Method::GET, "/graph/v1.0/users?$top=1", Some(&token), None, &[]).await;
    assert_eq!(s, 200, "{b}");
    let body = ("application/json", new_user("x").to_string().into_bytes());
    let (s, b, _) = app.call(Method::POST, "/graph/v1.0/users", Some(&token), Some(body), &[]).await;
    assert_graph_error(s, &b, 403, "Authorization_RequestDenied");
});

backend_test!(graph_user_lifecycle_with_soft_delete_and_restore, |app: TestApp| async move {
    let (s, created, h) = app.graph(Method::POST, "/users", Some(new_user("gary"))).await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(created["@odata.context"].as_str().unwrap().ends_with("/graph/v1.0/$metadata#users/$entity"));
    assert!(h["location"].to_str().unwrap().ends_with(&format!("/graph/v1.0/users/{id}")));
    for key in ["userPrincipalName", "displayName", "accountEnabled", "userType", "usageLocation", "assignedLicenses", "mailNickname"] {
        assert!(created.get(key).is_some(), "{key}: {created}");
    }
    assert_eq!(created["userType"], json!("Member"));
    // The password works at the token endpoint.
    let token = app
        .token_client()
        .password(&app.tenant_id().to_string(), &app.app_id().to_string(), &upn("gary"), PASSWORD, pbi_wire::oauth::POWERBI_DEFAULT_SCOPE)
        .await;
    assert!(token.is_ok(), "{token:?}");

    // Required properties, unique UPN, verified domain.
    let mut missing = new_user("y");
    missing.as_object_mut().unwrap().remove("mailNickname");
    let (s, b, _) = app.graph(Method::POST, "/users", Some(missing)).await;
    assert_graph_error(s, &b, 400, "Request_BadRequest");
    let (s, b, _) = app.graph(Method::POST, "/users", Some(new_user("GARY"))).await;
    assert_graph_error(s, &b, 400, "Request_BadRequest");
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Another object with the same value for property userPrincipalName already exists"));
    let mut foreign = new_user("z");
    foreign["userPrincipalName"] = json!("z@elsewhere.com");
    let (s, b, _) = app.graph(Method::POST, "/users", Some(foreign)).await;
    assert_graph_error(s, &b, 400, "Request_BadRequest");

    // GET by id and by UPN.
    let (s, by_id, _) = app.graph(Method::GET, &format!("/users/{id}"), None).await;
    assert_eq!((s, by_id["displayName"].clone()), (200, json!("New gary")));
    let (s, by_upn, _) = app.graph(Method::GET, &format!("/users/{}", upn("GARY")), None).await;
    assert_eq!((s, by_upn["id"].clone()), (200, json!(id)));
    let (s, selected, _) = app.graph(Method::GET, &format!("/users/{id}?$select=displayName,accountEnabled"), None).await;
    assert_eq!(s, 200);
    assert!(selected["@odata.context"].as_str().unwrap().ends_with("#users(displayName,accountEnabled)/$entity"));
    assert_eq!(selected.as_object().unwrap().len(), 3, "{selected}");

    // PATCH answers 204; accountEnabled=false stops sign-in.
    let (s, _, _) = app.graph(Method::PATCH, &format!("/users/{id}"), Some(json!({"accountEnabled": false, "jobTitle": "Buyer"}))).await;
    assert_eq!(s, 204);
    let (_, got, _) = app.graph(Method::GET, &format!("/users/{id}"), None).await;
    assert_eq!((got["accountEnabled"].clone(), got["jobTitle"].clone()), (json!(false), json!("Buyer")));
    let token = app
        .token_client()
        .password(&app.tenant_id().to_string(), &app.app_id().to_string(), &upn("gary"), PASSWORD, pbi_wire::oauth::POWERBI_DEFAULT_SCOPE)
        .await;
    assert!(format!("{token:?}").contains("50057"), "{token:?}");
    let (s, b, _) = app.graph(Method::PATCH, &format!("/users/{id}"), Some(json!({"accountEnabled": "no"}))).await;
    assert_graph_error(s, &b, 400, "Request_BadRequest");
    let (s, b, _) = app.graph(Method::PATCH, &format!("/users/{id}"), Some(json!({"favouriteColour": "red"}))).await;
    assert_graph_error(s, &b, 400, "Request_BadRequest");
    // SCIM sees the same row and version history.
    let (_, scim, _) = app.scim(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!((scim["active"].clone(), scim["title"].clone()), (json!(false), json!("Buyer")));

    // DELETE is soft: listed in deletedItems, restorable, UPN free meanwhile.
    assert_eq!(app.graph(Method::DELETE, &format!("/users/{id}"), None).await.0, 204);
    let (s, b, _) = app.graph(Method::GET, &format!("/users/{id}"), None).await;
    assert_graph_error(s, &b, 404, "Request_ResourceNotFound");
    let (s, deleted, _) = app.graph(Method::GET, "/directory/deletedItems/microsoft.graph.user", None).await;
    assert_eq!(s, 200, "{deleted}");
    assert_eq!(deleted["value"][0]["id"], json!(id));
    assert!(deleted["value"][0]["deletedDateTime"].is_string());
    let (s, restored, _) = app.graph(Method::POST, &format!("/directory/deletedItems/{id}/restore"), None).await;
    assert_eq!(s, 200, "{restored}");
    assert_eq!(restored["@odata.type"], json!("#microsoft.graph.user"));
    assert_eq!(app.graph(Method::GET, &format!("/users/{id}"), None).await.0, 200);
    // A restore fails while another user holds the UPN.
    app.graph(Method::DELETE, &format!("/users/{id}"), None).await;
    let (s, _, _) = app.graph(Method::POST, "/users", Some(new_user("gary"))).await;
    assert_eq!(s, 201);
    let (s, b, _) = app.graph(Method::POST, &format!("/directory/deletedItems/{id}/restore"), None).await;
    assert_graph_error(s, &b, 400, "Request_BadRequest");
    // After 30 days a deleted user is gone for good.
    app.clock.advance(Duration::from_secs(31 * 24 * 3600));
    let (_, deleted, _) = app.graph(Method::GET, "/directory/deletedItems/microsoft.graph.user", None).await;
    assert_eq!(deleted["value"], json!([]));
    let (s, b, _) = app.graph(Method::POST, &format!("/directory/deletedItems/{id}/restore"), None).await;
    assert_graph_error(s, &b, 404, "Request_ResourceNotFound");
});

backend_test!(graph_user_queries_filter_select_and_page, |app: TestApp| async move {
    let list = |q: &str| {
        let app = &app;
        let q = q.to_string();
        async move {
            let (s, b, _) = app.graph(Method::GET, &format!("/users{q}"), None).await;
            assert_eq!(s, 200, "{q}: {b}");
            b
        }
    };
    let upns = |b: &Value| -> Vec<String> {
        b["value"].as_array().unwrap().iter().map(|u| u["userPrincipalName"].as_str().unwrap().to_string()).collect()
    };
    let enc = |f: &str| percent_encoding::utf8_percent_encode(f, percent_encoding::NON_ALPHANUMERIC).to_string();
    assert_eq!(upns(&list(&format!("?$filter={}", enc(&format!("userPrincipalName eq '{}'", upn("OWNER"))))).await), vec![upn("owner")]);
    assert_eq!(upns(&list(&format!("?$filter={}", enc("accountEnabled eq false"))).await), vec![upn("disabled")]);
    assert_eq!(upns(&list(&format!("?$filter={}", enc("mail eq 'second.name@contoso.com'"))).await), vec![upn("mailuser")]);
    let mut m = upns(&list(&format!("?$filter={}", enc("startswith(displayName,'m') or startswith(userPrincipalName,'ADMIN')"))).await);
    m.sort();
    assert_eq!(m, vec![upn("admin"), upn("mailuser"), upn("member")]);
    let b = list("?$select=id,userPrincipalName&$top=1").await;
    assert_eq!(b["value"][0].as_object().unwrap().len(), 2);
    assert!(b["@odata.context"].as_str().unwrap().ends_with("$metadata#users(id,userPrincipalName)"));
    // Follow @odata.nextLink to the end: every user once.
    let mut seen = Vec::new();
    let mut next = Some(app.url("/graph/v1.0/users?$top=3&$select=userPrincipalName"));
    let token = app.graph_app_token().await;
    while let Some(url) = next {
        let page: Value = app.http.get(&url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert!(page["value"].as_array().unwrap().len() <= 3);
        seen.extend(upns(&page));
        next = page["@odata.nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(seen.len(), 10);
    seen.dedup();
    assert_eq!(seen.len(), 10);
    // Errors in the Graph dialect.
    for (q, code) in [
        ("?$filter=userPrincipalName ne 'a'", "Request_UnsupportedQuery"),
        ("?$filter=city eq 'Paris'", "Request_UnsupportedQuery"),
        ("?$filter=endswith(mail,'.com')", "Request_UnsupportedQuery"),
        ("?$filter=displayName eq 'unterminated", "BadRequest"),
        ("?$filter=accountEnabled eq 'yes'", "BadRequest"),
        ("?$select=shoeSize", "BadRequest"),
        ("?$top=0", "BadRequest"),
        ("?$top=1000", "BadRequest"),
        ("?$skiptoken=forged", "BadRequest"),
    ] {
        let (s, b, _) = app.graph(Method::GET, &format!("/users{}", q.replace(' ', "%20")), None).await;
        assert_graph_error(s, &b, 400, code);
    }
});

backend_test!(graph_user_lists_keyset_in_and_count, |app: TestApp| async move {
    let token = app.graph_app_token().await;
    let get = |url: String, eventual: bool| {
        let app = &app;
        let token = token.clone();
        async move {
            let mut r = app.http.get(&url).bearer_auth(&token);
            if eventual {
                r = r.header("ConsistencyLevel", "eventual");
            }
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            (status, text)
        }
    };
    let enc = |f: &str| percent_encoding::utf8_percent_encode(f, percent_encoding::NON_ALPHANUMERIC).to_string();
    let upns = |b: &Value| -> Vec<String> {
        b["value"]
            .as_array()
            .unwrap_or_else(|| panic!("{b}"))
            .iter()
            .map(|u| u["userPrincipalName"].as_str().unwrap().to_string())
            .collect()
    };
    // `in` on an indexed property, case-insensitive.
    let f = enc(&format!("userPrincipalName in ('{}', '{}', 'nobody@x.com')", upn("OWNER"), upn("viewer")));
    let (s, b) = get(app.url(&format!("/graph/v1.0/users?$filter={f}")), false).await;
    assert_eq!(s, 200, "{b}");
    let mut got = upns(&serde_json::from_str(&b).unwrap());
    got.sort();
    assert_eq!(got, vec![upn("owner"), upn("viewer")]);
    // A property without an index is refused, named, even as an advanced query.
    for eventual in [false, true] {
        let (s, b) = get(app.url(&format!("/graph/v1.0/users?$filter={}&$count=true", enc("givenName eq 'Max'"))), eventual).await;
        let b: Value = serde_json::from_str(&b).unwrap();
        if eventual {
            assert_graph_error(s, &b, 400, "Request_UnsupportedQuery");
            assert_eq!(
                b["error"]["message"],
                json!("Unsupported or invalid query filter clause specified for property 'givenName' of resource 'User'.")
            );
        } else {
            assert_graph_error(s, &b, 400, "Request_UnsupportedQuery");
        }
    }
    // $count needs ConsistencyLevel: eventual.
    let (s, b) = get(app.url("/graph/v1.0/users?$count=true&$top=2"), false).await;
    assert_graph_error(s, &serde_json::from_str(&b).unwrap(), 400, "Request_BadRequest");
    let (s, b) = get(app.url("/graph/v1.0/users/$count"), false).await;
    assert_graph_error(s, &serde_json::from_str(&b).unwrap(), 400, "Request_BadRequest");
    let (s, b) = get(app.url("/graph/v1.0/users?$count=true&$top=2&$select=id"), true).await;
    assert_eq!(s, 200, "{b}");
    let first: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(first["@odata.count"], json!(10));
    assert_eq!(first["value"].as_array().unwrap().len(), 2);
    let (s, b) = get(app.url("/graph/v1.0/users/$count"), true).await;
    assert_eq!((s, b.as_str()), (200, "10"));
    let (_, b) = get(app.url("/graph/v1.0/users?$top=10"), false).await;
    let exact: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(exact["value"].as_array().unwrap().len(), 10);
    assert!(exact.get("@odata.nextLink").is_none(), "a page that ends the list has no nextLink");
    let (s, b) = get(app.url(&format!("/graph/v1.0/users/$count?$filter={}", enc("accountEnabled eq false"))), true).await;
    assert_eq!((s, b.as_str()), (200, "1"));
    let (s, b) = get(app.url(&format!("/graph/v1.0/users/$count?$filter={}", enc("startswith(displayName,'m')"))), true).await;
    assert_eq!((s, b.as_str()), (200, "2"));
    // Keyset paging: ids ascending; a user created between pages before the cursor is not
    // served, one after it is, and nothing is repeated.
    let ids = |b: &Value| -> Vec<String> { b["value"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()).collect() };
    let (_, b) = get(app.url("/graph/v1.0/users?$top=4&$select=id"), false).await;
    let page1: Value = serde_json::from_str(&b).unwrap();
    let mut seen = ids(&page1);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "id order");
    let (s, b, _) = app.graph(Method::POST, "/users", Some(new_user("latecomer"))).await;
    assert_eq!(s, 201, "{b}");
    let late = b["id"].as_str().unwrap().to_string();
    let mut next = page1["@odata.nextLink"].as_str().map(str::to_string);
    while let Some(url) = next {
        assert!(url.contains("$select=id") && url.contains("$top=4"), "{url}");
        let (s, b) = get(url, false).await;
        assert_eq!(s, 200, "{b}");
        let page: Value = serde_json::from_str(&b).unwrap();
        seen.extend(ids(&page));
        next = page["@odata.nextLink"].as_str().map(str::to_string);
    }
    let mut dedup = seen.clone();
    dedup.dedup();
    assert_eq!(dedup, seen, "nothing repeated");
    let served_late = seen.contains(&late);
    assert_eq!(served_late, late > sorted[3], "the new user is served exactly when its id is after the cursor");
    assert_eq!(seen.len(), if served_late { 11 } else { 10 });
    // Deleted users page by (deletion time, id), most recent first.
    for (i, local) in ["owner", "viewer", "contributor"].iter().enumerate() {
        let (s, b, _) = app.graph(Method::DELETE, &format!("/users/{}", upn(local)), None).await;
        assert_eq!(s, 204, "{b}");
        app.clock.advance(Duration::from_secs(60 * (i as u64 + 1)));
    }
    let (_, b) = get(app.url("/graph/v1.0/directory/deletedItems/microsoft.graph.user?$top=2&$count=true"), true).await;
    let d1: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(d1["@odata.count"], json!(3));
    assert_eq!(upns(&d1), vec![upn("contributor"), upn("viewer")]);
    let (_, b) = get(d1["@odata.nextLink"].as_str().unwrap().to_string(), true).await;
    let d2: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(upns(&d2), vec![upn("owner")]);
    assert!(d2.get("@odata.nextLink").is_none(), "{d2}");
});

backend_test!(graph_groups_members_and_refs, |app: TestApp| async move {
    let (s, sec, _) = app
        .graph(
            Method::POST,
            "/groups",
            Some(json!({"displayName": "Graph Sec", "mailEnabled": false, "mailNickname": "graphsec", "securityEnabled": true})),
        )
        .await;
    assert_eq!(s, 201, "{sec}");
    assert_eq!((sec["securityEnabled"].clone(), sec["groupTypes"].clone()), (json!(true), json!([])));
    let (s, m365, _) = app
        .graph(
            Method::POST,
            "/groups",
            Some(json!({"displayName": "Graph 365", "mailEnabled": true, "mailNickname": "g365", "securityEnabled": false, "groupTypes": ["Unified"], "description": "d"})),
        )
        .await;
    assert_eq!(s, 201, "{m365}");
    assert_eq!(m365["mail"], json!(format!("g365@{DOMAIN}")));
    let (s, b, _) = app
        .graph(
            Method::POST,
            "/groups",
            Some(json!({"displayName": "x", "mailEnabled": true, "mailNickname": "x", "securityEnabled": true})),
        )
        .await;
    assert_graph_error(s, &b, 400, "Request_BadRequest");
    let (s, b, _) = app.graph(Method::POST, "/groups", Some(json!({"displayName": "x"}))).await;
    assert_graph_error(s, &b, 400, "Request_BadRequest");
    let sec_id = sec["id"].as_str().unwrap().to_string();
    let m365_id = m365["id"].as_str().unwrap().to_string();
    let reference = |id: &str| Some(json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")}));
    let member = app.user_id("member").to_string();
    assert_eq!(app.graph(Method::POST, &format!("/groups/{sec_id}/members/$ref"), reference(&member)).await.0, 204);
    assert_eq!(app.graph(Method::POST, &format!("/groups/{sec_id}/members/$ref"), reference(&m365_id)).await.0, 204);
    assert_eq!(
        app.graph(Method::POST, &format!("/groups/{sec_id}/members/$ref"), reference(&app.app_object_id().to_string())).await.0,
        204
    );
    let (s, b, _) = app.graph(Method::POST, &format!("/groups/{sec_id}/members/$ref"), reference(&member)).await;
    assert_graph_error(s, &b, 400, "Request_BadRequest");
    assert!(b["error"]["message"].as_str().unwrap().contains("already exist"));
    let (s, b, _) = app.graph(Method::POST, &format!("/groups/{m365_id}/members/$ref"), reference(&sec_id)).await;
    assert_graph_error(s, &b, 400, "Request_BadRequest");
    let (s, b, _) = app.graph(Method::POST, &format!("/groups/{sec_id}/members/$ref"), reference(&uuid::Uuid::new_v4().to_string())).await;
    assert_graph_error(s, &b, 404, "Request_ResourceNotFound");
    let (s, b, _) = app.graph(Method::POST, &format!("/groups/{sec_id}/members/$ref"), Some(json!({"@odata.id": "nonsense"}))).await;
    assert_graph_error(s, &b, 400, "Request_BadRequest");
    let (s, members, _) = app.graph(Method::GET, &format!("/groups/{sec_id}/members"), None).await;
    assert_eq!(s, 200);
    let mut types: Vec<&str> = members["value"].as_array().unwrap().iter().map(|m| m["@odata.type"].as_str().unwrap()).collect();
    types.sort();
    assert_eq!(types, vec!["#microsoft.graph.group", "#microsoft.graph.servicePrincipal", "#microsoft.graph.user"]);
    let user = members["value"].as_array().unwrap().iter().find(|m| m["@odata.type"] == json!("#microsoft.graph.user")).unwrap().clone();
    assert_eq!(user["userPrincipalName"], json!(upn("member")));
    assert_eq!(app.graph(Method::DELETE, &format!("/groups/{sec_id}/members/{member}/$ref"), None).await.0, 204);
    let (s, b, _) = app.graph(Method::DELETE, &format!("/groups/{sec_id}/members/{member}/$ref"), None).await;
    assert_graph_error(s, &b, 404, "Request_ResourceNotFound");
    // Group queries.
    let (s, b, _) = app.graph(Method::GET, "/groups?$filter=startswith(displayName,'graph')&$select=displayName", None).await;
    assert_eq!(s, 200);
    assert_eq!(b["value"].as_array().unwrap().len(), 2);
    let (s, b, _) = app.graph(Method::GET, &format!("/groups/{}", uuid::Uuid::new_v4()), None).await;
    assert_graph_error(s, &b, 404, "Request_ResourceNotFound");
    // SCIM sees the same group and members.
    let (_, scim, _) = app.scim(Method::GET, &format!("/Groups/{sec_id}"), None).await;
    assert_eq!(scim["displayName"], json!("Graph Sec"));
});

backend_test!(graph_group_list_keyset_filter_count_and_refusals, |app: TestApp| async move {
    let tenant = app.tenant_id();
    app.store.upsert_subscribed_sku(tenant, PRO.parse().unwrap(), "POWER_BI_PRO", 10).await.unwrap();
    let token = app.graph_app_token().await;
    let get = |url: String, eventual: bool| {
        let app = &app;
        let token = token.clone();
        async move {
            let mut r = app.http.get(&url).bearer_auth(&token);
            if eventual {
                r = r.header("ConsistencyLevel", "eventual");
            }
            let resp = r.send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let enc = |f: &str| percent_encoding::utf8_percent_encode(f, percent_encoding::NON_ALPHANUMERIC).to_string();
    let json_of = |b: &str| -> Value { serde_json::from_str(b).unwrap_or_else(|e| panic!("{e}: {b}")) };
    let names = |b: &Value| -> Vec<String> {
        let mut n: Vec<String> =
            b["value"].as_array().unwrap_or_else(|| panic!("{b}")).iter().map(|g| g["displayName"].as_str().unwrap().to_string()).collect();
        n.sort();
        n
    };
    let mut alpha = Vec::new();
    for i in 1..=5 {
        let body = json!({"displayName": format!("PG Alpha {i}"), "mailEnabled": false, "mailNickname": format!("pgalpha{i}"), "securityEnabled": true});
        let (s, g, _) = app.graph(Method::POST, "/groups", Some(body)).await;
        assert_eq!(s, 201, "{g}");
        alpha.push(g["id"].as_str().unwrap().to_string());
    }
    let body = json!({"displayName": "PG Beta", "mailEnabled": true, "mailNickname": "pgbeta", "securityEnabled": false, "groupTypes": ["Unified"]});
    let (s, beta, _) = app.graph(Method::POST, "/groups", Some(body)).await;
    assert_eq!(s, 201, "{beta}");
    let assign = json!({"addLicenses": [{"disabledPlans": [], "skuId": PRO}], "removeLicenses": []});
    assert_eq!(app.graph(Method::POST, &format!("/groups/{}/assignLicense", alpha[0]), Some(assign)).await.0, 202);

    // Keyset pages of a filtered list: id order, the filter and $select carried, no repeats,
    // and no nextLink on the page that ends the list.
    let f = enc("startswith(displayName,'pg alpha')");
    let (s, b) = get(app.url(&format!("/graph/v1.0/groups?$filter={f}&$top=2&$select=id,displayName,assignedLicenses")), false).await;
    assert_eq!(s, 200, "{b}");
    let mut page = json_of(&b);
    let mut seen = Vec::new();
    let mut pages = 1;
    loop {
        for g in page["value"].as_array().unwrap() {
            assert!(g.get("mailNickname").is_none(), "$select: {g}");
            let licences = g["assignedLicenses"].as_array().unwrap();
            let want = if g["id"] == json!(alpha[0]) { 1 } else { 0 };
            assert_eq!(licences.len(), want, "{g}");
            seen.push(g["id"].as_str().unwrap().to_string());
        }
        let Some(next) = page["@odata.nextLink"].as_str().map(str::to_string) else { break };
        assert!(next.contains("$filter=") && next.contains("$top=2") && next.contains("$select="), "{next}");
        let (s, b) = get(next, false).await;
        assert_eq!(s, 200, "{b}");
        page = json_of(&b);
        pages += 1;
    }
    let mut want = alpha.clone();
    want.sort();
    assert_eq!((seen, pages), (want, 3));
    // Exactly one page's worth: no nextLink.
    let (_, b) = get(app.url(&format!("/graph/v1.0/groups?$filter={f}&$top=5")), false).await;
    let exact = json_of(&b);
    assert_eq!(exact["value"].as_array().unwrap().len(), 5);
    assert!(exact.get("@odata.nextLink").is_none(), "{exact}");

    // eq, in, startswith on each indexed property, and and/or; case-insensitive.
    for (filter, expected) in [
        ("mailNickname in ('PGALPHA1', 'pgbeta', 'nobody')".to_string(), vec!["PG Alpha 1", "PG Beta"]),
        ("startswith(mail,'PGBETA@')".to_string(), vec!["PG Beta"]),
        (format!("id eq '{}' or displayName eq 'pg beta'", alpha[2].to_uppercase()), vec!["PG Alpha 3", "PG Beta"]),
        ("startswith(displayName,'PG') and mailNickname eq 'pgalpha4'".to_string(), vec!["PG Alpha 4"]),
        (format!("mail eq 'pgbeta@{DOMAIN}'"), vec!["PG Beta"]),
    ] {
        let (s, b) = get(app.url(&format!("/graph/v1.0/groups?$filter={}", enc(&filter))), false).await;
        assert_eq!(s, 200, "{filter}: {b}");
        assert_eq!(names(&json_of(&b)), expected, "{filter}");
    }

    // $count and /$count, only with ConsistencyLevel: eventual.
    let (s, b) = get(app.url(&format!("/graph/v1.0/groups?$filter={f}&$count=true&$top=1")), true).await;
    assert_eq!(s, 200, "{b}");
    let counted = json_of(&b);
    assert_eq!((counted["@odata.count"].clone(), counted["value"].as_array().unwrap().len()), (json!(5), 1));
    let (s, b) = get(app.url(&format!("/graph/v1.0/groups/$count?$filter={f}")), true).await;
    assert_eq!((s, b.as_str()), (200, "5"));
    let (s, b) = get(app.url("/graph/v1.0/groups/$count"), true).await;
    assert_eq!(s, 200, "{b}");
    let all: usize = b.parse().unwrap();
    let (_, b) = get(app.url("/graph/v1.0/groups?$top=999&$select=id"), false).await;
    assert_eq!(json_of(&b)["value"].as_array().unwrap().len(), all);
    let (s, b) = get(app.url("/graph/v1.0/groups/$count"), false).await;
    assert_graph_error(s, &json_of(&b), 400, "Request_BadRequest");
    let (s, b) = get(app.url("/graph/v1.0/groups?$count=true"), false).await;
    assert_graph_error(s, &json_of(&b), 400, "Request_BadRequest");

    // Refusals: unindexed properties named, advanced operators, bad paging.
    for eventual in [false, true] {
        let (s, b) = get(app.url(&format!("/graph/v1.0/groups?$filter={}", enc("mailEnabled eq true"))), eventual).await;
        let b = json_of(&b);
        assert_graph_error(s, &b, 400, "Request_UnsupportedQuery");
        assert_eq!(
            b["error"]["message"],
            json!("Unsupported or invalid query filter clause specified for property 'mailEnabled' of resource 'Group'.")
        );
    }
    for (q, code) in [
        ("$filter=securityEnabled eq true", "Request_UnsupportedQuery"),
        ("$filter=description eq 'd'", "Request_UnsupportedQuery"),
        ("$filter=displayName ne 'x'", "Request_UnsupportedQuery"),
        ("$filter=displayName eq 'x", "BadRequest"),
        ("$top=0", "BadRequest"),
        ("$top=1000", "BadRequest"),
        ("$skiptoken=forged", "BadRequest"),
        ("$select=shoeSize", "BadRequest"),
    ] {
        let (s, b) = get(app.url(&format!("/graph/v1.0/groups?{}", q.replace(' ', "%20"))), false).await;
        assert_graph_error(s, &json_of(&b), 400, code);
    }
});

backend_test!(graph_group_licences_count_violation_until_reprocessed, |app: TestApp| async move {
    let tenant = app.tenant_id();
    app.store.upsert_subscribed_sku(tenant, PRO.parse().unwrap(), "POWER_BI_PRO", 1).await.unwrap();
    let assign = |sku: &str| Some(json!({"addLicenses": [{"disabledPlans": [], "skuId": sku}], "removeLicenses": []}));
    let reference = |id: String| Some(json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")}));
    let consumed = || {
        let app = &app;
        async move {
            let (_, skus, _) = app.graph(Method::GET, "/subscribedSkus", None).await;
            skus["value"].as_array().unwrap().iter().find(|s| s["skuId"] == json!(PRO)).unwrap()["consumedUnits"].clone()
        }
    };
    let licensed = |user: uuid::Uuid| {
        let app = &app;
        async move {
            let (_, u, _) = app.graph(Method::GET, &format!("/users/{user}"), None).await;
            u["assignedLicenses"].as_array().unwrap().len() == 1
        }
    };
    let (owner, member) = (app.user_id("owner"), app.user_id("member"));
    let (_, g, _) = app
        .graph(
            Method::POST,
            "/groups",
            Some(json!({"displayName": "Pro", "mailEnabled": false, "mailNickname": "pro", "securityEnabled": true})),
        )
        .await;
    let gid = g["id"].as_str().unwrap().to_string();
    let (status, _, headers) = app.graph(Method::POST, &format!("/groups/{gid}/assignLicense"), assign(PRO)).await;
    assert_eq!(status, 202);
    // The `location` of Microsoft's example: the group as a directory object of the tenant.
    let location = headers.get("location").expect("202 with a location").to_str().unwrap().to_string();
    assert!(location.ends_with(&format!("/graph/v2/{tenant}/directoryObjects/{gid}/Microsoft.DirectoryServices.Group")), "{location}");
    // Members are processed as they join: the first takes the one seat, the second waits.
    assert_eq!(app.graph(Method::POST, &format!("/groups/{gid}/members/$ref"), reference(owner.to_string())).await.0, 204);
    assert_eq!(app.graph(Method::POST, &format!("/groups/{gid}/members/$ref"), reference(member.to_string())).await.0, 204);
    assert!(licensed(owner).await);
    assert!(!licensed(member).await);
    assert_eq!(app.store.license_count_violations(tenant, member).await.unwrap(), vec![PRO.parse::<uuid::Uuid>().unwrap()]);
    assert_eq!(consumed().await, json!(1));
    // Deleting the holder frees the seat, but the waiting member is not handed it...
    assert_eq!(app.graph(Method::DELETE, &format!("/users/{owner}"), None).await.0, 204);
    assert_eq!(consumed().await, json!(0));
    assert!(!licensed(member).await);
    // ...until it is reprocessed.
    let (s, b, _) = app.graph(Method::POST, &format!("/users/{member}/reprocessLicenseAssignment"), None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["assignedLicenses"], json!([{"disabledPlans": [], "skuId": PRO}]));
    assert_eq!(consumed().await, json!(1));
    // The restored owner finds no seat: it waits in CountViolation.
    assert_eq!(app.graph(Method::POST, &format!("/directory/deletedItems/{owner}/restore"), None).await.0, 200);
    assert!(!licensed(owner).await);
    assert_eq!(consumed().await, json!(1));
    // Removing the member from the group frees its seat; a direct assignment may take it.
    assert_eq!(app.graph(Method::DELETE, &format!("/groups/{gid}/members/{member}/$ref"), None).await.0, 204);
    assert!(!licensed(member).await);
    assert_eq!(consumed().await, json!(0));
    assert_eq!(app.graph(Method::PATCH, &format!("/users/{owner}"), Some(json!({"usageLocation": "US"}))).await.0, 204);
    assert_eq!(app.graph(Method::POST, &format!("/users/{owner}/assignLicense"), assign(PRO)).await.0, 200);
    assert!(licensed(owner).await);
    assert_eq!(consumed().await, json!(1));
    assert!(app.store.license_count_violations(tenant, owner).await.unwrap().is_empty());
    // Removing the group's license releases nothing the direct assignment holds.
    let remove = Some(json!({"addLicenses": [], "removeLicenses": [PRO]}));
    assert_eq!(app.graph(Method::POST, &format!("/groups/{gid}/assignLicense"), remove).await.0, 202);
    assert!(licensed(owner).await);
    assert_eq!(consumed().await, json!(1));
    let (s, b, _) = app.graph(Method::POST, &format!("/users/{}/reprocessLicenseAssignment", uuid::Uuid::new_v4()), None).await;
    assert_graph_error(s, &b, 404, "Request_ResourceNotFound");
});

backend_test!(graph_licenses_seats_groups_and_propagation, |app: TestApp| async move {
    let tenant = app.tenant_id();
    app.store.upsert_subscribed_sku(tenant, PRO.parse().unwrap(), "POWER_BI_PRO", 2).await.unwrap();
    app.store.upsert_subscribed_sku(tenant, PPU.parse().unwrap(), "PBI_PREMIUM_PER_USER", 5).await.unwrap();
    let assign = |sku: &str| Some(json!({"addLicenses": [{"disabledPlans": [], "skuId": sku}], "removeLicenses": []}));
    let (owner, member, viewer) = (app.user_id("owner"), app.user_id("member"), app.user_id("viewer"));
    // No usage location: refused as Graph does.
    let (s, b, _) = app.graph(Method::POST, &format!("/users/{owner}/assignLicense"), assign(PRO)).await;
    assert_graph_error(s, &b, 400, "Request_BadRequest");
    assert!(b["error"]["message"].as_str().unwrap().contains("usage location"));
    for u in [owner, member, viewer] {
        assert_eq!(app.graph(Method::PATCH, &format!("/users/{u}"), Some(json!({"usageLocation": "us"}))).await.0, 204);
    }
    let (s, b, _) = app.graph(Method::POST, &format!("/users/{owner}/assignLicense"), assign(PRO)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["assignedLicenses"], json!([{"disabledPlans": [], "skuId": PRO}]));
    assert_eq!(b["usageLocation"], json!("US"));
    assert_eq!(app.graph(Method::POST, &format!("/users/{member}/assignLicense"), assign(PRO)).await.0, 200);
    // Two seats, both used: the third assignment is refused.
    let (s, b, _) = app.graph(Method::POST, &format!("/users/{viewer}/assignLicense"), assign(PRO)).await;
    assert_graph_error(s, &b, 400, "Request_BadRequest");
    assert!(b["error"]["message"].as_str().unwrap().contains("does not have any available licenses"), "{b}");
    // Re-assigning a held license takes no new seat.
    assert_eq!(app.graph(Method::POST, &format!("/users/{owner}/assignLicense"), assign(PRO)).await.0, 200);
    let (_, skus, _) = app.graph(Method::GET, "/subscribedSkus", None).await;
    let pro = skus["value"].as_array().unwrap().iter().find(|s| s["skuId"] == json!(PRO)).unwrap().clone();
    assert_eq!(
        (pro["consumedUnits"].clone(), pro["prepaidUnits"]["enabled"].clone(), pro["skuPartNumber"].clone()),
        (json!(2), json!(2), json!("POWER_BI_PRO"))
    );
    // Unknown SKU, removing what is not assigned, malformed bodies.
    let (s, b, _) = app.graph(Method::POST, &format!("/users/{viewer}/assignLicense"), assign(&uuid::Uuid::new_v4().to_string())).await;
    assert_graph_error(s, &b, 400, "Request_BadRequest");
    let (s, b, _) =
        app.graph(Method::POST, &format!("/users/{viewer}/assignLicense"), Some(json!({"addLicenses": [], "removeLicenses": [PPU]}))).await;
    assert_graph_error(s, &b, 400, "Request_BadRequest");
    let (s, b, _) = app
        .graph(
            Method::POST,
            &format!("/users/{viewer}/assignLicense"),
            Some(json!({"addLicenses": [{"skuId": "nope"}], "removeLicenses": []})),
        )
        .await;
    assert_graph_error(s, &b, 400, "Request_BadRequest");
    let (s, b, _) = app.graph(Method::POST, &format!("/users/{viewer}/assignLicense"), Some(json!({"addLicenses": []}))).await;
    assert_graph_error(s, &b, 400, "Request_BadRequest");
    // Removing frees the seat.
    let (s, _, _) =
        app.graph(Method::POST, &format!("/users/{member}/assignLicense"), Some(json!({"addLicenses": [], "removeLicenses": [PRO]}))).await;
    assert_eq!(s, 200);
    assert_eq!(app.graph(Method::POST, &format!("/users/{viewer}/assignLicense"), assign(PRO)).await.0, 200);
    let (_, details, _) = app.graph(Method::GET, &format!("/users/{viewer}/licenseDetails"), None).await;
    assert_eq!(details["value"][0]["skuPartNumber"], json!("POWER_BI_PRO"));

    // Group-based licensing: every (nested) member holds the SKU while seats last.
    let (_, g, _) = app
        .graph(
            Method::POST,
            "/groups",
            Some(json!({"displayName": "PPU holders", "mailEnabled": false, "mailNickname": "ppu", "securityEnabled": true})),
        )
        .await;
    let gid = g["id"].as_str().unwrap().to_string();
    let (_, inner, _) = app
        .graph(
            Method::POST,
            "/groups",
            Some(json!({"displayName": "Inner", "mailEnabled": false, "mailNickname": "inner", "securityEnabled": true})),
        )
        .await;
    let inner_id = inner["id"].as_str().unwrap().to_string();
    let reference = |id: String| Some(json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")}));
    app.graph(Method::POST, &format!("/groups/{gid}/members/$ref"), reference(member.to_string())).await;
    app.graph(Method::POST, &format!("/groups/{gid}/members/$ref"), reference(inner_id.clone())).await;
    app.graph(Method::POST, &format!("/groups/{inner_id}/members/$ref"), reference(app.user_id("contributor").to_string())).await;
    let (s, b, _) = app.graph(Method::POST, &format!("/groups/{gid}/assignLicense"), assign(PPU)).await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b["assignedLicenses"], json!([{"disabledPlans": [], "skuId": PPU}]));
    let (_, contributor, _) = app.graph(Method::GET, &format!("/users/{}", app.user_id("contributor")), None).await;
    assert_eq!(contributor["assignedLicenses"], json!([{"disabledPlans": [], "skuId": PPU}]), "nested members inherit group licenses");
    let (_, skus, _) = app.graph(Method::GET, "/subscribedSkus", None).await;
    let ppu = skus["value"].as_array().unwrap().iter().find(|s| s["skuId"] == json!(PPU)).unwrap().clone();
    assert_eq!(ppu["consumedUnits"], json!(2));

    // Effective licenses wait for the propagation delay ([licenses] propagation_delay_secs, 300 by default).
    let delay = Duration::from_secs(pbi_server::config::Config::default().licenses.propagation_delay_secs);
    assert_eq!(delay, Duration::from_secs(300));
    let effective = |user| {
        let app = &app;
        async move {
            let mut v: Vec<String> = app
                .store
                .effective_licenses(tenant, user, app.clock.now_millis(), delay)
                .await
                .unwrap()
                .into_iter()
                .map(|l| l.part_number)
                .collect();
            v.sort();
            v
        }
    };
    assert_eq!(effective(viewer).await, Vec::<String>::new());
    app.clock.advance(Duration::from_secs(301));
    assert_eq!(effective(viewer).await, vec!["POWER_BI_PRO"]);
    assert_eq!(effective(app.user_id("contributor")).await, vec!["PBI_PREMIUM_PER_USER"]);
    // A member added later waits again; a deleted user holds nothing.
    app.graph(Method::POST, &format!("/groups/{inner_id}/members/$ref"), reference(viewer.to_string())).await;
    assert_eq!(effective(viewer).await, vec!["POWER_BI_PRO"]);
    app.clock.advance(Duration::from_secs(301));
    assert_eq!(effective(viewer).await, vec!["PBI_PREMIUM_PER_USER", "POWER_BI_PRO"]);
    app.graph(Method::DELETE, &format!("/users/{viewer}"), None).await;
    assert_eq!(effective(viewer).await, Vec::<String>::new());
    let (_, skus, _) = app.graph(Method::GET, "/subscribedSkus", None).await;
    let pro = skus["value"].as_array().unwrap().iter().find(|s| s["skuId"] == json!(PRO)).unwrap().clone();
    assert_eq!(pro["consumedUnits"], json!(1), "a deleted user's seat is free");
});

backend_test!(graph_bad_input_and_tenant_isolation, |app: TestApp| async move {
    let token = app.graph_app_token().await;
    let raw = |method: Method, path: &str, body: &'static [u8]| {
        let app = &app;
        let token = token.clone();
        let path = format!("/graph/v1.0{path}");
        async move { app.call(method, &path, Some(&token), Some(("application/json", body.to_vec())), &[]).await }
    };
    let (s, b, _) = raw(Method::POST, "/users", b"{oops").await;
    assert_graph_error(s, &b, 400, "BadRequest");
    let (s, b, _) = raw(Method::POST, "/users", b"[]").await;
    assert_graph_error(s, &b, 400, "BadRequest");
    let (s, b, _) = raw(Method::PATCH, &format!("/users/{}", app.user_id("member")), b"null").await;
    assert_graph_error(s, &b, 400, "BadRequest");
    let (s, b, _) = app.graph(Method::GET, "/users/not-a-user", None).await;
    assert_graph_error(s, &b, 404, "Request_ResourceNotFound");
    let (s, b, _) = app.graph(Method::GET, &format!("/users/{}/licenseDetails", uuid::Uuid::new_v4()), None).await;
    assert_graph_error(s, &b, 404, "Request_ResourceNotFound");
    let (s, b, _) = app.graph(Method::GET, "/contacts", None).await;
    assert_graph_error(s, &b, 400, "BadRequest");
    let (s, b, _) = app.graph(Method::PUT, "/users", None).await;
    assert_graph_error(s, &b, 405, "Request_BadRequest");
    let (s, b, _) = app.graph(Method::POST, "/directory/deletedItems/not-a-guid/restore", None).await;
    assert_graph_error(s, &b, 404, "Request_ResourceNotFound");

    // Tenant B's token sees only tenant B and cannot touch tenant A's objects.
    let other = provision_other_tenant(&app).await;
    let b_token = app.other_app_token_for(&other, pbi_wire::oauth::GRAPH_DEFAULT_SCOPE).await;
    let (s, list, _) = app.call(Method::GET, "/graph/v1.0/users", Some(&b_token), None, &[]).await;
    assert_eq!(s, 200);
    let upns: Vec<&str> = list["value"].as_array().unwrap().iter().map(|u| u["userPrincipalName"].as_str().unwrap()).collect();
    assert_eq!(upns, vec![format!("olga@{OTHER_DOMAIN}").as_str()]);
    let a_user = app.user_id("member");
    let (s, b, _) = app.call(Method::GET, &format!("/graph/v1.0/users/{a_user}"), Some(&b_token), None, &[]).await;
    assert_graph_error(s, &b, 404, "Request_ResourceNotFound");
    let (s, b, _) = app.call(Method::GET, &format!("/graph/v1.0/users/{}", upn("member")), Some(&b_token), None, &[]).await;
    assert_graph_error(s, &b, 404, "Request_ResourceNotFound");
    let body = ("application/json", json!({"accountEnabled": false}).to_string().into_bytes());
    let (s, _, _) = app.call(Method::PATCH, &format!("/graph/v1.0/users/{a_user}"), Some(&b_token), Some(body), &[]).await;
    assert_eq!(s, 404);
    let (s, _, _) = app.call(Method::DELETE, &format!("/graph/v1.0/users/{a_user}"), Some(&b_token), None, &[]).await;
    assert_eq!(s, 404);
    let analysts = app.fixture.groups["Analysts"];
    let body = (
        "application/json",
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{a_user}")}).to_string().into_bytes(),
    );
    let (s, _, _) = app.call(Method::POST, &format!("/graph/v1.0/groups/{analysts}/members/$ref"), Some(&b_token), Some(body), &[]).await;
    assert_eq!(s, 404);
    // Nor can tenant B add tenant A's user to its own group.
    let body = (
        "application/json",
        json!({"displayName": "B", "mailEnabled": false, "mailNickname": "b", "securityEnabled": true}).to_string().into_bytes(),
    );
    let (_, bg, _) = app.call(Method::POST, "/graph/v1.0/groups", Some(&b_token), Some(body), &[]).await;
    let body =
        ("application/json", json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/users/{a_user}")}).to_string().into_bytes());
    let (s, b, _) = app
        .call(Method::POST, &format!("/graph/v1.0/groups/{}/members/$ref", bg["id"].as_str().unwrap()), Some(&b_token), Some(body), &[])
        .await;
    assert_graph_error(s, &b, 404, "Request_ResourceNotFound");
    let (_, me, _) = app.graph(Method::GET, &format!("/users/{a_user}"), None).await;
    assert_eq!(me["accountEnabled"], json!(true), "tenant A's user is untouched");
});

backend_test!(graph_racing_assignments_never_oversell_seats, |app: TestApp| async move {
    let tenant = app.tenant_id();
    app.store.upsert_subscribed_sku(tenant, PRO.parse().unwrap(), "POWER_BI_PRO", 2).await.unwrap();
    let users: Vec<uuid::Uuid> =
        ["owner", "member", "contributor", "viewer", "outsider", "newbie"].iter().map(|u| app.user_id(u)).collect();
    for u in &users {
        assert_eq!(app.graph(Method::PATCH, &format!("/users/{u}"), Some(json!({"usageLocation": "NL"}))).await.0, 204);
    }
    let token = app.graph_app_token().await;
    let body = json!({"addLicenses": [{"skuId": PRO, "disabledPlans": []}], "removeLicenses": []}).to_string();
    let attempts = users.iter().map(|u| {
        let (app, token, body) = (&app, token.clone(), body.clone());
        async move {
            let path = format!("/graph/v1.0/users/{u}/assignLicense");
            app.call(Method::POST, &path, Some(&token), Some(("application/json", body.into_bytes())), &[]).await.0
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 2, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 4, "{statuses:?}");
    let (_, skus, _) = app.graph(Method::GET, "/subscribedSkus", None).await;
    assert_eq!(skus["value"][0]["consumedUnits"], json!(2));
});

backend_test!(directory_store_owners_stay_in_the_tenant, |app: TestApp| async move {
    use pbi_server::store::DirError;
    let tenant = app.tenant_id();
    let now = app.clock.now_millis();
    let group = app.fixture.groups["Analysts"];
    let owner = app.user_id("owner");
    app.store.create_group_owner(tenant, group, owner, now).await.unwrap();
    app.store.create_group_owner(tenant, group, app.app_object_id(), now).await.unwrap();
    assert!(matches!(app.store.create_group_owner(tenant, group, owner, now).await, Err(DirError::AlreadyMember)));
    assert!(matches!(app.store.create_group_owner(tenant, group, group, now).await, Err(DirError::Invalid(_))));
    let other = provision_other_tenant(&app).await;
    let olga = other.users[&format!("olga@{OTHER_DOMAIN}")];
    assert!(matches!(app.store.create_group_owner(tenant, group, olga, now).await, Err(DirError::ReferenceNotFound(_))));
    assert!(
        matches!(app.store.create_group_owner(other.tenant.id, group, olga, now).await, Err(DirError::NotFound)),
        "A's group is not in B"
    );
    let owners: Vec<_> = app.store.list_group_owners(tenant, group).await.unwrap().into_iter().map(|o| (o.id, o.kind)).collect();
    assert_eq!(owners.len(), 2);
    assert!(owners.contains(&(owner, pbi_server::domain::PrincipalKind::User)));
    assert!(owners.contains(&(app.app_object_id(), pbi_server::domain::PrincipalKind::App)));
    app.store.delete_group_owner(tenant, group, owner, now).await.unwrap();
    assert!(matches!(app.store.delete_group_owner(tenant, group, owner, now).await, Err(DirError::NotMember)));
    // Versions move with owner changes; B sees none of A's users.
    let g = app.store.get_group(tenant, group, false).await.unwrap().unwrap();
    assert_eq!(g.version, 4, "three owner changes after creation");
    assert!(app.store.get_user(other.tenant.id, owner, true).await.unwrap().is_none());
    assert_eq!(app.store.count_users(other.tenant.id, None).await.unwrap(), 1);
});

/// Create a security group through Graph; its id.
async fn create_group(app: &TestApp, name: &str) -> String {
    let nickname: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
    let body = json!({"displayName": name, "mailEnabled": false, "mailNickname": nickname, "securityEnabled": true});
    let (s, g, _) = app.graph(Method::POST, "/groups", Some(body)).await;
    assert_eq!(s, 201, "{g}");
    g["id"].as_str().unwrap().to_string()
}

async fn add_member(app: &TestApp, group: &str, member: &str) {
    let body = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{member}")});
    let (s, b, _) = app.graph(Method::POST, &format!("/groups/{group}/members/$ref"), Some(body)).await;
    assert_eq!(s, 204, "{b}");
}

/// Every object of a Graph collection, following `@odata.nextLink` (with `headers` on each call).
async fn all_pages(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (Vec<Value>, usize) {
    let token = app.graph_app_token().await;
    let mut next = Some(app.url(&format!("/graph/v1.0{path}")));
    let (mut out, mut pages) = (Vec::new(), 0);
    while let Some(url) = next {
        let mut req = app.http.get(&url).bearer_auth(&token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let page: Value = response.json().await.unwrap();
        out.extend(page["value"].as_array().unwrap().iter().cloned());
        next = page["@odata.nextLink"].as_str().map(str::to_string);
        pages += 1;
        assert!(pages < 100, "paging does not end");
    }
    (out, pages)
}

fn ids(objects: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = objects.iter().map(|o| o["id"].as_str().unwrap().to_string()).collect();
    v.sort();
    v
}

backend_test!(graph_member_of_direct_and_transitive_with_paging_select_and_count, |app: TestApp| async move {
    // outer ⊃ middle ⊃ inner ∋ member; analysts ∋ member; sibling ⊃ middle.
    let outer = create_group(&app, "Outer").await;
    let middle = create_group(&app, "Middle").await;
    let inner = create_group(&app, "Inner").await;
    let sibling = create_group(&app, "Sibling").await;
    let analysts = app.fixture.groups["Analysts"].to_string();
    let member = app.user_id("member").to_string();
    add_member(&app, &outer, &middle).await;
    add_member(&app, &sibling, &middle).await;
    add_member(&app, &middle, &inner).await;
    add_member(&app, &inner, &member).await;
    add_member(&app, &analysts, &member).await;

    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    // Direct memberships, by id and by UPN, as groups with the fields of GET /groups/{id}.
    let (s, direct, _) = app.graph(Method::GET, &format!("/users/{member}/memberOf"), None).await;
    assert_eq!(s, 200, "{direct}");
    assert!(direct["@odata.context"].as_str().unwrap().ends_with("/$metadata#directoryObjects"), "{direct}");
    assert_eq!(ids(direct["value"].as_array().unwrap()), sorted(vec![inner.clone(), analysts.clone()]));
    let (_, got, _) = app.graph(Method::GET, &format!("/groups/{inner}"), None).await;
    let listed = direct["value"].as_array().unwrap().iter().find(|g| g["id"] == json!(inner)).unwrap();
    assert_eq!(listed["@odata.type"], json!("#microsoft.graph.group"));
    for key in ["displayName", "mailNickname", "securityEnabled", "groupTypes", "createdDateTime", "assignedLicenses"] {
        assert_eq!(listed[key], got[key], "{key}");
    }
    let (s, by_upn, _) = app.graph(Method::GET, &format!("/users/{}/memberOf", upn("MEMBER")), None).await;
    assert_eq!((s, ids(by_upn["value"].as_array().unwrap())), (200, ids(direct["value"].as_array().unwrap())));

    // Transitive: every group above, once, though middle is reached twice.
    let (s, all, _) = app.graph(Method::GET, &format!("/users/{member}/transitiveMemberOf"), None).await;
    assert_eq!(s, 200, "{all}");
    let want = sorted(vec![outer.clone(), middle.clone(), inner.clone(), sibling.clone(), analysts.clone()]);
    assert_eq!(ids(all["value"].as_array().unwrap()), want);
    // Groups have memberships too.
    let (_, up, _) = app.graph(Method::GET, &format!("/groups/{inner}/memberOf"), None).await;
    assert_eq!(ids(up["value"].as_array().unwrap()), vec![middle.clone()]);
    let (_, up, _) = app.graph(Method::GET, &format!("/groups/{inner}/transitiveMemberOf"), None).await;
    assert_eq!(ids(up["value"].as_array().unwrap()), sorted(vec![outer.clone(), middle.clone(), sibling.clone()]));
    let (_, none, _) = app.graph(Method::GET, &format!("/groups/{outer}/transitiveMemberOf"), None).await;
    assert_eq!(none["value"], json!([]));
    assert!(none.get("@odata.nextLink").is_none());

    // Keyset pages of one: every group once, in id order, $select kept on the links.
    let (paged, pages) = all_pages(&app, &format!("/users/{member}/transitiveMemberOf?$top=1&$select=displayName,id"), &[]).await;
    assert_eq!(pages, 5);
    let paged_ids: Vec<String> = paged.iter().map(|o| o["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(paged_ids, want, "pages come in id order, none repeated or skipped");
    for o in &paged {
        let keys: Vec<&String> = o.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 3, "{o}");
        assert!(o["displayName"].is_string() && o["@odata.type"].is_string(), "{o}");
    }
    let (_, b, _) = app.graph(Method::GET, &format!("/users/{member}/transitiveMemberOf?$top=2&$select=displayName"), None).await;
    assert!(b["@odata.context"].as_str().unwrap().ends_with("#directoryObjects(displayName)"), "{b}");
    assert!(b["@odata.nextLink"].as_str().unwrap().contains(&format!("/users/{member}/transitiveMemberOf?")), "{b}");

    // $count=true with ConsistencyLevel: eventual counts them all; without the header it is refused.
    let token = app.graph_app_token().await;
    let path = format!("/graph/v1.0/users/{member}/transitiveMemberOf?$count=true&$top=2");
    let (s, b, _) = app.call(Method::GET, &path, Some(&token), None, &[("ConsistencyLevel", "eventual")]).await;
    assert_eq!((s, b["@odata.count"].clone(), b["value"].as_array().unwrap().len()), (200, json!(5), 2), "{b}");
    let (s, b, _) = app.call(Method::GET, &path, Some(&token), None, &[]).await;
    assert_graph_error(s, &b, 400, "Request_BadRequest");
    let (counted, _) = all_pages(&app, &format!("/users/{member}/memberOf?$count=true&$top=1"), &[("ConsistencyLevel", "eventual")]).await;
    assert_eq!(counted.len(), 2);

    // A deleted group neither appears nor passes its memberships on.
    assert_eq!(app.scim(Method::DELETE, &format!("/Groups/{middle}"), None).await.0, 204);
    let (_, all, _) = app.graph(Method::GET, &format!("/users/{member}/transitiveMemberOf"), None).await;
    assert_eq!(ids(all["value"].as_array().unwrap()), sorted(vec![inner.clone(), analysts.clone()]));

    // Directory roles the user holds are listed with the groups.
    let admin = app.user_id("admin");
    let (_, roles, _) = app.graph(Method::GET, &format!("/users/{admin}/memberOf"), None).await;
    let role = &roles["value"][0];
    assert_eq!(role["@odata.type"], json!("#microsoft.graph.directoryRole"), "{roles}");
    assert_eq!(role["roleTemplateId"], json!("a9ea8996-122f-4c74-9520-8edcd192826c"));
    assert_eq!(role["displayName"], json!("Fabric Administrator"));
    let (_, roles, _) = app.graph(Method::GET, &format!("/users/{admin}/transitiveMemberOf?$select=roleTemplateId"), None).await;
    assert_eq!(roles["value"].as_array().unwrap().len(), 1, "{roles}");
});

backend_test!(graph_member_of_bad_input_and_isolation, |app: TestApp| async move {
    let member = app.user_id("member");
    let enc = |f: &str| percent_encoding::utf8_percent_encode(f, percent_encoding::NON_ALPHANUMERIC).to_string();
    for (q, status, code) in [
        (format!("?$filter={}", enc("displayName eq 'x'")), 400, "Request_UnsupportedQuery"),
        (format!("?$filter={}", enc("displayName eq 'x")), 400, "BadRequest"),
        ("?$select=shoeSize".to_string(), 400, "BadRequest"),
        ("?$top=0".to_string(), 400, "BadRequest"),
        ("?$top=1000".to_string(), 400, "BadRequest"),
        ("?$skiptoken=forged".to_string(), 400, "BadRequest"),
        ("?$count=maybe".to_string(), 400, "BadRequest"),
    ] {
        for segment in ["memberOf", "transitiveMemberOf"] {
            let (s, b, _) = app.graph(Method::GET, &format!("/users/{member}/{segment}{q}"), None).await;
            assert_graph_error(s, &b, status, code);
        }
    }
    let (_, b, _) = app.graph(Method::GET, &format!("/users/{member}/memberOf?$filter={}", enc("displayName eq 'x'")), None).await;
    assert!(b["error"]["message"].as_str().unwrap().contains("'displayName'"), "{b}");
    for path in [
        format!("/users/{}/memberOf", uuid::Uuid::new_v4()),
        "/users/nobody@nowhere.example/transitiveMemberOf".to_string(),
        format!("/groups/{}/memberOf", uuid::Uuid::new_v4()),
        "/groups/not-a-guid/transitiveMemberOf".to_string(),
    ] {
        let (s, b, _) = app.graph(Method::GET, &path, None).await;
        assert_graph_error(s, &b, 404, "Request_ResourceNotFound");
    }
    // Tenant B cannot read tenant A's memberships.
    let other = provision_other_tenant(&app).await;
    let b_token = app.other_app_token_for(&other, pbi_wire::oauth::GRAPH_DEFAULT_SCOPE).await;
    let (s, b, _) = app.call(Method::GET, &format!("/graph/v1.0/users/{member}/memberOf"), Some(&b_token), None, &[]).await;
    assert_graph_error(s, &b, 404, "Request_ResourceNotFound");
    let analysts = app.fixture.groups["Analysts"];
    let (s, b, _) = app.call(Method::GET, &format!("/graph/v1.0/groups/{analysts}/transitiveMemberOf"), Some(&b_token), None, &[]).await;
    assert_graph_error(s, &b, 404, "Request_ResourceNotFound");
});

backend_test!(graph_group_members_transitive_members_and_owners_page_by_id, |app: TestApp| async move {
    let top = create_group(&app, "Top").await;
    let nested = create_group(&app, "Nested").await;
    let deep = create_group(&app, "Deep").await;
    let [owner, member, viewer, contributor] = ["owner", "member", "viewer", "contributor"].map(|u| app.user_id(u).to_string());
    let automation = app.app_object_id().to_string();
    for m in [&owner, &member, &nested, &automation] {
        add_member(&app, &top, m).await;
    }
    for m in [&member, &viewer, &deep] {
        add_member(&app, &nested, m).await;
    }
    add_member(&app, &deep, &contributor).await;
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };

    // Direct members: every kind with its @odata.type, in id order across pages.
    let (s, direct, _) = app.graph(Method::GET, &format!("/groups/{top}/members"), None).await;
    assert_eq!(s, 200, "{direct}");
    assert!(direct["@odata.context"].as_str().unwrap().ends_with("/$metadata#directoryObjects"));
    let want = sorted(vec![owner.clone(), member.clone(), nested.clone(), automation.clone()]);
    assert_eq!(ids(direct["value"].as_array().unwrap()), want);
    let kind = |v: &Value, id: &str| v["value"].as_array().unwrap().iter().find(|o| o["id"] == json!(id)).unwrap()["@odata.type"].clone();
    assert_eq!(kind(&direct, &owner), json!("#microsoft.graph.user"));
    assert_eq!(kind(&direct, &nested), json!("#microsoft.graph.group"));
    assert_eq!(kind(&direct, &automation), json!("#microsoft.graph.servicePrincipal"));
    let user = direct["value"].as_array().unwrap().iter().find(|o| o["id"] == json!(member)).unwrap();
    assert_eq!(user["userPrincipalName"], json!(upn("member")));
    assert!(user["assignedLicenses"].is_array(), "{user}");
    let (paged, pages) = all_pages(&app, &format!("/groups/{top}/members?$top=1"), &[]).await;
    assert_eq!(pages, 4);
    assert_eq!(paged.iter().map(|o| o["id"].as_str().unwrap().to_string()).collect::<Vec<_>>(), want, "id order, each once");

    // Transitive members: the whole tree below, each object once.
    let (s, all, _) = app.graph(Method::GET, &format!("/groups/{top}/transitiveMembers"), None).await;
    assert_eq!(s, 200, "{all}");
    let tree =
        sorted(vec![owner.clone(), member.clone(), nested.clone(), automation.clone(), viewer.clone(), deep.clone(), contributor.clone()]);
    assert_eq!(ids(all["value"].as_array().unwrap()), tree);
    let (paged, _) = all_pages(&app, &format!("/groups/{top}/transitiveMembers?$top=3&$select=id,displayName"), &[]).await;
    assert_eq!(paged.iter().map(|o| o["id"].as_str().unwrap().to_string()).collect::<Vec<_>>(), tree);
    assert!(paged.iter().all(|o| o.get("userPrincipalName").is_none() && o["displayName"].is_string()), "{paged:?}");

    // $count with ConsistencyLevel: eventual.
    let token = app.graph_app_token().await;
    for (segment, n) in [("members", 4), ("transitiveMembers", 7)] {
        let path = format!("/graph/v1.0/groups/{top}/{segment}?$count=true&$top=1");
        let (s, b, _) = app.call(Method::GET, &path, Some(&token), None, &[("ConsistencyLevel", "eventual")]).await;
        assert_eq!((s, b["@odata.count"].clone()), (200, json!(n)), "{b}");
        let (s, b, _) = app.call(Method::GET, &path, Some(&token), None, &[]).await;
        assert_graph_error(s, &b, 400, "Request_BadRequest");
    }

    // Deleted objects are hidden; a deleted nested group passes nothing on.
    assert_eq!(app.graph(Method::DELETE, &format!("/users/{viewer}"), None).await.0, 204);
    assert_eq!(app.scim(Method::DELETE, &format!("/Groups/{deep}"), None).await.0, 204);
    let (_, all, _) = app.graph(Method::GET, &format!("/groups/{top}/transitiveMembers"), None).await;
    assert_eq!(ids(all["value"].as_array().unwrap()), sorted(vec![owner.clone(), member.clone(), nested.clone(), automation.clone()]));

    // Owners: users and apps, paged the same way.
    let now = app.clock.now_millis();
    let top_id: uuid::Uuid = top.parse().unwrap();
    app.store.create_group_owner(app.tenant_id(), top_id, app.user_id("owner"), now).await.unwrap();
    app.store.create_group_owner(app.tenant_id(), top_id, app.app_object_id(), now).await.unwrap();
    let (s, owners, _) = app.graph(Method::GET, &format!("/groups/{top}/owners"), None).await;
    assert_eq!(s, 200, "{owners}");
    assert_eq!(ids(owners["value"].as_array().unwrap()), sorted(vec![owner.clone(), automation.clone()]));
    assert_eq!(kind(&owners, &automation), json!("#microsoft.graph.servicePrincipal"));
    let (paged, pages) = all_pages(&app, &format!("/groups/{top}/owners?$top=1"), &[]).await;
    assert_eq!((paged.len(), pages), (2, 2));
    let (_, none, _) = app.graph(Method::GET, &format!("/groups/{nested}/owners"), None).await;
    assert_eq!(none["value"], json!([]));

    // Bad input.
    for segment in ["members", "transitiveMembers", "owners"] {
        let (s, b, _) = app.graph(Method::GET, &format!("/groups/{top}/{segment}?$filter=displayName%20eq%20'x'"), None).await;
        assert_graph_error(s, &b, 400, "Request_UnsupportedQuery");
        let (s, b, _) = app.graph(Method::GET, &format!("/groups/{top}/{segment}?$skiptoken=forged"), None).await;
        assert_graph_error(s, &b, 400, "BadRequest");
        let (s, b, _) = app.graph(Method::GET, &format!("/groups/{}/{segment}", uuid::Uuid::new_v4()), None).await;
        assert_graph_error(s, &b, 404, "Request_ResourceNotFound");
    }
});

backend_test!(graph_and_scim_unfiltered_counts_follow_creates_deletes_restores, |app: TestApp| async move {
    // The unfiltered counts are kept per tenant (schema v13): each step must move them exactly.
    let token = app.graph_app_token().await;
    let eventual = [("ConsistencyLevel", "eventual")];
    let counts = || async {
        let graph = |path: &'static str| {
            let (app, token) = (&app, token.clone());
            async move {
                let (s, b, _) = app.call(Method::GET, path, Some(&token), None, &eventual).await;
                assert_eq!(s, 200, "{path}: {b}");
                b
            }
        };
        let users = graph("/graph/v1.0/users/$count").await.as_i64().unwrap();
        let listed = graph("/graph/v1.0/users?$count=true&$top=1").await["@odata.count"].as_i64().unwrap();
        assert_eq!(users, listed);
        let groups = graph("/graph/v1.0/groups/$count").await.as_i64().unwrap();
        let (s, scim_users, _) = app.scim(Method::GET, "/Users?count=1", None).await;
        assert_eq!(s, 200, "{scim_users}");
        let (s, scim_groups, _) = app.scim(Method::GET, "/Groups?count=1", None).await;
        assert_eq!(s, 200, "{scim_groups}");
        assert_eq!(scim_users["totalResults"].as_i64().unwrap(), users);
        assert_eq!(scim_groups["totalResults"].as_i64().unwrap(), groups);
        (users, groups)
    };
    let (users, groups) = counts().await;
    assert!(users > 0 && groups > 0, "the fixture has users and groups");

    let (s, created, _) = app.graph(Method::POST, "/users", Some(new_user("counted"))).await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(counts().await, (users + 1, groups));
    let body = json!({"displayName": "Counted", "mailEnabled": false, "mailNickname": "counted", "securityEnabled": true});
    let (s, group, _) = app.graph(Method::POST, "/groups", Some(body)).await;
    assert_eq!(s, 201, "{group}");
    let group_id = group["id"].as_str().unwrap().to_string();
    assert_eq!(counts().await, (users + 1, groups + 1));

    assert_eq!(app.graph(Method::DELETE, &format!("/users/{id}"), None).await.0, 204);
    assert_eq!(counts().await, (users, groups + 1));
    // Deleting again changes nothing.
    assert_eq!(app.graph(Method::DELETE, &format!("/users/{id}"), None).await.0, 404);
    assert_eq!(counts().await, (users, groups + 1));
    let (s, restored, _) = app.graph(Method::POST, &format!("/directory/deletedItems/{id}/restore"), None).await;
    assert_eq!(s, 200, "{restored}");
    assert_eq!(counts().await, (users + 1, groups + 1));
    // Graph does not delete groups; SCIM does (soft).
    assert_eq!(app.scim(Method::DELETE, &format!("/Groups/{group_id}"), None).await.0, 204);
    assert_eq!(app.scim(Method::DELETE, &format!("/Groups/{group_id}"), None).await.0, 404);
    assert_eq!(counts().await, (users + 1, groups));
});
