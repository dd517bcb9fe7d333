//! `page`, `per_page`, `sort` and `order` query parameters and the paginated response
//! envelope. Sort fields are matched against a per-endpoint whitelist and mapped to enums,
//! so user input never reaches SQL text; anything not on the list is a 400, not silently
//! ignored, so a dashboard bug shows up instead of returning a misleading order.

use serde::{Deserialize, Serialize};

use super::error::ApiFailure;
use crate::storage::{Page, PageRequest, SortDirection, DEFAULT_PER_PAGE, MAX_PER_PAGE};

/// The query parameters shared by listings. Filters that an endpoint does not support are
/// ignored, like any unknown query parameter.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    pub page: Option<u32>,
    pub per_page: Option<u32>,
    pub sort: Option<String>,
    pub order: Option<String>,
    /// Hosts/agents: case-insensitive hostname substring.
    pub search: Option<String>,
    /// Hosts: `online` or `offline`.
    pub status: Option<String>,
    /// Hosts/agents: exact OS name.
    pub os: Option<String>,
}

impl ListParams {
    /// Validated page request. Out-of-range values are refused rather than clamped so that
    /// a client asking for 1000 rows learns it got at most 500.
    pub fn page(&self) -> Result<PageRequest, ApiFailure> {
        let page = self.page.unwrap_or(1);
        if page == 0 {
            return Err(ApiFailure::bad_request("page: starts at 1"));
        }
        let per_page = self.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(ApiFailure::bad_request(format!(
                "per_page: must be between 1 and {MAX_PER_PAGE}"
            )));
        }
        Ok(PageRequest::new(page, per_page))
    }

    /// The sort key and direction. `fields` is the endpoint's whitelist, `default` its
    /// natural order (used when `sort` is absent; `order` alone flips its direction).
    pub fn sort<K: Copy>(
        &self,
        fields: &[(&str, K)],
        default: (K, SortDirection),
    ) -> Result<(K, SortDirection), ApiFailure> {
        let key = match self.sort.as_deref() {
            None => default.0,
            Some(name) => fields
                .iter()
                .find(|(field, _)| *field == name)
                .map(|(_, key)| *key)
                .ok_or_else(|| {
                    let allowed: Vec<&str> = fields.iter().map(|(field, _)| *field).collect();
                    ApiFailure::bad_request(format!(
                        "sort: unsupported field; allowed: {}",
                        allowed.join(", ")
                    ))
                })?,
        };
        let direction = match self.order.as_deref() {
            None => default.1,
            Some("asc") => SortDirection::Ascending,
            Some("desc") => SortDirection::Descending,
            Some(_) => return Err(ApiFailure::bad_request("order: must be asc or desc")),
        };
        Ok((key, direction))
    }

    /// For listings that storage returns in one fixed order (newest first): accepts that
    /// order, spelled out or implied, and refuses any other.
    pub fn fixed_order(&self, field: &str, direction: SortDirection) -> Result<(), ApiFailure> {
        let (_, requested) = self.sort(&[(field, ())], ((), direction))?;
        if requested != direction {
            let order = match direction {
                SortDirection::Ascending => "asc",
                SortDirection::Descending => "desc",
            };
            return Err(ApiFailure::bad_request(format!(
                "order: this listing is only available in {order} order of {field}"
            )));
        }
        Ok(())
    }
}

/// `{items, page, per_page, total}`.
#[derive(Debug, Serialize)]
pub struct Paginated<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
}

impl<T> Paginated<T> {
    /// Converts a storage page item by item.
    pub fn from_page<U>(page: Page<U>, convert: impl FnMut(U) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(convert).collect(),
            page: page.page,
            per_page: page.per_page,
            total: page.total,
        }
    }

    /// Pages an already loaded, already sorted list. Used for the small collections
    /// (policies, their versions) that storage returns whole.
    pub fn from_vec(all: Vec<T>, request: PageRequest) -> Self {
        let total = all.len() as u64;
        let start = usize::try_from(request.offset()).unwrap_or(usize::MAX);
        let items = all
            .into_iter()
            .skip(start)
            .take(request.per_page as usize)
            .collect();
        Self {
            items,
            page: request.page,
            per_page: request.per_page,
            total,
        }
    }
}
