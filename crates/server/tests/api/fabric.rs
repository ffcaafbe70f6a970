//! The Fabric REST v1 dialect over the same store as Power BI: role assignments written through
//! one API are read through the other at once, Fabric's error body and paging, the admin reads,
//! its budgets, Fabric-scoped tokens, and routing by Microsoft's host names.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{upn, TestApp};
use crate::{backend_test, backend_test_with};

const FABRIC_RW: &str = "https://api.fabric.microsoft.com/Workspace.ReadWrite.All";
const FABRIC_READ: &str = "https://api.fabric.microsoft.com/Workspace.Read.All";

async fn fabric_token(app: &TestApp, local: &str) -> String {
    app.user_token_scoped(local, FABRIC_RW).await
}

async fn fabric(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value, reqwest::header::HeaderMap) {
    app.call(method, path, Some(token), body.map(|b| ("application/json", b.to_string().into_bytes())), &[]).await
}

/// Identifier (lowercased) and role of a workspace's users as Power BI's own endpoint lists them.
async fn power_bi_roles(app: &TestApp, ws: uuid::Uuid) -> Vec<(String, String)> {
    app.roles(ws).await
}

backend_test!(role_assignments_written_through_fabric_are_power_bi_roles, |app: TestApp| async move {
    let owner = fabric_token(&app, "owner").await;
    let team = app.ws("Team");
    let outsider = app.user_id("outsider");
    let path = format!("/v1/workspaces/{team}/roleAssignments");

    let (status, body, headers) =
        fabric(&app, Method::POST, &path, &owner, Some(json!({"principal": {"id": outsider, "type": "User"}, "role": "Viewer"}))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["id"], outsider.to_string());
    assert_eq!(body["role"], "Viewer");
    assert_eq!(body["principal"]["type"], "User");
    assert_eq!(body["principal"]["displayName"], "Otto Outsider");
    assert_eq!(body["principal"]["userDetails"]["userPrincipalName"], upn("outsider"));
    assert_eq!(headers["location"].to_str().unwrap(), app.url(&format!("{path}/{outsider}")));
    assert!(power_bi_roles(&app, team).await.contains(&(upn("outsider"), "Viewer".into())), "Power BI sees the Fabric grant");

    let (status, body, _) = fabric(&app, Method::PATCH, &format!("{path}/{outsider}"), &owner, Some(json!({"role": "Contributor"}))).await;
    assert_eq!((status, body["role"].as_str()), (200, Some("Contributor")), "{body}");
    assert!(power_bi_roles(&app, team).await.contains(&(upn("outsider"), "Contributor".into())));

    // The other way: a role granted through Power BI is a Fabric role assignment at once.
    let pbi = app.as_user("owner").await;
    pbi.add_group_user(team, &pbi_wire::powerbi::GroupUser::email(upn("newbie"), pbi_wire::powerbi::GroupUserAccessRight::Member))
        .await
        .unwrap();
    let newbie = app.user_id("newbie");
    let (status, body, _) = fabric(&app, Method::GET, &format!("{path}/{newbie}"), &owner, None).await;
    assert_eq!((status, body["role"].as_str()), (200, Some("Member")), "{body}");

    let (status, _, _) = fabric(&app, Method::DELETE, &format!("{path}/{outsider}"), &owner, None).await;
    assert_eq!(status, 200);
    assert!(!power_bi_roles(&app, team).await.iter().any(|(id, _)| *id == upn("outsider")), "Power BI no longer lists the removed role");
    let (status, body, _) = fabric(&app, Method::GET, &format!("{path}/{outsider}"), &owner, None).await;
    assert_eq!((status, body["errorCode"].as_str()), (404, Some("WorkspaceRoleAssignmentNotFound")));

    // Every change is in the activity log with the workspace endpoints' activity names.
    let activities: Vec<String> = app.activity_events().await.iter().filter_map(|e| e["Activity"].as_str().map(str::to_string)).collect();
    for expected in ["AddGroupMembers", "UpdateWorkspaceAccess", "DeleteGroupMembers"] {
        assert!(activities.iter().any(|a| a == expected), "{expected} in {activities:?}");
    }
});

