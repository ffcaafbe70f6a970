//! SCIM 2.0 over HTTP, on both backends: the forms Entra ID and Okta send, errors, isolation.

use reqwest::Method;
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::*;

const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[track_caller]
fn assert_scim_error(status: u16, body: &Value, want_status: u16, want_type: Option<&str>) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["schemas"], json!([ERROR]), "{body}");
    assert_eq!(body["status"], json!(want_status.to_string()), "{body}");
    assert_eq!(body["scimType"].as_str(), want_type, "{body}");
    assert!(body["detail"].is_string(), "{body}");
}

/// The user Entra ID's provisioning service creates.
fn entra_user(upn: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "externalId": "ext-".to_string() + upn,
        "userName": upn,
        "active": true,
        "displayName": "Sam Scim",
        "title": "Analyst",
        "emails": [{"primary": true, "type": "work", "value": upn}],
        "name": {"formatted": "Sam Scim", "familyName": "Scim", "givenName": "Sam"},
        ENT: {"employeeNumber": "1001", "department": "Sales"}
    })
}

fn patch(ops: Value) -> Option<Value> {
    Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}))
}

backend_test!(scim_requires_the_tenants_own_secret, |app: TestApp| async move {
    let tenant = app.tenant_id();
    let users = format!("/{tenant}/scim/v2/Users");
    let (s, b, h) = app.call(Method::GET, &users, None, None, &[]).await;
    assert_scim_error(s, &b, 401, None);
    assert!(h.get("www-authenticate").is_some());
    assert_eq!(h["content-type"], "application/scim+json");
    let (s, b, _) = app.call(Method::GET, &users, Some("wrong-secret"), None, &[]).await;
    assert_scim_error(s, &b, 401, None);
    let other = provision_other_tenant(&app).await;
    let (s, b, _) = app.call(Method::GET, &users, Some(OTHER_SCIM_SECRET), None, &[]).await;
    assert_scim_error(s, &b, 401, None);
    let (s, b, _) = app.call(Method::GET, "/no-such-tenant.example/scim/v2/Users", Some(SCIM_SECRET), None, &[]).await;
    assert_scim_error(s, &b, 401, None);
    // The tenant may be named by its domain, as in token URLs.
    let (s, b, _) = app.call(Method::GET, &format!("/{DOMAIN}/scim/v2/Users?count=1"), Some(SCIM_SECRET), None, &[]).await;
    assert_eq!(s, 200, "{b}");
    // Tenant B's secret sees only tenant B, and cannot reach tenant A's objects by id.
    let olga_in_b = format!("/{}/scim/v2/Users", other.tenant.id);
    let (s, b, _) = app.call(Method::GET, &olga_in_b, Some(OTHER_SCIM_SECRET), None, &[]).await;
    assert_eq!(s, 200);
    assert_eq!(b["totalResults"], json!(1), "{b}");
    assert_eq!(b["Resources"][0]["userName"], json!(format!("olga@{OTHER_DOMAIN}")));
    let a_user = app.user_id("member");
    let (s, b, _) = app.call(Method::GET, &format!("{olga_in_b}/{a_user}"), Some(OTHER_SCIM_SECRET), None, &[]).await;
    assert_scim_error(s, &b, 404, None);
    let body = patch(json!([{"op": "replace", "path": "active", "value": false}])).unwrap().to_string().into_bytes();
    let (s, _, _) = app
        .call(Method::PATCH, &format!("{olga_in_b}/{a_user}"), Some(OTHER_SCIM_SECRET), Some(("application/scim+json", body)), &[])
        .await;
    assert_eq!(s, 404);
    let (_, b, _) = app.scim(Method::GET, &format!("/Users/{a_user}"), None).await;
    assert_eq!(b["active"], json!(true), "tenant A's user is untouched");
});

