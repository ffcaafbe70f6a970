//! The exact cache of rendered `GET /admin/groups` pages: a write between two reads is visible
//! on the second read, whichever API made the write and whichever instance serves the read.

use pbi_wire::powerbi::{GroupUser, GroupUserAccessRight as R, PrincipalType};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::backend_test;
use crate::helpers::*;

const PAGE: &str = "/v1.0/myorg/admin/groups?$top=100&$expand=users";

async fn page(base: &str, token: &str) -> Value {
    let response = reqwest::Client::new().get(format!("{base}{PAGE}")).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

/// `(displayName, groupUserAccessRight)` of every user of workspace `ws` on a page.
fn users_of(body: &Value, ws: Uuid) -> Vec<(String, String)> {
    let group = body["value"].as_array().unwrap().iter().find(|g| g["id"] == ws.to_string()).expect("the workspace is listed");
    names_and_rights(&group["users"])
}

/// `(displayName, groupUserAccessRight)` of a JSON array of users, sorted.
fn names_and_rights(users: &Value) -> Vec<(String, String)> {
    let mut users: Vec<(String, String)> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["displayName"].as_str().unwrap_or("").to_string(), u["groupUserAccessRight"].as_str().unwrap().to_string()))
        .collect();
    users.sort();
    users
}

fn state_of(body: &Value, ws: Uuid) -> String {
    let group = body["value"].as_array().unwrap().iter().find(|g| g["id"] == ws.to_string()).expect("the workspace is listed");
    group["state"].as_str().unwrap().to_string()
}

backend_test!(admin_groups_pages_show_every_committed_write_on_the_next_read, |app: TestApp| async move {
    let admin = app.user_token("admin").await;
    let team = app.ws("Team");
    let first = page(&app.base, &admin).await;
    assert_eq!(page(&app.base, &admin).await, first, "nothing changed: the same page");
    assert!(!users_of(&first, team).iter().any(|(name, _)| name == "Otto Outsider"), "{first}");

    // A membership write through the Power BI API.
    let owner = app.as_user("owner").await;
    owner.add_group_user(team, &GroupUser::principal(upn("outsider"), PrincipalType::User, R::Contributor)).await.unwrap();
    let second = page(&app.base, &admin).await;
    assert!(users_of(&second, team).contains(&("Otto Outsider".into(), "Contributor".into())), "{second}");

    // A directory write through Graph: the user's name on every workspace that lists them.
    let (status, _, _) =
        app.graph(Method::PATCH, &format!("/users/{}", app.user_id("outsider")), Some(json!({"displayName": "Otto Renamed"}))).await;
    assert_eq!(status, 204);
    let third = page(&app.base, &admin).await;
    assert!(users_of(&third, team).contains(&("Otto Renamed".into(), "Contributor".into())), "{third}");

    // A workspace deleted by its Admin shows as Deleted, without users.
    let solo = app.ws("Solo");
    assert_eq!(state_of(&third, solo), "Active");
    app.as_user("outsider").await.delete_group(solo).await.unwrap();
    let fourth = page(&app.base, &admin).await;
    assert_eq!(state_of(&fourth, solo), "Deleted");
    assert_eq!(users_of(&fourth, solo), vec![]);

    // A new workspace changes no cached view, yet the next page lists it (on SQLite no counter
    // moves in the database: only this process's local generation tells the page cache).
    let created = owner.create_group("Brand New").await.unwrap();
    let fifth = page(&app.base, &admin).await;
    assert_eq!(state_of(&fifth, created.id), "Active");
    assert_eq!(users_of(&fifth, created.id), vec![("Olivia Owner".to_string(), "Admin".to_string())]);
});

