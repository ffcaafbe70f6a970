//! Paging envelopes that are not Power BI's own: OData v4 lists with `@odata.nextLink`, as
//! Microsoft Graph (and SCIM-adjacent OData services) page them.

use serde::{Deserialize, Serialize};

/// `{"@odata.context": …, "@odata.nextLink": …, "value": […]}`: Graph's list page. The next page
/// is fetched from `@odata.nextLink` as it is (an absolute URL); the last page has none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ODataPage<T> {
    #[serde(rename = "@odata.context", default, skip_serializing_if = "Option::is_none")]
    pub odata_context: Option<String>,
    #[serde(rename = "@odata.nextLink", default, skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
    #[serde(rename = "@odata.count", default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
}
