//! Directory changes that change access (SCIM and Graph) are in the activity log: group
//! membership of groups that reach Power BI, account disable, delete and restore, licenses.
//! Read back through `GET /admin/activityevents` with `$filter=Activity eq '…'`.

use pbi_server::Clock;
use pbi_wire::powerbi::{GroupUserAccessRight, PrincipalType};
use reqwest::Method;
use serde_json::{json, Value};

use crate::activity::{all_events, day_window};
use crate::helpers::*;
use crate::{backend_test, backend_test_with};

/// These tests read the directory events back through the activity log, where a setting puts them.
fn entra_events(c: &mut pbi_server::config::Config) {
    c.audit.entra_events_in_activity_log = true;
}

const PRO: &str = "f8a1db68-be16-40ed-86d5-cb42ce701560";

/// Every event of today with this activity name, through the admin API.
async fn events_named(app: &TestApp, token: &str, activity: &str) -> Vec<Value> {
    let filter = format!("Activity eq '{activity}'").replace(' ', "%20");
    let path = format!("/v1.0/myorg/admin/activityevents?{}&$filter={filter}", day_window(app.clock.now()));
    let (events, _, _) = all_events(app, token, &path).await;
    events
}

fn reference(id: impl std::fmt::Display) -> Option<Value> {
    Some(json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")}))
}

fn scim_patch(operations: Value) -> Option<Value> {
    Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations}))
}

