//! A page of the list is read segment by segment, in list order: the sites of one state (the
//! state sort), the sites by time of last report and then those never heard from (the
//! last-report sort), or
//! all sites (name and id sorts). Each segment is one query whose order an index can give
//! (name, id, time of last report) and whose state, if any, comes with its hint
//! (`fleet::query::status_hint`), so a page costs about its own rows, not the fleet's —
//! even "problems first" over 250,000 sites. The queries are built in `sql.rs`.

use sqlx::{Postgres, QueryBuilder};

use super::{Cursor, ListRequest, SiteSort};
use crate::fleet::query::{LIST_ORDER, rank_of};
use crate::sites::SiteStatus;

/// One part of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// Every site (that the filter lets through), in the sort's order.
    All,
    /// The sites in one state, by name (state sort).
    State(SiteStatus),
    /// Reported, oldest last report first (first in the last-report sort).
    Reported,
    /// Never reported, by id (last in the last-report sort).
    NeverReported,
}

/// The segments from where `req.cursor` points, in list order.
pub fn segments(req: &ListRequest) -> Vec<Segment> {
    let wanted = |s: SiteStatus| req.filter.state.is_none_or(|f| f == s);
    match req.sort {
        SiteSort::Name | SiteSort::SiteId => vec![Segment::All],
        SiteSort::State => {
            let from = req.cursor.as_ref().and_then(|c| c.rank).unwrap_or(0);
            LIST_ORDER
                .into_iter()
                .filter(|s| rank_of(*s) >= from && wanted(*s))
                .map(Segment::State)
                .collect()
        }
        SiteSort::LastReport => {
            // Reported sites first (an index gives their order); the never-reported, which
            // only a scan of the whole fleet can find, only once those are done.
            let past_reported = req.cursor.as_ref().is_some_and(|c| c.received_at.is_none());
            let mut out = Vec::new();
            if !past_reported && req.filter.state != Some(SiteStatus::NeverReported) {
                out.push(Segment::Reported);
            }
            if wanted(SiteStatus::NeverReported) {
                out.push(Segment::NeverReported);
            }
            out
        }
    }
}

/// The cursor's position inside `segment`, if the cursor points into it (the segments after
/// it start at their beginning).
pub fn keyset(segment: Segment, cursor: Option<&Cursor>) -> Option<&Cursor> {
    let c = cursor?;
    let inside = match segment {
        Segment::All => true,
        Segment::State(s) => c.rank == Some(rank_of(s)),
        Segment::NeverReported => c.received_at.is_none(),
        Segment::Reported => c.received_at.is_some(),
    };
    inside.then_some(c)
}

/// The state a segment holds, if it is one state's.
pub fn status(segment: Segment) -> Option<SiteStatus> {
    match segment {
        Segment::State(s) => Some(s),
        _ => None,
    }
}

/// Whether the segment is in name order (else by id, or by last report).
fn by_name(sort: SiteSort, segment: Segment) -> bool {
    matches!(segment, Segment::State(_)) || sort == SiteSort::Name
}

/// Appends the segment's own condition (other than its state) and the keyset condition, over
/// the columns `name`, `site_id` and `received_at` of the list query.
pub fn push_conditions(
    q: &mut QueryBuilder<'static, Postgres>,
    sort: SiteSort,
    segment: Segment,
    cursor: Option<&Cursor>,
) {
    match segment {
        Segment::NeverReported => {
            q.push(" AND received_at IS NULL");
        }
        Segment::Reported => {
            q.push(" AND received_at IS NOT NULL");
        }
        Segment::All | Segment::State(_) => {}
    }
    let Some(c) = keyset(segment, cursor) else {
        return;
    };
    if by_name(sort, segment) {
        q.push(" AND (name, site_id) > (")
            .push_bind(c.name.clone().unwrap_or_default())
            .push(", ")
            .push_bind(c.site_id.clone())
            .push(")");
    } else if segment == Segment::Reported {
        q.push(" AND (received_at, site_id) > (")
            .push_bind(c.received_at)
            .push(", ")
            .push_bind(c.site_id.clone())
            .push(")");
    } else {
        q.push(" AND site_id > ").push_bind(c.site_id.clone());
    }
}

