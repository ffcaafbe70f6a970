//! The defects of issue 12, each with the test that failed before its fix: connection abuse,
//! sign-in abuse (smart lockout), filter limits, refused requests on keep-alive connections,
//! SCIM's domain check, duplicated token parameters and SCIM bodies without a `Content-Type`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::*;

// Item 5: a UPN outside the tenant's domain is refused by SCIM as by Graph.
backend_test!(scim_and_graph_refuse_another_tenants_domain, |app: TestApp| async move {
    let foreign = "mia@tailspin.onmicrosoft.com";
    let (s, b, _) = app
        .scim(
            Method::POST,
            "/Users",
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": foreign, "active": true})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["scimType"], "invalidValue", "{b}");
    // A PATCH and a PUT that move an existing user into another domain are refused too.
    let id = app.user_id("member");
    let ops = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "userName", "value": foreign}]});
    let (s, b, _) = app.scim(Method::PATCH, &format!("/Users/{id}"), Some(ops)).await;
    assert_eq!((s, b["scimType"].as_str()), (400, Some("invalidValue")), "{b}");
    let (s, b, _) = app.scim(Method::PUT, &format!("/Users/{id}"), Some(json!({"userName": foreign}))).await;
    assert_eq!((s, b["scimType"].as_str()), (400, Some("invalidValue")), "{b}");
    let (_, b, _) = app.scim(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(b["userName"], upn("member"), "nothing changed");
    // The tenant's own domain, in any case, is accepted.
    let own = format!("mia@{}", DOMAIN.to_uppercase());
    let (s, b, _) = app.scim(Method::POST, "/Users", Some(json!({"userName": own, "active": true}))).await;
    assert_eq!(s, 201, "{b}");
    // Graph refuses the foreign domain with its own error.
    let (s, b, _) = app
        .graph(
            Method::POST,
            "/users",
            Some(json!({"accountEnabled": true, "displayName": "Mia", "mailNickname": "mia", "userPrincipalName": foreign,
                "passwordProfile": {"password": "Xy-12345678!"}})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"]["code"], "Request_BadRequest", "{b}");
});

// Item 6: a SCIM body without a Content-Type is 415.
backend_test!(scim_body_without_content_type_is_415, |app: TestApp| async move {
    let url = app.url(&format!("/{}/scim/v2/Users", app.tenant_id()));
    let r = app.http.post(&url).bearer_auth(SCIM_SECRET).body(r#"{"userName":"nct@fixture.onmicrosoft.com"}"#).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["status"], "415", "{b}");
    let (_, b, _) = app.scim(Method::GET, "/Users?filter=userName%20eq%20%22nct@fixture.onmicrosoft.com%22", None).await;
    assert_eq!(b["totalResults"], 0, "nothing was created: {b}");
});

// Item 6: a token request with a parameter sent twice is refused, whichever value is right.
backend_test!(token_endpoint_refuses_duplicated_parameters, |app: TestApp| async move {
    let url = app.url(&format!("/{}/oauth2/v2.0/token", app.tenant_id()));
    let app_id = app.app_id().to_string();
    for body in [
        format!("grant_type=client_credentials&client_id={app_id}&client_secret=wrong&client_secret={SECRET}&scope=https%3A%2F%2Fanalysis.windows.net%2Fpowerbi%2Fapi%2F.default"),
        format!("grant_type=client_credentials&client_id={app_id}&client_secret={SECRET}&client_secret=wrong&scope=https%3A%2F%2Fanalysis.windows.net%2Fpowerbi%2Fapi%2F.default"),
        format!("grant_type=client_credentials&grant_type=password&client_id={app_id}&client_secret={SECRET}&scope=https%3A%2F%2Fanalysis.windows.net%2Fpowerbi%2Fapi%2F.default"),
    ] {
        let r = app.http.post(&url).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["error"], "invalid_request", "{b}");
        assert_eq!(b["error_codes"], json!([9000411]), "{b}");
        assert!(b["error_description"].as_str().unwrap().contains("is duplicated"), "{b}");
    }
    // Sent once, the same request succeeds.
    let ok = format!("grant_type=client_credentials&client_id={app_id}&client_secret={SECRET}&scope=https%3A%2F%2Fanalysis.windows.net%2Fpowerbi%2Fapi%2F.default");
    let r = app.http.post(&url).header("content-type", "application/x-www-form-urlencoded").body(ok).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
});
