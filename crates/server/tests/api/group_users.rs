use pbi_wire::powerbi::{GroupUser, GroupUserAccessRight as R, PrincipalType as P};

use crate::backend_test;
use crate::helpers::*;

backend_test!(workspace_users_list_has_no_admin_fields, |app: TestApp| async move {
    let users = app.as_user("viewer").await.get_group_users(app.ws("Team")).await.unwrap();
    assert_eq!(users.len(), 6);
    let owner = &users[0];
    assert_eq!(owner.identifier.as_deref(), Some(upn("owner").as_str()));
    assert_eq!(owner.principal_type, Some(P::User));
    assert_eq!(owner.group_user_access_right, R::Admin);
    assert_eq!(owner.display_name.as_deref(), Some("Olivia Owner"));
    assert_eq!(owner.email_address.as_deref(), Some(upn("owner").as_str()));
    assert!(users.iter().all(|u| u.graph_id.is_none() && u.user_type.is_none()));
    let app_entry = users.iter().find(|u| u.principal_type == Some(P::App)).unwrap();
    assert_eq!(app_entry.identifier.as_deref(), Some(app.app_object_id().to_string().as_str()));
    assert!(app_entry.email_address.is_none());
    // $top and $skip.
    let r = app
        .http
        .get(app.url(&format!("/v1.0/myorg/groups/{}/users?$top=2&$skip=1", app.ws("Team"))))
        .bearer_auth(app.user_token("viewer").await)
        .send()
        .await
        .unwrap();
    let page: serde_json::Value = r.json().await.unwrap();
    assert_eq!(page["value"].as_array().unwrap().len(), 2);
    assert_eq!(page["value"][0]["identifier"], upn("member"));
    assert!(page["@odata.context"].as_str().unwrap().contains("$metadata#groupUsers"));
    assert_api_error(app.as_user("outsider").await.get_group_users(app.ws("Team")).await, 404, "PowerBIEntityNotFound");
    assert_api_error(app.as_user("owner").await.get_group_users(uuid::Uuid::new_v4()).await, 404, "PowerBIEntityNotFound");
});

backend_test!(add_accepts_both_body_forms_and_every_principal_kind, |app: TestApp| async move {
    let owner = app.as_user("owner").await;
    let ws = app.ws("Team");
    owner.add_group_user(ws, &GroupUser::email("NEWBIE@fixture.onmicrosoft.com", R::Viewer)).await.unwrap();
    owner.add_group_user(ws, &GroupUser::principal(GUEST, P::User, R::Viewer)).await.unwrap();
    owner.add_group_user(ws, &GroupUser::principal("second.name@contoso.com", P::User, R::Contributor)).await.unwrap();
    owner.add_group_user(ws, &GroupUser::principal(app.fixture.groups["Analysts"].to_string(), P::Group, R::Member)).await.unwrap();
    let other_app = app.fixture.service_principals["other-app"].0;
    owner.add_group_user(ws, &GroupUser::principal(other_app.to_string(), P::App, R::Contributor)).await.unwrap();
    let roles = app.roles(ws).await;
    for (who, role) in [
        (upn("newbie"), "Viewer"),
        (GUEST.to_lowercase(), "Viewer"),
        (upn("mailuser"), "Contributor"),
        (app.fixture.groups["Analysts"].to_string(), "Member"),
        (other_app.to_string(), "Contributor"),
    ] {
        assert!(roles.contains(&(who.clone(), role.to_string())), "{who} should be {role}: {roles:?}");
    }
    assert_api_error(
        owner.add_group_user(ws, &GroupUser::email("ghost@fixture.onmicrosoft.com", R::Viewer)).await,
        400,
        "PrincipalNotFound",
    );
    assert_api_error(owner.add_group_user(ws, &GroupUser::principal("Analysts", P::Group, R::Viewer)).await, 400, "InvalidRequest");
    assert_api_error(
        owner.add_group_user(ws, &GroupUser::principal(uuid::Uuid::new_v4().to_string(), P::App, R::Viewer)).await,
        400,
        "PrincipalNotFound",
    );
    assert_api_error(owner.add_group_user(ws, &GroupUser::email(upn("outsider"), R::None)).await, 400, "UnsupportedAccessRightError");
    assert_api_error(owner.add_group_user(ws, &GroupUser::principal(upn("outsider"), P::None, R::Viewer)).await, 400, "InvalidRequest");
});