backend_test_with!(scim_and_graph_changes_of_access_are_in_the_activity_log, entra_events, |app: TestApp| async move {
    let admin = app.user_token("admin").await;
    // Events of one instant come in id order: a millisecond between changes keeps their order.
    let tick = || app.clock.advance(std::time::Duration::from_millis(1));
    // Analysts holds a share of the Team dashboard: its membership is access to Power BI.
    let analysts = app.fixture.groups["Analysts"];
    let (outsider, newbie, viewer, member) = (app.user_id("outsider"), app.user_id("newbie"), app.user_id("viewer"), app.user_id("member"));

    // Graph: a member joins and leaves Analysts.
    assert_eq!(app.graph(Method::POST, &format!("/groups/{analysts}/members/$ref"), reference(outsider)).await.0, 204);
    tick();
    assert_eq!(app.graph(Method::DELETE, &format!("/groups/{analysts}/members/{outsider}/$ref"), None).await.0, 204);
    tick();
    // A group that reaches nothing: joining it changes no access, and is not recorded.
    let (s, lonely, _) = app
        .graph(
            Method::POST,
            "/groups",
            Some(json!({"displayName": "Lonely", "mailEnabled": false, "mailNickname": "lonely", "securityEnabled": true})),
        )
        .await;
    assert_eq!(s, 201, "{lonely}");
    let lonely = lonely["id"].as_str().unwrap().to_string();
    assert_eq!(app.graph(Method::POST, &format!("/groups/{lonely}/members/$ref"), reference(outsider)).await.0, 204);
    tick();
    // ...until it is nested in Analysts: then its members reach the dashboard too.
    assert_eq!(app.graph(Method::POST, &format!("/groups/{analysts}/members/$ref"), reference(&lonely)).await.0, 204);
    tick();
    assert_eq!(app.graph(Method::POST, &format!("/groups/{lonely}/members/$ref"), reference(member)).await.0, 204);
    tick();

    // SCIM: Entra ID's provisioning PATCH adds newbie to Analysts and disables viewer.
    let (s, b, _) = app
        .scim(
            Method::PATCH,
            &format!("/Groups/{analysts}"),
            scim_patch(json!([{"op": "Add", "path": "members", "value": [{"value": newbie.to_string()}]}])),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    tick();
    let (s, b, _) = app
        .scim(Method::PATCH, &format!("/Users/{viewer}"), scim_patch(json!([{"op": "Replace", "path": "active", "value": "False"}])))
        .await;
    assert_eq!(s, 200, "{b}");
    tick();
    // A change that is not of access (a usage location) records nothing.
    assert_eq!(app.graph(Method::PATCH, &format!("/users/{member}"), Some(json!({"usageLocation": "US"}))).await.0, 204);
    tick();

    // Graph: delete and restore a user; a license.
    assert_eq!(app.graph(Method::DELETE, &format!("/users/{outsider}"), None).await.0, 204);
    tick();
    let (s, b, _) = app.graph(Method::POST, &format!("/directory/deletedItems/{outsider}/restore"), None).await;
    assert_eq!(s, 200, "{b}");
    tick();
    app.store.upsert_subscribed_sku(app.tenant_id(), PRO.parse().unwrap(), "POWER_BI_PRO", 5).await.unwrap();
    let assign = json!({"addLicenses": [{"disabledPlans": [], "skuId": PRO}], "removeLicenses": []});
    assert_eq!(app.graph(Method::POST, &format!("/users/{member}/assignLicense"), Some(assign)).await.0, 200);
    tick();

    // The log, filtered by the activity names an auditor looks for.
    let added = events_named(&app, &admin, "Add member to group").await;
    let targets: Vec<&str> = added.iter().map(|e| e["ObjectId"].as_str().unwrap()).collect();
    assert_eq!(targets, vec![upn("outsider").as_str(), "Lonely", upn("member").as_str(), upn("newbie").as_str()], "{added:?}");
    let first = &added[0];
    assert_eq!(first["Workload"], "AzureActiveDirectory");
    assert_eq!(first["RecordType"], 8);
    assert_eq!(first["Operation"], "Add member to group");
    assert_eq!(first["UserKey"], app.app_object_id().to_string(), "the Graph caller: {first}");
    assert_eq!(first["UserType"], 6);
    assert_eq!(first["Target"], json!([{"ID": outsider.to_string(), "Type": "User"}]));
    assert_eq!(
        first["ModifiedProperties"][0],
        json!({"Name": "Group.ObjectID", "OldValue": "[]", "NewValue": format!("[\"{analysts}\"]")})
    );
    assert_eq!(first["ModifiedProperties"][1]["NewValue"], "[\"Analysts\"]");
    assert!(first.get("WorkspaceId").is_none(), "{first}");
    let scim = &added[3];
    assert_eq!((scim["UserId"].as_str(), scim["UserKey"].as_str()), (Some("ScimProvisioning"), Some(app.tenant_id().to_string().as_str())));

    let removed = events_named(&app, &admin, "Remove member from group").await;
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(removed[0]["ModifiedProperties"][0]["OldValue"], format!("[\"{analysts}\"]"));

    let updates = events_named(&app, &admin, "Update user").await;
    assert_eq!(updates.len(), 1, "only the disable changed access: {updates:?}");
    assert_eq!(updates[0]["ObjectId"], upn("viewer"));
    assert_eq!(updates[0]["ModifiedProperties"], json!([{"Name": "AccountEnabled", "OldValue": "[true]", "NewValue": "[false]"}]));
    assert_eq!(updates[0]["UserId"], "ScimProvisioning");

    for name in ["Delete user", "Restore user"] {
        let events = events_named(&app, &admin, name).await;
        assert_eq!(events.len(), 1, "{name}: {events:?}");
        assert_eq!(events[0]["ObjectId"], upn("outsider"));
    }
    let licenses = events_named(&app, &admin, "Change user license").await;
    assert_eq!(licenses.len(), 1, "{licenses:?}");
    assert_eq!(
        licenses[0]["ModifiedProperties"],
        json!([{"Name": "AssignedLicense", "OldValue": "[]", "NewValue": format!("[\"{PRO}\"]")}])
    );
    // The filter compares without regard to case, as for the Power BI activities.
    assert_eq!(events_named(&app, &admin, "change USER license").await.len(), 1);
});

backend_test_with!(refused_or_empty_directory_changes_record_nothing, entra_events, |app: TestApp| async move {
    let analysts = app.fixture.groups["Analysts"];
    let outsider = app.user_id("outsider");
    // Removing a non-member, adding a member twice, disabling an already disabled account.
    assert_eq!(app.graph(Method::DELETE, &format!("/groups/{analysts}/members/{outsider}/$ref"), None).await.0, 404);
    assert_eq!(app.graph(Method::POST, &format!("/groups/{analysts}/members/$ref"), reference(outsider)).await.0, 204);
    assert_eq!(app.graph(Method::POST, &format!("/groups/{analysts}/members/$ref"), reference(outsider)).await.0, 400);
    let disabled = app.user_id("disabled");
    assert_eq!(app.graph(Method::PATCH, &format!("/users/{disabled}"), Some(json!({"accountEnabled": false}))).await.0, 204);
    let names: Vec<String> = app.activity_events().await.iter().map(|e| e["Activity"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(names, vec!["Add member to group".to_string()]);
});

backend_test_with!(a_group_with_a_workspace_role_records_its_membership_changes, entra_events, |app: TestApp| async move {
    let body = json!({"displayName": "Crew", "mailEnabled": false, "mailNickname": "crew", "securityEnabled": true});
    let (s, crew, _) = app.graph(Method::POST, "/groups", Some(body)).await;
    assert_eq!(s, 201, "{crew}");
    let crew = crew["id"].as_str().unwrap().to_string();
    let owner = app.as_user("owner").await;
    let role = pbi_wire::powerbi::GroupUser::principal(crew.clone(), PrincipalType::Group, GroupUserAccessRight::Viewer);
    owner.add_group_user(app.ws("Marketing Hub"), &role).await.unwrap();
    let entra = |events: Vec<Value>| events.into_iter().filter(|e| e["Workload"] == "AzureActiveDirectory").collect::<Vec<_>>();
    assert!(entra(app.activity_events().await).is_empty());
    assert_eq!(app.graph(Method::POST, &format!("/groups/{crew}/members/$ref"), reference(app.user_id("outsider"))).await.0, 204);
    let events = entra(app.activity_events().await);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["Activity"], "Add member to group");
    assert_eq!(events[0]["ModifiedProperties"][1]["NewValue"], "[\"Crew\"]");
    // Once the workspace is deleted, the group reaches nothing there any more.
    owner.delete_group(app.ws("Marketing Hub")).await.unwrap();
    assert_eq!(app.graph(Method::DELETE, &format!("/groups/{crew}/members/{}/$ref", app.user_id("outsider")), None).await.0, 204);
    assert_eq!(entra(app.activity_events().await).len(), 1, "no event for a group that reaches nothing");
});

backend_test!(directory_events_stay_out_of_the_activity_log_by_default, |app: TestApp| async move {
    let analysts = app.fixture.groups["Analysts"];
    let outsider = app.user_id("outsider");
    assert_eq!(app.graph(Method::POST, &format!("/groups/{analysts}/members/$ref"), reference(outsider)).await.0, 204);
    assert_eq!(app.activity_events().await.len(), 1, "recorded all the same");
    let token = app.user_token("admin").await;
    assert!(events_named(&app, &token, "Add member to group").await.is_empty());
    let path = format!("/v1.0/myorg/admin/activityevents?{}", day_window(app.clock.now()));
    let (all, _, _) = all_events(&app, &token, &path).await;
    assert!(all.iter().all(|e| e["Workload"] == "PowerBI"), "{all:?}");
});

/// Every directory audit of `path` and the pages it took.
async fn all_audits(app: &TestApp, path: &str) -> (Vec<Value>, usize) {
    let token = app.graph_app_token().await;
    let (mut out, mut pages, mut next) = (Vec::new(), 0, Some(app.url(&format!("/graph/v1.0{path}"))));
    while let Some(url) = next {
        let r = app.http.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let body: Value = r.json().await.unwrap();
        out.extend(body["value"].as_array().unwrap().iter().cloned());
        next = body["@odata.nextLink"].as_str().map(str::to_string);
        pages += 1;
        assert!(pages < 50, "paging ends");
    }
    (out, pages)
}

// Graph's audit log serves the directory changes whatever the activity log's setting says.
backend_test!(graph_directory_audits_list_directory_changes_newest_first_with_filters_and_paging, |app: TestApp| async move {
    let analysts = app.fixture.groups["Analysts"];
    let outsider = app.user_id("outsider");
    let started = app.clock.now();
    assert_eq!(app.graph(Method::POST, &format!("/groups/{analysts}/members/$ref"), reference(outsider)).await.0, 204);
    app.clock.advance(std::time::Duration::from_secs(60));
    let middle = app.clock.now();
    assert_eq!(app.graph(Method::DELETE, &format!("/groups/{analysts}/members/{outsider}/$ref"), None).await.0, 204);
    app.clock.advance(std::time::Duration::from_secs(60));
    assert_eq!(app.graph(Method::PATCH, &format!("/users/{outsider}"), Some(json!({"accountEnabled": false}))).await.0, 204);

    let (all, _) = all_audits(&app, "/auditLogs/directoryAudits").await;
    let names: Vec<&str> = all.iter().map(|e| e["activityDisplayName"].as_str().unwrap()).collect();
    assert_eq!(names, ["Update user", "Remove member from group", "Add member to group"], "newest first");
    let added = &all[2];
    assert_eq!(added["category"], "GroupManagement");
    assert_eq!(added["operationType"], "Assign");
    assert_eq!(added["result"], "success");
    assert_eq!(added["loggedByService"], "Core Directory");
    assert_eq!(added["targetResources"][0]["id"], outsider.to_string());
    assert_eq!(added["targetResources"][0]["modifiedProperties"][0]["displayName"], "Group.ObjectID");
    assert_eq!(added["initiatedBy"]["app"]["servicePrincipalId"], app.fixture.service_principals["automation"].0.to_string());
    assert!(added["activityDateTime"].as_str().unwrap().ends_with('Z'));
    assert_eq!(all[0]["targetResources"][0]["userPrincipalName"], upn("outsider"));
    assert_eq!(all[0]["category"], "UserManagement");

    // One a page: three pages, the same events.
    let (paged, pages) = all_audits(&app, "/auditLogs/directoryAudits?$top=1").await;
    assert_eq!((paged.len(), pages), (3, 3));
    assert_eq!(paged.iter().map(|e| e["id"].clone()).collect::<Vec<_>>(), all.iter().map(|e| e["id"].clone()).collect::<Vec<_>>());

    // Filters: a window, a name, both.
    let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (window, _) = all_audits(
        &app,
        &format!(
            "/auditLogs/directoryAudits?$filter=activityDateTime%20ge%20{}%20and%20activityDateTime%20le%20{}",
            time(started),
            time(middle)
        ),
    )
    .await;
    assert_eq!(window.len(), 2, "{window:?}");
    let (named, _) = all_audits(&app, "/auditLogs/directoryAudits?$filter=activityDisplayName%20eq%20'Update%20user'").await;
    assert_eq!(named.len(), 1);
    let (none, _) = all_audits(
        &app,
        &format!(
            "/auditLogs/directoryAudits?$filter=activityDisplayName%20eq%20'Update%20user'%20and%20activityDateTime%20le%20{}",
            time(middle)
        ),
    )
    .await;
    assert!(none.is_empty());

    // A bad filter or $top: Graph's 400.
    let token = app.graph_app_token().await;
    for q in ["$filter=category%20eq%20'x'", "$filter=activityDateTime%20gt%202026-01-01", "$top=0", "$skiptoken=nope"] {
        let r = app.http.get(app.url(&format!("/graph/v1.0/auditLogs/directoryAudits?{q}"))).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 400, "{q}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "BadRequest", "{q}: {body}");
        assert!(body["error"]["innerError"].is_object());
    }
});

backend_test!(graph_directory_audits_need_the_audit_log_permission, |app: TestApp| async move {
    // A person who is not a Global Administrator.
    let viewer = app.user_token_scoped("viewer", "https://graph.microsoft.com/.default").await;
    let r = app.http.get(app.url("/graph/v1.0/auditLogs/directoryAudits")).bearer_auth(&viewer).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
    // An application without AuditLog.Read.All.
    let spec = pbi_server::tenant::TenantSpec {
        name: "Other".into(),
        domain: "audit-other.onmicrosoft.com".into(),
        service_principals: vec![pbi_server::tenant::ServicePrincipalSpec {
            display_name: "plain".into(),
            secrets: vec![pbi_server::tenant::SecretSpec { value: SECRET.into(), ..Default::default() }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let other = app.provision(&spec).await;
    let token = app
        .token_client()
        .client_credentials_for(
            &other.tenant.id.to_string(),
            &other.service_principals["plain"].1.to_string(),
            SECRET,
            pbi_wire::oauth::GRAPH_DEFAULT_SCOPE,
        )
        .await
        .unwrap()
        .access_token;
    let r = app.http.get(app.url("/graph/v1.0/auditLogs/directoryAudits")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // The fixture's application holds it.
    let r = app.http.get(app.url("/graph/v1.0/auditLogs/directoryAudits")).bearer_auth(app.graph_app_token().await).send().await.unwrap();
    assert_eq!(r.status(), 200);
});
