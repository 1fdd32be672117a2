-- Step 1: the document store and the projection.
--
-- Money is INTEGER minor units (cents); quantities are INTEGER thousandths of
-- the product's unit (so 2.5 kg is 2500). No floating point anywhere.
--
-- Cross-document references (an invoice's customer, a movement's product) are
-- deliberately NOT foreign keys: replicas receive documents in any order, so an
-- invoice can legitimately arrive before the customer document that created its
-- customer. Foreign keys are declared where parent and child always come from
-- the same record of the same document (invoice -> lines, order -> labour).
-- Dangling references are reported by the integrity report instead.

-- ---------------------------------------------------------------- documents
CREATE TABLE documents (
    doc_id          TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('catalog','customers','journal','workshop','inbound')),
    snapshot        BLOB,
    heads           BLOB NOT NULL DEFAULT x'',
    pending_changes INTEGER NOT NULL DEFAULT 0 CHECK (pending_changes >= 0),
    updated_at      INTEGER NOT NULL
) WITHOUT ROWID;

-- Every change ever stored, append-only, in arrival order. `seq` gives the
-- server a cursor for point-in-time recovery and for "what arrived since".
CREATE TABLE doc_changes (
    seq         INTEGER PRIMARY KEY,
    doc_id      TEXT NOT NULL REFERENCES documents(doc_id),
    hash        BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
    actor       BLOB NOT NULL,
    message     TEXT,
    bytes       BLOB NOT NULL,
    stored_at   INTEGER NOT NULL,
    in_snapshot INTEGER NOT NULL DEFAULT 0 CHECK (in_snapshot IN (0,1))
);
CREATE INDEX idx_doc_changes_doc_pending ON doc_changes(doc_id, in_snapshot, seq);

-- Local per-replica counters (bill numbers, order numbers). Never synced.
CREATE TABLE replica_counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL CHECK (value >= 0)
) WITHOUT ROWID;

-- Records that arrived from another replica but could not be projected
-- (forged or malformed). Kept visible instead of silently dropped.
CREATE TABLE rejected_records (
    doc_id     TEXT NOT NULL,
    collection TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    reason     TEXT NOT NULL,
    PRIMARY KEY (doc_id, collection, record_id)
) WITHOUT ROWID;

-- Concurrent edits of one field: the projected winner and the losers.
CREATE TABLE field_conflicts (
    record_kind TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    field       TEXT NOT NULL,
    winner      TEXT NOT NULL,
    losers      TEXT NOT NULL,
    PRIMARY KEY (record_kind, record_id, field)
) WITHOUT ROWID;

-- Audit trail of master-data edits, projected from each record's history list.
CREATE TABLE record_history (
    record_kind TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    pos         INTEGER NOT NULL,
    field       TEXT NOT NULL,
    value       TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    replica     TEXT NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (record_kind, record_id, pos)
) WITHOUT ROWID;

-- ---------------------------------------------------------------- catalogue
CREATE TABLE branches (
    id          TEXT PRIMARY KEY,
    code        TEXT UNIQUE,
    code_wanted TEXT NOT NULL,
    name        TEXT NOT NULL
);
CREATE INDEX idx_branches_code_wanted ON branches(code_wanted);

CREATE TABLE payment_channels (
    code   TEXT PRIMARY KEY,
    name   TEXT NOT NULL,
    active INTEGER NOT NULL CHECK (active IN (0,1)),
    is_cash INTEGER NOT NULL CHECK (is_cash IN (0,1))
);

CREATE TABLE products (
    rid            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    sku            TEXT UNIQUE,
    sku_wanted     TEXT NOT NULL,
    barcode        TEXT UNIQUE,
    barcode_wanted TEXT,
    name           TEXT NOT NULL CHECK (length(name) > 0),
    category       TEXT NOT NULL,
    grade          TEXT,
    unit           TEXT NOT NULL,
    price          INTEGER NOT NULL CHECK (price >= 0),
    cost           INTEGER NOT NULL CHECK (cost >= 0),
    min_stock      INTEGER NOT NULL CHECK (min_stock >= 0),
    status         TEXT NOT NULL CHECK (status IN ('active','inactive')),
    updated_at     INTEGER NOT NULL
);
CREATE INDEX idx_products_sku_wanted ON products(sku_wanted);
CREATE INDEX idx_products_barcode_wanted ON products(barcode_wanted) WHERE barcode_wanted IS NOT NULL;
CREATE INDEX idx_products_category_status ON products(category, status);
CREATE INDEX idx_products_search ON products(name, category, grade);
CREATE INDEX idx_products_name_nocase ON products(name COLLATE NOCASE, id);