backend_test!(scim_user_lifecycle_in_entra_forms, |app: TestApp| async move {
    let upn = upn("sam");
    let (s, created, h) = app.scim(Method::POST, "/Users", Some(entra_user(&upn))).await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(h["content-type"], "application/scim+json");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(h["location"].to_str().unwrap().ends_with(&format!("/scim/v2/Users/{id}")));
    assert_eq!(h["etag"], "W/\"1\"");
    assert_eq!(created["meta"]["version"], json!("W/\"1\""));
    assert_eq!(created["meta"]["resourceType"], json!("User"));
    assert_eq!(created["name"]["givenName"], json!("Sam"));
    assert_eq!(created["name"]["formatted"], json!("Sam Scim"));
    assert_eq!(created[ENT]["employeeNumber"], json!("1001"));
    assert_eq!(created["emails"][0]["value"], json!(upn));

    // A duplicate userName (in any case) is a uniqueness conflict.
    let (s, b, _) = app.scim(Method::POST, "/Users", Some(entra_user(&upn.to_uppercase()))).await;
    assert_scim_error(s, &b, 409, Some("uniqueness"));

    // Entra's lookup before it creates.
    let (s, b, _) = app.scim(Method::GET, &format!("/Users?filter=userName+eq+%22{}%22", upn.to_uppercase()), None).await;
    assert_eq!(s, 200);
    assert_eq!(b["totalResults"], json!(1));
    assert_eq!(b["Resources"][0]["id"], json!(id));

    // The PATCH forms Entra ID sends.
    let (s, b, h) = app
        .scim(
            Method::PATCH,
            &format!("/Users/{id}"),
            patch(json!([
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "sam.new@contoso.com"},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "2002"},
                {"op": "Replace", "path": "name.givenName", "value": "Samuel"},
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"},
                {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": app.user_id("owner").to_string()}
            ])),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["active"], json!(false));
    assert_eq!(b["emails"][0]["value"], json!("sam.new@contoso.com"));
    assert_eq!(b[ENT]["employeeNumber"], json!("2002"));
    assert_eq!(b[ENT]["manager"]["value"], json!(app.user_id("owner").to_string()));
    assert_eq!(b["name"]["givenName"], json!("Samuel"));
    assert_eq!(b["phoneNumbers"][0]["value"], json!("+1 555 0100"));
    assert_eq!(h["etag"], "W/\"2\"");
    // Okta's form: no path, a value object.
    let (s, b, _) = app
        .scim(Method::PATCH, &format!("/Users/{id}"), patch(json!([{"op": "replace", "value": {"active": true, "displayName": "Sam S."}}])))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!((b["active"].clone(), b["displayName"].clone()), (json!(true), json!("Sam S.")));
    assert_eq!(b["meta"]["version"], json!("W/\"3\""));

    // ETags: a stale If-Match is 412, the current one passes; If-None-Match gives 304.
    let path = format!("/{}/scim/v2/Users/{id}", app.tenant_id());
    let body = patch(json!([{"op": "replace", "path": "title", "value": "Lead"}])).unwrap().to_string().into_bytes();
    let (s, b, _) =
        app.call(Method::PATCH, &path, Some(SCIM_SECRET), Some(("application/scim+json", body.clone())), &[("if-match", "W/\"1\"")]).await;
    assert_scim_error(s, &b, 412, None);
    let (s, b, _) = app.call(Method::PATCH, &path, Some(SCIM_SECRET), Some(("application/json", body)), &[("if-match", "W/\"3\"")]).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["title"], json!("Lead"));
    let (s, _, _) = app.call(Method::GET, &path, Some(SCIM_SECRET), None, &[("if-none-match", "W/\"4\"")]).await;
    assert_eq!(s, 304);
    // A PATCH that changes nothing keeps the version.
    let (_, b, _) =
        app.scim(Method::PATCH, &format!("/Users/{id}"), patch(json!([{"op": "replace", "path": "title", "value": "Lead"}]))).await;
    assert_eq!(b["meta"]["version"], json!("W/\"4\""));

    // PUT replaces: attributes left out are cleared.
    let mut put = entra_user(&upn);
    put.as_object_mut().unwrap().remove("title");
    let (s, b, _) = app.scim(Method::PUT, &format!("/Users/{id}"), Some(put)).await;
    assert_eq!(s, 200, "{b}");
    assert!(b.get("title").is_none(), "{b}");
    assert_eq!(b[ENT]["employeeNumber"], json!("1001"));

    // DELETE soft-deletes; the user is gone from SCIM and its UPN is free again.
    let (s, _, _) = app.scim(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(s, 204);
    let (s, b, _) = app.scim(Method::GET, &format!("/Users/{id}"), None).await;
    assert_scim_error(s, &b, 404, None);
    let (s, b, _) = app.scim(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_scim_error(s, &b, 404, None);
    let (s, b, _) = app.scim(Method::POST, "/Users", Some(entra_user(&upn))).await;
    assert_eq!(s, 201, "{b}");
    assert_ne!(b["id"].as_str().unwrap(), id);
});