backend_test!(adding_an_existing_member_is_refused_and_put_needs_a_member, |app: TestApp| async move {
    let owner = app.as_user("owner").await;
    let ws = app.ws("Team");
    assert_api_error(
        owner.add_group_user(ws, &GroupUser::email(upn("VIEWER"), R::Member)).await,
        400,
        "AddingAlreadyExistsGroupUserNotSupportedError",
    );
    assert_api_error(owner.update_group_user(ws, &GroupUser::email(upn("outsider"), R::Member)).await, 404, "PowerBIEntityNotFound");
    owner.update_group_user(ws, &GroupUser::principal(upn("viewer"), P::User, R::Contributor)).await.unwrap();
    owner.update_group_user(ws, &GroupUser::principal(upn("viewer"), P::User, R::Contributor)).await.unwrap();
    assert!(app.roles(ws).await.contains(&(upn("viewer"), "Contributor".into())));
});

backend_test!(members_add_below_admin_only_and_change_nothing, |app: TestApp| async move {
    let member = app.as_user("member").await;
    let ws = app.ws("Team");
    member.add_group_user(ws, &GroupUser::email(upn("outsider"), R::Member)).await.unwrap();
    member.add_group_user(ws, &GroupUser::email(upn("newbie"), R::Viewer)).await.unwrap();
    member.add_group_user(ws, &GroupUser::email(upn("mailuser"), R::Contributor)).await.unwrap();
    assert_api_error(member.add_group_user(ws, &GroupUser::email(upn("admin"), R::Admin)).await, 401, "PowerBINotAuthorizedException");
    assert_api_error(
        member.update_group_user(ws, &GroupUser::email(upn("newbie"), R::Contributor)).await,
        401,
        "PowerBINotAuthorizedException",
    );
    assert_api_error(member.delete_group_user(ws, &upn("newbie")).await, 401, "PowerBINotAuthorizedException");
    let roles = app.roles(ws).await;
    assert!(roles.contains(&(upn("newbie"), "Viewer".into())) && roles.contains(&(upn("outsider"), "Member".into())));
    assert!(!roles.iter().any(|(who, _)| who == &upn("admin")));
});

backend_test!(contributors_and_viewers_cannot_manage_access, |app: TestApp| async move {
    let ws = app.ws("Team");
    for who in ["contributor", "viewer"] {
        let c = app.as_user(who).await;
        assert_api_error(c.add_group_user(ws, &GroupUser::email(upn("outsider"), R::Viewer)).await, 401, "PowerBINotAuthorizedException");
        assert_api_error(c.update_group_user(ws, &GroupUser::email(upn("viewer"), R::Member)).await, 401, "PowerBINotAuthorizedException");
        assert_api_error(c.delete_group_user(ws, &upn("disabled")).await, 401, "PowerBINotAuthorizedException");
    }
    assert_api_error(
        app.as_user("outsider").await.add_group_user(ws, &GroupUser::email(upn("outsider"), R::Admin)).await,
        404,
        "PowerBIEntityNotFound",
    );
    assert_eq!(app.roles(ws).await.len(), 6);
});

backend_test!(delete_decodes_the_user_segment, |app: TestApp| async move {
    let owner_token = app.user_token("owner").await;
    let ws = app.ws("Team");
    let owner = app.as_user("owner").await;
    owner.add_group_user(ws, &GroupUser::email(GUEST, R::Viewer)).await.unwrap();
    // Percent-encoded `#EXT#` and `@`.
    owner.delete_group_user(ws, GUEST).await.unwrap();
    // A raw `@`, and a different case.
    let r = app
        .http
        .delete(app.url(&format!("/v1.0/myorg/groups/{ws}/users/VIEWER@fixture.onmicrosoft.com")))
        .bearer_auth(&owner_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().is_empty(), "mutations answer 200 with an empty body");
    // A service principal by object id.
    owner.delete_group_user(ws, &app.app_object_id().to_string()).await.unwrap();
    let roles = app.roles(ws).await;
    assert!(!roles.iter().any(|(who, _)| who == &upn("viewer") || who == &GUEST.to_lowercase() || who == &app.app_object_id().to_string()));
    assert_api_error(owner.delete_group_user(ws, &upn("outsider")).await, 404, "PowerBIEntityNotFound");
    assert_api_error(owner.delete_group_user(ws, "nobody@nowhere.example").await, 404, "PowerBIEntityNotFound");
});

