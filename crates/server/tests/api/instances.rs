//! Several instances on one PostgreSQL database (see `store::sync` and docs/fidelity.md): each
//! serves workspace views from memory while its listener is live; a write is read at once on the
//! instance that made it and on another once that one has heard the write's notification; an
//! instance whose listener is down reads versions from the database instead of serving stale views.

use std::time::Duration;

use pbi_client::{Endpoints, PowerBiClient};
use pbi_server::store::Store;
use pbi_wire::powerbi::{GroupUser, GroupUserAccessRight as R, PrincipalType};
use serde_json::Value;
use uuid::Uuid;

use crate::backend_test;
use crate::helpers::*;

/// `GET /groups/{id}/users` on `base`: `(displayName, groupUserAccessRight)` of every user.
async fn users(base: &str, token: &str, ws: Uuid) -> Vec<(String, String)> {
    let url = format!("{base}/v1.0/myorg/groups/{ws}/users");
    let response = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["displayName"].as_str().unwrap_or_default().to_string(), u["groupUserAccessRight"].as_str().unwrap().to_string()))
        .collect()
}

fn right_of(users: &[(String, String)], name: &str) -> Option<String> {
    users.iter().find(|(n, _)| n == name).map(|(_, r)| r.clone())
}

/// Wait until `done` holds (the listener's connection is asynchronous); a bound, not a speed target.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}: not within 20 s");
}

async fn live(store: &Store) {
    eventually("the listener goes live", || store.listener_live()).await;
}

/// PostgreSQL only: a SQLite file has one serving process.
fn skip_sqlite(app: &TestApp) -> bool {
    if app.backend == Backend::Sqlite {
        eprintln!("skipped on SQLite: one serving process per SQLite file");
        return true;
    }
    false
}

backend_test!(a_write_is_read_at_once_where_it_was_made_and_on_another_instance_once_notified, |app: TestApp| async move {
    if skip_sqlite(&app) {
        return;
    }
    let second = app.instance().await;
    live(&app.store).await;
    live(&second.store).await;
    let token = app.user_token("owner").await;
    let team = app.ws("Team");
    // Both instances read and keep the view.
    let before = users(&app.base, &token, team).await;
    assert_eq!(users(&second.base, &token, team).await, before);
    assert_eq!(right_of(&before, "Otto Outsider"), None);

    // A write through the first instance: read there at once (read-your-writes), and on the
    // second once it has applied every notification committed before now.
    let first = app.as_user("owner").await;
    first.add_group_user(team, &GroupUser::principal(upn("outsider"), PrincipalType::User, R::Member)).await.unwrap();
    assert_eq!(right_of(&users(&app.base, &token, team).await, "Otto Outsider").as_deref(), Some("Member"));
    assert!(second.store.caught_up().await, "the second listener stayed live");
    assert_eq!(right_of(&users(&second.base, &token, team).await, "Otto Outsider").as_deref(), Some("Member"));

    // And the other way round, through the second instance.
    let other = PowerBiClient::new(reqwest::Client::new(), &Endpoints::local(&second.base), token.clone());
    other.delete_group_user(team, &upn("outsider")).await.unwrap();
    assert_eq!(right_of(&users(&second.base, &token, team).await, "Otto Outsider"), None);
    assert!(app.store.caught_up().await, "the first listener stayed live");
    assert_eq!(right_of(&users(&app.base, &token, team).await, "Otto Outsider"), None);
});

