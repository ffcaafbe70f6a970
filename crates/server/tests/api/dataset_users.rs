//! Dataset permissions (`…/datasets/{datasetId}/users`): who may list, grant, replace and
//! remove, what each may hand out, the activity events they leave, and racing grants; over real
//! HTTP on both backends.

use futures::future::join_all;
use pbi_wire::artifacts::{DatasetUserAccess, DatasetUserAccessRight as D};
use pbi_wire::powerbi::PrincipalType as P;
use serde_json::Value;

use crate::backend_test;
use crate::helpers::*;

fn user(local: &str, right: D) -> DatasetUserAccess {
    DatasetUserAccess { identifier: upn(local), principal_type: P::User, dataset_user_access_right: right }
}

/// The right listed for `identifier` on the dataset, as the dataset's Admin sees it.
async fn right_of(app: &TestApp, dataset: &str, identifier: &str) -> Option<D> {
    let owner = app.as_user("owner").await;
    let users = owner.get_dataset_users(None, dataset).await.unwrap();
    users.iter().find(|u| u.identifier.eq_ignore_ascii_case(identifier)).map(|u| u.dataset_user_access_right)
}

fn sales(app: &TestApp) -> String {
    app.artifact("Team", "Dataset", "Sales").to_string()
}

backend_test!(get_lists_role_and_direct_rights_with_three_fields, |app: TestApp| async move {
    let (ws, ds) = (app.ws("Team"), sales(&app));
    let token = app.user_token("owner").await;
    for path in [format!("/v1.0/myorg/datasets/{ds}/users"), format!("/v1.0/myorg/groups/{ws}/datasets/{ds}/users")] {
        let r = app.http.get(app.url(&path)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert!(body["@odata.context"].as_str().unwrap().ends_with("#datasetUsers"));
        for item in body["value"].as_array().unwrap() {
            let mut keys: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort();
            assert_eq!(keys, vec!["datasetUserAccessRight", "identifier", "principalType"], "{item}");
        }
    }
    let list = app.as_user("owner").await.get_dataset_users(Some(ws), &ds).await.unwrap();
    let got: Vec<(String, P, D)> =
        list.iter().map(|u| (u.identifier.to_lowercase(), u.principal_type, u.dataset_user_access_right)).collect();
    assert_eq!(
        got,
        vec![
            (upn("owner"), P::User, D::ReadWriteReshareExplore),
            (upn("member"), P::User, D::ReadWriteReshareExplore),
            (upn("contributor"), P::User, D::ReadWriteExplore),
            (upn("viewer"), P::User, D::Read),
            (app.app_object_id().to_string(), P::App, D::ReadWriteReshareExplore),
            (upn("disabled"), P::User, D::Read),
            (upn("outsider"), P::User, D::ReadReshare),
            (upn("mailuser"), P::User, D::ReadWrite),
        ]
    );
    // The dataset is not in this workspace: 404 through the InGroup path.
    assert_api_error(app.as_user("owner").await.get_dataset_users(Some(app.ws("Marketing Hub")), &ds).await, 404, "PowerBIEntityNotFound");
});

backend_test!(callers_need_the_swagger_rights_on_the_dataset, |app: TestApp| async move {
    let ds = sales(&app);
    // GET and PUT need ReadWriteReshare: Admins and Members have it, Viewers and a ReadReshare share do not.
    // (Sales' Contributor is its owner, and holds everything: see dataset_owners_hold_every_right.)
    app.as_user("member").await.get_dataset_users(None, &ds).await.unwrap();
    for who in ["viewer", "outsider"] {
        let c = app.as_user(who).await;
        assert_api_error(c.get_dataset_users(None, &ds).await, 401, "PowerBINotAuthorizedException");
        assert_api_error(c.put_dataset_user(None, &ds, &user("outsider", D::Read)).await, 401, "PowerBINotAuthorizedException");
    }
    // POST needs ReadReshare: the outsider's direct share is enough to reshare Read…
    let outsider = app.as_user("outsider").await;
    outsider.post_dataset_user(None, &ds, &user("newbie", D::Read)).await.unwrap();
    assert_eq!(right_of(&app, &ds, &upn("newbie")).await, Some(D::Read));
    // …but not to hand out Explore, which it does not hold.
    assert_api_error(outsider.post_dataset_user(None, &ds, &user("newbie", D::ReadExplore)).await, 401, "PowerBINotAuthorizedException");
    // A Viewer (Read) and a Contributor (ReadWriteExplore) cannot reshare.
    assert_api_error(
        app.as_user("viewer").await.post_dataset_user(None, &ds, &user("newbie", D::Read)).await,
        401,
        "PowerBINotAuthorizedException",
    );
    // Without any right the dataset does not exist, whatever the body names.
    let finance = app.artifact("Team", "Dataset", "Finance").to_string();
    let bogus = DatasetUserAccess { identifier: "nobody@nowhere.test".into(), principal_type: P::User, dataset_user_access_right: D::Read };
    assert_api_error(outsider.post_dataset_user(None, &finance, &bogus).await, 404, "PowerBIEntityNotFound");
    assert_api_error(outsider.get_dataset_users(None, &finance).await, 404, "PowerBIEntityNotFound");
    assert_api_error(outsider.get_dataset_users(None, "not-a-guid").await, 404, "PowerBIEntityNotFound");
    // A Contributor (ReadWriteExplore) of a dataset it does not own cannot list its users.
    let contributor = app.as_user("contributor").await;
    assert_api_error(contributor.get_dataset_users(None, &finance).await, 401, "PowerBINotAuthorizedException");
    assert_api_error(contributor.post_dataset_user(None, &finance, &user("newbie", D::Read)).await, 401, "PowerBINotAuthorizedException");
    // A service principal that is a workspace Admin manages permissions too.
    app.as_app().await.post_dataset_user(Some(app.ws("Team")), &finance, &user("newbie", D::ReadReshare)).await.unwrap();
    // Scopes: Dataset.Read.All lists but cannot grant.
    let read_only = app.client(app.user_token_scoped("owner", "https://analysis.windows.net/powerbi/api/Dataset.Read.All").await);
    read_only.get_dataset_users(None, &ds).await.unwrap();
    assert_api_error(read_only.post_dataset_user(None, &ds, &user("newbie", D::Read)).await, 401, "PowerBINotAuthorizedException");
});

backend_test!(dataset_owners_hold_every_right, |app: TestApp| async move {
    // contributor configured Sales: as a Contributor it holds ReadWriteExplore, as the owner everything.
    let ds = sales(&app);
    let contributor = app.as_user("contributor").await;
    contributor.get_dataset_users(None, &ds).await.unwrap();
    contributor.post_dataset_user(None, &ds, &user("newbie", D::ReadReshareExplore)).await.unwrap();
    assert_eq!(right_of(&app, &ds, &upn("newbie")).await, Some(D::ReadReshareExplore));
});

backend_test!(post_grants_only_entry_rights_to_users_and_groups_and_adds_up, |app: TestApp| async move {
    let (ws, ds) = (app.ws("Team"), sales(&app));
    let owner = app.as_user("owner").await;
    for right in [D::ReadWrite, D::ReadWriteReshare, D::ReadWriteExplore, D::ReadWriteReshareExplore, D::None] {
        assert_api_error(owner.post_dataset_user(Some(ws), &ds, &user("newbie", right)).await, 400, "UnsupportedAccessRightError");
    }
    let app_principal =
        DatasetUserAccess { identifier: app.app_object_id().to_string(), principal_type: P::App, dataset_user_access_right: D::Read };
    assert_api_error(owner.post_dataset_user(Some(ws), &ds, &app_principal).await, 400, "InvalidRequest");
    assert_api_error(owner.post_dataset_user(Some(ws), &ds, &user("ghost", D::Read)).await, 400, "PrincipalNotFound");
    let not_a_guid = DatasetUserAccess { identifier: "Analysts".into(), principal_type: P::Group, dataset_user_access_right: D::Read };
    assert_api_error(owner.post_dataset_user(Some(ws), &ds, &not_a_guid).await, 400, "InvalidRequest");
    assert!(right_of(&app, &ds, &upn("newbie")).await.is_none(), "refusals change nothing");
    // Grants add to what the principal holds directly.
    owner.post_dataset_user(Some(ws), &ds, &user("newbie", D::ReadReshare)).await.unwrap();
    owner.post_dataset_user(Some(ws), &ds, &user("newbie", D::ReadExplore)).await.unwrap();
    assert_eq!(right_of(&app, &ds, &upn("newbie")).await, Some(D::ReadReshareExplore));
    owner.post_dataset_user(Some(ws), &ds, &user("newbie", D::Read)).await.unwrap();
    assert_eq!(right_of(&app, &ds, &upn("newbie")).await, Some(D::ReadReshareExplore), "a smaller grant takes nothing away");
    // A group, by object id; a user by mail.
    let analysts = app.fixture.groups["Analysts"].to_string();
    let group = DatasetUserAccess { identifier: analysts.clone(), principal_type: P::Group, dataset_user_access_right: D::ReadExplore };
    owner.post_dataset_user(None, &ds, &group).await.unwrap();
    assert_eq!(right_of(&app, &ds, &analysts).await, Some(D::ReadExplore));
    let by_mail = DatasetUserAccess {
        identifier: "second.name@contoso.com".into(),
        principal_type: P::User,
        dataset_user_access_right: D::ReadReshare,
    };
    owner.post_dataset_user(None, &ds, &by_mail).await.unwrap();
    assert_eq!(right_of(&app, &ds, &upn("mailuser")).await, Some(D::ReadWriteReshare), "mailuser's operator-given ReadWrite stays");
});

backend_test!(put_replaces_and_cannot_touch_write_or_inherited_rights, |app: TestApp| async move {
    let ds = sales(&app);
    let owner = app.as_user("owner").await;
    // Replace, then remove with None.
    owner.put_dataset_user(None, &ds, &user("outsider", D::ReadExplore)).await.unwrap();
    assert_eq!(right_of(&app, &ds, &upn("outsider")).await, Some(D::ReadExplore));
    owner.put_dataset_user(None, &ds, &user("outsider", D::None)).await.unwrap();
    assert_eq!(right_of(&app, &ds, &upn("outsider")).await, None);
    // PUT updates existing permissions only.
    assert_api_error(owner.put_dataset_user(None, &ds, &user("newbie", D::Read)).await, 404, "PowerBIEntityNotFound");
    // Write can be neither added nor removed.
    assert_api_error(owner.put_dataset_user(None, &ds, &user("viewer", D::ReadWrite)).await, 400, "UnsupportedAccessRightError");
    assert_api_error(owner.put_dataset_user(None, &ds, &user("mailuser", D::ReadReshare)).await, 400, "UnsupportedAccessRightError");
    assert_api_error(owner.put_dataset_user(None, &ds, &user("mailuser", D::None)).await, 400, "UnsupportedAccessRightError");
    owner.put_dataset_user(None, &ds, &user("mailuser", D::ReadWriteReshare)).await.unwrap();
    assert_eq!(right_of(&app, &ds, &upn("mailuser")).await, Some(D::ReadWriteReshare));
    // What the workspace role gives cannot be stripped: a Member keeps ReadWriteReshareExplore, a Viewer Read.
    assert_api_error(owner.put_dataset_user(None, &ds, &user("member", D::ReadReshare)).await, 400, "UnsupportedAccessRightError");
    assert_api_error(owner.put_dataset_user(None, &ds, &user("viewer", D::None)).await, 400, "UnsupportedAccessRightError");
    // More than the role gives is fine, and can be taken back down to it.
    owner.put_dataset_user(None, &ds, &user("viewer", D::ReadReshare)).await.unwrap();
    assert_eq!(right_of(&app, &ds, &upn("viewer")).await, Some(D::ReadReshare));
    owner.put_dataset_user(None, &ds, &user("viewer", D::None)).await.unwrap();
    assert_eq!(right_of(&app, &ds, &upn("viewer")).await, Some(D::Read), "the role's Read remains");
    owner.put_dataset_user(None, &ds, &user("contributor", D::ReadWriteReshareExplore)).await.unwrap();
    assert_eq!(right_of(&app, &ds, &upn("contributor")).await, Some(D::ReadWriteReshareExplore));
    // Apps cannot be changed here either.
    let sp = DatasetUserAccess {
        identifier: app.app_object_id().to_string(),
        principal_type: P::App,
        dataset_user_access_right: D::ReadWriteReshareExplore,
    };
    assert_api_error(owner.put_dataset_user(None, &ds, &sp).await, 400, "InvalidRequest");
});

backend_test!(delete_removes_direct_permissions_as_put_none_does, |app: TestApp| async move {
    let ds = sales(&app);
    let owner = app.as_user("owner").await;
    owner.delete_dataset_user(&ds, &upn("outsider")).await.unwrap();
    assert_eq!(right_of(&app, &ds, &upn("outsider")).await, None);
    assert_api_error(owner.delete_dataset_user(&ds, &upn("outsider")).await, 404, "PowerBIEntityNotFound");
    // The role's rights stay; an operator-given Write cannot be removed through the API.
    assert_api_error(owner.delete_dataset_user(&ds, &upn("viewer")).await, 400, "UnsupportedAccessRightError");
    assert_api_error(owner.delete_dataset_user(&ds, &upn("mailuser")).await, 400, "UnsupportedAccessRightError");
    // A group by object id; an unknown principal is 404.
    let analysts = app.fixture.groups["Analysts"].to_string();
    let group = DatasetUserAccess { identifier: analysts.clone(), principal_type: P::Group, dataset_user_access_right: D::Read };
    owner.post_dataset_user(None, &ds, &group).await.unwrap();
    owner.delete_dataset_user(&ds, &analysts).await.unwrap();
    assert_eq!(right_of(&app, &ds, &analysts).await, None);
    assert_api_error(owner.delete_dataset_user(&ds, "ghost@nowhere.test").await, 404, "PowerBIEntityNotFound");
    // Someone without ReadWriteReshare cannot remove anyone.
    assert_api_error(app.as_user("viewer").await.delete_dataset_user(&ds, &upn("mailuser")).await, 401, "PowerBINotAuthorizedException");
});

backend_test!(permission_changes_record_activity_events, |app: TestApp| async move {
    let ds = sales(&app);
    let owner = app.as_user("owner").await;
    assert!(app.activity_events().await.is_empty());
    owner.post_dataset_user(Some(app.ws("Team")), &ds, &user("newbie", D::ReadReshare)).await.unwrap();
    app.clock.advance(std::time::Duration::from_secs(60));
    owner.put_dataset_user(None, &ds, &user("newbie", D::Read)).await.unwrap();
    app.clock.advance(std::time::Duration::from_secs(60));
    owner.delete_dataset_user(&ds, &upn("newbie")).await.unwrap();
    // Refusals and changes that change nothing leave no event.
    let _ = owner.post_dataset_user(None, &ds, &user("newbie", D::ReadWrite)).await.unwrap_err();
    owner.post_dataset_user(None, &ds, &user("outsider", D::Read)).await.unwrap();
    let events = app.activity_events().await;
    let activities: Vec<&str> = events.iter().map(|e| e["Activity"].as_str().unwrap()).collect();
    assert_eq!(activities, vec!["ShareDataset", "ShareDataset", "DeleteDatasetPermissions"]);
    let first = &events[0];
    assert_eq!(first["Operation"], "ShareDataset");
    assert_eq!(first["RecordType"], 20);
    assert_eq!(first["Workload"], "PowerBI");
    assert_eq!(first["IsSuccess"], true);
    assert_eq!(first["UserId"], upn("owner"));
    assert_eq!(first["UserKey"], app.user_id("owner").to_string());
    assert_eq!(first["OrganizationId"], app.tenant_id().to_string());
    assert_eq!(first["WorkspaceId"], app.ws("Team").to_string());
    assert_eq!(first["DatasetId"], ds);
    assert_eq!(first["DatasetName"], "Sales");
    assert_eq!(first["SharingInformation"][0]["RecipientEmail"], upn("newbie"));
    assert_eq!(first["SharingInformation"][0]["ObjectId"], app.user_id("newbie").to_string());
    assert_eq!(first["SharingInformation"][0]["ResharePermission"], "ReadReshare");
    assert_eq!(events[1]["SharingInformation"][0]["ResharePermission"], "Read");
    assert_eq!(events[2]["SharingInformation"][0]["ResharePermission"], "None");
    // CreationTime comes from the injected clock, a minute apart.
    let t0 = chrono::NaiveDateTime::parse_from_str(first["CreationTime"].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S").unwrap();
    let t2 = chrono::NaiveDateTime::parse_from_str(events[2]["CreationTime"].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S").unwrap();
    assert_eq!((t2 - t0).num_seconds(), 120);
    // A service principal is named by its object id in every event, dataset and workspace
    // alike, so one `UserId` filter finds all it did.
    app.clock.advance(std::time::Duration::from_secs(60));
    let sp = app.as_app().await;
    sp.post_dataset_user(None, &ds, &user("newbie", D::Read)).await.unwrap();
    let last = app.activity_events().await.pop().unwrap();
    assert_eq!(last["UserId"], app.app_object_id().to_string());
    assert_eq!(last["UserKey"], app.app_object_id().to_string());
    assert_eq!(last["UserType"], 6);
    let newbie = pbi_wire::powerbi::GroupUser::principal(upn("newbie"), P::User, pbi_wire::powerbi::GroupUserAccessRight::Viewer);
    app.clock.advance(std::time::Duration::from_secs(1));
    sp.add_group_user(app.ws("Team"), &newbie).await.unwrap();
    let now = pbi_server::Clock::now(&*app.clock);
    let day = now.format("%Y-%m-%d");
    let filter = percent_encoding::utf8_percent_encode(&format!("UserId eq '{}'", app.app_object_id()), percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    let url =
        format!("/v1.0/myorg/admin/activityevents?startDateTime='{day}T00:00:00.000Z'&endDateTime='{day}T23:59:59.999Z'&$filter={filter}");
    let (events, _, _) = crate::activity::all_events(&app, &app.user_token("admin").await, &url).await;
    let found: Vec<&str> = events.iter().map(|e| e["Activity"].as_str().unwrap()).collect();
    assert_eq!(found, vec!["ShareDataset", "AddGroupMembers"], "{events:?}");
});

backend_test!(racing_grants_to_one_dataset_add_up, |app: TestApp| async move {
    // Two grants at once for the same principal: with the dataset locked they add up to
    // ReadReshareExplore; unserialised, one would overwrite the other.
    let ds = sales(&app);
    let owner = app.as_user("owner").await;
    let member = app.as_user("member").await;
    for round in 0..8 {
        let results = join_all([
            owner.post_dataset_user(None, &ds, &user("newbie", D::ReadReshare)),
            member.post_dataset_user(None, &ds, &user("newbie", D::ReadExplore)),
        ])
        .await;
        assert!(results.iter().all(Result::is_ok), "round {round}: {results:?}");
        assert_eq!(right_of(&app, &ds, &upn("newbie")).await, Some(D::ReadReshareExplore), "round {round}");
        owner.delete_dataset_user(&ds, &upn("newbie")).await.unwrap();
    }
    // Every change that happened is in the log, and only those.
    let shares = app.activity_events().await.iter().filter(|e| e["Activity"] == "ShareDataset").count();
    assert_eq!(shares, 16, "two effective grants per round");
});
