-- Step 11: the customers over their credit limit, kept.
--
-- The list walked every customer who owes, largest balance first, looking
-- each one's limit up until a page over it was found; the alerts summary
-- counted them the same way. At terminal scale about a thousand customers
-- owe and a handful are over: 1 ms for either read, the whole budget of a
-- catalogue query. This table holds exactly those customers with their
-- balance, kept by triggers on the balances and on the customers (a new
-- limit, or a customer arriving after its ledger entries). A limit is never
-- negative, so over it means owing.

CREATE TABLE over_credit (
    customer_id TEXT PRIMARY KEY,
    balance     INTEGER NOT NULL
) WITHOUT ROWID;

-- The list's order: largest balance first, then by id.
CREATE INDEX idx_over_credit_balance ON over_credit(balance DESC, customer_id);

-- A balance moves (one customer lookup unless it is or was over).
CREATE TRIGGER over_credit_balances_ai AFTER INSERT ON customer_balances BEGIN
    INSERT INTO over_credit(customer_id, balance)
    SELECT new.customer_id, new.balance FROM customers c
    WHERE c.id = new.customer_id AND new.balance > c.credit_limit;
END;

CREATE TRIGGER over_credit_balances_au AFTER UPDATE OF balance ON customer_balances
WHEN EXISTS (SELECT 1 FROM customers c WHERE c.id = new.customer_id
             AND (old.balance > c.credit_limit OR new.balance > c.credit_limit)) BEGIN
    DELETE FROM over_credit WHERE customer_id = old.customer_id;
    INSERT INTO over_credit(customer_id, balance)
    SELECT new.customer_id, new.balance FROM customers c
    WHERE c.id = new.customer_id AND new.balance > c.credit_limit;
END;

CREATE TRIGGER over_credit_balances_ad AFTER DELETE ON customer_balances BEGIN
    DELETE FROM over_credit WHERE customer_id = old.customer_id;
END;

-- A customer arrives or its limit changes.
CREATE TRIGGER over_credit_customers_ai AFTER INSERT ON customers BEGIN
    INSERT INTO over_credit(customer_id, balance)
    SELECT b.customer_id, b.balance FROM customer_balances b
    WHERE b.customer_id = new.id AND b.balance > new.credit_limit;
END;

CREATE TRIGGER over_credit_customers_au AFTER UPDATE OF credit_limit ON customers
WHEN old.credit_limit IS NOT new.credit_limit BEGIN
    DELETE FROM over_credit WHERE customer_id = old.id;
    INSERT INTO over_credit(customer_id, balance)
    SELECT b.customer_id, b.balance FROM customer_balances b
    WHERE b.customer_id = new.id AND b.balance > new.credit_limit;
END;

CREATE TRIGGER over_credit_customers_ad AFTER DELETE ON customers BEGIN
    DELETE FROM over_credit WHERE customer_id = old.id;
END;

-- ---------------------------------------------------------------- existing data
INSERT INTO over_credit
SELECT b.customer_id, b.balance
FROM customer_balances b JOIN customers c ON c.id = b.customer_id
WHERE b.balance > c.credit_limit;