backend_test!(an_instance_whose_listener_disconnects_reads_the_database_instead_of_serving_stale_views, |app: TestApp| async move {
    if skip_sqlite(&app) {
        return;
    }
    let second = app.instance().await;
    live(&second.store).await;
    let token = app.user_token("owner").await;
    let team = app.ws("Team");
    assert_eq!(right_of(&users(&second.base, &token, team).await, "Max Member").as_deref(), Some("Member"));

    // A change no notification tells of (as if it were lost): the live instance serves the view it
    // keeps in memory, so it must not stay live once its connection is gone.
    let mut tx = app.store.external_write().await.unwrap();
    sqlx::query("UPDATE workspace_members SET role = 'Viewer' WHERE workspace_id = $1 AND principal_id = $2")
        .bind(team.to_string())
        .bind(app.user_id("member").to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE workspaces SET version = version + 1 WHERE id = $1").bind(team.to_string()).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(right_of(&users(&second.base, &token, team).await, "Max Member").as_deref(), Some("Member"), "served from memory");

    // Its listener's connection is terminated: the instance forgets what it kept, and reads the
    // database whether or not it has reconnected yet.
    let pid = second.store.listener_pid().expect("a live listener has a backend");
    let mut tx = app.store.external_write().await.unwrap();
    sqlx::query("SELECT pg_terminate_backend($1) IS NOT NULL AS sent").bind(pid).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    eventually("the listener notices", || second.store.listener_pid() != Some(pid)).await;
    assert_eq!(right_of(&users(&second.base, &token, team).await, "Max Member").as_deref(), Some("Viewer"));

    // It reconnects and follows writes again.
    live(&second.store).await;
    let first = app.as_user("owner").await;
    first.update_group_user(team, &GroupUser::principal(upn("member"), PrincipalType::User, R::Contributor)).await.unwrap();
    assert!(second.store.caught_up().await);
    assert_eq!(right_of(&users(&second.base, &token, team).await, "Max Member").as_deref(), Some("Contributor"));
});

backend_test!(an_instance_without_a_listener_checks_versions_and_is_exact_at_once, |app: TestApp| async move {
    if skip_sqlite(&app) {
        return;
    }
    let second = app.instance().await;
    second.store.stop_listener();
    assert!(!second.store.listener_live());
    let token = app.user_token("owner").await;
    let team = app.ws("Team");
    assert_eq!(right_of(&users(&second.base, &token, team).await, "Otto Outsider"), None);
    let first = app.as_user("owner").await;
    first.add_group_user(team, &GroupUser::principal(upn("outsider"), PrincipalType::User, R::Viewer)).await.unwrap();
    // No waiting: the second instance reads the workspace's version before its view.
    assert_eq!(right_of(&users(&second.base, &token, team).await, "Otto Outsider").as_deref(), Some("Viewer"));
    let (status, _, _) = app
        .graph(
            reqwest::Method::PATCH,
            &format!("/users/{}", app.user_id("outsider")),
            Some(serde_json::json!({"displayName": "Otto Renamed"})),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(right_of(&users(&second.base, &token, team).await, "Otto Renamed").as_deref(), Some("Viewer"));
});

backend_test!(racing_writes_through_two_instances_keep_one_admin_and_land_whole, |app: TestApp| async move {
    if skip_sqlite(&app) {
        return;
    }
    let second = app.instance().await;
    live(&app.store).await;
    live(&second.store).await;
    // A workspace whose only Admins are five users.
    let admin = app.as_user("admin").await;
    let ws = admin.create_group("Shared").await.unwrap().id;
    let admins = ["owner", "member", "contributor", "viewer", "outsider"];
    for who in admins {
        admin.add_user_as_admin(ws, &GroupUser::email(upn(who), R::Admin)).await.unwrap();
    }
    admin.delete_group_user(ws, &upn("admin")).await.unwrap();
    let bases = [app.base.clone(), second.base.clone()];
    let client = |i: usize, token: String| PowerBiClient::new(reqwest::Client::new(), &Endpoints::local(&bases[i % 2]), token);

    // Every Admin removes itself while the tenant admin adds three users, alternately through
    // either instance, all at once: each instance batches its own, the workspace's lock orders both.
    let mut removers = Vec::new();
    for (i, who) in admins.iter().enumerate() {
        removers.push((who.to_string(), client(i, app.user_token(who).await)));
    }
    let admin_token = app.user_token("admin").await;
    let adders: Vec<_> = [upn("newbie"), upn("mailuser"), GUEST.to_string()]
        .into_iter()
        .enumerate()
        .map(|(i, who)| (who, client(i + 1, admin_token.clone())))
        .collect();
    let (removed, added) = futures::future::join(
        futures::future::join_all(removers.iter().map(|(who, c)| async move { c.delete_group_user(ws, &upn(who)).await })),
        futures::future::join_all(
            adders.iter().map(|(who, c)| async move { c.add_user_as_admin(ws, &GroupUser::email(who.clone(), R::Viewer)).await }),
        ),
    )
    .await;
    assert_eq!(removed.iter().filter(|r| r.is_ok()).count(), 4, "{removed:?}");
    let refused = removed.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert_eq!(refused.code(), Some("CannotRemoveLastAdmin"));
    assert!(added.iter().all(Result::is_ok), "{added:?}");
    let roles = app.roles(ws).await;
    assert_eq!(roles.iter().filter(|(_, r)| r == "Admin").count(), 1, "{roles:?}");
    assert_eq!(roles.iter().filter(|(_, r)| r == "Viewer").count(), 3, "{roles:?}");

    // Both instances read the same, exact list once they have heard every notification.
    assert!(app.store.caught_up().await && second.store.caught_up().await);
    let last = removers[removed.iter().position(Result::is_err).unwrap()].0.clone();
    let token = app.user_token(&last).await;
    let here = users(&app.base, &token, ws).await;
    assert_eq!(here.len(), 4, "{here:?}");
    assert_eq!(users(&second.base, &token, ws).await, here);
});
