//! The last-Admin and principal-limit rules under racing HTTP requests, on both backends.

use futures::future::join_all;
use pbi_wire::powerbi::{GroupUser, GroupUserAccessRight as R};

use crate::backend_test;
use crate::helpers::*;

const LOCALS: [&str; 5] = ["owner", "member", "contributor", "viewer", "outsider"];

backend_test!(racing_removals_always_leave_one_admin, |app: TestApp| async move {
    for round in 0..3 {
        let ws = admin_create(&app, &format!("Race {round}")).await;
        // Every Admin removes itself, all at once, through the workspace endpoint.
        let mut clients = Vec::new();
        for who in LOCALS {
            clients.push((who, app.as_user(who).await));
        }
        let results = join_all(clients.iter().map(|(who, c)| async move { c.delete_group_user(ws, &upn(who)).await })).await;
        let admins: Vec<_> = app.roles(ws).await.into_iter().filter(|(_, r)| r == "Admin").collect();
        assert_eq!(admins.len(), 1, "round {round}: {results:?}");
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 4, "round {round}: {results:?}");
        let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(refused[0].code(), Some("CannotRemoveLastAdmin"));
    }
});

backend_test!(racing_admin_demotions_keep_one_admin, |app: TestApp| async move {
    let admin = app.as_user("admin").await;
    let ws = admin_create(&app, "Demotions").await;
    let results = join_all(LOCALS.iter().map(|who| {
        let admin = admin.clone();
        async move { admin.add_user_as_admin(ws, &GroupUser::email(upn(who), R::Viewer)).await }
    }))
    .await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 4, "{results:?}");
    assert_eq!(app.roles(ws).await.iter().filter(|(_, r)| r == "Admin").count(), 1);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_adds_never_pass_the_principal_limit() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn_with(backend, |c| c.limits.max_principals_per_workspace = 9).await else {
            continue;
        };
        let ws = app.ws("Team"); // 6 principals: 3 places left
        let owner = app.as_user("owner").await;
        let candidates = ["outsider", "newbie", "mailuser", "admin"].map(upn).into_iter().chain([GUEST.to_string()]);
        let results = join_all(candidates.map(|who| {
            let owner = owner.clone();
            async move { owner.add_group_user(ws, &GroupUser::email(who, R::Viewer)).await }
        }))
        .await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3, "{backend:?}: {results:?}");
        assert_eq!(app.roles(ws).await.len(), 9, "{backend:?}");
        for r in results.iter().filter_map(|r| r.as_ref().err()) {
            assert_eq!(r.code(), Some("PrincipalsPerWorkspaceLimitExceeded"));
        }
    }
}

/// A workspace whose only Admins are the five fixture users of `LOCALS`.
async fn admin_create(app: &TestApp, name: &str) -> uuid::Uuid {
    let admin = app.as_user("admin").await;
    let ws = admin.create_group(name).await.unwrap().id;
    for who in LOCALS {
        admin.add_user_as_admin(ws, &GroupUser::email(upn(who), R::Admin)).await.unwrap();
    }
    admin.delete_group_user(ws, &upn("admin")).await.unwrap();
    ws
}
