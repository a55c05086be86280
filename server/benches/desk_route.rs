//! How long one desk answer takes (goal: well under 10 µs). Figures are recorded in
//! docs/desk-routing.md. Run: `cargo bench -p onshi-server --bench desk_route`.

use std::hint::black_box;

use chrono::{DateTime, FixedOffset};
use criterion::{Criterion, criterion_group, criterion_main};
use onshi_server::desk::{
    DeskId, Maintenance, Part, ReaderMaker, RouteQuery, RouterModel, SiteContacts, desk_status,
    list_desks, route,
};

fn at(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).expect("valid RFC 3339")
}

fn bench_route(c: &mut Criterion) {
    let site = SiteContacts::default();
    let mut group = c.benchmark_group("route");

    // Weekday, open now.
    let pc = RouteQuery::new(Part::Pc);
    let weekday = at("2026-05-08T10:00:00+09:00");
    group.bench_function("pc_open_weekday", |b| {
        b.iter(|| route(black_box(&pc), &site, black_box(weekday)))
    });

    // Saturday: closed, next opening after the weekend, fallback search.
    let router = RouteQuery {
        router_model: Some(RouterModel::AtAr1050v),
        serial: Some("S/NA12345678".into()),
        ..RouteQuery::new(Part::Router)
    };
    let saturday = at("2026-05-09T10:00:00+09:00");
    group.bench_function("router_closed_saturday", |b| {
        b.iter(|| route(black_box(&router), &site, black_box(saturday)))
    });

    // Worst case for the search: year end, 12/29–1/4 closure, next opening 8 days ahead.
    let yamaha = RouteQuery {
        router_model: Some(RouterModel::Nvr700),
        ..RouteQuery::new(Part::Router)
    };
    let year_end = at("2026-12-28T18:00:00+09:00");
    group.bench_function("router_year_end", |b| {
        b.iter(|| route(black_box(&yamaha), &site, black_box(year_end)))
    });

    // Subscribed site, no contract data: omakase + fallback to the reader maker / call center.
    let reader = RouteQuery {
        reader_maker: Some(ReaderMaker::Panasonic),
        maintenance: Maintenance::Omakase,
        ..RouteQuery::new(Part::CardReader)
    };
    group.bench_function("card_reader_omakase", |b| {
        b.iter(|| route(black_box(&reader), &site, black_box(weekday)))
    });

    // 支払基金 system desk on day 2 (no published hours), fallback to the network desk.
    let billing = RouteQuery::new(Part::BillingSystem);
    let day2 = at("2026-06-02T10:00:00+09:00");
    group.bench_function("billing_system_day2", |b| {
        b.iter(|| route(black_box(&billing), &site, black_box(day2)))
    });
    group.finish();

    let mut group = c.benchmark_group("desk_status");
    group.bench_function("ssk_network_midnight", |b| {
        b.iter(|| {
            desk_status(
                black_box(DeskId::SskNetwork),
                black_box(at("2026-06-08T23:59:00+09:00")),
            )
        })
    });
    group.bench_function("lenovo_year_end", |b| {
        b.iter(|| desk_status(black_box(DeskId::LenovoPc), black_box(year_end)))
    });
    group.bench_function("directory_all_14", |b| {
        b.iter(|| list_desks(black_box(&site), black_box(weekday)))
    });
    group.finish();
}

criterion_group!(benches, bench_route);
criterion_main!(benches);