CREATE VIRTUAL TABLE product_fts USING fts5(
    name, sku, barcode, content='products', content_rowid='rid', prefix='1 2 3'
);
CREATE TRIGGER products_fts_ai AFTER INSERT ON products BEGIN
    INSERT INTO product_fts(rowid, name, sku, barcode)
    VALUES (new.rid, new.name, new.sku_wanted, coalesce(new.barcode_wanted, ''));
END;
CREATE TRIGGER products_fts_ad AFTER DELETE ON products BEGIN
    INSERT INTO product_fts(product_fts, rowid, name, sku, barcode)
    VALUES ('delete', old.rid, old.name, old.sku_wanted, coalesce(old.barcode_wanted, ''));
END;
CREATE TRIGGER products_fts_au AFTER UPDATE OF name, sku_wanted, barcode_wanted ON products BEGIN
    INSERT INTO product_fts(product_fts, rowid, name, sku, barcode)
    VALUES ('delete', old.rid, old.name, old.sku_wanted, coalesce(old.barcode_wanted, ''));
    INSERT INTO product_fts(rowid, name, sku, barcode)
    VALUES (new.rid, new.name, new.sku_wanted, coalesce(new.barcode_wanted, ''));
END;

CREATE TABLE services (
    id           TEXT PRIMARY KEY,
    code         TEXT NOT NULL,
    name         TEXT NOT NULL,
    labour_price INTEGER NOT NULL CHECK (labour_price >= 0),
    duration_min INTEGER NOT NULL CHECK (duration_min > 0),
    active       INTEGER NOT NULL CHECK (active IN (0,1))
);
CREATE INDEX idx_services_code ON services(code);

CREATE TABLE technicians (
    id        TEXT PRIMARY KEY,
    branch_id TEXT NOT NULL,
    name      TEXT NOT NULL,
    skills    TEXT NOT NULL,
    active    INTEGER NOT NULL CHECK (active IN (0,1))
);
CREATE INDEX idx_technicians_branch ON technicians(branch_id, name);

