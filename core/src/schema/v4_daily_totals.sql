-- Step 4: pre-aggregated daily sales, so that a month's report or ranking
-- reads a few thousand summary rows instead of every invoice line of the
-- month (a terminal's month is ~8k invoices and ~40k lines).
--
-- Like stock_levels, these tables are sums kept by triggers on the rows
-- the projection writes, so they follow every insert and delete whatever
-- order records arrive in, and a rebuild gives the same rows. Every trigger
-- adds a signed delta with an upsert, so the order in which triggers of one
-- statement fire does not matter, and a row that sums to all zeros is
-- deleted (all zeros means the same as no row: after a rebuild there is
-- none).

-- Invoices per day and branch: the sales lines of the sales report.
CREATE TABLE daily_sales (
    day          TEXT NOT NULL,
    branch_id    TEXT NOT NULL,
    invoices     INTEGER NOT NULL,  -- not void
    subtotal     INTEGER NOT NULL,  -- of invoices not void, as the next four
    discount     INTEGER NOT NULL,
    tax          INTEGER NOT NULL,
    total        INTEGER NOT NULL,
    paid         INTEGER NOT NULL,
    voided       INTEGER NOT NULL,  -- void invoices
    voided_total INTEGER NOT NULL,  -- and their totals
    PRIMARY KEY (day, branch_id)
) WITHOUT ROWID;

-- Payments per day, branch and channel: the channel lines of the report.
CREATE TABLE daily_payments (
    day       TEXT NOT NULL,
    branch_id TEXT NOT NULL,
    channel   TEXT NOT NULL,
    payments  INTEGER NOT NULL,
    invoice   INTEGER NOT NULL,  -- amounts of kind 'invoice'
    advance   INTEGER NOT NULL,  -- 'advance'
    refund    INTEGER NOT NULL,  -- 'refund'
    PRIMARY KEY (day, branch_id, channel)
) WITHOUT ROWID;

-- Lines of invoices not void per day, branch, product and line kind: the
-- category lines of the report (the category is the product's as it is
-- now, joined when reading, so a renamed category or a product that
-- arrives after its sales needs no rewrite) and top products. A line
-- without product is filed under product_id ''.
--
-- `invoices` counts each (invoice, product) pair once, on the row of the
-- pair's lowest line number, so that summing it over rows gives the number
-- of distinct invoices of a product, as count(DISTINCT invoice_id) does.
CREATE TABLE daily_product_sales (
    day        TEXT NOT NULL,
    branch_id  TEXT NOT NULL,
    product_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    lines      INTEGER NOT NULL,
    qty        INTEGER NOT NULL,
    discount   INTEGER NOT NULL,
    tax        INTEGER NOT NULL,
    total      INTEGER NOT NULL,
    cost       INTEGER NOT NULL,  -- sum of qty x unit cost (thousandths of money)
    invoices   INTEGER NOT NULL,
    PRIMARY KEY (day, branch_id, product_id, kind)
) WITHOUT ROWID;

-- ---------------------------------------------------------------- invoices
CREATE TRIGGER daily_sales_ai AFTER INSERT ON invoices BEGIN
    INSERT INTO daily_sales VALUES (new.day, new.branch_id,
        1 - new.voided,
        CASE WHEN new.voided = 0 THEN new.subtotal ELSE 0 END,
        CASE WHEN new.voided = 0 THEN new.discount ELSE 0 END,
        CASE WHEN new.voided = 0 THEN new.tax ELSE 0 END,
        CASE WHEN new.voided = 0 THEN new.total ELSE 0 END,
        CASE WHEN new.voided = 0 THEN new.paid ELSE 0 END,
        new.voided,
        CASE WHEN new.voided = 1 THEN new.total ELSE 0 END)
    ON CONFLICT(day, branch_id) DO UPDATE SET
        invoices = invoices + excluded.invoices, subtotal = subtotal + excluded.subtotal,
        discount = discount + excluded.discount, tax = tax + excluded.tax,
        total = total + excluded.total, paid = paid + excluded.paid,
        voided = voided + excluded.voided, voided_total = voided_total + excluded.voided_total;
END;

CREATE TRIGGER daily_sales_ad AFTER DELETE ON invoices BEGIN
    INSERT INTO daily_sales VALUES (old.day, old.branch_id,
        old.voided - 1,
        CASE WHEN old.voided = 0 THEN -old.subtotal ELSE 0 END,
        CASE WHEN old.voided = 0 THEN -old.discount ELSE 0 END,
        CASE WHEN old.voided = 0 THEN -old.tax ELSE 0 END,
        CASE WHEN old.voided = 0 THEN -old.total ELSE 0 END,
        CASE WHEN old.voided = 0 THEN -old.paid ELSE 0 END,
        -old.voided,
        CASE WHEN old.voided = 1 THEN -old.total ELSE 0 END)
    ON CONFLICT(day, branch_id) DO UPDATE SET
        invoices = invoices + excluded.invoices, subtotal = subtotal + excluded.subtotal,
        discount = discount + excluded.discount, tax = tax + excluded.tax,
        total = total + excluded.total, paid = paid + excluded.paid,
        voided = voided + excluded.voided, voided_total = voided_total + excluded.voided_total;
    DELETE FROM daily_sales WHERE day = old.day AND branch_id = old.branch_id
        AND invoices = 0 AND subtotal = 0 AND discount = 0 AND tax = 0 AND total = 0
        AND paid = 0 AND voided = 0 AND voided_total = 0;
END;

-- paid and voided follow payments and voids (v1 triggers); the projection
-- never updates the other columns in place, but they are covered anyway.
CREATE TRIGGER daily_sales_au AFTER UPDATE OF day, branch_id, subtotal, discount, tax, total, paid, voided
ON invoices BEGIN
    INSERT INTO daily_sales VALUES (old.day, old.branch_id,
        old.voided - 1,
        CASE WHEN old.voided = 0 THEN -old.subtotal ELSE 0 END,
        CASE WHEN old.voided = 0 THEN -old.discount ELSE 0 END,
        CASE WHEN old.voided = 0 THEN -old.tax ELSE 0 END,
        CASE WHEN old.voided = 0 THEN -old.total ELSE 0 END,
        CASE WHEN old.voided = 0 THEN -old.paid ELSE 0 END,
        -old.voided,
        CASE WHEN old.voided = 1 THEN -old.total ELSE 0 END)
    ON CONFLICT(day, branch_id) DO UPDATE SET
        invoices = invoices + excluded.invoices, subtotal = subtotal + excluded.subtotal,
        discount = discount + excluded.discount, tax = tax + excluded.tax,
        total = total + excluded.total, paid = paid + excluded.paid,
        voided = voided + excluded.voided, voided_total = voided_total + excluded.voided_total;
    INSERT INTO daily_sales VALUES (new.day, new.branch_id,
        1 - new.voided,
        CASE WHEN new.voided = 0 THEN new.subtotal ELSE 0 END,
        CASE WHEN new.voided = 0 THEN new.discount ELSE 0 END,
        CASE WHEN new.voided = 0 THEN new.tax ELSE 0 END,
        CASE WHEN new.voided = 0 THEN new.total ELSE 0 END,
        CASE WHEN new.voided = 0 THEN new.paid ELSE 0 END,
        new.voided,
        CASE WHEN new.voided = 1 THEN new.total ELSE 0 END)
    ON CONFLICT(day, branch_id) DO UPDATE SET
        invoices = invoices + excluded.invoices, subtotal = subtotal + excluded.subtotal,
        discount = discount + excluded.discount, tax = tax + excluded.tax,
        total = total + excluded.total, paid = paid + excluded.paid,
        voided = voided + excluded.voided, voided_total = voided_total + excluded.voided_total;
    DELETE FROM daily_sales WHERE day = old.day AND branch_id = old.branch_id
        AND invoices = 0 AND subtotal = 0 AND discount = 0 AND tax = 0 AND total = 0
        AND paid = 0 AND voided = 0 AND voided_total = 0;
END;

-- A voided invoice's lines leave daily_product_sales, and come back if the
-- void goes away. The sums are over the lines as they are now.
CREATE TRIGGER daily_product_sales_void AFTER UPDATE OF voided ON invoices
WHEN old.voided IS NOT new.voided BEGIN
    INSERT INTO daily_product_sales
    SELECT new.day, new.branch_id, coalesce(l.product_id, ''), l.kind,
           s * count(*), s * sum(l.qty), s * sum(l.discount), s * sum(l.tax), s * sum(l.total),
           s * sum(l.qty * l.cost),
           s * sum(NOT EXISTS (SELECT 1 FROM invoice_lines l2 WHERE l2.invoice_id = l.invoice_id
                               AND l2.line_no < l.line_no AND l2.product_id IS l.product_id))
    FROM invoice_lines l, (SELECT CASE WHEN new.voided = 1 THEN -1 ELSE 1 END AS s)
    WHERE l.invoice_id = new.id
    GROUP BY l.product_id, l.kind
    ON CONFLICT(day, branch_id, product_id, kind) DO UPDATE SET
        lines = lines + excluded.lines, qty = qty + excluded.qty,
        discount = discount + excluded.discount, tax = tax + excluded.tax,
        total = total + excluded.total, cost = cost + excluded.cost,
        invoices = invoices + excluded.invoices;
    DELETE FROM daily_product_sales WHERE day = new.day AND branch_id = new.branch_id
        AND lines = 0 AND qty = 0 AND discount = 0 AND tax = 0 AND total = 0 AND cost = 0
        AND invoices = 0;
END;

-- Lines go before their invoice (ON DELETE CASCADE would remove them after
-- it, when the line triggers could no longer find its day and branch).
CREATE TRIGGER invoices_bd_lines BEFORE DELETE ON invoices BEGIN
    DELETE FROM invoice_lines WHERE invoice_id = old.id;
END;

-- ---------------------------------------------------------------- lines
CREATE TRIGGER daily_product_sales_ai AFTER INSERT ON invoice_lines BEGIN
    INSERT INTO daily_product_sales
    SELECT i.day, i.branch_id, coalesce(new.product_id, ''), new.kind, 1, new.qty, new.discount,
           new.tax, new.total, new.qty * new.cost,
           NOT EXISTS (SELECT 1 FROM invoice_lines l2 WHERE l2.invoice_id = new.invoice_id
                       AND l2.line_no < new.line_no AND l2.product_id IS new.product_id)
    FROM invoices i WHERE i.id = new.invoice_id AND i.voided = 0
    ON CONFLICT(day, branch_id, product_id, kind) DO UPDATE SET
        lines = lines + excluded.lines, qty = qty + excluded.qty,
        discount = discount + excluded.discount, tax = tax + excluded.tax,
        total = total + excluded.total, cost = cost + excluded.cost,
        invoices = invoices + excluded.invoices;
    -- The new line is now the pair's lowest: the line that was takes off its count.
    INSERT INTO daily_product_sales
    SELECT i.day, i.branch_id, coalesce(n.product_id, ''), n.kind, 0, 0, 0, 0, 0, 0, -1
    FROM invoices i,
         (SELECT l2.product_id, l2.kind FROM invoice_lines l2
          WHERE l2.invoice_id = new.invoice_id AND l2.line_no > new.line_no
            AND l2.product_id IS new.product_id
          ORDER BY l2.line_no LIMIT 1) n
    WHERE i.id = new.invoice_id AND i.voided = 0
      AND NOT EXISTS (SELECT 1 FROM invoice_lines l3 WHERE l3.invoice_id = new.invoice_id
                      AND l3.line_no < new.line_no AND l3.product_id IS new.product_id)
    ON CONFLICT(day, branch_id, product_id, kind) DO UPDATE SET
        invoices = invoices + excluded.invoices;
END;

CREATE TRIGGER daily_product_sales_ad AFTER DELETE ON invoice_lines BEGIN
    INSERT INTO daily_product_sales
    SELECT i.day, i.branch_id, coalesce(old.product_id, ''), old.kind, -1, -old.qty, -old.discount,
           -old.tax, -old.total, -(old.qty * old.cost),
           -(NOT EXISTS (SELECT 1 FROM invoice_lines l2 WHERE l2.invoice_id = old.invoice_id
                         AND l2.line_no < old.line_no AND l2.product_id IS old.product_id))
    FROM invoices i WHERE i.id = old.invoice_id AND i.voided = 0
    ON CONFLICT(day, branch_id, product_id, kind) DO UPDATE SET
        lines = lines + excluded.lines, qty = qty + excluded.qty,
        discount = discount + excluded.discount, tax = tax + excluded.tax,
        total = total + excluded.total, cost = cost + excluded.cost,
        invoices = invoices + excluded.invoices;
    -- The deleted line was the pair's lowest: the next one takes the count.
    INSERT INTO daily_product_sales
    SELECT i.day, i.branch_id, coalesce(n.product_id, ''), n.kind, 0, 0, 0, 0, 0, 0, 1
    FROM invoices i,
         (SELECT l2.product_id, l2.kind FROM invoice_lines l2
          WHERE l2.invoice_id = old.invoice_id AND l2.line_no > old.line_no
            AND l2.product_id IS old.product_id
          ORDER BY l2.line_no LIMIT 1) n
    WHERE i.id = old.invoice_id AND i.voided = 0
      AND NOT EXISTS (SELECT 1 FROM invoice_lines l3 WHERE l3.invoice_id = old.invoice_id
                      AND l3.line_no < old.line_no AND l3.product_id IS old.product_id)
    ON CONFLICT(day, branch_id, product_id, kind) DO UPDATE SET
        invoices = invoices + excluded.invoices;
    DELETE FROM daily_product_sales
    WHERE day = (SELECT day FROM invoices WHERE id = old.invoice_id)
      AND branch_id = (SELECT branch_id FROM invoices WHERE id = old.invoice_id)
      AND lines = 0 AND qty = 0 AND discount = 0 AND tax = 0 AND total = 0 AND cost = 0
      AND invoices = 0;
END;

-- ---------------------------------------------------------------- payments
CREATE TRIGGER daily_payments_ai AFTER INSERT ON payments BEGIN
    INSERT INTO daily_payments VALUES (new.day, new.branch_id, new.channel, 1,
        CASE WHEN new.kind = 'invoice' THEN new.amount ELSE 0 END,
        CASE WHEN new.kind = 'advance' THEN new.amount ELSE 0 END,
        CASE WHEN new.kind = 'refund' THEN new.amount ELSE 0 END)
    ON CONFLICT(day, branch_id, channel) DO UPDATE SET
        payments = payments + 1, invoice = invoice + excluded.invoice,
        advance = advance + excluded.advance, refund = refund + excluded.refund;
END;

CREATE TRIGGER daily_payments_ad AFTER DELETE ON payments BEGIN
    INSERT INTO daily_payments VALUES (old.day, old.branch_id, old.channel, -1,
        CASE WHEN old.kind = 'invoice' THEN -old.amount ELSE 0 END,
        CASE WHEN old.kind = 'advance' THEN -old.amount ELSE 0 END,
        CASE WHEN old.kind = 'refund' THEN -old.amount ELSE 0 END)
    ON CONFLICT(day, branch_id, channel) DO UPDATE SET
        payments = payments - 1, invoice = invoice + excluded.invoice,
        advance = advance + excluded.advance, refund = refund + excluded.refund;
    DELETE FROM daily_payments WHERE day = old.day AND branch_id = old.branch_id
        AND channel = old.channel AND payments = 0 AND invoice = 0 AND advance = 0 AND refund = 0;
END;

-- ---------------------------------------------------------------- existing data
INSERT INTO daily_sales
SELECT day, branch_id, count(*) - sum(voided),
       coalesce(sum(CASE WHEN voided = 0 THEN subtotal END), 0),
       coalesce(sum(CASE WHEN voided = 0 THEN discount END), 0),
       coalesce(sum(CASE WHEN voided = 0 THEN tax END), 0),
       coalesce(sum(CASE WHEN voided = 0 THEN total END), 0),
       coalesce(sum(CASE WHEN voided = 0 THEN paid END), 0),
       sum(voided),
       coalesce(sum(CASE WHEN voided = 1 THEN total END), 0)
FROM invoices GROUP BY day, branch_id;

INSERT INTO daily_payments
SELECT day, branch_id, channel, count(*),
       sum(CASE WHEN kind = 'invoice' THEN amount ELSE 0 END),
       sum(CASE WHEN kind = 'advance' THEN amount ELSE 0 END),
       sum(CASE WHEN kind = 'refund' THEN amount ELSE 0 END)
FROM payments GROUP BY day, branch_id, channel;

INSERT INTO daily_product_sales
SELECT i.day, i.branch_id, coalesce(l.product_id, ''), l.kind, count(*), sum(l.qty),
       sum(l.discount), sum(l.tax), sum(l.total), sum(l.qty * l.cost),
       sum(NOT EXISTS (SELECT 1 FROM invoice_lines l2 WHERE l2.invoice_id = l.invoice_id
                       AND l2.line_no < l.line_no AND l2.product_id IS l.product_id))
FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id
WHERE i.voided = 0
GROUP BY i.day, i.branch_id, coalesce(l.product_id, ''), l.kind;
