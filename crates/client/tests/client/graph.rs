//! The typed Graph methods against a real pbi-access server: users by UPN and id across
//! `@odata.nextLink` pages, groups and nested members, the membership graph, subscribed SKUs,
//! license assignment and details, deleted users, and Graph errors.

use futures::TryStreamExt;
use pbi_client::{ClientError, GraphClient, ManualClock, PowerBiClient};
use pbi_wire::graph::{DirectoryObject, Group, User};
use serde_json::json;

use crate::common::*;

fn graph(server: &Server) -> GraphClient {
    PowerBiClient::builder(server.endpoints())
        .client_secret(server.tenant(), server.app_id(), SECRET)
        .clock(ManualClock::starting_now())
        .build_graph()
        .unwrap()
}

async fn group(g: &GraphClient, name: &str) -> Group {
    g.post("/v1.0/groups", &json!({"displayName": name, "mailNickname": name, "mailEnabled": false, "securityEnabled": true}))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_graph_directory_methods() {
    let server = Server::start().await;
    let g = graph(&server);

    let alice = g.get_user(&upn("alice")).await.unwrap();
    assert_eq!(alice.user_principal_name.as_deref(), Some(upn("alice").as_str()));
    assert_eq!(alice.account_enabled, Some(true));
    assert!(!alice.is_guest());
    assert_eq!(g.get_user(&alice.id.to_string()).await.unwrap().id, alice.id);
    match g.get_user(&upn("nobody")).await {
        Err(ClientError::Api { status, .. }) => assert_eq!(status.as_u16(), 404),
        other => panic!("{other:?}"),
    }

    // One user a page: the stream follows @odata.nextLink to the end.
    let pages: Vec<_> = g.pages::<User>("/v1.0/users", &pbi_client::Query::new().push("$top", 1)).try_collect().await.unwrap();
    assert_eq!(pages.len(), 3);
    let mut upns: Vec<String> = g.users(None, Some(1)).map_ok(|u| u.user_principal_name.unwrap()).try_collect().await.unwrap();
    upns.sort();
    assert_eq!(upns, [upn("admin"), upn("alice"), upn("bob")]);
    let filtered: Vec<User> = g.users(Some(&format!("userPrincipalName eq '{}'", upn("bob"))), None).try_collect().await.unwrap();
    assert_eq!(filtered.len(), 1);

    // Nested groups: alice in Inner, Inner in Outer.
    let inner = group(&g, "Inner").await;
    let outer = group(&g, "Outer").await;
    g.add_group_member(inner.id, alice.id).await.unwrap();
    g.add_group_member(outer.id, inner.id).await.unwrap();
    assert_eq!(g.get_group(outer.id).await.unwrap().display_name.as_deref(), Some("Outer"));
    let members: Vec<DirectoryObject> = g.group_members(outer.id).try_collect().await.unwrap();
    assert!(matches!(members.as_slice(), [DirectoryObject::Group(i)] if i.id == inner.id), "{members:?}");
    let m = g.memberships().await.unwrap();
    assert_eq!(m.member_of(alice.id), [inner.id]);
    let transitive = m.transitive_member_of(alice.id);
    assert_eq!(transitive.get(&inner.id), Some(&vec![inner.id]));
    assert_eq!(transitive.get(&outer.id), Some(&vec![inner.id, outer.id]));
    let users = m.transitive_users(outer.id);
    assert_eq!(users.iter().map(|(u, chain)| (u.id, chain.clone())).collect::<Vec<_>>(), vec![(alice.id, vec![outer.id, inner.id])]);

    // Licenses: the SKU, a refusal without usage location, then the assignment and its details.
    let skus = g.subscribed_skus().await.unwrap();
    assert_eq!(skus.len(), 1);
    assert_eq!((skus[0].sku_part_number.as_str(), skus[0].prepaid_units.enabled, skus[0].consumed_units), ("POWER_BI_PRO", 2, 0));
    match g.assign_license(&upn("alice"), &[skus[0].sku_id], &[]).await {
        Err(e @ ClientError::Api { .. }) => assert!(e.to_string().contains("usage location"), "{e}"),
        other => panic!("{other:?}"),
    }
    g.update_user(&upn("alice"), &json!({"usageLocation": "NL"})).await.unwrap();
    let updated = g.assign_license(&upn("alice"), &[skus[0].sku_id], &[]).await.unwrap();
    assert_eq!(updated.usage_location.as_deref(), Some("NL"));
    assert_eq!(updated.assigned_licenses.unwrap()[0].sku_id, skus[0].sku_id);
    let details = g.license_details(&alice.id.to_string()).await.unwrap();
    assert_eq!(details.iter().map(|d| d.sku_part_number.as_deref()).collect::<Vec<_>>(), [Some("POWER_BI_PRO")]);
    assert_eq!(g.subscribed_skus().await.unwrap()[0].consumed_units, 1);

    // Deleted users are listed apart.
    g.send(reqwest::Method::DELETE, &format!("/v1.0/users/{}", upn("bob")), None::<&()>).await.unwrap();
    let deleted: Vec<User> = g.deleted_users().try_collect().await.unwrap();
    assert_eq!(deleted.iter().map(|u| u.user_principal_name.clone().unwrap()).collect::<Vec<_>>(), [upn("bob")]);
    assert!(deleted[0].deleted_date_time.is_some());
}