backend_test!(service_principals_group_and_app_details, |app: TestApp| async move {
    let owner = fabric_token(&app, "owner").await;
    let team = app.ws("Team");
    let (status, body, _) = fabric(&app, Method::GET, &format!("/v1/workspaces/{team}/roleAssignments"), &owner, None).await;
    assert_eq!(status, 200, "{body}");
    let value = body["value"].as_array().unwrap();
    assert_eq!(value.len(), 6, "{body}");
    assert!(body.get("continuationToken").is_none() && body.get("continuationUri").is_none(), "one page: no continuation");
    let sp = value.iter().find(|r| r["id"] == app.app_object_id().to_string()).expect("the automation app");
    assert_eq!(sp["principal"]["type"], "ServicePrincipal");
    assert_eq!(sp["principal"]["servicePrincipalDetails"]["aadAppId"], app.app_id().to_string());

    let analysts = app.fixture.groups["Analysts"];
    let (status, body, _) = fabric(
        &app,
        Method::POST,
        &format!("/v1/workspaces/{team}/roleAssignments"),
        &owner,
        Some(json!({"principal": {"id": analysts, "type": "Group"}, "role": "Member"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["principal"]["groupDetails"]["groupType"], "SecurityGroup");
});

backend_test!(fabric_errors_are_in_fabric_dialect, |app: TestApp| async move {
    let team = app.ws("Team");
    let path = format!("/v1/workspaces/{team}/roleAssignments");

    let (status, body, headers) = app.call(Method::GET, &path, None, None, &[]).await;
    assert_eq!(status, 401);
    assert_eq!(body["errorCode"], "TokenNotProvided");
    assert_eq!(body["requestId"].as_str(), headers["requestid"].to_str().ok(), "requestId is the request's id");
    assert!(headers.contains_key("www-authenticate"));

    let outsider = fabric_token(&app, "outsider").await;
    let (status, body, _) = fabric(&app, Method::GET, &path, &outsider, None).await;
    assert_eq!((status, body["errorCode"].as_str()), (404, Some("WorkspaceNotFound")), "{body}");
    assert_eq!(body["relatedResource"]["resourceId"], team.to_string());

    let viewer = fabric_token(&app, "viewer").await;
    let (status, body, _) = fabric(&app, Method::GET, &path, &viewer, None).await;
    assert_eq!((status, body["errorCode"].as_str()), (403, Some("InsufficientPrivileges")), "a Viewer cannot list role assignments");
    let (status, _, _) = fabric(&app, Method::GET, &format!("/v1/workspaces/{team}"), &viewer, None).await;
    assert_eq!(status, 200, "a Viewer sees the workspace");

    // Solo's one Admin can neither leave nor step down.
    let solo = app.ws("Solo");
    let last = format!("/v1/workspaces/{solo}/roleAssignments/{}", app.user_id("outsider"));
    let (status, body, _) = fabric(&app, Method::DELETE, &last, &outsider, None).await;
    assert_eq!((status, body["errorCode"].as_str()), (400, Some("WorkspaceLastAdminRoleAssignment")), "{body}");
    let (status, body, _) = fabric(&app, Method::PATCH, &last, &outsider, Some(json!({"role": "Viewer"}))).await;
    assert_eq!((status, body["errorCode"].as_str()), (400, Some("WorkspaceLastAdminRoleAssignment")), "{body}");

    let owner = fabric_token(&app, "owner").await;

    let member = app.user_id("member");
    let (status, body, _) =
        fabric(&app, Method::POST, &path, &owner, Some(json!({"principal": {"id": member, "type": "User"}, "role": "Viewer"}))).await;
    assert_eq!((status, body["errorCode"].as_str()), (409, Some("PrincipalAlreadyHasWorkspaceRolePermissions")), "{body}");

    let nobody = uuid::Uuid::new_v4();
    let (status, body, _) =
        fabric(&app, Method::POST, &path, &owner, Some(json!({"principal": {"id": nobody, "type": "User"}, "role": "Viewer"}))).await;
    assert_eq!((status, body["errorCode"].as_str()), (404, Some("PrincipalNotFound")), "{body}");

    let (status, body, _) = fabric(&app, Method::POST, &path, &owner, Some(json!({"principal": {"id": "x"}, "role": "Viewer"}))).await;
    assert_eq!((status, body["errorCode"].as_str()), (400, Some("InvalidInput")), "{body}");
    assert!(!body["moreDetails"].as_array().unwrap().is_empty(), "the schema problem is in moreDetails: {body}");

    let (status, body, _) = fabric(
        &app,
        Method::POST,
        &path,
        &owner,
        Some(json!({"principal": {"id": app.user_id("outsider"), "type": "User"}, "role": "Owner"})),
    )
    .await;
    assert_eq!((status, body["errorCode"].as_str()), (400, Some("InvalidInput")), "{body}");

    let (status, body, _) = fabric(&app, Method::GET, "/v1/nothing/here", &owner, None).await;
    assert_eq!((status, body["errorCode"].as_str()), (404, Some("EntityNotFound")));
    let (status, body, _) = fabric(&app, Method::PUT, &path, &owner, None).await;
    assert_eq!((status, body["errorCode"].as_str()), (405, Some("MethodNotAllowed")));
    let (status, body, _) = fabric(&app, Method::GET, "/v1/workspaces/not-a-guid/roleAssignments", &owner, None).await;
    assert_eq!((status, body["errorCode"].as_str()), (400, Some("InvalidInput")));
});

backend_test!(fabric_scopes_are_enforced_and_fabric_tokens_are_issued, |app: TestApp| async move {
    let team = app.ws("Team");
    let path = format!("/v1/workspaces/{team}/roleAssignments");
    let read_only = app.user_token_scoped("owner", FABRIC_READ).await;
    let (status, _, _) = fabric(&app, Method::GET, &path, &read_only, None).await;
    assert_eq!(status, 200);
    let (status, body, _) = fabric(
        &app,
        Method::POST,
        &path,
        &read_only,
        Some(json!({"principal": {"id": app.user_id("outsider"), "type": "User"}, "role": "Viewer"})),
    )
    .await;
    assert_eq!((status, body["errorCode"].as_str()), (403, Some("InsufficientScopes")), "{body}");

    // Client credentials with Fabric's `.default`: the Power BI service's audience, good on both APIs.
    let token = app
        .token_client()
        .client_credentials_for(
            &app.tenant_id().to_string(),
            &app.app_id().to_string(),
            crate::helpers::SECRET,
            pbi_wire::fabric::FABRIC_DEFAULT_SCOPE,
        )
        .await
        .expect("Fabric app token")
        .access_token;
    let (status, body, _) = fabric(&app, Method::GET, &path, &token, None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = app.call(Method::GET, &format!("/v1.0/myorg/groups/{team}/users"), Some(&token), None, &[]).await;
    assert_eq!(status, 200);
    // A Graph token is not a Fabric token.
    let graph = app.graph_app_token().await;
    let (status, body, _) = fabric(&app, Method::GET, &path, &graph, None).await;
    assert_eq!((status, body["errorCode"].as_str()), (401, Some("InvalidToken")), "{body}");
});

backend_test_with!(
    role_assignments_and_workspaces_page_with_continuation_tokens,
    |c: &mut pbi_server::Config| c.audit.page_size = 2,
    |app: TestApp| async move {
        let owner = fabric_token(&app, "owner").await;
        let team = app.ws("Team");
        let mut path = format!("/v1/workspaces/{team}/roleAssignments");
        let mut ids = Vec::new();
        let mut pages = 0;
        loop {
            let (status, body, _) = fabric(&app, Method::GET, &path, &owner, None).await;
            assert_eq!(status, 200, "{body}");
            pages += 1;
            ids.extend(body["value"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()));
            match body["continuationUri"].as_str() {
                Some(uri) => {
                    let token = body["continuationToken"].as_str().unwrap();
                    assert!(uri.ends_with(&format!("continuationToken={token}")), "{uri}");
                    path = uri.strip_prefix(&app.url("")).unwrap().to_string();
                }
                None => break,
            }
        }
        assert_eq!(pages, 3);
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((ids.len(), unique.len()), (6, 6), "{ids:?}");

        // A token of another workspace's list is refused.
        let (_, first, _) = fabric(&app, Method::GET, &format!("/v1/workspaces/{team}/roleAssignments"), &owner, None).await;
        let token = first["continuationToken"].as_str().unwrap();
        let hub = app.ws("Marketing Hub");
        let (status, body, _) =
            fabric(&app, Method::GET, &format!("/v1/workspaces/{hub}/roleAssignments?continuationToken={token}"), &owner, None).await;
        assert_eq!((status, body["errorCode"].as_str()), (400, Some("InvalidContinuationToken")), "{body}");

        // The owner's workspaces: three, over two pages.
        let (_, body, _) = fabric(&app, Method::GET, "/v1/workspaces", &owner, None).await;
        assert_eq!(body["value"].as_array().unwrap().len(), 2);
        let token = body["continuationToken"].as_str().unwrap();
        let (_, rest, _) = fabric(&app, Method::GET, &format!("/v1/workspaces?continuationToken={token}"), &owner, None).await;
        assert_eq!(rest["value"].as_array().unwrap().len(), 1, "{rest}");
        assert!(rest.get("continuationToken").is_none());
    }
);

backend_test!(workspaces_list_by_role, |app: TestApp| async move {
    let viewer = fabric_token(&app, "viewer").await;
    let (_, all, _) = fabric(&app, Method::GET, "/v1/workspaces", &viewer, None).await;
    let names: Vec<&str> = all["value"].as_array().unwrap().iter().map(|w| w["displayName"].as_str().unwrap()).collect();
    assert_eq!(names, ["Marketing Hub", "Team"]);
    assert_eq!(all["value"][0]["type"], "Workspace");
    let (_, members, _) = fabric(&app, Method::GET, "/v1/workspaces?roles=Member", &viewer, None).await;
    let names: Vec<&str> = members["value"].as_array().unwrap().iter().map(|w| w["displayName"].as_str().unwrap()).collect();
    assert_eq!(names, ["Marketing Hub"]);
    let (status, body, _) = fabric(&app, Method::GET, "/v1/workspaces?roles=Owner", &viewer, None).await;
    assert_eq!((status, body["errorCode"].as_str()), (400, Some("InvalidInput")));
});

backend_test!(admin_apis_read_every_workspace_and_grant_temporary_access, |app: TestApp| async move {
    let admin = app.user_token_scoped("admin", "https://api.fabric.microsoft.com/Tenant.ReadWrite.All").await;
    let (status, body, _) = fabric(&app, Method::GET, "/v1/admin/workspaces", &admin, None).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["workspaces"].as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"Solo") && names.contains(&"Team"), "{names:?}");
    assert!(body["workspaces"].as_array().unwrap().iter().all(|w| w["state"] == "Active"));
    let (_, named, _) = fabric(&app, Method::GET, "/v1/admin/workspaces?name=Solo", &admin, None).await;
    assert_eq!(named["workspaces"].as_array().unwrap().len(), 1, "{named}");

    let solo = app.ws("Solo");
    let (status, body, _) = fabric(&app, Method::GET, &format!("/v1/admin/workspaces/{solo}/users"), &admin, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accessDetails"][0]["principal"]["id"], app.user_id("outsider").to_string());
    assert_eq!(body["accessDetails"][0]["workspaceAccessDetails"], json!({"type": "Workspace", "workspaceRole": "Admin"}));

    // Temporary access: the administrator holds Admin until it removes it; Power BI sees both.
    let (status, _, _) = fabric(&app, Method::POST, &format!("/v1/admin/workspaces/{solo}/grantAdminTemporaryAccess"), &admin, None).await;
    assert_eq!(status, 200);
    assert!(app.roles(solo).await.contains(&(upn("admin"), "Admin".into())));
    let (status, _, _) = fabric(&app, Method::POST, &format!("/v1/admin/workspaces/{solo}/removeAdminTemporaryAccess"), &admin, None).await;
    assert_eq!(status, 200);
    assert!(!app.roles(solo).await.iter().any(|(id, _)| *id == upn("admin")));

    // Not an administrator: refused.
    let owner = app.user_token_scoped("owner", "https://api.fabric.microsoft.com/Tenant.Read.All").await;
    let (status, body, _) = fabric(&app, Method::GET, "/v1/admin/workspaces", &owner, None).await;
    assert_eq!((status, body["errorCode"].as_str()), (403, Some("InsufficientPrivileges")), "{body}");
    // Who reaches an item: the roles (rights from the role) and direct shares, in ItemPermissions.
    let team = app.ws("Team");
    let sales = app.artifact("Team", "Dataset", "Sales");
    let (status, body, _) =
        fabric(&app, Method::GET, &format!("/v1/admin/workspaces/{team}/items/{sales}/users?type=SemanticModel"), &admin, None).await;
    assert_eq!(status, 200, "{body}");
    let details = body["accessDetails"].as_array().unwrap();
    let of = |id: uuid::Uuid| details.iter().find(|d| d["principal"]["id"] == id.to_string()).map(|d| d["itemAccessDetails"].clone());
    let outsider = of(app.user_id("outsider")).expect("shared directly with the outsider");
    assert_eq!(outsider["type"], "SemanticModel");
    assert_eq!(outsider["permissions"], json!(["Read", "Reshare"]));
    let owner_perms = of(app.user_id("owner")).expect("the workspace Admin")["permissions"].clone();
    assert!(owner_perms.as_array().unwrap().iter().any(|p| p == "Write"), "{owner_perms}");
    let (status, body, _) = fabric(&app, Method::GET, &format!("/v1/admin/workspaces/{solo}/items/{sales}/users"), &admin, None).await;
    assert_eq!((status, body["errorCode"].as_str()), (404, Some("ItemNotFound")), "the item is in another workspace");
    let (status, _, _) =
        fabric(&app, Method::GET, &format!("/v1/admin/workspaces/{team}/items/{sales}/users?type=Report"), &admin, None).await;
    assert_eq!(status, 404, "not a report");
});

/// Every page of `GET /v1/admin/users/{user}/access`, followed through `continuationUri`: the
/// entities as (type, name, permissions), and how many pages it took.
async fn access_pages(app: &TestApp, token: &str, first: &str) -> (Vec<(String, String, Value)>, usize) {
    let mut path = first.to_string();
    let (mut out, mut pages) = (Vec::new(), 0);
    loop {
        let (status, body, _) = fabric(app, Method::GET, &path, token, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        pages += 1;
        for e in body["accessEntities"].as_array().unwrap() {
            assert!(e["id"].as_str().unwrap().parse::<uuid::Uuid>().is_ok(), "{e}");
            let d = &e["itemAccessDetails"];
            assert!(d["additionalPermissions"].is_array(), "{e}");
            out.push((d["type"].as_str().unwrap().to_string(), e["displayName"].as_str().unwrap().to_string(), d["permissions"].clone()));
        }
        match body["continuationUri"].as_str() {
            Some(uri) => {
                let token = body["continuationToken"].as_str().unwrap();
                assert!(uri.ends_with(&format!("continuationToken={token}")), "{uri}");
                path = uri.strip_prefix(&app.url("")).unwrap().to_string();
            }
            None => break,
        }
    }
    (out, pages)
}

backend_test_with!(
    a_users_access_lists_items_in_microsofts_type_order_page_by_page,
    |c: &mut pbi_server::Config| c.audit.page_size = 2,
    |app: TestApp| async move {
        let admin = app.user_token_scoped("admin", "https://api.fabric.microsoft.com/Tenant.Read.All").await;
        let owner = app.user_id("owner");
        let (entities, pages) = access_pages(&app, &admin, &format!("/v1/admin/users/{owner}/access")).await;
        // Reports, Dashboards, SemanticModels, Apps, Dataflows; the workbook is no Fabric item.
        let types: Vec<&str> = entities.iter().map(|(t, _, _)| t.as_str()).collect();
        let order = ["Datamart", "Report", "PaginatedReport", "Dashboard", "SemanticModel", "App", "Dataflow"];
        let rank = |t: &str| match t {
            "PaginatedReport" => 1,
            t => order.iter().position(|o| *o == t).unwrap_or_else(|| panic!("unexpected type {t}")),
        };
        assert!(types.windows(2).all(|w| rank(w[0]) <= rank(w[1])), "{types:?}");
        let mut names: Vec<&str> = entities.iter().map(|(_, n, _)| n.as_str()).collect();
        names.sort();
        assert_eq!(names, vec!["Campaigns", "Finance", "Invoices", "Prep", "Pulse", "Sales", "Sales Report", "Team App"], "{entities:?}");
        assert_eq!(pages, 4, "8 entities, 2 a page");
        // The workspace Admin may do everything with a report.
        let report = entities.iter().find(|(_, n, _)| n == "Sales Report").unwrap();
        assert_eq!(report.2, json!(["Read", "Write", "Reshare"]));
        // By UPN, and only one type.
        let (reports, _) = access_pages(&app, &admin, &format!("/v1/admin/users/{}/access?type=SemanticModel", upn("owner"))).await;
        let mut names: Vec<&str> = reports.iter().map(|(_, n, _)| n.as_str()).collect();
        names.sort();
        assert_eq!(names, vec!["Campaigns", "Finance", "Sales"]);
        // A direct share: what the share gives.
        let (shared, _) = access_pages(&app, &admin, &format!("/v1/admin/users/{}/access", app.user_id("outsider"))).await;
        let sales = shared.iter().find(|(_, n, _)| n == "Sales").expect("shared with the outsider");
        assert_eq!((sales.0.as_str(), &sales.2), ("SemanticModel", &json!(["Read", "Reshare"])));
        // A token is sealed to its user and type; unknown users and types are refused.
        let (_, body, _) = fabric(&app, Method::GET, &format!("/v1/admin/users/{owner}/access"), &admin, None).await;
        let token = body["continuationToken"].as_str().unwrap().to_string();
        let other = app.user_id("outsider");
        let (status, body, _) =
            fabric(&app, Method::GET, &format!("/v1/admin/users/{other}/access?continuationToken={token}"), &admin, None).await;
        assert_eq!((status, body["errorCode"].as_str()), (400, Some("InvalidContinuationToken")), "{body}");
        let (status, body, _) = fabric(&app, Method::GET, &format!("/v1/admin/users/{}/access", uuid::Uuid::new_v4()), &admin, None).await;
        assert_eq!((status, body["errorCode"].as_str()), (404, Some("UserNotFound")), "{body}");
        let (status, body, _) = fabric(&app, Method::GET, &format!("/v1/admin/users/{owner}/access?type=Spaceship"), &admin, None).await;
        assert_eq!(status, 400, "{body}");
        // Administrators only.
        let (status, _, _) =
            fabric(&app, Method::GET, &format!("/v1/admin/users/{owner}/access"), &fabric_token(&app, "owner").await, None).await;
        assert!(status == 401 || status == 403, "{status}");
    }
);

backend_test_with!(
    a_users_access_is_throttled_with_retry_after,
    |c: &mut pbi_server::Config| c.throttling.admin_per_hour = 3,
    |app: TestApp| async move {
        let admin = app.user_token_scoped("admin", "https://api.fabric.microsoft.com/Tenant.Read.All").await;
        let path = format!("/v1/admin/users/{}/access", app.user_id("owner"));
        for i in 0..3 {
            let (status, body, _) = fabric(&app, Method::GET, &path, &admin, None).await;
            assert_eq!(status, 200, "call {i}: {body}");
        }
        let (status, body, headers) = fabric(&app, Method::GET, &path, &admin, None).await;
        assert_eq!((status, body["errorCode"].as_str()), (429, Some("RequestBlocked")), "{body}");
        assert!(headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() > 0);
    }
);

backend_test!(temporary_access_is_throttled_at_25_a_minute, |app: TestApp| async move {
    let admin = app.user_token_scoped("admin", "https://api.fabric.microsoft.com/Tenant.ReadWrite.All").await;
    let solo = app.ws("Solo");
    let path = format!("/v1/admin/workspaces/{solo}/grantAdminTemporaryAccess");
    for i in 0..25 {
        let (status, body, _) = fabric(&app, Method::POST, &path, &admin, None).await;
        assert_eq!(status, 200, "call {i}: {body}");
    }
    let (status, body, headers) = fabric(&app, Method::POST, &path, &admin, None).await;
    assert_eq!((status, body["errorCode"].as_str()), (429, Some("RequestBlocked")), "{body}");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(body["isRetriable"], true);
    app.clock.advance(std::time::Duration::from_secs(retry));
    let (status, _, _) = fabric(&app, Method::POST, &path, &admin, None).await;
    assert_eq!(status, 200, "the budget frees after Retry-After");
});

backend_test!(microsoft_host_names_route_to_their_api, |app: TestApp| async move {
    let owner = fabric_token(&app, "owner").await;
    let team = app.ws("Team");
    let on = |host: &'static str| [("host", host)];

    let (status, body, _) = app.call(Method::GET, "/v1/workspaces", Some(&owner), None, &on("api.fabric.microsoft.com")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body, _) = app.call(Method::GET, "/v1.0/myorg/groups", Some(&owner), None, &on("api.fabric.microsoft.com")).await;
    assert_eq!((status, body["errorCode"].as_str()), (404, Some("EntityNotFound")), "Power BI is not on Fabric's host: {body}");

    let pbi = app.user_token("owner").await;
    let (status, _, _) = app.call(Method::GET, "/v1.0/myorg/groups", Some(&pbi), None, &on("api.powerbi.com")).await;
    assert_eq!(status, 200);
    let (status, _, _) = app.call(Method::GET, "/v1/workspaces", Some(&pbi), None, &on("api.powerbi.com:443")).await;
    assert_eq!(status, 404, "Fabric is not on Power BI's host");

    let graph = app.graph_app_token().await;
    let (status, body, _) = app.call(Method::GET, "/v1.0/users?$top=1", Some(&graph), None, &on("graph.microsoft.com")).await;
    assert_eq!(status, 200, "Graph at /v1.0 on its host: {body}");

    let tenant = app.tenant_id();
    let (status, body, _) = app
        .call(Method::GET, &format!("/{tenant}/v2.0/.well-known/openid-configuration"), None, None, &on("login.microsoftonline.com"))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = app.call(Method::GET, "/v1.0/myorg/groups", Some(&pbi), None, &on("login.microsoftonline.com")).await;
    assert_eq!(status, 404);

    // URLs handed back name the host the client used.
    let (status, _, headers) = app
        .call(
            Method::POST,
            &format!("/v1/workspaces/{team}/roleAssignments"),
            Some(&owner),
            Some((
                "application/json",
                json!({"principal": {"id": app.user_id("outsider"), "type": "User"}, "role": "Viewer"}).to_string().into_bytes(),
            )),
            &on("api.fabric.microsoft.com"),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        headers["location"].to_str().unwrap(),
        format!("https://api.fabric.microsoft.com/v1/workspaces/{team}/roleAssignments/{}", app.user_id("outsider"))
    );
    // Single-origin paths keep working on 127.0.0.1.
    let (status, _, _) = app.call(Method::GET, "/graph/v1.0/users?$top=1", Some(&graph), None, &[]).await;
    assert_eq!(status, 200);
});
