-- Escalation to vendors and desks (issue 12, second half): the maker and receipt-vendor
-- directories operators keep, and the vendor cases raised from incidents with their calls.
-- Owner: server/src/escalation/ (the only code that writes these tables).

-- The desk of each face-auth reader maker (domain.md §4 `card-reader-maker`). The guide gives
-- no numbers for these, so the table starts empty and a draft says 「未登録」 until an
-- administrator fills the row in (/admin/makers, `onshi-server maker set`).
CREATE TABLE reader_maker_desks (
    maker       text PRIMARY KEY
                CHECK (maker IN ('fujitsu', 'panasonic', 'atlus', 'almex', 'canon')),
    desk_name   text NOT NULL DEFAULT '',
    phone       text NOT NULL DEFAULT '',
    mail        text NOT NULL DEFAULT '',
    web_form    text NOT NULL DEFAULT '',
    -- `desk::WeeklyHours` as JSON; NULL = hours not recorded (treated as unpublished).
    hours       jsonb,
    note        text NOT NULL DEFAULT '',
    updated_by  text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (phone <> '' OR mail <> '' OR web_form <> '')
);

-- Receipt-system (レセコン) vendors' desks. A site's own vendor contact (sites.
-- receipt_vendor_contact) wins; else the row whose name matches sites.receipt_vendor.
CREATE TABLE receipt_vendors (
    vendor_id   bigserial PRIMARY KEY,
    name        text NOT NULL,
    phone       text NOT NULL DEFAULT '',
    mail        text NOT NULL DEFAULT '',
    web         text NOT NULL DEFAULT '',
    hours       jsonb,
    note        text NOT NULL DEFAULT '',
    updated_by  text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (phone <> '' OR mail <> '' OR web <> '')
);
-- Sites name their vendor by hand: one vendor per name, whatever the case.
CREATE UNIQUE INDEX receipt_vendors_name_idx ON receipt_vendors (lower(name));

-- One request to one desk about one incident: drafted, then sent (mail) or called (phone,
-- web form), then tracked until the vendor's case is closed.
CREATE TABLE escalations (
    escalation_id   bigserial PRIMARY KEY,
    incident_id     bigint NOT NULL REFERENCES incidents (incident_id) ON DELETE CASCADE,
    desk            text NOT NULL CHECK (desk IN (
        'omakase', 'onshi-call-center', 'flets-113', 'lenovo-pc', 'allied-router',
        'yamaha-router', 'apresia-hub', 'card-reader-maker', 'receipt-vendor', 'ntt-east-onshi',
        'ssk-network', 'ssk-system', 'ssk-tokutei', 'ssk-other')),
    desk_name       text NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('mail', 'phone', 'web_form')),
    status          text NOT NULL DEFAULT 'draft' CHECK (status IN (
        'draft', 'requested', 'accepted', 'parts_ordered', 'visit_scheduled', 'done',
        'cancelled')),
    -- Mail address, phone number(s) or form URL, fixed when drafted from the desk directory.
    recipient       text NOT NULL,
    subject         text NOT NULL DEFAULT '',
    body            text NOT NULL,
    serial          text NOT NULL DEFAULT '',
    ticket          text NOT NULL DEFAULT '',
    visit_on        date,
    -- Set when a send starts, cleared when its outcome is recorded: a row that keeps it after
    -- a crash is a mail whose fate is unknown, and is not re-sent without confirmation.
    send_started_at timestamptz,
    send_started_by text,
    message_id      text,
    requested_at    timestamptz,
    requested_by    text,
    -- The vendor should have answered by then: the end of its desk's next business day.
    due_at          timestamptz,
    -- First sign of an answer (a ticket number, or a status past 依頼済).
    answered_at     timestamptz,
    -- Which reminder was last raised ("no_answer", "visit:2026-03-10"): each is raised once.
    reminder_key    text,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (status <> 'visit_scheduled' OR visit_on IS NOT NULL),
    -- Past 下書き only by sending or calling (a draft may be cancelled unsent).
    CHECK (status IN ('draft', 'cancelled') OR requested_at IS NOT NULL)
);
CREATE INDEX escalations_incident_idx ON escalations (incident_id, escalation_id);
-- "Tell the right people once": one live case per desk and incident, even with two replicas.
CREATE UNIQUE INDEX escalations_live_desk_idx ON escalations (incident_id, desk)
    WHERE status NOT IN ('done', 'cancelled');
-- The reminder loop looks at cases waiting for the vendor only.
CREATE INDEX escalations_waiting_idx ON escalations (due_at)
    WHERE status IN ('requested', 'visit_scheduled');

-- Calls recorded against an escalation (who answered, when, what came of it).
CREATE TABLE escalation_calls (
    call_id        bigserial PRIMARY KEY,
    escalation_id  bigint NOT NULL REFERENCES escalations (escalation_id) ON DELETE CASCADE,
    called_at      timestamptz NOT NULL,
    operator       text NOT NULL,
    spoke_with     text NOT NULL DEFAULT '',
    outcome        text NOT NULL CHECK (outcome IN ('accepted', 'callback', 'no_answer', 'other')),
    ticket         text NOT NULL DEFAULT '',
    note           text NOT NULL DEFAULT '',
    recorded_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX escalation_calls_escalation_idx ON escalation_calls (escalation_id, call_id);
