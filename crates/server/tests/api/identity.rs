//! The seam with the directory: access through groups (nested) and Microsoft 365 backing, the
//! service-principal tenant settings, and tenant isolation.

use pbi_server::tenant::{
    GroupMemberSpec, GroupSpec, MemberSpec, SecretSpec, ServicePrincipalSpec, SettingsSpec, TenantSpec, UserSpec, WorkspaceSpec,
};
use pbi_wire::powerbi::{GroupUser, GroupUserAccessRight as R, PrincipalType as P};

use crate::backend_test;
use crate::helpers::*;

const GDOMAIN: &str = "groups.onmicrosoft.com";

fn g(local: &str) -> String {
    format!("{local}@{GDOMAIN}")
}

fn groups_spec() -> TenantSpec {
    let user = |local: &str| UserSpec {
        id: None,
        upn: g(local),
        mail: Some(g(local)),
        display_name: local.into(),
        guest: false,
        account_enabled: true,
        password: Some(PASSWORD.into()),
        password_hash: None,
        fabric_admin: local == "admin",
    };
    let m = |p: &str, t: &str| GroupMemberSpec { principal: p.into(), principal_type: t.parse().unwrap() };
    let role = |p: &str, t: &str, r: &str| MemberSpec { principal: p.into(), principal_type: t.parse().unwrap(), role: r.parse().unwrap() };
    let sp = |name: &str| ServicePrincipalSpec {
        id: None,
        app_id: None,
        display_name: name.into(),
        secrets: vec![SecretSpec { value: SECRET.into(), expires_at: None, hash: None }],
        certificates: vec![],
        ..Default::default()
    };
    TenantSpec {
        id: None,
        name: "Groups Co".into(),
        domain: GDOMAIN.into(),
        users: ["admin", "owner", "alice", "bob", "carol", "dana", "erin", "frank"].into_iter().map(user).collect(),
        groups: vec![
            GroupSpec {
                display_name: "Readers".into(),
                members: vec![m(&g("alice"), "User"), m(&g("carol"), "User")],
                ..Default::default()
            },
            GroupSpec { display_name: "Writers".into(), members: vec![m(&g("carol"), "User")], ..Default::default() },
            GroupSpec { display_name: "Inner".into(), members: vec![m(&g("bob"), "User")], ..Default::default() },
            GroupSpec { display_name: "Outer".into(), members: vec![m("Inner", "Group")], ..Default::default() },
            GroupSpec {
                display_name: "Team365".into(),
                microsoft365: true,
                members: vec![m(&g("dana"), "User")],
                owners: vec![g("erin")],
                ..Default::default()
            },
            GroupSpec { display_name: "ApiApps".into(), members: vec![m("allowed-app", "App")], ..Default::default() },
        ],
        service_principals: vec![sp("allowed-app"), sp("blocked-app")],
        workspaces: vec![
            WorkspaceSpec {
                name: "Direct".into(),
                members: vec![
                    role(&g("owner"), "User", "Admin"),
                    role("Readers", "Group", "Viewer"),
                    role("Writers", "Group", "Member"),
                    role("Outer", "Group", "Contributor"),
                    role("allowed-app", "App", "Admin"),
                    role("blocked-app", "App", "Admin"),
                ],
                ..Default::default()
            },
            WorkspaceSpec {
                name: "Backed".into(),
                backed_by: Some("Team365".into()),
                members: vec![role(&g("owner"), "User", "Admin")],
                ..Default::default()
            },
        ],
        settings: SettingsSpec {
            service_principals_api_group: Some("ApiApps".into()),
            service_principals_can_use_admin_apis: false,
            ..Default::default()
        },
        capacities: vec![],
        ..Default::default()
    }
}

struct Groups {
    tenant: pbi_server::tenant::ProvisionedTenant,
}

impl Groups {
    async fn new(app: &TestApp) -> Groups {
        Groups { tenant: app.provision(&groups_spec()).await }
    }
    async fn as_user(&self, app: &TestApp, local: &str) -> pbi_client::PowerBiClient {
        let client_id = self.tenant.service_principals["allowed-app"].1;
        app.client(app.token_for(self.tenant.tenant.id, client_id, &g(local)).await)
    }
    async fn as_app(&self, app: &TestApp, name: &str) -> pbi_client::PowerBiClient {
        app.client(app.app_token_for(self.tenant.tenant.id, self.tenant.service_principals[name].1, SECRET).await)
    }
    fn ws(&self, name: &str) -> uuid::Uuid {
        self.tenant.workspaces[name]
    }
}

