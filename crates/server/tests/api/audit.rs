//! The admin audit reads: artifact access, subscriptions, continuation tokens, and
//! `GET /admin/groups`. Artifacts, permissions and subscriptions are written straight into the
//! store with the bulk-insert functions (the artifact write API is not part of this surface).

use std::collections::{HashMap, HashSet};

use pbi_server::domain::ArtifactKind;
use pbi_server::domain::{PrincipalKind, PrincipalRef, Role};
use pbi_server::store::seed::{self, SeedArtifact, SeedSubscription, SeedWorkspace};
use pbi_server::Clock;
use pbi_wire::admin::{AdminGroup, ArtifactAccessResponse, SubscriptionsByUserResponse};
use pbi_wire::powerbi::{GroupUser, GroupUserAccessRight as R};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::*;
use crate::plain_backend_test;

/// `GET` a path (or a full URL) with a bearer token: status and JSON body.
pub async fn get(app: &TestApp, token: &str, path_or_url: &str) -> (u16, Value) {
    let url = if path_or_url.starts_with("http") { path_or_url.to_string() } else { app.url(path_or_url) };
    let response = app.http.get(url).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

pub fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

pub fn user(id: Uuid) -> PrincipalRef {
    PrincipalRef { kind: PrincipalKind::User, object_id: id }
}

pub fn group(id: Uuid) -> PrincipalRef {
    PrincipalRef { kind: PrincipalKind::Group, object_id: id }
}

pub fn artifact(workspace: Uuid, kind: ArtifactKind, name: &str, now: i64) -> SeedArtifact {
    SeedArtifact {
        id: Uuid::new_v4(),
        workspace,
        kind,
        name: name.into(),
        description: None,
        dataset: None,
        configured_by: None,
        created_at: now,
        modified_at: now,
    }
}

pub async fn insert_artifacts(app: &TestApp, artifacts: &[SeedArtifact]) {
    let mut tx = app.store.external_write().await.unwrap();
    seed::insert_artifacts(&mut tx, app.tenant_id(), artifacts).await.unwrap();
    pbi_server::store::bump_generation(&mut *tx, app.tenant_id(), pbi_server::store::WriteScope::Directory).await.unwrap();
    tx.commit().await.unwrap();
}

pub async fn grant(app: &TestApp, grants: &[(Uuid, PrincipalRef, &str)]) {
    let rows: Vec<_> = grants.iter().map(|(a, p, r)| (*a, *p, r.to_string(), app.clock.now_millis())).collect();
    let mut tx = app.store.external_write().await.unwrap();
    seed::insert_artifact_permissions(&mut tx, &rows).await.unwrap();
    tx.commit().await.unwrap();
}

pub async fn join_group(app: &TestApp, group: Uuid, member: PrincipalRef) {
    let mut tx = app.store.bulk_write().await.unwrap();
    tx.set_tenant(app.tenant_id());
    pbi_server::store::insert_group_members(&mut tx, app.tenant_id(), &[(group, member)], app.clock.now_millis()).await.unwrap();
    tx.commit().await.unwrap();
}

/// A workspace written straight into the store (for states the API cannot make, like orphaned).
pub async fn insert_workspace(app: &TestApp, name: &str, kind: &str, members: &[(PrincipalRef, Role)]) -> Uuid {
    let id = Uuid::new_v4();
    let now = app.clock.now_millis();
    let ws = SeedWorkspace {
        id,
        name: name.into(),
        description: None,
        kind: kind.into(),
        state: "Active".into(),
        capacity: None,
        backing_group: None,
        created_at: now,
        modified_at: now,
    };
    let rows: Vec<_> = members.iter().map(|(p, r)| (id, *p, *r, now)).collect();
    let mut tx = app.store.external_write().await.unwrap();
    seed::insert_workspaces(&mut tx, app.tenant_id(), &[ws]).await.unwrap();
    seed::insert_workspace_members(&mut tx, &rows).await.unwrap();
    pbi_server::store::bump_generation(&mut *tx, app.tenant_id(), pbi_server::store::WriteScope::Directory).await.unwrap();
    tx.commit().await.unwrap();
    id
}

fn access_path(user: &str) -> String {
    format!("/v1.0/myorg/admin/users/{}/artifactAccess", pbi_client::encode_segment(user))
}

/// Follow an artifact-access list to its end; returns every entry and the number of pages.
async fn all_access(app: &TestApp, token: &str, first: &str) -> (Vec<Value>, usize) {
    let (mut entries, mut pages, mut next) = (Vec::new(), 0, Some(first.to_string()));
    while let Some(url) = next.take() {
        let (status, body) = get(app, token, &url).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        entries.extend(body["artifactAccessEntities"].as_array().unwrap().iter().cloned());
        next = body["continuationUri"].as_str().map(str::to_string);
        assert_eq!(next.is_some(), body["continuationToken"].is_string(), "both continuation fields or neither");
        assert!(pages < 1000);
    }
    (entries, pages)
}

fn rights(entries: &[Value]) -> HashMap<String, (String, String, String)> {
    entries
        .iter()
        .map(|e| {
            let field = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (field("artifactId"), (field("artifactType"), field("accessRight"), field("shareType")))
        })
        .collect()
}

plain_backend_test!(artifact_access_reaches_through_roles_groups_and_permissions, |app: TestApp| async move {
    let admin = app.user_token("admin").await;
    let now = app.clock.now_millis();
    let (team, hub, solo) = (app.ws("Team"), app.ws("Marketing Hub"), app.ws("Solo"));
    let viewer = app.user_id("viewer");
    let analysts = app.fixture.groups["Analysts"];
    let mut report = artifact(team, ArtifactKind::Report, "Team report", now);
    let dataset = artifact(team, ArtifactKind::Dataset, "Team model", now);
    report.dataset = Some(dataset.id);
    let dashboard = artifact(team, ArtifactKind::Dashboard, "Team board", now);
    let hub_model = artifact(hub, ArtifactKind::Dataset, "Hub model", now);
    let shared = artifact(solo, ArtifactKind::Report, "Shared with viewer", now);
    let via_group = artifact(solo, ArtifactKind::Dataset, "Analysts model", now);
    let unrelated = artifact(solo, ArtifactKind::Report, "Not for the viewer", now);
    insert_artifacts(
        &app,
        &[report.clone(), dataset.clone(), dashboard.clone(), hub_model.clone(), shared.clone(), via_group.clone(), unrelated.clone()],
    )
    .await;
    grant(
        &app,
        &[
            (shared.id, user(viewer), "ReadReshare"),
            (via_group.id, group(analysts), "ReadExplore"),
            (dashboard.id, user(viewer), "ReadWrite"),
        ],
    )
    .await;
    join_group(&app, analysts, user(viewer)).await;
    // A deleted workspace's items disappear.
    let owner = app.as_user("owner").await;
    let doomed = owner.create_group("Doomed").await.unwrap().id;
    owner.add_group_user(doomed, &GroupUser::email(upn("viewer"), R::Viewer)).await.unwrap();
    let gone = artifact(doomed, ArtifactKind::Report, "Gone", now);
    insert_artifacts(&app, std::slice::from_ref(&gone)).await;
    owner.delete_group(doomed).await.unwrap();

    let (entries, _) = all_access(&app, &admin, &access_path(&upn("viewer"))).await;
    let got = rights(&entries);
    let expect = |id: Uuid, kind: &str, right: &str, share: &str| {
        assert_eq!(got.get(&id.to_string()), Some(&(kind.to_string(), right.to_string(), share.to_string())), "{id} in {got:?}");
    };
    expect(team, "Workspace", "Viewer", "Direct");
    expect(hub, "Workspace", "Member", "Direct");
    expect(report.id, "Report", "Read", "Workspace");
    expect(dataset.id, "Dataset", "Read", "Workspace");
    expect(dashboard.id, "Dashboard", "ReadWrite", "Direct"); // stronger than the Viewer role's Read
    expect(hub_model.id, "Dataset", "ReadWriteReshareExplore", "Workspace"); // Member of the hub
    expect(shared.id, "Report", "ReadReshare", "Direct");
    expect(via_group.id, "Dataset", "ReadExplore", "Group");
    assert_eq!(got.len(), 8, "nothing else: not Solo, not its other report, not the deleted workspace: {got:?}");
    let ids: Vec<&str> = entries.iter().map(|e| e["artifactId"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "entries come in key order");

    // The object id names the same user; artifactTypes narrows.
    let (by_id, _) = all_access(&app, &admin, &access_path(&viewer.to_string())).await;
    assert_eq!(rights(&by_id), got);
    let (datasets, _) = all_access(&app, &admin, &format!("{}?artifactTypes=Dataset", access_path(&upn("viewer")))).await;
    assert_eq!(rights(&datasets).len(), 3);
    let (mixed, _) = all_access(&app, &admin, &format!("{}?artifactTypes=dashboard,%20Workspace", access_path(&upn("viewer")))).await;
    assert_eq!(rights(&mixed).len(), 3);

    // A guest's UPN, percent-encoded as the Swagger shows it.
    app.as_user("admin").await.add_user_as_admin(team, &GroupUser::email(GUEST, R::Viewer)).await.unwrap();
    let (status, body) = get(&app, &admin, &access_path(GUEST)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(rights(body["artifactAccessEntities"].as_array().unwrap()).len(), 4);

    // Refusals.
    let (status, body) = get(&app, &admin, &access_path("nobody@fixture.onmicrosoft.com")).await;
    assert_eq!((status, error_code(&body)), (404, "PowerBIEntityNotFound"));
    let (status, body) = get(&app, &admin, &format!("{}?artifactTypes=Spreadsheet", access_path(&upn("viewer")))).await;
    assert_eq!((status, error_code(&body)), (400, "InvalidRequest"));
    let (status, body) = get(&app, &admin, &format!("{}?artifactTypes=,", access_path(&upn("viewer")))).await;
    assert_eq!((status, error_code(&body)), (400, "InvalidRequest"));
    let (status, body) = get(&app, &admin, "/v1.0/myorg/admin/users/a%00b/artifactAccess").await;
    assert_eq!((status, error_code(&body)), (400, "InvalidRequest"));
    let (status, body) = get(&app, &app.user_token("owner").await, &access_path(&upn("viewer"))).await;
    assert_eq!((status, error_code(&body)), (401, "PowerBINotAuthorizedException"));
    let (status, _) = get(&app, &app.app_token().await, &access_path(&upn("viewer"))).await;
    assert_eq!(status, 200, "a service principal may read");
});

plain_backend_test!(a_workspace_role_gives_one_right_per_kind_in_every_admin_read, |app: TestApp| async move {
    let admin = app.user_token("admin").await;
    let now = app.clock.now_millis();
    let team = app.ws("Team");
    let report = artifact(team, ArtifactKind::Report, "Role report", now);
    let dataflow = artifact(team, ArtifactKind::Dataflow, "Role flow", now);
    let workbook = artifact(team, ArtifactKind::Workbook, "Role book.xlsx", now);
    let datamart = artifact(team, ArtifactKind::Datamart, "Role mart", now);
    insert_artifacts(&app, &[report.clone(), dataflow.clone(), workbook.clone(), datamart.clone()]).await;

    // Admins and Members may reshare, which on reports, dataflows and workbooks is `Owner`
    // ("Read, Write and Reshare"); Contributors edit; Viewers read.
    for (who, item_right, mart_right) in [
        ("owner", "Owner", "ReadWriteReshareExplore"),
        ("member", "Owner", "ReadWriteReshareExplore"),
        ("contributor", "ReadWrite", "ReadWriteExplore"),
        ("viewer", "Read", "Read"),
    ] {
        let (entries, _) = all_access(&app, &admin, &access_path(&upn(who))).await;
        let got = rights(&entries);
        for (item, kind, right) in [
            (&report, "Report", item_right),
            (&dataflow, "Dataflow", item_right),
            (&workbook, "Workbook", item_right),
            (&datamart, "Datamart", mart_right),
        ] {
            assert_eq!(
                got.get(&item.id.to_string()),
                Some(&(kind.to_string(), right.to_string(), "Workspace".to_string())),
                "{who} on {kind}"
            );
        }
    }
    // The per-item admin lists say the same.
    for (path, field) in
        [(format!("reports/{}", report.id), "reportUserAccessRight"), (format!("dataflows/{}", dataflow.id), "dataflowUserAccessRight")]
    {
        let (status, body) = get(&app, &admin, &format!("/v1.0/myorg/admin/{path}/users")).await;
        assert_eq!(status, 200, "{body}");
        let right = |who: &str| body["value"].as_array().unwrap().iter().find(|u| u["identifier"] == upn(who)).map(|u| u[field].clone());
        assert_eq!(right("member"), Some(Value::from("Owner")), "{path}");
        assert_eq!(right("contributor"), Some(Value::from("ReadWrite")), "{path}");
    }
});

mod paging {
    use super::*;
    use pbi_server::Clock;

    async fn spawn(backend: Backend) -> Option<TestApp> {
        TestApp::spawn_with(backend, |c| c.audit.page_size = 10).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        if let Some(app) = spawn(Backend::Sqlite).await {
            keyset_pages_see_each_item_once_through_writes(app).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) = spawn(Backend::Postgres).await {
            keyset_pages_see_each_item_once_through_writes(app).await;
        }
    }

    /// Follow the tokens while items are added and removed between pages: every item present
    /// from start to end is seen exactly once, and nothing is seen twice.
    async fn keyset_pages_see_each_item_once_through_writes(app: TestApp) {
        let admin = app.user_token("admin").await;
        let now = app.clock.now_millis();
        let team = app.ws("Team");
        let initial: Vec<SeedArtifact> = (0..45).map(|i| artifact(team, ArtifactKind::Report, &format!("R{i}"), now)).collect();
        insert_artifacts(&app, &initial).await;
        // The viewer reaches 45 reports, Team and Marketing Hub: 47 items, 5 pages of 10.
        let mut url = Some(access_path(&upn("viewer")));
        let (mut seen, mut pages, mut removed) = (Vec::<String>::new(), 0, HashSet::new());
        while let Some(next) = url.take() {
            let (status, body) = get(&app, &admin, &next).await;
            assert_eq!(status, 200, "{body}");
            let page: ArtifactAccessResponse = serde_json::from_value(body.clone()).unwrap();
            pages += 1;
            assert!(page.entities.artifact_access_entities.len() <= 10);
            seen.extend(page.entities.artifact_access_entities.iter().map(|e| e.artifact_id.clone()));
            match (&page.continuation_uri, &page.continuation_token) {
                (Some(uri), Some(token)) => {
                    assert!(uri.contains("/artifactAccess?continuationToken='"), "{uri}");
                    assert!(uri.ends_with(&format!("'{token}'")), "the URI quotes the (percent-encoded) token: {uri}");
                    assert!(!token.contains('+') && !token.contains('/') && !token.contains('='), "percent-encoded: {token}");
                    // Alternate between the URI as given and the token sent quoted by hand.
                    url = Some(if pages % 2 == 0 {
                        uri.clone()
                    } else {
                        format!("{}?continuationToken='{token}'", access_path(&upn("viewer")))
                    });
                }
                (None, None) => assert!(body.get("continuationToken").is_none(), "the last page has no continuation fields"),
                other => panic!("half a continuation: {other:?}"),
            }
            // Writes between pages: new items (some sort before the cursor, some after) and
            // removals of items already seen and not yet seen.
            if pages <= 3 {
                let fresh: Vec<SeedArtifact> =
                    (0..4).map(|i| artifact(team, ArtifactKind::Dashboard, &format!("New {pages}.{i}"), now)).collect();
                insert_artifacts(&app, &fresh).await;
                let unseen: Vec<Uuid> =
                    initial.iter().map(|a| a.id).filter(|id| !seen.contains(&id.to_string()) && !removed.contains(id)).take(2).collect();
                let already: Vec<Uuid> =
                    initial.iter().map(|a| a.id).filter(|id| seen.contains(&id.to_string()) && !removed.contains(id)).take(1).collect();
                let mut tx = app.store.external_write().await.unwrap();
                seed::delete_artifacts(&mut tx, &[unseen.clone(), already.clone()].concat()).await.unwrap();
                tx.commit().await.unwrap();
                removed.extend(unseen.into_iter().chain(already));
            }
        }
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "an item was served twice");
        for a in initial.iter().filter(|a| !removed.contains(&a.id)) {
            assert!(unique.contains(&a.id.to_string()), "{} stayed throughout but was never served", a.name);
        }
        assert!(unique.contains(&team.to_string()));
        assert!(pages >= 5, "{pages} pages");
    }
}

plain_backend_test!(continuation_tokens_are_tamper_evident_and_bound_to_caller_query_and_time, |app: TestApp| async move {
    let admin = app.user_token("admin").await;
    let now = app.clock.now_millis();
    let many: Vec<SeedArtifact> = (0..1005).map(|i| artifact(app.ws("Team"), ArtifactKind::Report, &format!("R{i}"), now)).collect();
    insert_artifacts(&app, &many).await;
    let path = access_path(&upn("viewer"));
    let (status, body) = get(&app, &admin, &path).await;
    assert_eq!(status, 200);
    assert_eq!(body["artifactAccessEntities"].as_array().unwrap().len(), 1000, "the default page size");
    let token = body["continuationToken"].as_str().unwrap().to_string();
    let with = |p: &str, t: &str| format!("{p}{}continuationToken='{t}'", if p.contains('?') { '&' } else { '?' });
    let refused = |body: &Value, needle: &str| {
        assert_eq!(error_code(body), "InvalidContinuationToken", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(needle), "{body}");
    };
    // The real token works, quoted or not.
    assert_eq!(get(&app, &admin, &with(&path, &token)).await.0, 200);
    assert_eq!(get(&app, &admin, &format!("{path}?continuationToken={token}")).await.0, 200);
    // Forged and altered.
    for forged in ["LDEsMTAwMDAwLDA%3D", "not-base64!", &token[..token.len() - 6], &token.replacen('A', "B", 1)] {
        let (status, body) = get(&app, &admin, &with(&path, forged)).await;
        assert_eq!(status, 400, "{forged}: {body}");
        refused(&body, "not valid");
    }
    // Another caller, even an admin of the same tenant, or a service principal.
    let (status, body) = get(&app, &app.app_token().await, &with(&path, &token)).await;
    assert_eq!(status, 400);
    refused(&body, "another caller");
    // Another query: another user, other artifact types, another operation.
    let (status, body) = get(&app, &admin, &with(&access_path(&upn("owner")), &token)).await;
    assert_eq!(status, 400);
    refused(&body, "another query");
    let (status, body) = get(&app, &admin, &with(&format!("{path}?artifactTypes=Dataset"), &token)).await;
    assert_eq!(status, 400);
    refused(&body, "another query");
    let (_, ok) = get(
        &app,
        &admin,
        &with(
            &format!("{path}?artifactTypes=Report,Workspace,Capacity,Dataset,PaginatedReport,Dashboard,Dataflow,Workbook,App,Datamart"),
            &token,
        ),
    )
    .await;
    assert!(ok["artifactAccessEntities"].is_array(), "the same types, written differently, are the same query: {ok}");
    let subs = format!("/v1.0/myorg/admin/users/{}/subscriptions", upn("viewer"));
    let (status, body) = get(&app, &admin, &with(&subs, &token)).await;
    assert_eq!(status, 400);
    refused(&body, "another query");
    let (status, body) = get(&app, &admin, &with("/v1.0/myorg/admin/activityevents", &token)).await;
    assert_eq!(status, 400);
    refused(&body, "another query");
    // Expired after 24 hours on the server's clock.
    app.clock.advance(std::time::Duration::from_secs(24 * 3600 + 1));
    let admin = app.token_for(app.tenant_id(), app.app_id(), &upn("admin")).await;
    let (status, body) = get(&app, &admin, &with(&path, &token)).await;
    assert_eq!(status, 400);
    refused(&body, "expired");
});

plain_backend_test!(subscriptions_page_with_continuation_tokens, |app: TestApp| async move {
    let app = app;
    let admin = app.user_token("admin").await;
    let now = app.clock.now_millis();
    let report = artifact(app.ws("Team"), ArtifactKind::Report, "Weekly numbers", now);
    insert_artifacts(&app, std::slice::from_ref(&report)).await;
    let sub = |owner: Uuid, i: usize| SeedSubscription {
        id: Uuid::new_v4(),
        artifact: report.id,
        owner,
        title: format!("Digest {i}"),
        frequency: "Daily".into(),
        enabled: i.is_multiple_of(2),
        start_date: 1_628_553_600_000, // 2021-08-10T00:00:00Z
        end_date: 1_660_089_600_000,
        attachment_format: "PNG".into(),
        sub_artifact: Some("Page 1".into()),
        created_at: now,
    };
    let mine: Vec<SeedSubscription> = (0..1002).map(|i| sub(app.user_id("viewer"), i)).collect();
    let others: Vec<SeedSubscription> = (0..3).map(|i| sub(app.user_id("owner"), i)).collect();
    let mut tx = app.store.external_write().await.unwrap();
    seed::insert_subscriptions(&mut tx, app.tenant_id(), &[mine.clone(), others].concat()).await.unwrap();
    tx.commit().await.unwrap();
    let path = format!("/v1.0/myorg/admin/users/{}/subscriptions", upn("viewer"));
    let (status, body) = get(&app, &admin, &path).await;
    assert_eq!(status, 200, "{body}");
    let first: SubscriptionsByUserResponse = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(first.entities.subscription_entities.len(), 1000);
    let s = &body["subscriptionEntities"][0];
    assert_eq!(s["artifactDisplayName"], "Weekly numbers");
    assert_eq!(s["artifactType"], "Report");
    assert_eq!(s["subArtifactDisplayName"], "Page 1");
    assert_eq!(s["startDate"], "8/10/2021 12:00:00 AM", "the service's own date format");
    assert_eq!(s["users"], serde_json::json!([]));
    let uri = first.continuation_uri.unwrap();
    assert!(uri.contains("/subscriptions?continuationToken='"), "{uri}");
    let (status, body) = get(&app, &admin, &uri).await;
    assert_eq!(status, 200, "{body}");
    let second: SubscriptionsByUserResponse = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(second.entities.subscription_entities.len(), 2);
    assert!(body.get("continuationUri").is_none() && second.continuation_token.is_none());
    let all: HashSet<Uuid> = first
        .entities
        .subscription_entities
        .iter()
        .chain(&second.entities.subscription_entities)
        .map(|s| s.id.parse::<Uuid>().unwrap())
        .collect();
    assert_eq!(all, mine.iter().map(|s| s.id).collect());
    // By object id too; the token is bound to the user, and artifactTypes is no parameter here.
    let by_id = format!("/v1.0/myorg/admin/users/{}/subscriptions", app.user_id("viewer"));
    assert_eq!(get(&app, &admin, &by_id).await.0, 200);
    let (status, body) = get(&app, &admin, &format!("{by_id}?artifactTypes=Report")).await;
    assert_eq!((status, error_code(&body)), (400, "InvalidRequest"));
});

plain_backend_test!(admin_groups_list_every_workspace_with_state_filters_and_expand, |app: TestApp| async move {
    let admin = app.user_token("admin").await;
    let list = |q: &str| format!("/v1.0/myorg/admin/groups?{q}");
    for bad in [
        "",
        "$top=0",
        "$top=5001",
        "$top=abc",
        "$top=10&$skip=-1",
        "$top=10&$expand=owners",
        "$top=10&$filter=name%20gt%20'a'",
        "$top=10&$filter=colour%20eq%20'x'",
    ] {
        let (status, body) = get(&app, &admin, &list(bad)).await;
        assert_eq!((status, error_code(&body)), (400, "InvalidRequest"), "{bad}: {body}");
    }
    // A deleted workspace, an orphaned one (members, no Admin) and an empty one (no members).
    let owner = app.as_user("owner").await;
    let deleted = owner.create_group("Archived").await.unwrap().id;
    owner.delete_group(deleted).await.unwrap();
    let orphan = insert_workspace(&app, "Orphan", "Workspace", &[(user(app.user_id("viewer")), Role::Viewer)]).await;
    let empty = insert_workspace(&app, "Empty", "Workspace", &[]).await;
    let personal = insert_workspace(&app, "PersonalWorkspace Otto", "PersonalGroup", &[(user(app.user_id("outsider")), Role::Admin)]).await;
    let now = app.clock.now_millis();
    let report = artifact(app.ws("Team"), ArtifactKind::Report, "Team report", now);
    let dataset = artifact(app.ws("Team"), ArtifactKind::Dataset, "Team model", now);
    let workbook = artifact(app.ws("Team"), ArtifactKind::Workbook, "Team book.xlsx", now);
    insert_artifacts(&app, &[report.clone(), dataset.clone(), workbook.clone()]).await;

    let (status, body) = get(&app, &admin, &list("$top=100")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["@odata.context"].as_str().unwrap().ends_with("/v1.0/myorg/$metadata#groups"));
    let groups: Vec<AdminGroup> = serde_json::from_value(body["value"].clone()).unwrap();
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["Archived", "Empty", "marketing archive", "Marketing Hub", "Orphan", "PersonalWorkspace Otto", "Solo", "Team"]);
    let state = |id: Uuid| groups.iter().find(|g| g.id == id).unwrap().state.clone().unwrap();
    assert_eq!(state(deleted), "Deleted");
    assert_eq!(state(orphan), "Orphaned");
    assert_eq!(state(empty), "Orphaned");
    assert_eq!(state(app.ws("Team")), "Active");
    assert!(groups.iter().all(|g| g.users.is_none() && g.reports.is_none()), "nothing expanded unasked");
    assert_eq!(groups.iter().find(|g| g.id == personal).unwrap().kind.as_ref().map(|k| k.as_str()), Some("PersonalGroup"));

    let ids = |q: &str| {
        let app = &app;
        let admin = admin.clone();
        let q = q.to_string();
        async move {
            let (status, body) = get(app, &admin, &list(&q)).await;
            assert_eq!(status, 200, "{q}: {body}");
            body["value"].as_array().unwrap().iter().map(|g| g["id"].as_str().unwrap().parse::<Uuid>().unwrap()).collect::<Vec<_>>()
        }
    };
    assert_eq!(ids("$top=10&$filter=state%20eq%20'Deleted'").await, vec![deleted]);
    assert_eq!(ids("$top=10&$filter=state%20eq%20'Orphaned'").await, vec![empty, orphan]);
    let swagger_orphans = "(not users/any()) or (not users/any(u: u/groupUserAccessRight eq Microsoft.PowerBI.ServiceContracts.Api.GroupUserAccessRight'Admin'))";
    let encoded: String = swagger_orphans.replace(' ', "%20").replace('\'', "%27");
    let mut orphans = ids(&format!("$top=10&$filter={encoded}")).await;
    orphans.sort();
    let mut expected = vec![empty, orphan];
    expected.sort();
    assert_eq!(orphans, expected, "the Swagger's orphaned-workspace filter");
    assert_eq!(ids("$top=10&$filter=type%20eq%20'PersonalGroup'").await, vec![personal]);
    assert_eq!(ids("$top=10&$filter=state%20eq%20'Active'%20and%20contains(name,'market')").await.len(), 2);
    // $top and $skip page the same order.
    let all = ids("$top=100").await;
    assert_eq!(ids("$top=3&$skip=2").await, all[2..5].to_vec());

    // $expand: users (admin shape, empty for a deleted workspace), and artifacts by kind.
    let (status, body) = get(&app, &admin, &list("$top=100&$expand=users,reports,datasets,workbooks,dashboards,dataflows")).await;
    assert_eq!(status, 200, "{body}");
    let groups: Vec<AdminGroup> = serde_json::from_value(body["value"].clone()).unwrap();
    let team = groups.iter().find(|g| g.id == app.ws("Team")).unwrap();
    let users = team.users.as_ref().unwrap();
    assert_eq!(users.len(), 6);
    let owner_entry = users.iter().find(|u| u.identifier.as_deref() == Some(upn("owner").as_str())).unwrap();
    assert_eq!(owner_entry.group_user_access_right, R::Admin);
    assert_eq!(owner_entry.graph_id.as_deref(), Some(app.user_id("owner").to_string().as_str()));
    assert_eq!(team.reports.as_ref().unwrap()[0].id, report.id);
    assert_eq!(team.reports.as_ref().unwrap()[0].report_type.as_deref(), Some("PowerBIReport"));
    assert_eq!(team.datasets.as_ref().unwrap()[0].id, dataset.id.to_string());
    assert_eq!(team.workbooks.as_ref().unwrap()[0].name, "Team book.xlsx");
    assert_eq!(team.dashboards.as_ref().unwrap().len(), 0);
    let archived = groups.iter().find(|g| g.id == deleted).unwrap();
    assert_eq!(archived.users.as_deref(), Some(&[][..]), "a deleted workspace lists no users");
    assert_eq!(groups.iter().find(|g| g.id == empty).unwrap().users.as_deref(), Some(&[][..]));
    // The same again (from the cache on SQLite), and after a change that must show.
    app.as_user("admin").await.add_user_as_admin(app.ws("Team"), &GroupUser::email(upn("outsider"), R::Viewer)).await.unwrap();
    let (_, body) = get(&app, &admin, &list("$top=100&$expand=users")).await;
    let groups: Vec<AdminGroup> = serde_json::from_value(body["value"].clone()).unwrap();
    assert_eq!(groups.iter().find(|g| g.id == app.ws("Team")).unwrap().users.as_ref().unwrap().len(), 7);

    let (status, body) = get(&app, &app.user_token("owner").await, &list("$top=10")).await;
    assert_eq!((status, error_code(&body)), (401, "PowerBINotAuthorizedException"));
    assert_eq!(get(&app, &app.app_token().await, &list("$top=10")).await.0, 200);
});
