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

/// The fixture with `n` more users, `load0@…` to `load{n-1}@…`, in no workspace.
fn fixture_with_users(n: usize) -> pbi_server::tenant::TenantSpec {
    let mut spec = fixture_spec();
    let template = spec.users.iter().find(|u| u.upn == upn("newbie")).unwrap().clone();
    for i in 0..n {
        let local = format!("load{i}");
        spec.users.push(pbi_server::tenant::UserSpec {
            upn: upn(&local),
            mail: Some(upn(&local)),
            display_name: local,
            ..template.clone()
        });
    }
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_to_one_workspace_are_each_acknowledged_once_with_their_event() {
    const N: usize = 48;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn_with_fixture(backend, |_| {}, fixture_with_users(N)).await else {
            continue;
        };
        let ws = app.ws("Team");
        let before = app.roles(ws).await;
        let events = app.activity_events().await.len();
        let automation = app.as_app().await;
        let added = join_all((0..N).map(|i| {
            let c = automation.clone();
            async move { c.add_group_user(ws, &GroupUser::email(upn(&format!("load{i}")), R::Viewer)).await }
        }))
        .await;
        assert!(added.iter().all(Result::is_ok), "{backend:?}: {added:?}");
        let roles = app.roles(ws).await;
        assert_eq!(roles.len(), before.len() + N, "{backend:?}");
        assert!((0..N).all(|i| roles.contains(&(upn(&format!("load{i}")), "Viewer".to_string()))), "{backend:?}");
        assert_eq!(app.activity_events().await.len(), events + N, "{backend:?}");
        let removed = join_all((0..N).map(|i| {
            let c = automation.clone();
            async move { c.delete_group_user(ws, &upn(&format!("load{i}"))).await }
        }))
        .await;
        assert!(removed.iter().all(Result::is_ok), "{backend:?}: {removed:?}");
        assert_eq!(app.roles(ws).await, before, "{backend:?}");
        assert_eq!(app.activity_events().await.len(), events + 2 * N, "{backend:?}");
        assert_eq!(app.store.queued_changes(), 0);
    }
}

/// PostgreSQL: hold `ws`'s row lock from another connection, so that the changes sent meanwhile
/// queue on the workspace's group commit; `release` lets them run.
struct HeldLock(sqlx::AnyConnection);

impl HeldLock {
    async fn take(app: &TestApp, ws: uuid::Uuid) -> HeldLock {
        use sqlx::{Connection, Executor};
        let mut conn = sqlx::AnyConnection::connect(&app.config.database).await.unwrap();
        conn.execute("BEGIN").await.unwrap();
        sqlx::query("SELECT version FROM workspaces WHERE id = $1 FOR UPDATE").bind(ws.to_string()).execute(&mut conn).await.unwrap();
        HeldLock(conn)
    }

    async fn release(mut self) {
        use sqlx::Executor;
        self.0.execute("COMMIT").await.unwrap();
    }
}

async fn version(app: &TestApp, ws: uuid::Uuid) -> i64 {
    let mut tx = app.store.external_write().await.unwrap();
    let v = sqlx::query("SELECT version FROM workspaces WHERE id = $1").bind(ws.to_string()).fetch_one(&mut *tx).await.unwrap();
    sqlx::Row::get::<i64, _>(&v, 0)
}

/// Wait until `n` role changes are queued (a bound, not a speed target).
async fn queued(app: &TestApp, n: usize) {
    for _ in 0..1000 {
        if app.store.queued_changes() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{n} changes were not queued within 20 s (queued: {})", app.store.queued_changes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_decides_each_change_on_the_ones_before_it_and_refuses_only_its_own() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else { return };
    let ws = app.ws("Team"); // Admins: owner and the automation app
    let before = version(&app, ws).await;
    let events = app.activity_events().await.len();
    let admin = app.as_user("admin").await;
    let member = app.as_user("member").await;
    let lock = HeldLock::take(&app, ws).await;
    // Under the lock, one batch: the tenant admin removes both Admins; a Member adds a user
    // twice and another once.
    let removals = [upn("owner"), app.app_object_id().to_string()];
    let adds = [(upn("outsider"), R::Viewer), (upn("outsider"), R::Viewer), (upn("newbie"), R::Contributor)];
    let sent = tokio::spawn(async move {
        futures::future::join(
            join_all(removals.iter().map(|who| admin.delete_user_as_admin(ws, who, false))),
            join_all(adds.iter().map(|(who, role)| {
                let member = member.clone();
                let user = GroupUser::email(who.clone(), *role);
                async move { member.add_group_user(ws, &user).await }
            })),
        )
        .await
    });
    queued(&app, 4).await;
    lock.release().await;
    let (removals, adds) = sent.await.unwrap();
    // Fewer commits than changes: the version moves once per batch.
    let batches = version(&app, ws).await - before;
    assert!((1..=2).contains(&batches), "{batches} batches for 5 changes");
    // Exactly one Admin removal lands: the second is decided after the first.
    assert_eq!(removals.iter().filter(|r| r.is_ok()).count(), 1, "{removals:?}");
    let refused = removals.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert_eq!(refused.code(), Some("CannotRemoveLastAdmin"), "{refused:?}");
    // The same add twice: one lands, the other finds the user there; the third is not held up.
    assert_eq!(adds[..2].iter().filter(|r| r.is_ok()).count(), 1, "{adds:?}");
    assert!(adds[2].is_ok(), "{adds:?}");
    let roles = app.roles(ws).await;
    assert_eq!(roles.iter().filter(|(_, r)| r == "Admin").count(), 1, "{roles:?}");
    assert!(roles.contains(&(upn("outsider"), "Viewer".to_string())));
    assert!(roles.contains(&(upn("newbie"), "Contributor".to_string())));
    assert_eq!(app.activity_events().await.len(), events + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_fails_in_a_batch_rolls_back_alone_and_the_others_commit() {
    use sqlx::{Connection, Executor};
    let Some(app) = TestApp::spawn(Backend::Postgres).await else { return };
    let ws = app.ws("Team");
    let events = app.activity_events().await.len();
    // A test-only trigger makes the insert of one principal fail.
    let mut side = sqlx::AnyConnection::connect(&app.config.database).await.unwrap();
    side.execute("CREATE FUNCTION refuse_newbie() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no newbies'; END $$")
        .await
        .unwrap();
    side.execute(&*format!(
        "CREATE TRIGGER refuse_newbie BEFORE INSERT ON workspace_members FOR EACH ROW \
         WHEN (NEW.principal_id = '{}') EXECUTE FUNCTION refuse_newbie()",
        app.user_id("newbie")
    ))
    .await
    .unwrap();
    let admin = app.as_user("admin").await;
    let lock = HeldLock::take(&app, ws).await;
    let sent = tokio::spawn({
        let admin = admin.clone();
        join_all(["outsider", "newbie", "mailuser"].map(move |who| {
            let admin = admin.clone();
            async move { admin.add_user_as_admin(ws, &GroupUser::email(upn(who), R::Viewer)).await }
        }))
    });
    queued(&app, 2).await;
    lock.release().await;
    let results = sent.await.unwrap();
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(results[1].is_err(), "{results:?}");
    let roles = app.roles(ws).await;
    assert!(roles.contains(&(upn("outsider"), "Viewer".to_string())));
    assert!(roles.contains(&(upn("mailuser"), "Viewer".to_string())));
    assert!(!roles.iter().any(|(who, _)| who == &upn("newbie")));
    assert_eq!(app.activity_events().await.len(), events + 2);
}
