//! The JSON contract of every API pbi-access speaks, shared by the server, the client and the CLI.
//!
//! Field names and enum spellings follow Microsoft's Swagger for Power BI v1.0
//! (`shared/reference/powerbi-swagger.json`) and Entra ID's OAuth2 endpoints. Nothing in this crate
//! knows about storage or HTTP frameworks: these are plain serde types plus the operation table
//! (method + path + operationId) that both the server's router and the client's URL builder use.

pub mod admin;
pub mod oauth;
pub mod ops;
pub mod powerbi;

/// The OData wrapper `{"@odata.context": …, "value": […]}` used by every Power BI list response.
///
/// The Swagger spells the property `odata.context` (an AutoRest artefact); the wire name is
/// `@odata.context`, as the service and its own examples send it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ODataList<T> {
    #[serde(rename = "@odata.context", default, skip_serializing_if = "Option::is_none")]
    pub odata_context: Option<String>,
    pub value: Vec<T>,
}

impl<T> ODataList<T> {
    pub fn new(context: impl Into<String>, value: Vec<T>) -> Self {
        Self { odata_context: Some(context.into()), value }
    }
}

/// A single OData entity with its `@odata.context`, e.g. the workspace `POST /groups` returns.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ODataEntity<T> {
    #[serde(rename = "@odata.context", default, skip_serializing_if = "Option::is_none")]
    pub odata_context: Option<String>,
    #[serde(flatten)]
    pub entity: T,
}