/// The segment's order.
pub fn order_by(sort: SiteSort, segment: Segment) -> &'static str {
    if by_name(sort, segment) {
        " ORDER BY name, site_id"
    } else if segment == Segment::Reported {
        " ORDER BY received_at, site_id"
    } else {
        " ORDER BY site_id"
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::fleet::site_list::SiteFilter;

    fn req(sort: SiteSort, state: Option<SiteStatus>, cursor: Option<Cursor>) -> ListRequest {
        ListRequest {
            filter: SiteFilter {
                state,
                ..Default::default()
            },
            sort,
            cursor,
        }
    }

    fn cursor(sort: SiteSort, rank: Option<i32>, at: Option<DateTime<Utc>>) -> Cursor {
        Cursor {
            sort,
            site_id: "s".into(),
            name: Some("n".into()),
            rank,
            received_at: at,
        }
    }

    #[test]
    fn the_state_sort_walks_the_states_in_list_order_from_the_cursor() {
        let all: Vec<Segment> = LIST_ORDER.into_iter().map(Segment::State).collect();
        assert_eq!(segments(&req(SiteSort::State, None, None)), all);
        let from_ok = segments(&req(
            SiteSort::State,
            None,
            Some(cursor(SiteSort::State, Some(rank_of(SiteStatus::Ok)), None)),
        ));
        assert_eq!(from_ok, all[3..]);
        assert_eq!(
            segments(&req(SiteSort::State, Some(SiteStatus::Closed), None)),
            [Segment::State(SiteStatus::Closed)]
        );
        // Filtered on a state already passed: nothing left.
        assert!(
            segments(&req(
                SiteSort::State,
                Some(SiteStatus::Critical),
                Some(cursor(SiteSort::State, Some(1), None))
            ))
            .is_empty()
        );
    }

    #[test]
    fn the_last_report_sort_puts_the_never_reported_last() {
        let at: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            segments(&req(SiteSort::LastReport, None, None)),
            [Segment::Reported, Segment::NeverReported]
        );
        let c = cursor(SiteSort::LastReport, None, Some(at));
        assert_eq!(
            segments(&req(SiteSort::LastReport, None, Some(c.clone()))),
            [Segment::Reported, Segment::NeverReported]
        );
        assert_eq!(keyset(Segment::Reported, Some(&c)), Some(&c));
        assert_eq!(keyset(Segment::NeverReported, Some(&c)), None);
        let c = cursor(SiteSort::LastReport, None, None);
        assert_eq!(
            segments(&req(SiteSort::LastReport, None, Some(c.clone()))),
            [Segment::NeverReported]
        );
        assert_eq!(keyset(Segment::NeverReported, Some(&c)), Some(&c));
        assert_eq!(
            segments(&req(
                SiteSort::LastReport,
                Some(SiteStatus::NeverReported),
                None
            )),
            [Segment::NeverReported]
        );
        assert_eq!(
            segments(&req(SiteSort::LastReport, Some(SiteStatus::Ok), None)),
            [Segment::Reported]
        );
    }

    #[test]
    fn name_and_id_sorts_are_one_segment() {
        for sort in [SiteSort::Name, SiteSort::SiteId] {
            assert_eq!(
                segments(&req(sort, Some(SiteStatus::Warning), None)),
                [Segment::All]
            );
        }
        let c = cursor(SiteSort::State, Some(2), None);
        assert_eq!(
            keyset(Segment::State(SiteStatus::Silent), Some(&c)),
            Some(&c)
        );
        assert_eq!(keyset(Segment::State(SiteStatus::Ok), Some(&c)), None);
    }
}