backend_test!(the_last_admin_cannot_be_removed_or_demoted, |app: TestApp| async move {
    let ws = app.ws("Marketing Hub");
    let owner = app.as_user("owner").await;
    assert_api_error(owner.delete_group_user(ws, &upn("owner")).await, 400, "CannotRemoveLastAdmin");
    assert_api_error(owner.update_group_user(ws, &GroupUser::email(upn("owner"), R::Member)).await, 400, "CannotRemoveLastAdmin");
    let admin = app.as_user("admin").await;
    assert_api_error(admin.delete_user_as_admin(ws, &upn("owner"), false).await, 400, "CannotRemoveLastAdmin");
    assert_api_error(admin.add_user_as_admin(ws, &GroupUser::email(upn("owner"), R::Viewer)).await, 400, "CannotRemoveLastAdmin");
    // With a second Admin, the first may go.
    owner.update_group_user(ws, &GroupUser::email(upn("viewer"), R::Admin)).await.unwrap();
    owner.delete_group_user(ws, &upn("owner")).await.unwrap();
    assert_eq!(app.roles(ws).await, vec![(upn("viewer"), "Admin".to_string())]);
});

#[tokio::test]
async fn principal_limit_counts_users_groups_and_apps() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn_with(backend, |c| c.limits.max_principals_per_workspace = 8).await else {
            continue;
        };
        let ws = app.ws("Team");
        let owner = app.as_user("owner").await;
        owner.add_group_user(ws, &GroupUser::principal(app.fixture.groups["Analysts"].to_string(), P::Group, R::Viewer)).await.unwrap();
        owner.add_group_user(ws, &GroupUser::email(upn("newbie"), R::Viewer)).await.unwrap();
        assert_api_error(
            owner.add_group_user(ws, &GroupUser::email(upn("outsider"), R::Viewer)).await,
            400,
            "PrincipalsPerWorkspaceLimitExceeded",
        );
        assert_api_error(
            app.as_user("admin").await.add_user_as_admin(ws, &GroupUser::email(upn("outsider"), R::Viewer)).await,
            400,
            "PrincipalsPerWorkspaceLimitExceeded",
        );
        // Changing the role of an existing principal is not adding one.
        owner.update_group_user(ws, &GroupUser::email(upn("newbie"), R::Member)).await.unwrap();
        assert_eq!(app.roles(ws).await.len(), 8);
    }
}

backend_test!(reads_see_every_acknowledged_write, |app: TestApp| async move {
    // The list is cached per workspace version on SQLite: a write must never leave it stale.
    let ws = app.ws("Team");
    let owner = app.as_user("owner").await;
    let viewer = app.as_user("viewer").await;
    let listed = |users: Vec<GroupUser>| users.into_iter().map(|u| (u.identifier.unwrap(), u.group_user_access_right)).collect::<Vec<_>>();
    for round in 0..5 {
        assert!(!listed(viewer.get_group_users(ws).await.unwrap()).iter().any(|(who, _)| who == &upn("newbie")), "round {round}");
        owner.add_group_user(ws, &GroupUser::email(upn("newbie"), R::Viewer)).await.unwrap();
        assert!(listed(viewer.get_group_users(ws).await.unwrap()).contains(&(upn("newbie"), R::Viewer)), "round {round}");
        owner.update_group_user(ws, &GroupUser::email(upn("newbie"), R::Contributor)).await.unwrap();
        assert!(listed(viewer.get_group_users(ws).await.unwrap()).contains(&(upn("newbie"), R::Contributor)), "round {round}");
        owner.delete_group_user(ws, &upn("newbie")).await.unwrap();
    }
    // Losing one's role hides the workspace at once.
    owner.delete_group_user(ws, &upn("viewer")).await.unwrap();
    assert_api_error(viewer.get_group_users(ws).await, 404, "PowerBIEntityNotFound");
});
