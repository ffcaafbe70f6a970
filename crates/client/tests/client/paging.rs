//! Continuation tokens and `@odata.nextLink`, against mocks that check what comes back.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use futures::TryStreamExt;
use pbi_client::{ClientError, Endpoints, GraphClient, ManualClock, Page, PowerBiClient, Query, RetryPolicy};
use pbi_wire::admin::{ArtifactAccessEntry, ArtifactType};
use serde_json::{json, Value};

use crate::common::*;

/// Answers the n-th request with the n-th body; records every request.
#[derive(Clone)]
struct Pages {
    bodies: Arc<Mutex<Vec<Value>>>,
    seen: Seen,
}

async fn pages_handler(State(p): State<Pages>, method: Method, uri: Uri) -> Response {
    p.seen.record(method.as_str(), &uri);
    let n = p.seen.0.lock().unwrap().len() - 1;
    match p.bodies.lock().unwrap().get(n).cloned() {
        Some(body) => Json(body).into_response(),
        None => (StatusCode::BAD_REQUEST, "no more pages").into_response(),
    }
}

async fn pages(bodies: Vec<Value>) -> (String, Seen) {
    let p = Pages { bodies: Arc::new(Mutex::new(bodies)), seen: Seen::default() };
    (serve(Router::new().fallback(any(pages_handler)).with_state(p.clone())).await, p.seen)
}

fn entry(id: &str) -> Value {
    json!({"artifactId": id, "displayName": id, "artifactType": "Report", "accessRight": "ReadWrite"})
}

#[tokio::test]
async fn continuation_tokens_go_back_verbatim_and_empty_pages_do_not_stop_the_walk() {
    let (base, seen) = pages(vec![
        json!({"artifactAccessEntities": [entry("a"), entry("b")],
               "continuationUri": "https://api.powerbi.com/v1.0/myorg/admin/users/x/artifactAccess?continuationToken='LDEsMTAwMDAwLDA%3D'",
               "continuationToken": "LDEsMTAwMDAwLDA%3D"}),
        json!({"artifactAccessEntities": [], "continuationToken": "%2BRID%3A24%23RT%3A1"}),
        json!({"artifactAccessEntities": [entry("c")], "continuationUri": null, "continuationToken": null}),
    ])
    .await;
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy::none());
    let got: Vec<ArtifactAccessEntry> = client
        .user_artifact_access("guest_x.com#EXT#@contoso.com", &[ArtifactType::Report, ArtifactType::Dashboard])
        .try_collect()
        .await
        .unwrap();
    assert_eq!(got.iter().map(|e| e.artifact_id.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    let seen = seen.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].1, "/v1.0/myorg/admin/users/guest_x.com%23EXT%23%40contoso.com/artifactAccess", "the UPN is encoded in the path");
    assert_eq!(seen[0].2, "artifactTypes=Report,Dashboard");
    // The quotes travel as %27 (WHATWG URL rules); the token is neither decoded nor encoded twice.
    assert_eq!(seen[1].2, "continuationToken=%27LDEsMTAwMDAwLDA%3D%27");
    assert_eq!(seen[2].2, "continuationToken=%27%2BRID%3A24%23RT%3A1%27");
    assert_eq!(decoded(&seen[1].2), [("continuationToken".to_string(), "'LDEsMTAwMDAwLDA='".to_string())]);
}

#[tokio::test]
async fn pages_carry_the_token_to_resume_from() {
    let (base, seen) = pages(vec![
        json!({"subscriptionEntities": [{"id": "s1"}], "continuationToken": "T2"}),
        json!({"subscriptionEntities": [{"id": "s2"}]}),
    ])
    .await;
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy::none());
    let walked: Vec<Page<pbi_wire::admin::Subscription>> = client.user_subscriptions_pages("u", None).try_collect().await.unwrap();
    assert_eq!(walked.iter().map(|p| p.continuation_token.clone()).collect::<Vec<_>>(), [Some("T2".to_string()), None]);

    // A stopped job resumes from a saved token: the first request already carries it.
    let (base, seen2) = pages(vec![json!({"subscriptionEntities": [{"id": "s2"}]})]).await;
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy::none());
    let resumed: Vec<_> = client.user_subscriptions_pages("u", Some("T2".into())).try_collect::<Vec<_>>().await.unwrap();
    assert_eq!(resumed.len(), 1);
    assert_eq!(seen2.queries(), ["continuationToken=%27T2%27"]);
    assert_eq!(seen.queries(), ["", "continuationToken=%27T2%27"]);
}

