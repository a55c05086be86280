//! Fleet state: the stored form of a report, the health rules that colour a
//! site red or green, and the queries dashboards read.

pub mod dashboard;
pub mod health;
pub mod history;
pub mod query;
pub mod report;
pub mod site_list;