-- ---------------------------------------------------------------- customers
CREATE TABLE customers (
    rid          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL CHECK (length(name) > 0),
    phone        TEXT UNIQUE,
    phone_wanted TEXT,
    address      TEXT,
    credit_limit INTEGER NOT NULL CHECK (credit_limit >= 0),
    tags         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX idx_customers_name_phone ON customers(name, phone);
CREATE INDEX idx_customers_phone_wanted ON customers(phone_wanted) WHERE phone_wanted IS NOT NULL;
CREATE INDEX idx_customers_name_nocase ON customers(name COLLATE NOCASE, id);

CREATE VIRTUAL TABLE customer_fts USING fts5(
    name, phone, content='customers', content_rowid='rid', prefix='1 2 3'
);
-- The phone is indexed as typed and as bare digits, so "0501110001" finds "+050 111 0001".
CREATE TRIGGER customers_fts_ai AFTER INSERT ON customers BEGIN
    INSERT INTO customer_fts(rowid, name, phone) VALUES (new.rid, new.name,
        coalesce(new.phone_wanted || ' ' || replace(replace(replace(new.phone_wanted, ' ', ''), '-', ''), '+', ''), ''));
END;
CREATE TRIGGER customers_fts_ad AFTER DELETE ON customers BEGIN
    INSERT INTO customer_fts(customer_fts, rowid, name, phone) VALUES ('delete', old.rid, old.name,
        coalesce(old.phone_wanted || ' ' || replace(replace(replace(old.phone_wanted, ' ', ''), '-', ''), '+', ''), ''));
END;
CREATE TRIGGER customers_fts_au AFTER UPDATE OF name, phone_wanted ON customers BEGIN
    INSERT INTO customer_fts(customer_fts, rowid, name, phone) VALUES ('delete', old.rid, old.name,
        coalesce(old.phone_wanted || ' ' || replace(replace(replace(old.phone_wanted, ' ', ''), '-', ''), '+', ''), ''));
    INSERT INTO customer_fts(rowid, name, phone) VALUES (new.rid, new.name,
        coalesce(new.phone_wanted || ' ' || replace(replace(replace(new.phone_wanted, ' ', ''), '-', ''), '+', ''), ''));
END;

CREATE TABLE vehicles (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    plate       TEXT NOT NULL,
    vin         TEXT,
    make        TEXT NOT NULL,
    model       TEXT NOT NULL,
    year        INTEGER CHECK (year IS NULL OR year BETWEEN 1900 AND 2200),
    odometer    INTEGER NOT NULL CHECK (odometer >= 0),
    created_at  INTEGER NOT NULL
);
CREATE INDEX idx_vehicles_customer ON vehicles(customer_id);
CREATE INDEX idx_vehicles_plate ON vehicles(plate);

-- ---------------------------------------------------------------- sales
CREATE TABLE invoices (
    id               TEXT PRIMARY KEY,
    doc_id           TEXT NOT NULL,
    bill_no          TEXT UNIQUE,
    bill_no_wanted   TEXT NOT NULL,
    seq              INTEGER NOT NULL CHECK (seq > 0),
    customer_id      TEXT,
    branch_id        TEXT NOT NULL,
    terminal_id      TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    at               INTEGER NOT NULL,
    day              TEXT NOT NULL,
    subtotal         INTEGER NOT NULL,
    discount         INTEGER NOT NULL CHECK (discount >= 0),
    tax              INTEGER NOT NULL CHECK (tax >= 0),
    total            INTEGER NOT NULL CHECK (total >= 0),
    service_order_id TEXT,
    -- Maintained by triggers from payments, returns and voids; never written by code.
    paid             INTEGER NOT NULL DEFAULT 0,
    returned         INTEGER NOT NULL DEFAULT 0,
    voided           INTEGER NOT NULL DEFAULT 0 CHECK (voided IN (0,1)),
    remaining        INTEGER GENERATED ALWAYS AS
                        (CASE WHEN voided = 1 THEN 0 ELSE total - paid - returned END) STORED,
    status           TEXT GENERATED ALWAYS AS (
                        CASE
                          WHEN voided = 1 THEN 'void'
                          WHEN returned > 0 AND returned >= total THEN 'returned'
                          WHEN total - paid - returned <= 0 THEN 'paid'
                          WHEN paid > 0 OR returned > 0 THEN 'partial'
                          ELSE 'unpaid'
                        END) STORED
);
CREATE INDEX idx_invoices_bill_no_wanted ON invoices(bill_no_wanted);
CREATE INDEX idx_invoices_customer_date ON invoices(customer_id, at DESC, id DESC) WHERE customer_id IS NOT NULL;
CREATE INDEX idx_invoices_status_day ON invoices(status, day, id);
CREATE INDEX idx_invoices_status_balance ON invoices(status, remaining);
CREATE INDEX idx_invoices_branch_day ON invoices(branch_id, day, id);
CREATE INDEX idx_invoices_day ON invoices(day, id);
CREATE INDEX idx_invoices_terminal_seq ON invoices(terminal_id, seq);
CREATE INDEX idx_invoices_customer_open ON invoices(customer_id, at) WHERE remaining > 0;

CREATE TABLE invoice_lines (
    invoice_id  TEXT NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    line_no     INTEGER NOT NULL CHECK (line_no >= 0),
    kind        TEXT NOT NULL CHECK (kind IN ('product','labour','part')),
    product_id  TEXT,
    description TEXT NOT NULL,
    qty         INTEGER NOT NULL CHECK (qty > 0),
    unit_price  INTEGER NOT NULL CHECK (unit_price >= 0),
    discount    INTEGER NOT NULL CHECK (discount >= 0),
    tax         INTEGER NOT NULL CHECK (tax >= 0),
    total       INTEGER NOT NULL CHECK (total >= 0),
    cost        INTEGER NOT NULL CHECK (cost >= 0),
    PRIMARY KEY (invoice_id, line_no)
) WITHOUT ROWID;
CREATE INDEX idx_invoice_lines_product ON invoice_lines(product_id, invoice_id) WHERE product_id IS NOT NULL;

CREATE TABLE invoice_voids (
    id          TEXT PRIMARY KEY,
    doc_id      TEXT NOT NULL,
    invoice_id  TEXT NOT NULL,
    customer_id TEXT,
    amount      INTEGER NOT NULL CHECK (amount >= 0),
    user_id     TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    at          INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    -- 1 for the one void of an invoice that takes effect (the smallest id);
    -- a second void made offline elsewhere stays visible with 0.
    effective   INTEGER NOT NULL DEFAULT 0 CHECK (effective IN (0,1))
);
CREATE INDEX idx_invoice_voids_invoice ON invoice_voids(invoice_id, id);

CREATE TABLE payments (
    id          TEXT PRIMARY KEY,
    doc_id      TEXT NOT NULL,
    customer_id TEXT,
    invoice_id  TEXT,
    branch_id   TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    shift_id    TEXT,
    at          INTEGER NOT NULL,
    day         TEXT NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount > 0),
    channel     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('invoice','advance','refund')),
    CHECK (kind = 'advance' OR invoice_id IS NOT NULL OR kind = 'refund')
);
CREATE INDEX idx_payments_customer_date ON payments(customer_id, at DESC) WHERE customer_id IS NOT NULL;
CREATE INDEX idx_payments_channel_type ON payments(channel, kind);
CREATE INDEX idx_payments_reference ON payments(invoice_id) WHERE invoice_id IS NOT NULL;
CREATE INDEX idx_payments_shift ON payments(shift_id, channel) WHERE shift_id IS NOT NULL;
CREATE INDEX idx_payments_branch_day ON payments(branch_id, day);
CREATE INDEX idx_payments_day ON payments(day);

