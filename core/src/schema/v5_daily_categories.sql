-- Step 5: daily sales per category. daily_product_sales (step 4) barely
-- condenses a month at terminal scale (50k products sell thinly: ~37k rows
-- for ~41k lines), so the category lines of the report still read and
-- joined every one of them. This table holds one row per day, branch and
-- category, kept from daily_product_sales by triggers.
--
-- A row's category is its product's as it is now, or the line kind when
-- this replica does not have the product (as the report always showed):
-- when a product arrives, goes, or changes category, its sums move.

CREATE TABLE daily_category_sales (
    day       TEXT NOT NULL,
    branch_id TEXT NOT NULL,
    category  TEXT NOT NULL,
    lines     INTEGER NOT NULL,
    qty       INTEGER NOT NULL,
    discount  INTEGER NOT NULL,
    tax       INTEGER NOT NULL,
    total     INTEGER NOT NULL,
    cost      INTEGER NOT NULL,
    PRIMARY KEY (day, branch_id, category)
) WITHOUT ROWID;

-- To find a product's sums when it arrives or changes category.
CREATE INDEX idx_daily_product_sales_product ON daily_product_sales(product_id);

CREATE TRIGGER daily_category_sales_ai AFTER INSERT ON daily_product_sales BEGIN
    INSERT INTO daily_category_sales VALUES (new.day, new.branch_id,
        coalesce((SELECT category FROM products WHERE id = new.product_id), new.kind),
        new.lines, new.qty, new.discount, new.tax, new.total, new.cost)
    ON CONFLICT(day, branch_id, category) DO UPDATE SET
        lines = lines + excluded.lines, qty = qty + excluded.qty,
        discount = discount + excluded.discount, tax = tax + excluded.tax,
        total = total + excluded.total, cost = cost + excluded.cost;
END;

CREATE TRIGGER daily_category_sales_au AFTER UPDATE ON daily_product_sales BEGIN
    INSERT INTO daily_category_sales VALUES (new.day, new.branch_id,
        coalesce((SELECT category FROM products WHERE id = new.product_id), new.kind),
        new.lines - old.lines, new.qty - old.qty, new.discount - old.discount,
        new.tax - old.tax, new.total - old.total, new.cost - old.cost)
    ON CONFLICT(day, branch_id, category) DO UPDATE SET
        lines = lines + excluded.lines, qty = qty + excluded.qty,
        discount = discount + excluded.discount, tax = tax + excluded.tax,
        total = total + excluded.total, cost = cost + excluded.cost;
    DELETE FROM daily_category_sales WHERE day = new.day AND branch_id = new.branch_id
        AND lines = 0 AND qty = 0 AND discount = 0 AND tax = 0 AND total = 0 AND cost = 0;
END;

CREATE TRIGGER daily_category_sales_ad AFTER DELETE ON daily_product_sales BEGIN
    INSERT INTO daily_category_sales VALUES (old.day, old.branch_id,
        coalesce((SELECT category FROM products WHERE id = old.product_id), old.kind),
        -old.lines, -old.qty, -old.discount, -old.tax, -old.total, -old.cost)
    ON CONFLICT(day, branch_id, category) DO UPDATE SET
        lines = lines + excluded.lines, qty = qty + excluded.qty,
        discount = discount + excluded.discount, tax = tax + excluded.tax,
        total = total + excluded.total, cost = cost + excluded.cost;
    DELETE FROM daily_category_sales WHERE day = old.day AND branch_id = old.branch_id
        AND lines = 0 AND qty = 0 AND discount = 0 AND tax = 0 AND total = 0 AND cost = 0;
END;