fn names(list: pbi_wire::ODataList<pbi_wire::powerbi::Group>) -> Vec<String> {
    list.value.into_iter().map(|g| g.name).collect()
}

backend_test!(group_members_reach_the_workspaces_their_groups_hold_roles_in, |app: TestApp| async move {
    let t = Groups::new(&app).await;
    let direct = t.ws("Direct");
    // alice through Readers (Viewer): sees, cannot manage.
    let alice = t.as_user(&app, "alice").await;
    assert_eq!(names(alice.get_groups(None, None, None).await.unwrap()), vec!["Direct"]);
    assert!(!alice.get_group_users(direct).await.unwrap().is_empty());
    assert_api_error(alice.add_group_user(direct, &GroupUser::email(g("frank"), R::Viewer)).await, 401, "PowerBINotAuthorizedException");
    // bob through Inner ⊂ Outer (Contributor): nested groups count.
    let bob = t.as_user(&app, "bob").await;
    assert_eq!(names(bob.get_groups(Some("name eq 'Direct'"), None, None).await.unwrap()), vec!["Direct"]);
    assert_api_error(bob.add_group_user(direct, &GroupUser::email(g("frank"), R::Viewer)).await, 401, "PowerBINotAuthorizedException");
    // carol in Readers (Viewer) and Writers (Member): the highest role wins.
    let carol = t.as_user(&app, "carol").await;
    carol.add_group_user(direct, &GroupUser::email(g("frank"), R::Viewer)).await.unwrap();
    assert_api_error(carol.add_group_user(direct, &GroupUser::email(g("dana"), R::Admin)).await, 401, "PowerBINotAuthorizedException");
    // frank had no path until carol added him directly.
    assert_eq!(names(t.as_user(&app, "frank").await.get_groups(None, None, None).await.unwrap()), vec!["Direct"]);
    assert_api_error(t.as_user(&app, "dana").await.get_group_users(direct).await, 404, "PowerBIEntityNotFound");
});

backend_test!(group_membership_is_not_workspace_membership, |app: TestApp| async move {
    let t = Groups::new(&app).await;
    let users = t.as_user(&app, "owner").await.get_group_users(t.ws("Direct")).await.unwrap();
    let listed: Vec<String> = users.iter().filter_map(|u| u.identifier.clone()).collect();
    // The groups are listed as Group principals; their members have no entry of their own.
    assert_eq!(users.iter().filter(|u| u.principal_type == Some(P::Group)).count(), 3);
    for member in ["alice", "bob", "carol"] {
        assert!(!listed.contains(&g(member)), "{member} must not appear: {listed:?}");
    }
    // Removing the group's role removes the members' access; the group still exists.
    let owner = t.as_user(&app, "owner").await;
    owner.delete_group_user(t.ws("Direct"), &t.tenant.groups["Readers"].to_string()).await.unwrap();
    assert_api_error(t.as_user(&app, "alice").await.get_group_users(t.ws("Direct")).await, 404, "PowerBIEntityNotFound");
});

backend_test!(a_microsoft_365_group_backing_a_workspace_grants_member_and_owner_admin, |app: TestApp| async move {
    let t = Groups::new(&app).await;
    let backed = t.ws("Backed");
    let dana = t.as_user(&app, "dana").await; // member of Team365 → Member
    assert_eq!(names(dana.get_groups(None, None, None).await.unwrap()), vec!["Backed"]);
    dana.add_group_user(backed, &GroupUser::email(g("frank"), R::Viewer)).await.unwrap();
    assert_api_error(dana.delete_group_user(backed, &g("frank")).await, 401, "PowerBINotAuthorizedException");
    let erin = t.as_user(&app, "erin").await; // owner of Team365 → Admin
    assert_eq!(names(erin.get_groups(None, None, None).await.unwrap()), vec!["Backed"], "an owner reaches the workspace too");
    erin.delete_group_user(backed, &g("frank")).await.unwrap();
    erin.update_group_user(backed, &GroupUser::email(g("owner"), R::Member)).await.expect_err("owner is the only direct Admin");
});