CREATE TABLE returns (
    id          TEXT PRIMARY KEY,
    doc_id      TEXT NOT NULL,
    invoice_id  TEXT NOT NULL,
    customer_id TEXT,
    branch_id   TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    at          INTEGER NOT NULL,
    day         TEXT NOT NULL,
    total       INTEGER NOT NULL CHECK (total >= 0),
    reason      TEXT NOT NULL
);
CREATE INDEX idx_returns_invoice ON returns(invoice_id);
CREATE INDEX idx_returns_branch_day ON returns(branch_id, day);
CREATE INDEX idx_returns_day ON returns(day);

CREATE TABLE return_lines (
    return_id  TEXT NOT NULL REFERENCES returns(id) ON DELETE CASCADE,
    line_no    INTEGER NOT NULL,
    invoice_line_no INTEGER NOT NULL,
    product_id TEXT,
    qty        INTEGER NOT NULL CHECK (qty > 0),
    amount     INTEGER NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (return_id, line_no)
) WITHOUT ROWID;

-- ---------------------------------------------------------------- stock
-- Append-only in the documents; every row here is derived from the record
-- named by (ref_kind, ref_id): a sale line, a return line, a receipt, an
-- adjustment, a transfer or a workshop part use.
CREATE TABLE stock_movements (
    id          TEXT PRIMARY KEY,
    product_id  TEXT NOT NULL,
    branch_id   TEXT NOT NULL,
    qty         INTEGER NOT NULL CHECK (qty <> 0),
    kind        TEXT NOT NULL CHECK (kind IN ('receipt','sale','return','void','adjustment','transfer_out','transfer_in','part_use')),
    ref_kind    TEXT NOT NULL,
    ref_id      TEXT NOT NULL,
    customer_id TEXT,
    unit_cost   INTEGER NOT NULL CHECK (unit_cost >= 0),
    at          INTEGER NOT NULL,
    terminal_id TEXT NOT NULL,
    user_id     TEXT NOT NULL
);
-- Covers the stock card's running balance (qty) without a table lookup per movement.
CREATE INDEX idx_stock_movements_product_date ON stock_movements(product_id, branch_id, at DESC, id DESC, qty);
CREATE INDEX idx_stock_movements_reference ON stock_movements(ref_kind, ref_id);
CREATE INDEX idx_stock_movements_customer ON stock_movements(customer_id) WHERE customer_id IS NOT NULL;