#[tokio::test]
async fn activity_events_repeat_the_filter_and_stop_on_the_last_result_set() {
    let (base, seen) = pages(vec![
        json!({"activityEventEntities": [{"Id": "1", "Activity": "ViewReport"}], "continuationToken": "A%3D", "lastResultSet": false}),
        // A token only inside continuationUri is still followed.
        json!({"activityEventEntities": [], "continuationUri": "https://api.powerbi.com/v1.0/myorg/admin/activityevents?continuationToken='B%3D'", "lastResultSet": false}),
        json!({"activityEventEntities": [{"Id": "2"}], "continuationToken": "C%3D", "lastResultSet": true}),
    ])
    .await;
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy::none());
    let events: Vec<_> = client
        .activity_events("2019-08-13T07:55:00.000Z", "2019-08-13T08:55:00.000Z", Some("Activity eq 'viewreport'"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        seen.queries(),
        [
            "startDateTime=%272019-08-13T07:55:00.000Z%27&endDateTime=%272019-08-13T08:55:00.000Z%27&$filter=Activity%20eq%20%27viewreport%27",
            "continuationToken=%27A%3D%27&$filter=Activity%20eq%20%27viewreport%27",
            "continuationToken=%27B%3D%27&$filter=Activity%20eq%20%27viewreport%27",
        ],
        "lastResultSet: true ends the walk even with a token"
    );
}

#[tokio::test]
async fn an_error_ends_the_stream_after_yielding_it() {
    let (base, _) = pages(vec![json!({"subscriptionEntities": [{"id": "s1"}], "continuationToken": "T2"})]).await;
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy::none());
    let results: Vec<_> = futures::StreamExt::collect::<Vec<_>>(client.user_subscriptions("u")).await;
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(ClientError::Unexpected { .. })));
}

/// A query as the service reads it (percent-decoded pairs).
fn decoded(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            let d = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8().unwrap().into_owned();
            (d(k), d(v))
        })
        .collect()
}

fn graph_client(base: &str) -> GraphClient {
    PowerBiClient::builder(Endpoints::local(base)).token("t").retry(RetryPolicy::none()).build_graph().unwrap()
}

#[tokio::test]
async fn graph_lists_follow_next_link_on_the_graph_origin_only() {
    // On the Graph origin every page is followed, the link used as given.
    let (base, seen) = self_linking(vec![
        json!({"@odata.context": "x", "value": [{"id": 1}], "@odata.nextLink": "/graph/v1.0/users?$skiptoken=abc%3D"}),
        json!({"value": [{"id": 2}], "@odata.nextLink": "/graph/v1.0/users?$skiptoken=def"}),
        json!({"value": [{"id": 3}]}),
    ])
    .await;
    let ids: Vec<Value> = graph_client(&base).list::<Value>("/v1.0/users", &Query::new().push("$top", 1)).try_collect().await.unwrap();
    assert_eq!(ids.iter().map(|v| v["id"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(seen.queries(), ["$top=1", "$skiptoken=abc%3D", "$skiptoken=def"]);
    assert!(seen.0.lock().unwrap().iter().all(|(_, path, _)| path == "/graph/v1.0/users"));

    // A nextLink to another origin would carry the bearer token there: refused.
    let (base, seen) =
        pages(vec![json!({"value": [{"id": 1}], "@odata.nextLink": "http://127.0.0.1:1/graph/v1.0/users?$skiptoken=x"})]).await;
    let mut stream = graph_client(&base).list::<Value>("/v1.0/users", &Query::new());
    assert_eq!(futures::StreamExt::next(&mut stream).await.unwrap().unwrap()["id"], 1);
    match futures::StreamExt::next(&mut stream).await.unwrap() {
        Err(ClientError::Invalid(msg)) => assert!(msg.contains("is not on"), "{msg}"),
        other => panic!("{other:?}"),
    }
    assert!(futures::StreamExt::next(&mut stream).await.is_none());
    assert_eq!(seen.queries().len(), 1);
}

async fn self_linking(bodies: Vec<Value>) -> (String, Seen) {
    let p = Pages { bodies: Arc::new(Mutex::new(Vec::new())), seen: Seen::default() };
    let base = serve(Router::new().fallback(any(pages_handler)).with_state(p.clone())).await;
    let filled = bodies
        .into_iter()
        .map(|mut b| {
            if let Some(path) = b["@odata.nextLink"].as_str().map(str::to_string) {
                b["@odata.nextLink"] = Value::String(format!("{base}{path}"));
            }
            b
        })
        .collect();
    *p.bodies.lock().unwrap() = filled;
    (base, p.seen)
}
