//! Escalation to vendors and desks (issue 12, second half): an incident turns into the right
//! message for the right desk — a mail to Lenovo with its subject tags, a call sheet for the
//! router makers, NTT East and 支払基金, the Apresia web form — which the operator reviews,
//! sends or calls, and then tracks to its end (ticket, 依頼済 → 受付済 → 部品手配中 → 訪問予定 →
//! 完了 / 取消, a reminder when the desk is late). Domain: domain.md §4, guide 1-8-3.
//!
//! Map (pure unless noted):
//! - [`model`]: status, channel, call outcome; the status machine.
//! - [`draft`]: which desk, whether the site has it, the serial, how to reach it; [`letter`]
//!   words it in the guide's formats.
//! - [`due`]: when the desk should have answered (its next business day), reminders.
//! - [`directory`]: desks kept by hand (makers, receipt vendors) and the site's contacts.
//! - [`input`]: edits, calls and patches as entered, with their checks.
//! - I/O: [`context`] (reads a draft's facts), [`store`] (the only writer of `escalations`,
//!   `escalation_calls`), [`makers`] / [`vendors`] (the directories' tables), [`query`]
//!   (reads), [`send`] (the mail), [`reminders`] (the loop), [`cli`] / [`directory_cli`].
//!
//! Every write commits with its incident timeline row (kind `escalation`) and its audit row.

pub mod cli;
pub mod context;
pub mod directory;
pub mod directory_cli;
pub mod draft;
pub mod due;
pub mod input;
pub mod letter;
pub mod makers;
pub mod model;
pub mod query;
pub mod reminders;
pub mod send;
pub mod store;
pub mod text;
pub mod vendors;