-- A product's sums move: from its lines' kinds when it arrives, back to
-- them when it goes, from the old category to the new one when it changes.
CREATE TRIGGER daily_category_sales_product_ai AFTER INSERT ON products BEGIN
    INSERT INTO daily_category_sales
    SELECT d.day, d.branch_id, d.kind, -d.lines, -d.qty, -d.discount, -d.tax, -d.total, -d.cost
    FROM daily_product_sales d WHERE d.product_id = new.id
    ON CONFLICT(day, branch_id, category) DO UPDATE SET
        lines = lines + excluded.lines, qty = qty + excluded.qty,
        discount = discount + excluded.discount, tax = tax + excluded.tax,
        total = total + excluded.total, cost = cost + excluded.cost;
    INSERT INTO daily_category_sales
    SELECT d.day, d.branch_id, new.category, d.lines, d.qty, d.discount, d.tax, d.total, d.cost
    FROM daily_product_sales d WHERE d.product_id = new.id
    ON CONFLICT(day, branch_id, category) DO UPDATE SET
        lines = lines + excluded.lines, qty = qty + excluded.qty,
        discount = discount + excluded.discount, tax = tax + excluded.tax,
        total = total + excluded.total, cost = cost + excluded.cost;
    DELETE FROM daily_category_sales
    WHERE (day, branch_id) IN (SELECT day, branch_id FROM daily_product_sales WHERE product_id = new.id)
      AND lines = 0 AND qty = 0 AND discount = 0 AND tax = 0 AND total = 0 AND cost = 0;
END;

CREATE TRIGGER daily_category_sales_product_ad AFTER DELETE ON products BEGIN
    INSERT INTO daily_category_sales
    SELECT d.day, d.branch_id, old.category, -d.lines, -d.qty, -d.discount, -d.tax, -d.total, -d.cost
    FROM daily_product_sales d WHERE d.product_id = old.id
    ON CONFLICT(day, branch_id, category) DO UPDATE SET
        lines = lines + excluded.lines, qty = qty + excluded.qty,
        discount = discount + excluded.discount, tax = tax + excluded.tax,
        total = total + excluded.total, cost = cost + excluded.cost;
    INSERT INTO daily_category_sales
    SELECT d.day, d.branch_id, d.kind, d.lines, d.qty, d.discount, d.tax, d.total, d.cost
    FROM daily_product_sales d WHERE d.product_id = old.id
    ON CONFLICT(day, branch_id, category) DO UPDATE SET
        lines = lines + excluded.lines, qty = qty + excluded.qty,
        discount = discount + excluded.discount, tax = tax + excluded.tax,
        total = total + excluded.total, cost = cost + excluded.cost;
    DELETE FROM daily_category_sales
    WHERE (day, branch_id) IN (SELECT day, branch_id FROM daily_product_sales WHERE product_id = old.id)
      AND lines = 0 AND qty = 0 AND discount = 0 AND tax = 0 AND total = 0 AND cost = 0;
END;

CREATE TRIGGER daily_category_sales_product_au AFTER UPDATE OF category ON products
WHEN old.category IS NOT new.category BEGIN
    INSERT INTO daily_category_sales
    SELECT d.day, d.branch_id, old.category, -d.lines, -d.qty, -d.discount, -d.tax, -d.total, -d.cost
    FROM daily_product_sales d WHERE d.product_id = new.id
    ON CONFLICT(day, branch_id, category) DO UPDATE SET
        lines = lines + excluded.lines, qty = qty + excluded.qty,
        discount = discount + excluded.discount, tax = tax + excluded.tax,
        total = total + excluded.total, cost = cost + excluded.cost;
    INSERT INTO daily_category_sales
    SELECT d.day, d.branch_id, new.category, d.lines, d.qty, d.discount, d.tax, d.total, d.cost
    FROM daily_product_sales d WHERE d.product_id = new.id
    ON CONFLICT(day, branch_id, category) DO UPDATE SET
        lines = lines + excluded.lines, qty = qty + excluded.qty,
        discount = discount + excluded.discount, tax = tax + excluded.tax,
        total = total + excluded.total, cost = cost + excluded.cost;
    DELETE FROM daily_category_sales
    WHERE (day, branch_id) IN (SELECT day, branch_id FROM daily_product_sales WHERE product_id = new.id)
      AND lines = 0 AND qty = 0 AND discount = 0 AND tax = 0 AND total = 0 AND cost = 0;
END;

-- ---------------------------------------------------------------- existing data
INSERT INTO daily_category_sales
SELECT d.day, d.branch_id, coalesce(p.category, d.kind), sum(d.lines), sum(d.qty),
       sum(d.discount), sum(d.tax), sum(d.total), sum(d.cost)
FROM daily_product_sales d LEFT JOIN products p ON p.id = d.product_id
GROUP BY d.day, d.branch_id, coalesce(p.category, d.kind);