backend_test!(scim_filters_paging_and_projection, |app: TestApp| async move {
    let list = |q: &str| {
        let app = &app;
        let q = q.to_string();
        async move {
            let (s, b, _) = app.scim(Method::GET, &format!("/Users?{q}"), None).await;
            assert_eq!(s, 200, "{q}: {b}");
            b
        }
    };
    let names = |b: &Value| -> Vec<String> {
        let mut v: Vec<String> = b["Resources"].as_array().unwrap().iter().map(|r| r["userName"].as_str().unwrap().to_string()).collect();
        v.sort();
        v
    };
    let all = list("").await;
    assert_eq!(all["totalResults"], json!(10));
    assert_eq!(all["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"]));
    let enc = |f: &str| percent_encoding::utf8_percent_encode(f, percent_encoding::NON_ALPHANUMERIC).to_string();
    assert_eq!(names(&list(&format!("filter={}", enc(r#"userName sw "m""#))).await), vec![upn("mailuser"), upn("member")]);
    assert_eq!(names(&list(&format!("filter={}", enc(r#"active eq false"#))).await), vec![upn("disabled")]);
    assert_eq!(names(&list(&format!("filter={}", enc(r#"userType eq "Guest""#))).await), vec![GUEST.to_string()]);
    assert_eq!(
        names(&list(&format!("filter={}", enc(r#"userName eq "MEMBER@fixture.onmicrosoft.com" or displayName eq "max member""#))).await),
        vec![upn("member")]
    );
    assert_eq!(names(&list(&format!("filter={}", enc(r#"displayName sw "MAX " and active eq true"#))).await), vec![upn("member")]);
    // Filters the store cannot answer from an index are refused, naming the attribute.
    for unindexed in [r#"emails[type eq "work" and value ew "@contoso.com"]"#, r#"userName co "@fixture""#, r#"title eq "x""#] {
        let (s, b, _) = app.scim(Method::GET, &format!("/Users?filter={}", enc(unindexed)), None).await;
        assert_scim_error(s, &b, 400, Some("invalidFilter"));
    }
    let (_, b, _) = app.scim(Method::GET, &format!("/Users?filter={}", enc(r#"title eq "x""#)), None).await;
    assert!(b["detail"].as_str().unwrap().contains("'title'"), "{b}");
    // Paging: 1-based startIndex, count; totalResults counts every match.
    let page = list("startIndex=3&count=2").await;
    assert_eq!((page["totalResults"].clone(), page["startIndex"].clone(), page["itemsPerPage"].clone()), (json!(10), json!(3), json!(2)));
    assert_eq!(page["Resources"][0]["id"], all["Resources"][2]["id"]);
    assert_eq!(list("startIndex=0&count=0").await["itemsPerPage"], json!(0));
    // attributes / excludedAttributes.
    let b = list(&format!("filter={}&attributes=userName,name.familyName", enc(r#"userName eq "admin@fixture.onmicrosoft.com""#))).await;
    let r = b["Resources"][0].as_object().unwrap();
    let mut keys: Vec<&str> = r.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, vec!["id", "schemas", "userName"], "Fabric Admin has no familyName: {r:?}");
    let b = list("count=1&excludedAttributes=emails,meta,id").await;
    let r = b["Resources"][0].as_object().unwrap();
    assert!(!r.contains_key("emails") && !r.contains_key("meta") && r.contains_key("id") && r.contains_key("userName"));
    // Bad filters and parameters are SCIM 400s.
    for bad in [r#"userName eq"#, r#"userName zz "a""#, r#"(userName eq "a""#, r#"active gt true"#, r#"urn:x:y eq "a""#] {
        let (s, b, _) = app.scim(Method::GET, &format!("/Users?filter={}", enc(bad)), None).await;
        assert_scim_error(s, &b, 400, Some("invalidFilter"));
    }
    let (s, b, _) = app.scim(Method::GET, "/Users?count=lots", None).await;
    assert_scim_error(s, &b, 400, Some("invalidValue"));
});

backend_test!(scim_groups_members_nesting_and_cycles, |app: TestApp| async move {
    let member = app.user_id("member").to_string();
    let viewer = app.user_id("viewer").to_string();
    let (s, g, h) = app
        .scim(
            Method::POST,
            "/Groups",
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Provisioned", "externalId": "okta-1", "members": [{"value": member}]})),
        )
        .await;
    assert_eq!(s, 201, "{g}");
    assert!(h.get("location").is_some());
    let gid = g["id"].as_str().unwrap().to_string();
    assert_eq!(g["members"][0]["value"], json!(member));
    assert_eq!(g["members"][0]["type"], json!("User"));
    // Entra's member add and remove forms, then Okta's.
    let (s, b, _) = app
        .scim(Method::PATCH, &format!("/Groups/{gid}"), patch(json!([{"op": "Add", "path": "members", "value": [{"value": viewer}]}])))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["members"].as_array().unwrap().len(), 2);
    let (_, b, _) = app
        .scim(Method::PATCH, &format!("/Groups/{gid}"), patch(json!([{"op": "Remove", "path": "members", "value": [{"value": member}]}])))
        .await;
    assert_eq!(b["members"], json!([{"value": viewer, "display": "Vic Viewer", "type": "User", "$ref": b["members"][0]["$ref"]}]));
    let (_, b, _) = app
        .scim(Method::PATCH, &format!("/Groups/{gid}"), patch(json!([{"op": "remove", "path": format!("members[value eq \"{viewer}\"]")}])))
        .await;
    assert_eq!(b["members"], json!([]));
    // The user's `groups` attribute follows membership.
    app.scim(Method::PATCH, &format!("/Groups/{gid}"), patch(json!([{"op": "add", "path": "members", "value": [{"value": member}]}])))
        .await;
    let (_, u, _) = app.scim(Method::GET, &format!("/Users/{member}"), None).await;
    assert_eq!(u["groups"][0]["value"], json!(gid));
    // Nesting works; a cycle does not.
    let (_, outer, _) = app.scim(Method::POST, "/Groups", Some(json!({"displayName": "Outer", "members": [{"value": gid}]}))).await;
    let outer_id = outer["id"].as_str().unwrap().to_string();
    assert_eq!(outer["members"][0]["type"], json!("Group"));
    let (s, b, _) = app
        .scim(Method::PATCH, &format!("/Groups/{gid}"), patch(json!([{"op": "add", "path": "members", "value": [{"value": outer_id}]}])))
        .await;
    assert_scim_error(s, &b, 400, Some("invalidValue"));
    let (s, b, _) = app
        .scim(Method::PATCH, &format!("/Groups/{gid}"), patch(json!([{"op": "add", "path": "members", "value": [{"value": gid}]}])))
        .await;
    assert_scim_error(s, &b, 400, Some("invalidValue"));
    let unknown = uuid::Uuid::new_v4().to_string();
    let (s, b, _) = app
        .scim(Method::PATCH, &format!("/Groups/{gid}"), patch(json!([{"op": "add", "path": "members", "value": [{"value": unknown}]}])))
        .await;
    assert_scim_error(s, &b, 400, Some("invalidValue"));
    // Rename by PATCH, list with Entra's excludedAttributes=members and a filter.
    let (_, b, _) = app
        .scim(Method::PATCH, &format!("/Groups/{gid}"), patch(json!([{"op": "Replace", "path": "displayName", "value": "Renamed"}])))
        .await;
    assert_eq!(b["displayName"], json!("Renamed"));
    let (s, b, _) = app.scim(Method::GET, "/Groups?excludedAttributes=members&filter=displayName+eq+%22renamed%22", None).await;
    assert_eq!(s, 200);
    assert_eq!(b["totalResults"], json!(1));
    assert!(b["Resources"][0].get("members").is_none());
    assert_eq!(b["Resources"][0]["externalId"], json!("okta-1"));
    // PUT replaces members too; DELETE soft-deletes.
    let (s, b, _) =
        app.scim(Method::PUT, &format!("/Groups/{gid}"), Some(json!({"displayName": "Put", "members": [{"value": viewer}]}))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["members"].as_array().unwrap().len(), 1);
    assert_eq!(app.scim(Method::DELETE, &format!("/Groups/{gid}"), None).await.0, 204);
    let (s, b, _) = app.scim(Method::GET, &format!("/Groups/{gid}"), None).await;
    assert_scim_error(s, &b, 404, None);
    let (_, b, _) = app.scim(Method::GET, &format!("/Groups/{outer_id}"), None).await;
    assert_eq!(b["members"], json!([]), "a deleted group is no longer shown as a member");
});

backend_test!(scim_bad_input_gets_scim_errors_never_500, |app: TestApp| async move {
    let t = app.tenant_id();
    let raw = |method: Method, path: String, ct: &'static str, body: &'static [u8]| {
        let app = &app;
        async move { app.call(method, &format!("/{t}/scim/v2{path}"), Some(SCIM_SECRET), Some((ct, body.to_vec())), &[]).await }
    };
    let sj = "application/scim+json";
    let id = app.user_id("member");
    let (s, b, _) = raw(Method::POST, "/Users".into(), sj, b"{not json").await;
    assert_scim_error(s, &b, 400, Some("invalidSyntax"));
    let (s, b, _) = raw(Method::POST, "/Users".into(), sj, b"[1,2]").await;
    assert_scim_error(s, &b, 400, Some("invalidSyntax"));
    let (s, b, _) = raw(Method::POST, "/Users".into(), "text/plain", b"{}").await;
    assert_scim_error(s, &b, 415, None);
    let (s, b, _) = raw(Method::POST, "/Users".into(), sj, br#"{"displayName":"No userName"}"#).await;
    assert_scim_error(s, &b, 400, Some("invalidValue"));
    let (s, b, _) = raw(Method::POST, "/Users".into(), sj, br#"{"userName":"not-an-upn"}"#).await;
    assert_scim_error(s, &b, 400, Some("invalidValue"));
    let (s, b, _) = raw(Method::POST, "/Users".into(), sj, br#"{"userName":"x@fixture.onmicrosoft.com","active":"maybe"}"#).await;
    assert_scim_error(s, &b, 400, Some("invalidValue"));
    let (s, b, _) = raw(Method::POST, "/Users".into(), sj, br#"{"userName":"x@fixture.onmicrosoft.com","emails":"a@b"}"#).await;
    assert_scim_error(s, &b, 400, Some("invalidValue"));
    let (s, b, _) = raw(Method::PATCH, format!("/Users/{id}"), sj, br#"{"schemas":[]}"#).await;
    assert_scim_error(s, &b, 400, Some("invalidSyntax"));
    let (s, b, _) = raw(Method::PATCH, format!("/Users/{id}"), sj, br#"{"Operations":[{"op":"replace","path":"id","value":"x"}]}"#).await;
    assert_scim_error(s, &b, 400, Some("mutability"));
    let (s, b, _) =
        raw(Method::PATCH, format!("/Users/{id}"), sj, br#"{"Operations":[{"op":"replace","path":"emails[type","value":"x"}]}"#).await;
    assert_scim_error(s, &b, 400, Some("invalidPath"));
    let (s, b, _) = raw(
        Method::PATCH,
        format!("/Users/{id}"),
        sj,
        br#"{"Operations":[{"op":"replace","path":"userName","value":"admin@fixture.onmicrosoft.com"}]}"#,
    )
    .await;
    assert_scim_error(s, &b, 409, Some("uniqueness"));
    let (s, b, _) = raw(Method::PUT, format!("/Users/{id}"), sj, br#"{"id":"other","userName":"member@fixture.onmicrosoft.com"}"#).await;
    assert_scim_error(s, &b, 400, Some("mutability"));
    for path in ["/Users/not-a-uuid".to_string(), format!("/Users/{}", uuid::Uuid::new_v4()), format!("/Groups/{}", uuid::Uuid::new_v4())] {
        let (s, b, _) = app.scim(Method::GET, &path, None).await;
        assert_scim_error(s, &b, 404, None);
    }
    let (s, b, _) = app.scim(Method::GET, "/Nothing/here", None).await;
    assert_scim_error(s, &b, 404, None);
    let (s, b, _) = app.scim(Method::DELETE, "/Users", None).await;
    assert_scim_error(s, &b, 405, None);
    let (s, b, _) = app.scim(Method::GET, "/Users?filter=userName%20eq%20%22a%00%22", None).await;
    assert_scim_error(s, &b, 400, Some("invalidFilter"));
});

backend_test!(scim_discovery_advertises_what_is_implemented, |app: TestApp| async move {
    let t = app.tenant_id();
    let get = |p: &str| {
        let app = &app;
        let p = format!("/{t}/scim/v2{p}");
        async move { app.call(Method::GET, &p, None, None, &[]).await }
    };
    let (s, spc, h) = get("/ServiceProviderConfig").await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "application/scim+json");
    assert_eq!(
        (spc["patch"]["supported"].clone(), spc["bulk"]["supported"].clone(), spc["etag"]["supported"].clone()),
        (json!(true), json!(false), json!(true))
    );
    let (_, rts, _) = get("/ResourceTypes").await;
    assert_eq!(rts["totalResults"], json!(2));
    let (s, user_rt, _) = get("/ResourceTypes/User").await;
    assert_eq!((s, user_rt["schemaExtensions"][0]["schema"].clone()), (200, json!(ENT)));
    let (_, schemas, _) = get("/Schemas").await;
    let ids: Vec<&str> = schemas["Resources"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["urn:ietf:params:scim:schemas:core:2.0:User", ENT, "urn:ietf:params:scim:schemas:core:2.0:Group"]);
    let (_, user, _) = get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").await;
    let attrs: Vec<&str> = user["attributes"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(
        attrs,
        vec![
            "userName",
            "name",
            "displayName",
            "nickName",
            "profileUrl",
            "title",
            "userType",
            "preferredLanguage",
            "locale",
            "timezone",
            "active",
            "password",
            "emails",
            "phoneNumbers",
            "addresses",
            "groups"
        ]
    );
    // Every advertised attribute round-trips through create and read.
    let (s, created, _) = app
        .scim(
            Method::POST,
            "/Users",
            Some(json!({
                "userName": upn("everything"), "name": {"formatted": "E V", "familyName": "V", "givenName": "E", "middleName": "M", "honorificPrefix": "Dr", "honorificSuffix": "III"},
                "displayName": "E V", "nickName": "ev", "profileUrl": "https://example.test/ev", "title": "T", "userType": "Guest",
                "preferredLanguage": "en-US", "locale": "en-US", "timezone": "Europe/Paris", "active": false, "password": "S3cret-pass!",
                "emails": [{"value": "ev@work.test", "type": "work", "primary": true}, {"value": "ev@home.test", "type": "home"}],
                "phoneNumbers": [{"value": "+33 1", "type": "work"}], "addresses": [{"country": "FR", "type": "work", "locality": "Paris"}],
                ENT: {"employeeNumber": "9", "costCenter": "CC", "organization": "O", "division": "D", "department": "Dep", "manager": {"value": app.user_id("owner").to_string()}}
            })),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let (_, got, _) = app.scim(Method::GET, &format!("/Users/{}", created["id"].as_str().unwrap()), None).await;
    for key in [
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "active",
        "phoneNumbers",
        "addresses",
        "emails",
    ] {
        assert!(got.get(key).is_some_and(|v| !v.is_null()), "{key} missing from {got}");
    }
    assert!(got.get("password").is_none(), "password is never returned");
    assert_eq!(got["name"]["honorificSuffix"], json!("III"));
    assert_eq!(got["emails"].as_array().unwrap().len(), 2);
    for key in ["employeeNumber", "costCenter", "organization", "division", "department", "manager"] {
        assert!(got[ENT].get(key).is_some(), "{key} missing from {got}");
    }
    let (s, b, _) = get("/Schemas/urn:nope").await;
    assert_scim_error(s, &b, 404, None);
});

backend_test!(scim_writes_the_rows_power_bi_reads, |app: TestApp| async move {
    let (_, created, _) = app.scim(Method::POST, "/Users", Some(entra_user(&upn("sam")))).await;
    let id = created["id"].as_str().unwrap().to_string();
    let team = app.ws("Team");
    let owner = app.as_user("owner").await;
    use pbi_wire::powerbi::{GroupUser, GroupUserAccessRight, PrincipalType};
    let viewer = GroupUser::principal(upn("sam"), PrincipalType::User, GroupUserAccessRight::Viewer);
    owner.add_group_user(team, &viewer).await.unwrap();
    let shown = |users: Vec<pbi_wire::powerbi::GroupUser>| users.into_iter().find(|u| u.identifier.as_deref() == Some(upn("sam").as_str()));
    assert_eq!(shown(owner.get_group_users(team).await.unwrap()).unwrap().display_name.as_deref(), Some("Sam Scim"));
    // A rename through SCIM shows at once in the workspace list (the view cache is invalidated).
    app.scim(Method::PATCH, &format!("/Users/{id}"), patch(json!([{"op": "replace", "path": "displayName", "value": "Samantha"}]))).await;
    assert_eq!(shown(owner.get_group_users(team).await.unwrap()).unwrap().display_name.as_deref(), Some("Samantha"));
    // active=false disables sign-in but keeps the workspace role.
    app.scim(Method::PATCH, &format!("/Users/{id}"), patch(json!([{"op": "Replace", "path": "active", "value": "False"}]))).await;
    let (s, b, _) = app.call(Method::POST, &format!("/{}/scim/v2/Users/{id}", app.tenant_id()), Some(SCIM_SECRET), None, &[]).await;
    assert_eq!((s, b["status"].clone()), (405, json!("405")));
    assert!(shown(owner.get_group_users(team).await.unwrap()).is_some(), "a disabled user keeps its role");
    // A user disabled through SCIM gets no token (AADSTS50057 after the password check).
    let disabled = app
        .token_client()
        .password(
            &app.tenant_id().to_string(),
            &app.app_id().to_string(),
            &upn("disabled"),
            PASSWORD,
            pbi_wire::oauth::POWERBI_DEFAULT_SCOPE,
        )
        .await;
    assert!(format!("{disabled:?}").contains("50057"), "{disabled:?}");
    app.scim(
        Method::PATCH,
        &format!("/Users/{}", app.user_id("viewer")),
        patch(json!([{"op": "replace", "path": "active", "value": false}])),
    )
    .await;
    let viewer_token = app
        .token_client()
        .password(&app.tenant_id().to_string(), &app.app_id().to_string(), &upn("viewer"), PASSWORD, pbi_wire::oauth::POWERBI_DEFAULT_SCOPE)
        .await;
    assert!(format!("{viewer_token:?}").contains("50057"), "{viewer_token:?}");
    // Groups created through SCIM can hold workspace roles.
    let (_, g, _) = app.scim(Method::POST, "/Groups", Some(json!({"displayName": "From SCIM"}))).await;
    let group = GroupUser::principal(g["id"].as_str().unwrap(), PrincipalType::Group, GroupUserAccessRight::Viewer);
    owner.add_group_user(team, &group).await.unwrap();
    // A group deleted through SCIM no longer resolves as a principal.
    app.scim(Method::DELETE, &format!("/Groups/{}", g["id"].as_str().unwrap()), None).await;
    assert_api_error(owner.update_group_user(team, &group).await, 400, "PrincipalNotFound");
});

backend_test!(scim_group_lists_are_served_from_indexes_and_paged, |app: TestApp| async move {
    let member = app.user_id("member").to_string();
    let mut ids = Vec::new();
    for i in 0..5 {
        let body = json!({"displayName": format!("Team {i}"), "externalId": format!("ext-{i}"), "members": [{"value": member}]});
        let (s, g, _) = app.scim(Method::POST, "/Groups", Some(body)).await;
        assert_eq!(s, 201, "{g}");
        ids.push(g["id"].as_str().unwrap().to_string());
    }
    let list = |q: &str| {
        let app = &app;
        let q = q.to_string();
        async move {
            let (s, b, _) = app.scim(Method::GET, &format!("/Groups{q}"), None).await;
            assert_eq!(s, 200, "{q}: {b}");
            b
        }
    };
    let names = |b: &Value| -> Vec<String> {
        b["Resources"].as_array().unwrap().iter().map(|r| r["displayName"].as_str().unwrap().to_string()).collect()
    };
    // One eq on displayName (any case), externalId or id.
    let b = list("?filter=displayName+eq+%22TEAM+3%22").await;
    assert_eq!((b["totalResults"].clone(), names(&b)), (json!(1), vec!["Team 3".to_string()]));
    assert_eq!(b["Resources"][0]["members"][0]["value"], json!(member), "members are shown unless excluded");
    let b = list("?filter=externalId+eq+%22ext-1%22&excludedAttributes=members").await;
    assert_eq!(names(&b), vec!["Team 1"]);
    assert!(b["Resources"][0].get("members").is_none());
    let b = list(&format!("?filter=id+eq+%22{}%22", ids[4])).await;
    assert_eq!(names(&b), vec!["Team 4"]);
    let b = list("?filter=externalId+eq+%22EXT-1%22").await;
    assert_eq!(b["totalResults"], json!(0), "externalId is case-exact");
    let b = list("?filter=id+eq+%22not-a-uuid%22").await;
    assert_eq!(b["totalResults"], json!(0));
    // startIndex/count pages in id order: every group once.
    let all = list("?excludedAttributes=members").await;
    let total = all["totalResults"].as_u64().unwrap() as usize;
    assert_eq!(total, 6, "five new groups and the fixture's Analysts");
    let mut seen = Vec::new();
    for start in (1..=total).step_by(2) {
        let b = list(&format!("?excludedAttributes=members&startIndex={start}&count=2")).await;
        assert_eq!((b["startIndex"].clone(), b["totalResults"].clone()), (json!(start), json!(total)));
        seen.extend(b["Resources"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()));
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "id order");
    sorted.dedup();
    assert_eq!(sorted.len(), total);
    // A deleted group is not listed.
    assert_eq!(app.scim(Method::DELETE, &format!("/Groups/{}", ids[3]), None).await.0, 204);
    assert_eq!(list("?filter=displayName+eq+%22Team+3%22").await["totalResults"], json!(0));
    // A filter no index serves is refused, naming the attribute.
    for q in [
        "displayName+co+%22Team%22",
        "members%5Bvalue+eq+%22x%22%5D",
        "displayName+eq+%22a%22+or+displayName+eq+%22b%22",
        "meta.created+gt+%222020%22",
    ] {
        let (s, b, _) = app.scim(Method::GET, &format!("/Groups?filter={q}"), None).await;
        assert_scim_error(s, &b, 400, Some("invalidFilter"));
    }
    let (_, b, _) = app.scim(Method::GET, "/Groups?filter=displayName+co+%22Team%22", None).await;
    assert!(b["detail"].as_str().unwrap().contains("displayName"), "{b}");
});