backend_test!(service_principal_tenant_settings_are_two_gates, |app: TestApp| async move {
    let t = Groups::new(&app).await;
    let direct = t.ws("Direct");
    let allowed = t.as_app(&app, "allowed-app").await;
    assert_eq!(names(allowed.get_groups(None, None, None).await.unwrap()), vec!["Direct"]);
    // Not in the allowed security group: refused with the setting named.
    let blocked = t.as_app(&app, "blocked-app").await;
    match blocked.get_groups(None, None, None).await {
        Err(pbi_client::ClientError::Api { status, code, message, .. }) => {
            assert_eq!((status.as_u16(), code.as_str()), (401, "PowerBINotAuthorizedException"));
            assert!(message.contains("Service principals can use Fabric APIs"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // The read-only admin API setting is off: the first gate passes, the second refuses.
    match allowed.get_group_users_as_admin(direct).await {
        Err(pbi_client::ClientError::Api { status, message, .. }) => {
            assert_eq!(status.as_u16(), 401);
            assert!(message.contains("read-only admin APIs"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Opening it lets the same token through at once.
    let mut settings = app.store.get_tenant_settings(t.tenant.tenant.id).await.unwrap().unwrap();
    settings.sp_admin_api_enabled = true;
    app.store.update_tenant_settings(t.tenant.tenant.id, &settings).await.unwrap();
    assert_eq!(allowed.get_group_users_as_admin(direct).await.unwrap().len(), 6);
    // A Fabric administrator's delegated token is not subject to the service-principal settings.
    assert_eq!(t.as_user(&app, "admin").await.get_group_users_as_admin(direct).await.unwrap().len(), 6);
    settings.sp_api_enabled = false;
    app.store.update_tenant_settings(t.tenant.tenant.id, &settings).await.unwrap();
    assert_api_error(allowed.get_groups(None, None, None).await, 401, "PowerBINotAuthorizedException");
});

backend_test!(tenants_are_isolated, |app: TestApp| async move {
    let t = Groups::new(&app).await;
    let other_ws = t.ws("Direct");
    // The fixture tenant's Fabric admin and its app cannot see or change the other tenant.
    let admin = app.as_user("admin").await;
    assert_api_error(admin.get_group_users_as_admin(other_ws).await, 404, "PowerBIEntityNotFound");
    assert_api_error(admin.add_user_as_admin(other_ws, &GroupUser::email(g("frank"), R::Admin)).await, 404, "PowerBIEntityNotFound");
    assert_api_error(admin.delete_user_as_admin(other_ws, &g("owner"), false).await, 404, "PowerBIEntityNotFound");
    let own_app = app.as_app().await;
    assert_api_error(own_app.get_group_users(other_ws).await, 404, "PowerBIEntityNotFound");
    assert!(!names(own_app.get_groups(None, None, None).await.unwrap()).contains(&"Direct".to_string()));
    // A principal of one tenant cannot be added to the other tenant's workspace.
    let owner = t.as_user(&app, "owner").await;
    assert_api_error(owner.add_group_user(other_ws, &GroupUser::email(upn("viewer"), R::Viewer)).await, 400, "PrincipalNotFound");
    // An application of one tenant gets no token from the other.
    let err = app.token_client().client_credentials(&t.tenant.tenant.id.to_string(), &app.app_id().to_string(), SECRET).await.unwrap_err();
    assert!(matches!(err, pbi_client::ClientError::OAuth { ref codes, .. } if codes == &vec![700016]), "{err}");
    // Nor does a user sign in to the other tenant.
    let err = app
        .token_client()
        .password(
            &t.tenant.tenant.id.to_string(),
            &t.tenant.service_principals["allowed-app"].1.to_string(),
            &upn("owner"),
            PASSWORD,
            ".default",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, pbi_client::ClientError::OAuth { .. }), "{err}");
});

backend_test!(a_tenant_snapshot_round_trips_exactly, |app: TestApp| async move {
    let t = Groups::new(&app).await;
    let first = pbi_server::tenant::export(&app.store, t.tenant.tenant.id).await.unwrap().unwrap();
    assert_eq!(first.groups.iter().find(|g| g.display_name == "Outer").unwrap().members.len(), 1);
    assert!(first.workspaces.iter().any(|w| w.backed_by.is_some()));
    assert!(first.service_principals.iter().all(|sp| sp.secrets.iter().all(|s| s.value.is_empty() && s.hash.is_some())));
    // Into another database, then out again: the same document.
    let (url, _dir) = fresh_database(Backend::Sqlite).await.unwrap();
    let other = pbi_server::store::Store::connect(&url).await.unwrap();
    pbi_server::tenant::provision(&other, &*app.clock, &first).await.unwrap();
    let second = pbi_server::tenant::export(&other, t.tenant.tenant.id).await.unwrap().unwrap();
    assert_eq!(serde_json::to_value(&first).unwrap(), serde_json::to_value(&second).unwrap());
    // Importing into a database that has the tenant already is refused, and changes nothing.
    let err = pbi_server::tenant::provision(&app.store, &*app.clock, &first).await.unwrap_err();
    assert!(err.to_string().contains("exists already"), "{err}");
    assert_eq!(app.store.list_tenants().await.unwrap().len(), 2);
});