backend_test!(admin_groups_pages_cached_by_one_instance_show_writes_made_through_another, |app: TestApp| async move {
    // Several instances share a database only on PostgreSQL: a SQLite file has one serving
    // process, whose view cache relies on seeing every commit (see ARCHITECTURE, exact caches).
    if app.backend == Backend::Sqlite {
        eprintln!("skipped on SQLite: one serving process per SQLite file");
        return;
    }
    let second = app.instance().await;
    let admin = app.user_token("admin").await;
    let team = app.ws("Team");
    // Both instances render and keep the page (the same workspaces; each has its own base URL).
    let before = page(&second.base, &admin).await;
    assert_eq!(page(&app.base, &admin).await["value"], before["value"]);
    assert_eq!(page(&second.base, &admin).await, before);
    assert!(!users_of(&before, team).iter().any(|(name, _)| name == "Otto Outsider"));

    // The first instance writes; the second shows it once notified (see tests/api/instances.rs).
    let owner = app.as_user("owner").await;
    owner.add_group_user(team, &GroupUser::principal(upn("outsider"), PrincipalType::User, R::Viewer)).await.unwrap();
    second.store.caught_up().await;
    let after = page(&second.base, &admin).await;
    assert!(users_of(&after, team).contains(&("Otto Outsider".into(), "Viewer".into())), "{after}");
    assert_eq!(page(&app.base, &admin).await["value"], after["value"]);

    // A directory write through the first instance moves no workspace's version; the second
    // instance's rendered users of every workspace that lists the user must still show it.
    let owner_id = app.user_id("owner");
    let (status, _, _) = app.graph(Method::PATCH, &format!("/users/{owner_id}"), Some(json!({"displayName": "Olivia Renamed"}))).await;
    assert_eq!(status, 204);
    second.store.caught_up().await;
    let renamed = page(&second.base, &admin).await;
    assert!(users_of(&renamed, team).iter().any(|(name, _)| name == "Olivia Renamed"), "{renamed}");
    assert!(!users_of(&renamed, team).iter().any(|(name, _)| name == "Olivia Owner"), "{renamed}");
    assert_eq!(page(&app.base, &admin).await["value"], renamed["value"]);
});

/// `GET /groups/{id}/users` on `base`: `(displayName, groupUserAccessRight)` of every user.
async fn group_users(base: &str, token: &str, ws: Uuid) -> Vec<(String, String)> {
    let url = format!("{base}/v1.0/myorg/groups/{ws}/users");
    let response = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    names_and_rights(&body["value"])
}

async fn caught_up(instance: &Option<crate::helpers::Instance>) {
    if let Some(instance) = instance {
        instance.store.caught_up().await;
    }
}

backend_test!(workspace_user_lists_kept_by_one_instance_show_writes_made_through_another, |app: TestApp| async move {
    // On PostgreSQL each instance keeps workspace views under the workspace's version and the
    // tenant's directory generation; on SQLite one process sees every commit (see above).
    let second = if app.backend == Backend::Postgres { Some(app.instance().await) } else { None };
    let reader = second.as_ref().map_or(app.base.as_str(), |s| s.base.as_str());
    let owner_token = app.user_token("owner").await;
    let team = app.ws("Team");
    let before = group_users(reader, &owner_token, team).await;
    assert_eq!(group_users(reader, &owner_token, team).await, before, "read twice, kept once");
    assert!(!before.iter().any(|(name, _)| name == "Otto Outsider"), "{before:?}");

    // A role change through the first instance.
    let owner = app.as_user("owner").await;
    owner.add_group_user(team, &GroupUser::principal(upn("outsider"), PrincipalType::User, R::Member)).await.unwrap();
    caught_up(&second).await;
    let added = group_users(reader, &owner_token, team).await;
    assert!(added.contains(&("Otto Outsider".into(), "Member".into())), "{added:?}");

    // A directory write through the first instance: no workspace version moves.
    let outsider = app.user_id("outsider");
    let (status, _, _) = app.graph(Method::PATCH, &format!("/users/{outsider}"), Some(json!({"displayName": "Otto Renamed"}))).await;
    assert_eq!(status, 204);
    caught_up(&second).await;
    let renamed = group_users(reader, &owner_token, team).await;
    assert!(renamed.contains(&("Otto Renamed".into(), "Member".into())), "{renamed:?}");
    assert!(!renamed.iter().any(|(name, _)| name == "Otto Outsider"), "{renamed:?}");

    // And removed again.
    owner.delete_group_user(team, &upn("outsider")).await.unwrap();
    caught_up(&second).await;
    assert!(!group_users(reader, &owner_token, team).await.iter().any(|(name, _)| name.starts_with("Otto")));
});