CREATE TABLE stock_levels (
    product_id TEXT NOT NULL,
    branch_id  TEXT NOT NULL,
    qty        INTEGER NOT NULL,
    PRIMARY KEY (product_id, branch_id)
) WITHOUT ROWID;
CREATE INDEX idx_stock_levels_branch ON stock_levels(branch_id, qty);

CREATE TRIGGER stock_movements_ai AFTER INSERT ON stock_movements BEGIN
    INSERT INTO stock_levels(product_id, branch_id, qty) VALUES (new.product_id, new.branch_id, new.qty)
    ON CONFLICT(product_id, branch_id) DO UPDATE SET qty = qty + excluded.qty;
END;
CREATE TRIGGER stock_movements_ad AFTER DELETE ON stock_movements BEGIN
    UPDATE stock_levels SET qty = qty - old.qty
    WHERE product_id = old.product_id AND branch_id = old.branch_id;
END;

CREATE TABLE stock_records (
    id          TEXT PRIMARY KEY,
    doc_id      TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('receipt','adjustment','transfer')),
    branch_id   TEXT NOT NULL,
    to_branch   TEXT,
    terminal_id TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    at          INTEGER NOT NULL,
    note        TEXT NOT NULL
);
CREATE INDEX idx_stock_records_branch ON stock_records(branch_id, at);

-- ---------------------------------------------------------------- ledger
CREATE TABLE ledger_entries (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    at          INTEGER NOT NULL,
    debit       INTEGER NOT NULL CHECK (debit >= 0),
    credit      INTEGER NOT NULL CHECK (credit >= 0),
    category    TEXT NOT NULL CHECK (category IN ('sale','payment','advance','refund','return','void')),
    ref_kind    TEXT NOT NULL,
    ref_id      TEXT NOT NULL,
    CHECK ((debit > 0) <> (credit > 0))
);
-- Covers a statement's opening balance (debit, credit) without a table lookup per entry.
CREATE INDEX idx_ledger_entries_customer_date ON ledger_entries(customer_id, at, id, debit, credit);
CREATE INDEX idx_ledger_entries_type_category ON ledger_entries(category, at);
CREATE INDEX idx_ledger_entries_ref ON ledger_entries(ref_kind, ref_id);

