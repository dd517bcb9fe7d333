//! Pagination, sorting and filtering for listings. Sort columns are enums mapped to fixed
//! SQL fragments: user input never becomes SQL text.

use time::OffsetDateTime;

pub const MAX_PER_PAGE: u32 = 500;
pub const DEFAULT_PER_PAGE: u32 = 50;

/// 1-based page number and page size, clamped to `1..=MAX_PER_PAGE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub per_page: u32,
}

impl PageRequest {
    pub fn new(page: u32, per_page: u32) -> Self {
        Self {
            page: page.max(1),
            per_page: per_page.clamp(1, MAX_PER_PAGE),
        }
    }

    pub fn limit(self) -> i64 {
        i64::from(self.per_page.clamp(1, MAX_PER_PAGE))
    }

    pub fn offset(self) -> i64 {
        i64::from(self.page.max(1) - 1) * self.limit()
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::new(1, DEFAULT_PER_PAGE)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Matching rows over all pages.
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
}

impl<T> Page<T> {
    /// A page of `items` out of `total` matching rows (a database count, never negative).
    pub(crate) fn of(items: Vec<T>, total: i64, request: PageRequest) -> Self {
        Page {
            items,
            total: u64::try_from(total).unwrap_or(0),
            page: request.page,
            per_page: request.per_page,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortDirection {
    #[default]
    Ascending,
    Descending,
}

impl SortDirection {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            SortDirection::Ascending => "ASC",
            SortDirection::Descending => "DESC",
        }
    }
}

/// Whitelisted sort keys for host listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostSort {
    #[default]
    Hostname,
    Os,
    LastSeen,
    EnrolledAt,
    Score,
    Failed,
}

impl HostSort {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "hostname" => HostSort::Hostname,
            "os" => HostSort::Os,
            "last_seen" => HostSort::LastSeen,
            "enrolled_at" => HostSort::EnrolledAt,
            "score" => HostSort::Score,
            "failed" => HostSort::Failed,
            _ => return None,
        })
    }

    /// The SQL expression for this key; aliases `a` (agents) and `l` (agent_latest).
    pub(crate) fn column(self) -> &'static str {
        match self {
            HostSort::Hostname => "a.hostname",
            HostSort::Os => "a.os",
            HostSort::LastSeen => "a.last_seen",
            HostSort::EnrolledAt => "a.enrolled_at",
            HostSort::Score => "l.score",
            HostSort::Failed => "l.fail_count",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnlineFilter {
    Online,
    Offline,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostQuery {
    pub page: PageRequest,
    pub sort: HostSort,
    pub direction: SortDirection,
    /// Case-insensitive substring of the hostname.
    pub search: Option<String>,
    pub os: Option<String>,
    pub online: Option<OnlineFilter>,
    /// Agents seen at or after this instant count as online.
    pub online_since: OffsetDateTime,
}

impl HostQuery {
    pub fn new(online_since: OffsetDateTime) -> Self {
        Self {
            page: PageRequest::default(),
            sort: HostSort::default(),
            direction: SortDirection::default(),
            search: None,
            os: None,
            online: None,
            online_since,
        }
    }
}

/// `%term%` for LIKE with `\` as the escape character, so `%` and `_` typed by a user match
/// literally.
pub(crate) fn like_pattern(term: &str) -> String {
    let mut pattern = String::with_capacity(term.len() + 2);
    pattern.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
