//! Typed methods and token caching against a real pbi-access server.

use std::time::Duration;

use futures::TryStreamExt;
use pbi_client::{ClientError, Credential, ManualClock, PowerBiClient};
use pbi_wire::powerbi::{GroupUser, GroupUserAccessRight as Right, PrincipalType};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_workspace_methods_round_trip() {
    let server = Server::start().await;
    let client = server.app_client(ManualClock::starting_now());
    let team = server.ws("Team");

    let groups = client.get_groups(Some("name eq 'Team'"), None, None).await.unwrap();
    assert_eq!(groups.value.len(), 1);
    assert_eq!(groups.value[0].id, team);
    assert_eq!(client.get_group(team).await.unwrap().name, "Team");

    let created = client.create_group("Scratch").await.unwrap();
    assert_eq!(created.name, "Scratch");

    // Add (email form), change the role, read back, remove (a UPN needs encoding in the path).
    client.add_group_user(team, &GroupUser::email(upn("alice"), Right::Viewer)).await.unwrap();
    client.update_group_user(team, &GroupUser::principal(upn("alice"), PrincipalType::User, Right::Contributor)).await.unwrap();
    let users = client.get_group_users(team).await.unwrap();
    let alice = users.iter().find(|u| u.identifier.as_deref() == Some(upn("alice").as_str())).expect("alice listed");
    assert_eq!(alice.group_user_access_right, Right::Contributor);
    client.delete_group_user(team, &upn("alice")).await.unwrap();
    assert!(!client.get_group_users(team).await.unwrap().iter().any(|u| u.identifier.as_deref() == Some(upn("alice").as_str())));

    // Errors keep the Power BI code, status and RequestId.
    match client.delete_group_user(team, &upn("alice")).await {
        Err(ClientError::Api { status, code, request_id, .. }) => {
            assert_eq!(status.as_u16(), 404);
            assert_eq!(code, "PowerBIEntityNotFound");
            assert!(request_id.is_some());
        }
        other => panic!("{other:?}"),
    }
    match client.add_group_user(team, &GroupUser::principal(server.app_object_id(), PrincipalType::App, Right::Admin)).await {
        Err(e) => assert_eq!(e.code(), Some("AddingAlreadyExistsGroupUserNotSupportedError"), "{e}"),
        Ok(()) => panic!("a second POST for the same principal must be refused"),
    }

    // The verified add on the happy path is a plain add.
    let outcome = client.add_group_user_verified(team, &GroupUser::email(upn("bob"), Right::Member)).await.unwrap();
    assert_eq!(outcome, pbi_client::AddOutcome::Added);

    client.delete_group(created.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_skip_streams_walk_every_page() {
    let server = Server::start().await;
    let client = server.app_client(ManualClock::starting_now());
    let pages: Vec<Vec<pbi_wire::powerbi::Group>> = client.groups_stream(None, 2).try_collect().await.unwrap();
    // Five workspaces at two per page: 2 + 2 + 1.
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2, 1]);
    let mut names: Vec<String> = pages.into_iter().flatten().map(|g| g.name).collect();
    names.sort();
    assert_eq!(names, ["Alpha", "Beta", "Delta", "Gamma", "Team"]);

    // An exact multiple ends with an empty page.
    let sizes: Vec<usize> = client.groups_stream(Some("name ne 'Team'"), 2).map_ok(|p| p.len()).try_collect().await.unwrap();
    assert_eq!(sizes, vec![2, 2, 0]);

    let pages: Vec<Vec<GroupUser>> = client.group_users_stream(server.ws("Team"), 1).try_collect().await.unwrap();
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 1, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_methods_with_a_delegated_token() {
    let server = Server::start().await;
    let admin = PowerBiClient::builder(server.endpoints())
        .password(server.tenant(), server.app_id(), upn("admin"), PASSWORD)
        .clock(ManualClock::starting_now())
        .build()
        .unwrap();
    let team = server.ws("Team");
    admin.add_user_as_admin(team, &GroupUser::email(upn("bob"), Right::Viewer)).await.unwrap();
    let listed = admin.get_group_users_as_admin(team).await.unwrap();
    let bob = listed.iter().find(|u| u.identifier.as_deref() == Some(upn("bob").as_str())).unwrap();
    assert!(bob.graph_id.is_some(), "the admin list carries graphId");
    assert_eq!(
        admin.add_user_as_admin_verified(team, &GroupUser::email(upn("bob"), Right::Viewer)).await.unwrap(),
        pbi_client::AddOutcome::Added,
        "the admin POST is an upsert on pbi-access"
    );
    admin.delete_user_as_admin(team, &upn("bob"), false).await.unwrap();
    assert!(!admin.get_group_users_as_admin(team).await.unwrap().iter().any(|u| u.identifier.as_deref() == Some(upn("bob").as_str())));

    // The app may read through the admin API but not write.
    let app = server.app_client(ManualClock::starting_now());
    assert_eq!(app.get_group_users_as_admin(team).await.unwrap().len(), 2);
    let err = app.add_user_as_admin(team, &GroupUser::email(upn("bob"), Right::Viewer)).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(403), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_cached_and_replaced_shortly_before_expiry() {
    let server = Server::start().await;
    let clock = ManualClock::starting_now();
    let client = server.app_client(clock.clone());
    let source = client.token_source().unwrap();
    for _ in 0..3 {
        client.get_groups(None, None, None).await.unwrap();
    }
    assert_eq!(source.fetch_count(), 1, "one token for three calls");
    // pbi-access says expires_in 3599: the token is replaced 300 s before, at 3299 s.
    clock.advance(Duration::from_secs(3298));
    client.get_groups(None, None, None).await.unwrap();
    assert_eq!(source.fetch_count(), 1, "still fresh 1 s before the refresh point");
    clock.advance(Duration::from_secs(1));
    client.get_groups(None, None, None).await.unwrap();
    assert_eq!(source.fetch_count(), 2, "replaced at the refresh point");
    client.get_groups(None, None, None).await.unwrap();
    assert_eq!(source.fetch_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_token_request() {
    let server = Server::start().await;
    let client = server.app_client(ManualClock::starting_now());
    let calls = (0..16).map(|_| {
        let c = client.clone();
        tokio::spawn(async move { c.get_groups(None, None, None).await.map(|l| l.value.len()) })
    });
    for call in futures::future::join_all(calls).await {
        assert_eq!(call.unwrap().unwrap(), 5);
    }
    assert_eq!(client.token_source().unwrap().fetch_count(), 1, "sixteen concurrent first calls, one token request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegated_tokens_refresh_with_the_refresh_token() {
    let server = Server::start().await;
    let clock = ManualClock::starting_now();
    let client = PowerBiClient::builder(server.endpoints())
        .password(server.tenant(), server.app_id(), upn("admin"), PASSWORD)
        .clock(clock.clone())
        .build()
        .unwrap();
    let source = client.token_source().unwrap();
    client.get_group_users_as_admin(server.ws("Team")).await.unwrap();
    assert_eq!((source.fetch_count(), source.refresh_count()), (1, 0));
    clock.advance(Duration::from_secs(3400));
    client.get_group_users_as_admin(server.ws("Team")).await.unwrap();
    assert_eq!((source.fetch_count(), source.refresh_count()), (2, 1), "the second token came from the refresh token");

    // A refresh token obtained elsewhere works as a credential of its own.
    let rt = pbi_client::TokenClient::new(reqwest::Client::new(), &server.endpoints())
        .password(
            &server.tenant(),
            &server.app_id(),
            &upn("alice"),
            PASSWORD,
            "https://analysis.windows.net/powerbi/api/.default offline_access",
        )
        .await
        .unwrap()
        .refresh_token
        .expect("offline_access gives a refresh token");
    let alice = PowerBiClient::builder(server.endpoints())
        .credential(Credential::RefreshToken {
            tenant: server.tenant(),
            client_id: server.app_id(),
            client_secret: None,
            refresh_token: rt,
        })
        .build()
        .unwrap();
    assert!(alice.get_groups(None, None, None).await.unwrap().value.is_empty(), "alice holds no workspace role");

    // A wrong secret surfaces as the token endpoint's error.
    let bad = PowerBiClient::builder(server.endpoints()).client_secret(server.tenant(), server.app_id(), "wrong").build().unwrap();
    match bad.get_groups(None, None, None).await {
        Err(ClientError::OAuth { codes, .. }) => assert_eq!(codes, vec![7000215]),
        other => panic!("{other:?}"),
    }
}