CREATE TABLE customer_balances (
    customer_id TEXT PRIMARY KEY,
    balance     INTEGER NOT NULL,
    entries     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX idx_customers_balance ON customer_balances(balance) WHERE balance <> 0;

CREATE TRIGGER ledger_entries_ai AFTER INSERT ON ledger_entries BEGIN
    INSERT INTO customer_balances(customer_id, balance, entries)
    VALUES (new.customer_id, new.debit - new.credit, 1)
    ON CONFLICT(customer_id) DO UPDATE SET balance = balance + excluded.balance, entries = entries + 1;
END;
CREATE TRIGGER ledger_entries_ad AFTER DELETE ON ledger_entries BEGIN
    UPDATE customer_balances SET balance = balance - (old.debit - old.credit), entries = entries - 1
    WHERE customer_id = old.customer_id;
END;

-- invoice.paid / returned / voided follow payments, returns and voids whatever
-- order they arrive in: each side recomputes from the other when inserted.
CREATE TRIGGER invoices_ai_derive AFTER INSERT ON invoices BEGIN
    UPDATE invoices SET
        paid = coalesce((SELECT sum(CASE WHEN kind = 'refund' THEN -amount ELSE amount END)
                         FROM payments WHERE invoice_id = new.id), 0),
        returned = coalesce((SELECT sum(total) FROM returns WHERE invoice_id = new.id), 0),
        voided = EXISTS (SELECT 1 FROM invoice_voids WHERE invoice_id = new.id)
    WHERE id = new.id;
END;
CREATE TRIGGER payments_ai_invoice AFTER INSERT ON payments WHEN new.invoice_id IS NOT NULL BEGIN
    UPDATE invoices SET paid = paid + CASE WHEN new.kind = 'refund' THEN -new.amount ELSE new.amount END
    WHERE id = new.invoice_id;
END;
CREATE TRIGGER payments_ad_invoice AFTER DELETE ON payments WHEN old.invoice_id IS NOT NULL BEGIN
    UPDATE invoices SET paid = paid - CASE WHEN old.kind = 'refund' THEN -old.amount ELSE old.amount END
    WHERE id = old.invoice_id;
END;
CREATE TRIGGER returns_ai_invoice AFTER INSERT ON returns BEGIN
    UPDATE invoices SET returned = returned + new.total WHERE id = new.invoice_id;
END;
CREATE TRIGGER returns_ad_invoice AFTER DELETE ON returns BEGIN
    UPDATE invoices SET returned = returned - old.total WHERE id = old.invoice_id;
END;
CREATE TRIGGER voids_ai_invoice AFTER INSERT ON invoice_voids BEGIN
    UPDATE invoices SET voided = 1 WHERE id = new.invoice_id;
END;
CREATE TRIGGER voids_ad_invoice AFTER DELETE ON invoice_voids BEGIN
    UPDATE invoices SET voided = EXISTS (SELECT 1 FROM invoice_voids WHERE invoice_id = old.invoice_id)
    WHERE id = old.invoice_id;
END;

-- ---------------------------------------------------------------- shifts
CREATE TABLE shifts (
    id            TEXT PRIMARY KEY,
    doc_id        TEXT NOT NULL,
    terminal_id   TEXT NOT NULL,
    branch_id     TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    opened_at     INTEGER NOT NULL,
    opening_float INTEGER NOT NULL CHECK (opening_float >= 0),
    closed_at     INTEGER,
    closed_by     TEXT
);
CREATE INDEX idx_shifts_terminal ON shifts(terminal_id, opened_at);
CREATE INDEX idx_shifts_open ON shifts(terminal_id) WHERE closed_at IS NULL;

CREATE TABLE shift_counts (
    shift_id TEXT NOT NULL REFERENCES shifts(id) ON DELETE CASCADE,
    channel  TEXT NOT NULL,
    counted  INTEGER NOT NULL CHECK (counted >= 0),
    PRIMARY KEY (shift_id, channel)
) WITHOUT ROWID;

-- ---------------------------------------------------------------- workshop
CREATE TABLE service_orders (
    id             TEXT PRIMARY KEY,
    doc_id         TEXT NOT NULL,
    number         TEXT NOT NULL,
    customer_id    TEXT NOT NULL,
    vehicle_id     TEXT NOT NULL,
    branch_id      TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('booked','in_progress','waiting_parts','done','invoiced','cancelled')),
    scheduled_date TEXT NOT NULL,
    technician_id  TEXT,
    complaint      TEXT NOT NULL,
    odometer       INTEGER,
    invoice_id     TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX idx_service_orders_customer_status ON service_orders(customer_id, status);
CREATE INDEX idx_service_orders_date_status ON service_orders(scheduled_date, status);
CREATE INDEX idx_service_orders_vehicle_date ON service_orders(vehicle_id, scheduled_date, id);
CREATE INDEX idx_service_orders_technician_date ON service_orders(technician_id, scheduled_date) WHERE technician_id IS NOT NULL;
CREATE INDEX idx_service_orders_branch_date ON service_orders(branch_id, scheduled_date);
CREATE INDEX idx_service_orders_status ON service_orders(status);
CREATE INDEX idx_service_orders_number ON service_orders(number);

CREATE TABLE service_order_labour (
    order_id     TEXT NOT NULL REFERENCES service_orders(id) ON DELETE CASCADE,
    line_id      TEXT NOT NULL,
    service_id   TEXT NOT NULL,
    description  TEXT NOT NULL,
    technician_id TEXT,
    price        INTEGER NOT NULL CHECK (price >= 0),
    duration_min INTEGER NOT NULL CHECK (duration_min > 0),
    PRIMARY KEY (order_id, line_id)
) WITHOUT ROWID;

CREATE TABLE service_order_parts (
    order_id   TEXT NOT NULL REFERENCES service_orders(id) ON DELETE CASCADE,
    line_id    TEXT NOT NULL,
    product_id TEXT NOT NULL,
    qty        INTEGER NOT NULL CHECK (qty > 0),
    unit_price INTEGER NOT NULL CHECK (unit_price >= 0),
    at         INTEGER NOT NULL,
    PRIMARY KEY (order_id, line_id)
) WITHOUT ROWID;
