DROP TRIGGER over_credit_customers_ad;
DROP TRIGGER over_credit_customers_au;
DROP TRIGGER over_credit_customers_ai;
DROP TRIGGER over_credit_balances_ad;
DROP TRIGGER over_credit_balances_au;
DROP TRIGGER over_credit_balances_ai;
DROP INDEX idx_over_credit_balance;
DROP TABLE over_credit;
