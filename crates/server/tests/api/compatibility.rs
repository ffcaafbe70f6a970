/// `docs/compatibility.md` is generated from the routing tables; this fails when it is stale.
/// `UPDATE_DOCS=1 cargo test -p pbi-server --test api compatibility` rewrites it.
#[test]
fn compatibility_matrix_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/compatibility.md");
    let generated = pbi_server::api::powerbi::compatibility_markdown();
    if std::env::var("UPDATE_DOCS").is_ok() {
        std::fs::write(path, &generated).unwrap();
    }
    let current = std::fs::read_to_string(path).unwrap_or_default();
    assert!(current == generated, "docs/compatibility.md is stale: run `UPDATE_DOCS=1 cargo test -p pbi-server --test api compatibility`");
}

/// Every witness the matrix names is a test that exists: `file::test` names a file of the
/// workspace holding `fn test(` or a test macro invocation `…!(test,`.
#[test]
fn every_named_witness_exists() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../");
    for (op, file, test) in pbi_server::api::witnesses::WITNESSES {
        let text = std::fs::read_to_string(format!("{root}{file}"))
            .unwrap_or_else(|e| panic!("{} names witness file {file}, which cannot be read: {e}", op.id));
        let as_fn = text.contains(&format!("fn {test}("));
        let as_macro = text.lines().any(|l| {
            let l = l.trim_start();
            l.contains(&format!("!({test},")) || l == format!("{test},")
        });
        assert!(as_fn || as_macro, "{} names witness {file}::{test}, which is not a test in that file", op.id);
    }
}

/// Every operation the routing tables mark implemented, in every Microsoft dialect (Power BI,
/// identity, SCIM, Graph, Fabric), has a witness.
#[test]
fn every_implemented_operation_has_a_witness() {
    use pbi_server::api::{fabric, graph, oauth, powerbi, scim};
    let powerbi = powerbi::routes().into_iter().filter(|r| r.handler.is_some()).map(|r| r.op);
    let identity = oauth::routes_summary().into_iter().filter(|(_, built)| *built).map(|(op, _)| op);
    let scim = scim::routes().into_iter().filter(|r| r.handler.is_some()).map(|r| r.op);
    let graph = graph::routes().into_iter().filter(|r| r.handler.is_some()).map(|r| r.op);
    let fabric = fabric::routes().into_iter().filter(|r| r.handler.is_some()).map(|r| r.op);
    let missing: Vec<_> = powerbi
        .chain(identity)
        .chain(scim)
        .chain(graph)
        .chain(fabric)
        .filter(|op| pbi_server::api::witnesses::witness(op).is_none())
        .map(|op| op.id)
        .collect();
    assert!(missing.is_empty(), "implemented operations without a witness: {missing:?}");
}
