// TypeScript types of the terminal engine: the commands, queries, answers,
// errors and status that cross between the page (`client.js`, class
// `Engine`), the worker (`worker.js`) and the wasm facade (`Terminal`,
// wasm/src/browser.rs). Hand-written from the serde forms of the Rust
// types; wasm/tests/typescript_types.rs checks them against the Rust core
// (variants, field names, required/optional, nullability, answer shapes,
// error codes) and fails when they drift.
//
// Units: no floating point ever touches money or quantities.
// - Money is an integer count of minor currency units (cents): 12.50 is 1250.
// - Quantities are integer thousandths of the product's unit: 2.5 kg is
//   2500, one piece is 1000.
// - Times are integer milliseconds since the Unix epoch (UTC); days are UTC
//   `YYYY-MM-DD` text, months `YYYY-MM`.
// All of them are plain JavaScript numbers and must be integers (values
// stay far below 2^53).
//
// Conventions: a field marked `?` may be left out (the engine uses its
// default); `T | null` is a Rust `Option<T>` (answers always carry the
// field, as `null` when absent).
//
// Layout (the Rust test parses this file): one `export interface` per
// command, query and row, closed by `}` at the start of a line, one member
// per line at two spaces of indentation; unions and aliases as
// `export type Name = ...;`.

// ------------------------------------------------------------------ units

/** Minor currency units (cents), an integer: 12.50 is `1250`. */
export type Money = number;
/** Thousandths of the product's unit, an integer: 2.5 kg is `2500`, one piece `1000`. */
export type Qty = number;
/** Milliseconds since the Unix epoch, UTC, an integer. */
export type Millis = number;

// ------------------------------------------------------------------ enums

/** Status of a catalogue product. */
export type ProductStatus = "active" | "inactive";

/** What a payment is for. */
export type PaymentKind = "invoice" | "advance" | "refund";

/** Kind of an invoice line. */
export type LineKind = "product" | "labour" | "part";

/**
 * Status of a workshop service order. `invoiced` is reached only by
 * `invoice_service_order`, never by `set_order_status`.
 */
export type OrderStatus =
  | "booked"
  | "in_progress"
  | "waiting_parts"
  | "done"
  | "invoiced"
  | "cancelled";

/** Derived status of an invoice. */
export type InvoiceStatus = "unpaid" | "partial" | "paid" | "void" | "returned";

/** Period of a sales report. */
export type Period = "day" | "month";

/** What to rank top products by. */
export type TopBy = "quantity" | "revenue";

// ---------------------------------------------------------- command parts

/** One line of a sale. */
export interface SaleLine {
  /** Product sold. */
  product_id: string;
  /** Quantity, in thousandths of the product's unit. */
  qty: Qty;
  /** Price per unit, in minor units; the catalogue price when absent. */
  unit_price?: Money | null;
  /** Discount on the line, in minor units (default 0). */
  discount?: Money;
  /** Tax rate in basis points (1500 = 15%; default 0). */
  tax_rate_bp?: number;
}

/** Money tendered in one channel. */
export interface Tender {
  /** Channel code (`cash`, `card`...). */
  channel: string;
  /** Amount, in minor units. */
  amount: Money;
}

/** One product line of a stock command. */
export interface StockLineInput {
  /** Product. */
  product_id: string;
  /** Quantity in thousandths (signed only for adjustments). */
  qty: Qty;
  /** Unit cost in minor units; the catalogue cost when absent. */
  unit_cost?: Money | null;
}

/** One line of a return. */
export interface ReturnLineInput {
  /** Index of the invoice line (0-based). */
  line_no: number;
  /** Quantity returned, in thousandths. */
  qty: Qty;
}

// --------------------------------------------------------------- commands

/** Everything a user can ask the terminal to do (`Engine.execute`). */
export type Command =
  | CreateBranchCommand
  | SetPaymentChannelCommand
  | CreateProductCommand
  | UpdateProductCommand
  | CreateServiceCommand
  | CreateTechnicianCommand
  | CreateCustomerCommand
  | UpdateCustomerCommand
  | RegisterVehicleCommand
  | ReceiveStockCommand
  | AdjustStockCommand
  | TransferStockCommand
  | SellCommand
  | TakePaymentCommand
  | ReturnItemsCommand
  | VoidInvoiceCommand
  | OpenShiftCommand
  | CloseShiftCommand
  | CreateServiceOrderCommand
  | AssignTechnicianCommand
  | AddLabourCommand
  | UsePartCommand
  | SetOrderStatusCommand
  | InvoiceServiceOrderCommand;

/** The name of a command (`"sell"`, ...). */
export type CommandType = Command["type"];

/** The command with a given `type`. */
export type CommandOf<T extends CommandType> = Extract<Command, { type: T }>;

/** Add a branch to the chain. */
export interface CreateBranchCommand {
  type: "create_branch";
  /** Short code used in bill numbers. */
  code: string;
  /** Display name. */
  name: string;
}

/** Create or edit a payment channel. */
export interface SetPaymentChannelCommand {
  type: "set_payment_channel";
  /** Channel code (`cash`, `card`...). */
  code: string;
  /** Display name. */
  name: string;
  /** Counted in the drawer. */
  is_cash: boolean;
  /** Accepts payments. */
  active: boolean;
}

/** Add a product to the catalogue. */
export interface CreateProductCommand {
  type: "create_product";
  /** Unique SKU. */
  sku: string;
  /** Unique barcode, if any. */
  barcode?: string | null;
  /** Name. */
  name: string;
  /** Category. */
  category: string;
  /** Grade. */
  grade?: string | null;
  /** Unit of sale (piece, kg, metre...). */
  unit: string;
  /** Price per unit, in minor units. */
  price: Money;
  /** Cost per unit, in minor units. */
  cost: Money;
  /** Low-stock threshold, in thousandths (default 0). */
  min_stock?: Qty;
}

/** Edit a product; absent fields stay as they are. An empty barcode clears it. */
export interface UpdateProductCommand {
  type: "update_product";
  /** Product. */
  product_id: string;
  /** New name. */
  name?: string | null;
  /** New category. */
  category?: string | null;
  /** New price, in minor units. */
  price?: Money | null;
  /** New cost, in minor units. */
  cost?: Money | null;
  /** New threshold, in thousandths. */
  min_stock?: Qty | null;
  /** New status. */
  status?: ProductStatus | null;
  /** New barcode (`""` clears it). */
  barcode?: string | null;
}

/** Add a workshop service to the catalogue. */
export interface CreateServiceCommand {
  type: "create_service";
  /** Code. */
  code: string;
  /** Name. */
  name: string;
  /** Labour price, in minor units. */
  labour_price: Money;
  /** Planned minutes. */
  duration_min: number;
}

/** Add a technician to a branch (this terminal's branch when absent). */
export interface CreateTechnicianCommand {
  type: "create_technician";
  /** Branch. */
  branch_id?: string | null;
  /** Name. */
  name: string;
  /** Skills (default none). */
  skills?: string[];
}

/** Add a customer. */
export interface CreateCustomerCommand {
  type: "create_customer";
  /** Name. */
  name: string;
  /** Phone, unique. */
  phone?: string | null;
  /** Address. */
  address?: string | null;
  /** Credit limit in minor units (default 0: cash only). */
  credit_limit?: Money;
  /** Tags (default none). */
  tags?: string[];
}

/** Edit a customer; absent fields stay. An empty phone clears it. */
export interface UpdateCustomerCommand {
  type: "update_customer";
  /** Customer. */
  customer_id: string;
  /** New name. */
  name?: string | null;
  /** New phone (`""` clears it). */
  phone?: string | null;
  /** New address. */
  address?: string | null;
  /** New credit limit, in minor units. */
  credit_limit?: Money | null;
  /** New tags. */
  tags?: string[] | null;
}

/** Register a customer's vehicle. */
export interface RegisterVehicleCommand {
  type: "register_vehicle";
  /** Owner. */
  customer_id: string;
  /** Plate. */
  plate: string;
  /** VIN. */
  vin?: string | null;
  /** Make. */
  make: string;
  /** Model. */
  model: string;
  /** Model year. */
  year?: number | null;
  /** Odometer (default 0). */
  odometer?: number;
}

/** Receive goods into this branch. */
export interface ReceiveStockCommand {
  type: "receive_stock";
  /** Lines (positive quantities). */
  lines: StockLineInput[];
  /** Supplier, delivery note... (default `""`). */
  note?: string;
}

/** Correct counted stock (signed quantities); a reason is required. */
export interface AdjustStockCommand {
  type: "adjust_stock";
  /** Lines (signed quantities). */
  lines: StockLineInput[];
  /** Why. */
  note: string;
}

/** Move goods from this branch to another. */
export interface TransferStockCommand {
  type: "transfer_stock";
  /** Destination branch. */
  to_branch: string;
  /** Lines (positive quantities). */
  lines: StockLineInput[];
  /** Note (default `""`). */
  note?: string;
  /** Allow this branch to go negative (default false). */
  allow_negative_stock?: boolean;
}

/** Sell: one invoice, with the payments tendered at the counter. */
export interface SellCommand {
  type: "sell";
  /** Customer; none for a walk-in sale (which must be paid in full). */
  customer_id?: string | null;
  /** Lines. */
  lines: SaleLine[];
  /** Payments tendered now (default none). */
  payments?: Tender[];
  /** Allow selling below zero on hand (default false). */
  allow_negative_stock?: boolean;
  /** Allow passing the customer's credit limit (default false). */
  allow_over_credit_limit?: boolean;
}

/** Take a payment, an advance or make a refund. */
export interface TakePaymentCommand {
  type: "take_payment";
  /** Customer (required for advances and refunds without invoice). */
  customer_id?: string | null;
  /** Invoice (required for invoice payments). */
  invoice_id?: string | null;
  /** Amount, in minor units. */
  amount: Money;
  /** Channel code. */
  channel: string;
  /** Kind. */
  kind: PaymentKind;
}

/** Return goods of an invoice (credit note). */
export interface ReturnItemsCommand {
  type: "return_items";
  /** Invoice. */
  invoice_id: string;
  /** Lines returned. */
  lines: ReturnLineInput[];
  /** Why (default `""`). */
  reason?: string;
}

/** Void an invoice (goods back to stock, debit reversed). */
export interface VoidInvoiceCommand {
  type: "void_invoice";
  /** Invoice. */
  invoice_id: string;
  /** Why. */
  reason: string;
}

/** Open a cashier shift on this terminal. */
export interface OpenShiftCommand {
  type: "open_shift";
  /** Cash in the drawer, in minor units. */
  opening_float: Money;
}

/** Close this terminal's shift with the counted amounts. */
export interface CloseShiftCommand {
  type: "close_shift";
  /** Shift. */
  shift_id: string;
  /** Counted per channel code, in minor units. */
  counted: Record<string, Money>;
}

/** Book a vehicle into the workshop. */
export interface CreateServiceOrderCommand {
  type: "create_service_order";
  /** Customer. */
  customer_id: string;
  /** Vehicle (owned by the customer). */
  vehicle_id: string;
  /** Day, `YYYY-MM-DD`. */
  scheduled_date: string;
  /** Technician. */
  technician_id?: string | null;
  /** Complaint (default `""`). */
  complaint?: string;
  /** Odometer at intake. */
  odometer?: number | null;
}

/** Assign a technician. */
export interface AssignTechnicianCommand {
  type: "assign_technician";
  /** Order. */
  order_id: string;
  /** Technician. */
  technician_id: string;
}

/** Add a labour line. */
export interface AddLabourCommand {
  type: "add_labour";
  /** Order. */
  order_id: string;
  /** Service. */
  service_id: string;
  /** Technician. */
  technician_id?: string | null;
  /** Price in minor units (catalogue price when absent). */
  price?: Money | null;
}

/** Take a part from stock for an order. */
export interface UsePartCommand {
  type: "use_part";
  /** Order. */
  order_id: string;
  /** Product. */
  product_id: string;
  /** Quantity, in thousandths. */
  qty: Qty;
  /** Allow negative stock (default false). */
  allow_negative_stock?: boolean;
}

/** Move an order through its workflow. */
export interface SetOrderStatusCommand {
  type: "set_order_status";
  /** Order. */
  order_id: string;
  /** New status (not `invoiced`: see `invoice_service_order`). */
  status: OrderStatus;
}

/** Invoice a finished order. */
export interface InvoiceServiceOrderCommand {
  type: "invoice_service_order";
  /** Order. */
  order_id: string;
  /** Payments tendered now (default none). */
  payments?: Tender[];
  /** Allow passing the credit limit (default false). */
  allow_over_credit_limit?: boolean;
}

/** What a successful command produced. */
export interface Outcome {
  /** Id of the record created or changed. */
  id: string;
  /** Human number (bill number, order number), when the record has one. */
  number: string | null;
  /** Things the user should know (stock went negative under override...). */
  warnings: string[];
}

/** One command's result in `Engine.executeBatch`. */
export type BatchResult = BatchOk | BatchError;

/** A command of a batch that succeeded. */
export interface BatchOk {
  ok: Outcome;
}

/** A command of a batch that was refused (nothing of it was written). */
export interface BatchError {
  error: EngineErrorInfo<CommandErrorCode>;
}

// ---------------------------------------------------------------- queries

/**
 * Cursor of a list ordered by a text key then an id: `[key, id]`. Pass the
 * `next` of a page back as `after`, as returned.
 */
export type TextCursor = [string, string];
/** Cursor of a list ordered by a time (ms) then an id: `[at, id]`. */
export type TimeCursor = [Millis, string];
/** Cursor of a list ordered by an amount (money or quantity) then an id. */
export type AmountCursor = [number, string];
/** Cursor of a list ordered by three text keys. */
export type Text3Cursor = [string, string, string];

/**
 * One page of a keyset-paginated list. `next` is the cursor to pass as
 * `after` for the following page; `null` when this page was not full.
 */
export interface Page<T, C> {
  rows: T[];
  next: C | null;
}

/**
 * One query with its parameters (`Engine.query`). Unknown fields are
 * refused. Lists take `after` (the `next` of the previous page) and
 * `limit` (1 to 500, default 50); `from`/`to` are `YYYY-MM-DD` days and
 * default to the whole history.
 */
export type Request =
  | SearchProductsRequest
  | ProductByBarcodeRequest
  | SearchCustomersRequest
  | LowStockRequest
  | CustomersWithBalanceRequest
  | CustomersOverCreditRequest
  | CustomerStatementRequest
  | ReceivablesAgingRequest
  | ReceivablesAgingByCustomerRequest
  | StockOnHandRequest
  | InvoicesByStatusRequest
  | InvoicesByBranchDayRequest
  | InvoicesOfCustomerRequest
  | InvoiceIdByBillNoRequest
  | InvoiceRequest
  | SalesReportRequest
  | TopProductsRequest
  | ShiftSummaryRequest
  | StockByBranchRequest
  | StockOfProductRequest
  | StockValuationRequest
  | StockCardRequest
  | VehicleHistoryRequest
  | TechnicianWorkloadRequest
  | DayScheduleRequest
  | FieldConflictsRequest
  | RejectedRecordsRequest
  | DuplicateKeysRequest
  | NegativeStockRequest
  | AlertsSummaryRequest
  | PaymentChannelsRequest
  | ServicesRequest
  | TechniciansRequest
  | VehiclesOfCustomerRequest
  | OpenShiftRequest;

/** The name of a query (`"search_products"`, ...). */
export type QueryName = Request["query"];

/** The request of a given query. */
export type RequestOf<Q extends QueryName> = Extract<Request, { query: Q }>;

/** Products whose name, SKU or barcode has words starting with the words of `text`. */
export interface SearchProductsRequest {
  query: "search_products";
  text: string;
  /** Branch whose stock is shown. */
  branch_id: string;
  /** Cursor: the `rid` of the last row shown. */
  after?: number | null;
  limit?: number;
}

/** The product holding exactly this barcode. */
export interface ProductByBarcodeRequest {
  query: "product_by_barcode";
  barcode: string;
  branch_id: string;
}

/** Customers whose name or phone has words starting with the words of `text`. */
export interface SearchCustomersRequest {
  query: "search_customers";
  text: string;
  /** Cursor: the `rid` of the last row shown. */
  after?: number | null;
  limit?: number;
}

/** Active products at or below their minimum stock at a branch. */
export interface LowStockRequest {
  query: "low_stock";
  branch_id: string;
  /** `[name, product_id]`. */
  after?: TextCursor | null;
  limit?: number;
}

/** Customers whose balance is not zero, largest first. */
export interface CustomersWithBalanceRequest {
  query: "customers_with_balance";
  /** `[balance, customer_id]`. */
  after?: AmountCursor | null;
  limit?: number;
}

/** Customers above their credit limit, largest balance first. */
export interface CustomersOverCreditRequest {
  query: "customers_over_credit";
  /** `[balance, customer_id]`. */
  after?: AmountCursor | null;
  limit?: number;
}

/** A page of a customer's statement, oldest entry first. */
export interface CustomerStatementRequest {
  query: "customer_statement";
  customer_id: string;
  /** `[at, entry id]`. */
  after?: TimeCursor | null;
  limit?: number;
}

/** Open receivables of the whole book split by age at `as_of`. */
export interface ReceivablesAgingRequest {
  query: "receivables_aging";
  /** Ms since the epoch. */
  as_of: Millis;
}

/** The aging buckets per customer, by customer id. */
export interface ReceivablesAgingByCustomerRequest {
  query: "receivables_aging_by_customer";
  /** Ms since the epoch. */
  as_of: Millis;
  /** Customer id of the last row shown. */
  after?: string | null;
  limit?: number;
}

/** Stock on hand of a product at a branch, in thousandths. */
export interface StockOnHandRequest {
  query: "stock_on_hand";
  product_id: string;
  branch_id: string;
}

/** Invoices with a status whose day is in `from..=to`. */
export interface InvoicesByStatusRequest {
  query: "invoices_by_status";
  status: InvoiceStatus;
  from?: string;
  to?: string;
  /** `[day, invoice id]`. */
  after?: TextCursor | null;
  limit?: number;
}

/** Invoices of a branch whose day is in `from..=to`. */
export interface InvoicesByBranchDayRequest {
  query: "invoices_by_branch_day";
  branch_id: string;
  from?: string;
  to?: string;
  /** `[day, invoice id]`. */
  after?: TextCursor | null;
  limit?: number;
}

/** A customer's invoices, newest first. */
export interface InvoicesOfCustomerRequest {
  query: "invoices_of_customer";
  customer_id: string;
  /** `[at, invoice id]`. */
  after?: TimeCursor | null;
  limit?: number;
}

/** The id of the invoice with this bill number. */
export interface InvoiceIdByBillNoRequest {
  query: "invoice_id_by_bill_no";
  bill_no: string;
}

/** An invoice with its lines and settlements. */
export interface InvoiceRequest {
  query: "invoice";
  invoice_id: string;
}

/** Sales, returns, channels and categories per period and branch. */
export interface SalesReportRequest {
  query: "sales_report";
  period: Period;
  from?: string;
  to?: string;
}

/** Products ranked by quantity or revenue. */
export interface TopProductsRequest {
  query: "top_products";
  /** One branch, or every branch when absent. */
  branch_id?: string | null;
  from?: string;
  to?: string;
  by: TopBy;
  /** How many (1 to 500, default 10). */
  limit?: number;
}

/** A shift with what was expected and counted in each channel. */
export interface ShiftSummaryRequest {
  query: "shift_summary";
  shift_id: string;
}

/** Stock on hand at a branch, lowest quantity first. */
export interface StockByBranchRequest {
  query: "stock_by_branch";
  branch_id: string;
  /** `[qty, product_id]`. */
  after?: AmountCursor | null;
  limit?: number;
}

/** Stock of a product at every branch. */
export interface StockOfProductRequest {
  query: "stock_of_product";
  product_id: string;
  /** Branch id of the last row shown. */
  after?: string | null;
  limit?: number;
}

/** Stock valuation of a branch at current cost. */
export interface StockValuationRequest {
  query: "stock_valuation";
  branch_id: string;
}

/** Stock card of a product at a branch, newest movement first. */
export interface StockCardRequest {
  query: "stock_card";
  product_id: string;
  branch_id: string;
  /** `[at, movement id]`. */
  after?: TimeCursor | null;
  limit?: number;
}

/** Service orders of a vehicle, newest first. */
export interface VehicleHistoryRequest {
  query: "vehicle_history";
  vehicle_id: string;
  /** `[scheduled_date, order id]`. */
  after?: TextCursor | null;
  limit?: number;
}

/** Orders and planned minutes per technician and status. */
export interface TechnicianWorkloadRequest {
  query: "technician_workload";
  branch_id: string;
  from?: string;
  to?: string;
}

/** A branch's orders of one day, by order number. */
export interface DayScheduleRequest {
  query: "day_schedule";
  branch_id: string;
  /** `YYYY-MM-DD`. */
  day: string;
  /** `[number, order id]`. */
  after?: TextCursor | null;
  limit?: number;
}

/** Concurrent edits of one field. */
export interface FieldConflictsRequest {
  query: "field_conflicts";
  /** `[record_kind, record_id, field]`. */
  after?: Text3Cursor | null;
  limit?: number;
}

/** Records from other replicas that could not be projected. */
export interface RejectedRecordsRequest {
  query: "rejected_records";
  /** `[doc_id, collection, record_id]`. */
  after?: Text3Cursor | null;
  limit?: number;
}

/** Records whose unique key another record holds. */
export interface DuplicateKeysRequest {
  query: "duplicate_keys";
  /** `[kind, field, id]`. */
  after?: Text3Cursor | null;
  limit?: number;
}

/** Product and branch pairs with negative stock. */
export interface NegativeStockRequest {
  query: "negative_stock";
  /** `[branch_id, product_id]`. */
  after?: TextCursor | null;
  limit?: number;
}

/** How many alerts of each kind there are. */
export interface AlertsSummaryRequest {
  query: "alerts_summary";
}

/** Every payment channel. */
export interface PaymentChannelsRequest {
  query: "payment_channels";
}

/** The workshop price list. */
export interface ServicesRequest {
  query: "services";
}

/** The technicians of a branch. */
export interface TechniciansRequest {
  query: "technicians";
  branch_id: string;
}

/** A customer's vehicles. */
export interface VehiclesOfCustomerRequest {
  query: "vehicles_of_customer";
  customer_id: string;
}

/** The shift a terminal has open, if any. */
export interface OpenShiftRequest {
  query: "open_shift";
  terminal_id: string;
}

/** The answer of each query, by name. */
export interface QueryResults {
  search_products: Page<ProductHit, number>;
  product_by_barcode: ProductHit | null;
  search_customers: Page<CustomerHit, number>;
  low_stock: Page<LowStock, TextCursor>;
  customers_with_balance: Page<CustomerBalance, AmountCursor>;
  customers_over_credit: Page<CustomerBalance, AmountCursor>;
  customer_statement: StatementPage;
  receivables_aging: AgingBuckets;
  receivables_aging_by_customer: Page<CustomerAging, string>;
  stock_on_hand: Qty;
  invoices_by_status: Page<InvoiceSummary, TextCursor>;
  invoices_by_branch_day: Page<InvoiceSummary, TextCursor>;
  invoices_of_customer: Page<InvoiceSummary, TimeCursor>;
  invoice_id_by_bill_no: string | null;
  invoice: InvoiceDetail | null;
  sales_report: SalesReport;
  top_products: TopProduct[];
  shift_summary: ShiftSummary | null;
  stock_by_branch: Page<StockRow, AmountCursor>;
  stock_of_product: Page<BranchStock, string>;
  stock_valuation: Valuation;
  stock_card: StockCardPage;
  vehicle_history: Page<ServiceHistoryEntry, TextCursor>;
  technician_workload: TechnicianWorkload[];
  day_schedule: Page<ScheduledOrder, TextCursor>;
  field_conflicts: Page<FieldConflict, Text3Cursor>;
  rejected_records: Page<RejectedRecord, Text3Cursor>;
  duplicate_keys: Page<DuplicateKey, Text3Cursor>;
  negative_stock: Page<NegativeStock, TextCursor>;
  alerts_summary: AlertsSummary;
  payment_channels: PaymentChannelRow[];
  services: ServiceRow[];
  technicians: TechnicianRow[];
  vehicles_of_customer: VehicleRow[];
  open_shift: OpenShift | null;
}

/** The answer type of a request. */
export type QueryResult<Q extends Request> = QueryResults[Q["query"]];

// ------------------------------------------------------------ answer rows

/** A product found by search or barcode, with its stock at one branch. */
export interface ProductHit {
  /** Local row id: the search cursor. */
  rid: number;
  /** Product id. */
  id: string;
  /** SKU as the product record has it. */
  sku: string;
  /** Barcode as the product record has it. */
  barcode: string | null;
  name: string;
  category: string;
  grade: string | null;
  /** Unit of sale. */
  unit: string;
  /** Price per unit, in minor units. */
  price: Money;
  status: ProductStatus;
  /** On hand at the branch asked for, in thousandths (0 when never stocked). */
  on_hand: Qty;
  /** The SKU or barcode is also wanted by another product, which holds it. */
  key_conflict: boolean;
}

/** A customer found by search. */
export interface CustomerHit {
  /** Local row id: the search cursor. */
  rid: number;
  /** Customer id. */
  id: string;
  name: string;
  /** Phone as the customer record has it. */
  phone: string | null;
  /** The phone is also wanted by another customer, which holds it. */
  phone_conflict: boolean;
  address: string | null;
  /** Credit limit, in minor units. */
  credit_limit: Money;
  /** Balance in minor units (positive: the customer owes). */
  balance: Money;
}

/** An active product at or below its minimum stock at a branch. */
export interface LowStock {
  product_id: string;
  sku: string;
  name: string;
  category: string;
  unit: string;
  /** Alert threshold, in thousandths. */
  min_stock: Qty;
  /** On hand at the branch, in thousandths (may be negative). */
  on_hand: Qty;
}

/** A customer and its balance. */
export interface CustomerBalance {
  customer_id: string;
  /** `null` while the customer's record has not arrived on this terminal. */
  name: string | null;
  phone: string | null;
  /** Credit limit, in minor units. */
  credit_limit: Money | null;
  /** Balance in minor units: positive when the customer owes, negative in credit. */
  balance: Money;
}

/** One ledger entry of a customer statement. */
export interface StatementEntry {
  /** Ledger entry id. */
  id: string;
  at: Millis;
  /** `sale`, `payment`, `advance`, `refund`, `return` or `void`. */
  category: string;
  /** `invoice`, `payment`, `return` or `void`. */
  ref_kind: string;
  ref_id: string;
  /** Bill number of the invoice concerned, if any. */
  bill_no: string | null;
  /** Payment channel, for payments and refunds. */
  channel: string | null;
  /** Debit in minor units (the customer owes more). */
  debit: Money;
  /** Credit in minor units (the customer owes less). */
  credit: Money;
  /** Balance after this entry, in minor units. */
  balance: Money;
}

/** A page of a customer statement. */
export interface StatementPage {
  /** Balance before the first entry of the page, in minor units. */
  opening_balance: Money;
  rows: StatementEntry[];
  next: TimeCursor | null;
}

/** Open receivables split by age (amounts in minor units). */
export interface AgingBuckets {
  /** Open invoices counted. */
  invoices: number;
  total: Money;
  days_0_30: Money;
  days_31_60: Money;
  days_61_90: Money;
  over_90: Money;
  /** Time of the oldest open invoice. */
  oldest_at: Millis | null;
}

/** Aging of one customer's open invoices. */
export interface CustomerAging {
  customer_id: string;
  name: string | null;
  credit_limit: Money | null;
  buckets: AgingBuckets;
}

/** One invoice in a list (amounts in minor units). */
export interface InvoiceSummary {
  id: string;
  /** Bill number (the wanted one when a merge made it a duplicate). */
  bill_no: string;
  /** `null` for a walk-in sale. */
  customer_id: string | null;
  customer_name: string | null;
  branch_id: string;
  terminal_id: string;
  at: Millis;
  /** `YYYY-MM-DD`. */
  day: string;
  total: Money;
  /** Payments minus refunds. */
  paid: Money;
  /** Credited by returns. */
  returned: Money;
  /** Still owed. */
  remaining: Money;
  status: InvoiceStatus;
}

/** The header of an invoice (amounts in minor units). */
export interface InvoiceHeader {
  id: string;
  bill_no: string;
  /** The bill number is also wanted by another invoice, which holds it. */
  bill_no_conflict: boolean;
  /** The terminal's sequence number. */
  seq: number;
  customer_id: string | null;
  customer_name: string | null;
  branch_id: string;
  terminal_id: string;
  /** Cashier. */
  user_id: string;
  at: Millis;
  day: string;
  subtotal: Money;
  discount: Money;
  tax: Money;
  total: Money;
  paid: Money;
  returned: Money;
  remaining: Money;
  status: InvoiceStatus;
  /** Service order billed, if any. */
  service_order_id: string | null;
}

/** One line of an invoice. */
export interface InvoiceLineRow {
  /** Line number (0-based). */
  line_no: number;
  kind: LineKind;
  product_id: string | null;
  sku: string | null;
  /** Text on the bill. */
  description: string;
  /** Quantity, in thousandths. */
  qty: Qty;
  /** Price per unit, in minor units. */
  unit_price: Money;
  discount: Money;
  tax: Money;
  total: Money;
  /** Unit cost, in minor units. */
  cost: Money;
  /** Quantity already returned, in thousandths. */
  returned_qty: Qty;
}

/** A payment, refund, return or void of an invoice. */
export interface Settlement {
  kind: "payment" | "refund" | "return" | "void";
  /** Id of the payment, return or void. */
  id: string;
  at: Millis;
  /** Amount in minor units (positive). */
  amount: Money;
  /** Channel of a payment or refund. */
  channel: string | null;
  user_id: string;
  terminal_id: string;
  /** Reason of a return or void. */
  reason: string | null;
}

/** An invoice with its lines and everything that settled it. */
export interface InvoiceDetail {
  header: InvoiceHeader;
  lines: InvoiceLineRow[];
  /** Oldest first. */
  settlements: Settlement[];
}

/** Sales of one branch in one period, void invoices apart (minor units). */
export interface SalesTotals {
  /** Day or month. */
  period: string;
  branch_id: string;
  /** Invoices not void. */
  invoices: number;
  subtotal: Money;
  discount: Money;
  tax: Money;
  total: Money;
  paid: Money;
  /** Invoices voided. */
  voided: number;
  voided_total: Money;
}

/** Returns (credit notes) of one branch in one period. */
export interface ReturnsTotals {
  period: string;
  branch_id: string;
  returns: number;
  /** Amount credited, in minor units. */
  total: Money;
}

/** Money taken in one channel at one branch in one period (minor units). */
export interface ChannelSales {
  period: string;
  branch_id: string;
  channel: string;
  channel_name: string | null;
  is_cash: boolean;
  /** Number of payments and refunds. */
  payments: number;
  invoice_payments: Money;
  advances: Money;
  refunds: Money;
  /** Invoice payments + advances - refunds. */
  net: Money;
}

/** Sales of one category at one branch in one period. */
export interface CategorySales {
  period: string;
  branch_id: string;
  /** Product category (`labour` for workshop labour lines). */
  category: string;
  lines: number;
  /** Quantity in thousandths (only meaningful within one unit). */
  qty: Qty;
  discount: Money;
  tax: Money;
  total: Money;
  /** Cost of the goods sold, in minor units. */
  cost: Money;
}

/** A sales report over a date range. */
export interface SalesReport {
  sales: SalesTotals[];
  returns: ReturnsTotals[];
  channels: ChannelSales[];
  categories: CategorySales[];
}

/** A product ranked by sales over a date range. */
export interface TopProduct {
  product_id: string;
  sku: string | null;
  name: string | null;
  category: string | null;
  unit: string | null;
  /** Quantity sold, in thousandths. */
  qty: Qty;
  /** Revenue, in minor units. */
  revenue: Money;
  /** Invoices it appears on. */
  invoices: number;
}

/** One payment channel of a shift (amounts in minor units). */
export interface ShiftChannel {
  channel: string;
  name: string | null;
  is_cash: boolean;
  /** Payments and refunds in the channel. */
  payments: number;
  received: Money;
  refunded: Money;
  /** received - refunded, plus the opening float for the cash channel holding it. */
  expected: Money;
  /** Counted at close (`null` when not counted). */
  counted: Money | null;
  /** `counted - expected` when counted. */
  difference: Money | null;
}

/** A shift with what was expected and counted in each channel. */
export interface ShiftSummary {
  shift_id: string;
  terminal_id: string;
  branch_id: string;
  user_id: string;
  opened_at: Millis;
  /** Cash in the drawer at opening, in minor units. */
  opening_float: Money;
  closed_at: Millis | null;
  closed_by: string | null;
  channels: ShiftChannel[];
  received: Money;
  refunded: Money;
  expected_cash: Money;
  counted_cash: Money | null;
  cash_difference: Money | null;
}

/** Stock of one product at a branch. */
export interface StockRow {
  product_id: string;
  /** `null` while the product has not arrived on this terminal. */
  sku: string | null;
  name: string | null;
  category: string | null;
  unit: string | null;
  /** On hand, in thousandths. */
  qty: Qty;
  /** Current unit cost, in minor units. */
  cost: Money | null;
  /** Alert threshold, in thousandths. */
  min_stock: Qty | null;
  /** `qty * cost`, rounded to minor units. */
  value: Money;
}

/** Stock of a product at one branch. */
export interface BranchStock {
  branch_id: string;
  branch_name: string | null;
  /** On hand, in thousandths. */
  qty: Qty;
}

/** Stock value of one category at a branch. */
export interface CategoryValuation {
  category: string | null;
  /** Products with non-zero stock. */
  products: number;
  /** Sum of quantities, in thousandths (mixed units). */
  qty: Qty;
  /** Sum of `qty * cost`, in minor units. */
  value: Money;
}

/** Stock valuation of a branch at current cost. */
export interface Valuation {
  categories: CategoryValuation[];
  /** In minor units. */
  total: Money;
}

/** One movement on a stock card. */
export interface StockCardEntry {
  id: string;
  at: Millis;
  /** Signed quantity, in thousandths. */
  qty: Qty;
  /** `receipt`, `sale`, `return`, `void`, `adjustment`, `transfer_out`, `transfer_in` or `part_use`. */
  kind: string;
  ref_kind: string;
  ref_id: string;
  /** Bill number or service order number, when there is one. */
  reference: string | null;
  customer_id: string | null;
  /** Unit cost, in minor units. */
  unit_cost: Money;
  terminal_id: string;
  user_id: string;
  /** On hand just after this movement, in thousandths. */
  balance: Qty;
}

/** A page of a stock card, newest movement first. */
export interface StockCardPage {
  /** On hand after the newest movement of the page, in thousandths. */
  closing_balance: Qty;
  rows: StockCardEntry[];
  next: TimeCursor | null;
}

/** One service order in a vehicle's history (amounts in minor units). */
export interface ServiceHistoryEntry {
  order_id: string;
  number: string;
  status: OrderStatus;
  scheduled_date: string;
  technician_id: string | null;
  technician_name: string | null;
  complaint: string;
  odometer: number | null;
  invoice_id: string | null;
  invoice_total: Money | null;
  invoice_remaining: Money | null;
  labour_lines: number;
  labour_total: Money;
  labour_minutes: number;
  part_lines: number;
  parts_total: Money;
}

/** Orders and planned minutes of one technician in one status. */
export interface TechnicianWorkload {
  technician_id: string;
  name: string;
  status: OrderStatus;
  orders: number;
  planned_minutes: number;
  /** Labour value, in minor units. */
  labour_total: Money;
}

/** One order on a branch's day schedule. */
export interface ScheduledOrder {
  order_id: string;
  number: string;
  status: OrderStatus;
  customer_id: string;
  customer_name: string | null;
  vehicle_id: string;
  plate: string | null;
  make: string | null;
  model: string | null;
  technician_id: string | null;
  technician_name: string | null;
  complaint: string;
  odometer: number | null;
  planned_minutes: number;
  /** Labour value, in minor units. */
  labour_total: Money;
}

/** Two concurrent edits of one field: the projected winner and the losers. */
export interface FieldConflict {
  /** `product`, `customer`, `service_order`... */
  record_kind: string;
  record_id: string;
  field: string;
  /** Value kept. */
  winner: string;
  /** Values that lost, comma separated. */
  losers: string;
}

/** A record from another replica that could not be projected. */
export interface RejectedRecord {
  doc_id: string;
  collection: string;
  record_id: string;
  reason: string;
}

/** A record whose unique key is held by another record. */
export interface DuplicateKey {
  kind: "branch" | "customer" | "invoice" | "product";
  field: "code" | "phone" | "bill_no" | "barcode" | "sku";
  /** The record that lost the key. */
  id: string;
  /** The key it wants. */
  wanted: string;
  /** The record holding it. */
  holder: string | null;
}

/** A product with negative stock at a branch. */
export interface NegativeStock {
  branch_id: string;
  product_id: string;
  sku: string | null;
  name: string | null;
  unit: string | null;
  /** On hand (negative), in thousandths. */
  qty: Qty;
}

/** How many alerts of each kind there are. */
export interface AlertsSummary {
  field_conflicts: number;
  rejected_records: number;
  duplicate_keys: number;
  customers_over_credit: number;
  negative_stock: number;
}

/** A way to pay. */
export interface PaymentChannelRow {
  /** Code, as tenders name it. */
  code: string;
  name: string;
  /** Counted in the drawer at shift close. */
  is_cash: boolean;
  /** Offered at checkout. */
  active: boolean;
}

/** A workshop service from the price list. */
export interface ServiceRow {
  id: string;
  code: string;
  name: string;
  /** Labour price, in minor units. */
  labour_price: Money;
  /** Planned duration in minutes. */
  duration_min: number;
}

/** A technician of a branch. */
export interface TechnicianRow {
  id: string;
  name: string;
  skills: string[];
}

/** A customer's vehicle. */
export interface VehicleRow {
  id: string;
  plate: string;
  vin: string | null;
  make: string;
  model: string;
  year: number | null;
  /** Odometer at registration or last visit. */
  odometer: number;
}

/** The shift a terminal has open. */
export interface OpenShift {
  shift_id: string;
  /** Who opened it. */
  user_id: string;
  opened_at: Millis;
  /** Cash in the drawer at opening, in minor units. */
  opening_float: Money;
}

// ----------------------------------------------------------------- errors

/** Codes of a refused command (`CommandError::code`); nothing was written. */
export type CommandErrorCode =
  | "invalid"
  | "not_found"
  | "duplicate"
  | "inactive"
  | "insufficient_stock"
  | "credit_limit_exceeded"
  | "full_payment_required"
  | "overpayment"
  | "refund_exceeds_credit"
  | "invoice_voided"
  | "invoice_has_returns"
  | "return_exceeds_sold"
  | "shift_already_open"
  | "shift_already_closed"
  | "illegal_transition"
  | "not_permitted"
  | "storage";

/** Codes of a refused query (`QueryError::code`). */
export type QueryErrorCode = "invalid" | "storage";

/**
 * Codes of the wasm facade, the worker and the client:
 * - `invalid_input`: input of the wrong shape (missing field, wrong type,
 *   unknown command or query, bad user name, server URL or token);
 * - `not_paired`: the terminal has no identity yet, pair it first;
 * - `already_paired`: `pair` on a paired terminal;
 * - `storage`: the local database failed;
 * - `storage_unavailable`: OPFS cannot be used (private window, old browser);
 * - `sync_refused`: the server refused the terminal (`field` holds the
 *   server's code: `unauthorized`, `forbidden`, `rate_limited`...);
 * - `sync_protocol`: the server broke the sync protocol;
 * - `network`: the sync server cannot be reached;
 * - `identity_mismatch`, `invalid_identity`: the database and the identity
 *   do not match, or the identity is malformed;
 * - `internal`: a bug, or the worker failed;
 * - `locked`: another tab owns the terminal's database (the client reports
 *   this as `state: "locked"`; reserved as an error code).
 */
export type FacadeErrorCode =
  | "invalid_input"
  | "not_paired"
  | "already_paired"
  | "storage"
  | "storage_unavailable"
  | "sync_refused"
  | "sync_protocol"
  | "network"
  | "identity_mismatch"
  | "invalid_identity"
  | "internal"
  | "locked";

/** Every stable error code the engine reports. */
export type EngineErrorCode = CommandErrorCode | QueryErrorCode | FacadeErrorCode;

/** An error as plain data (in `SyncStatus.last_error`, batch results, events). */
export interface EngineErrorInfo<C extends EngineErrorCode = EngineErrorCode> {
  /** Stable, machine-readable. */
  code: C;
  /** For people. */
  message: string;
  /** The input field at fault (dotted path for nested fields), when known. */
  field?: string;
}

/** What `Engine` promises reject with. */
export declare class EngineError extends Error {
  constructor(info: EngineErrorInfo);
  name: "EngineError";
  /** Stable, machine-readable. */
  code: EngineErrorCode;
  /** The input field at fault, when known. */
  field?: string;
}

// ----------------------------------------------------------------- status

/** Who a terminal is; the server hands it out at pairing. */
export interface ReplicaIdentity {
  /** Replica (terminal) id. */
  replica_id: string;
  /** Branch the terminal sells for. */
  branch_id: string;
  /** Branch code, first part of bill numbers. */
  branch_code: string;
  /** Terminal code, second part of bill numbers. */
  terminal_code: string;
}

/** What the terminal's screens show about sync (`Engine.status`). */
export interface SyncStatus {
  /** The terminal has an identity (was paired with a server). */
  paired: boolean;
  identity: ReplicaIdentity | null;
  /** The sync server's URL. */
  server: string | null;
  connection: "offline" | "connecting" | "online";
  /** Local changes the server does not hold yet. */
  pending: number;
  /** Frames sent in this session and not yet acknowledged. */
  unacknowledged: number;
  /** When the terminal and the server last had nothing left to exchange (ms). */
  last_sync: Millis | null;
  last_error: EngineErrorInfo | null;
  /** When the next reconnect attempt is due (ms). */
  next_retry: Millis | null;
  /** Changes sent since the worker started. */
  sent: number;
  /** Changes received since the worker started. */
  received: number;
}

/** `starting`, `locked` (another tab owns the terminal), `ready` or `failed`. */
export type EngineState = "starting" | "locked" | "ready" | "failed";

/** What `Engine.onStatus` listeners receive. */
export type EngineStatus =
  | ({ state: "starting" | "locked" | "ready" } & Partial<SyncStatus>)
  | { state: "failed"; error: EngineErrorInfo };

// ----------------------------------------------------------------- engine

/** The page's handle on the engine running in its worker (`client.js`). */
export declare class Engine {
  /** Spawns the engine worker for database `db` (default `"terminal"`). */
  static start(options?: { db?: string; workerUrl?: string | URL }): Engine;
  constructor(worker: Worker);
  readonly worker: Worker;
  state: EngineState;
  lastStatus: SyncStatus | null;
  /** Set when `state` is `failed`. */
  error?: EngineError;
  /** Resolves once this tab's engine owns the database; rejects when it fails. */
  readonly ready: Promise<void>;
  /** Calls `listener` on every change; returns the unsubscribe function. */
  onStatus(listener: (status: EngineStatus) => void): () => boolean;
  status(): Promise<SyncStatus>;
  /** `null` before pairing. */
  identity(): Promise<ReplicaIdentity | null>;
  /** Pairs a new terminal with a `ws://` or `wss://` server; resolves to its identity. */
  pair(serverUrl: string, token: string): Promise<ReplicaIdentity>;
  /** Validates and executes one command as `user`; resolves once committed. */
  execute(user: string, command: Command): Promise<Outcome>;
  /** Up to 500 commands in one transaction; one result per command. */
  executeBatch(user: string, commands: Command[]): Promise<BatchResult[]>;
  /** Runs one query; resolves to its answer. */
  query<Q extends Request>(request: Q): Promise<QueryResult<Q>>;
  syncNow(): Promise<void>;
  startSync(): Promise<void>;
  stopSync(): Promise<void>;
  /** The database file (a backup). */
  exportDatabase(): Promise<Uint8Array>;
  /**
   * Restores a database file (a backup) into this terminal, which must not
   * hold a database yet; a `Blob` or `File` is streamed into OPFS in chunks.
   * Resolves to the restored terminal's identity.
   */
  importDatabase(data: Blob | ArrayBuffer | Uint8Array): Promise<ReplicaIdentity>;
  /**
   * Times calls inside the worker (for the performance report): each query
   * `rounds` times after `warmup` untimed runs, then each command once.
   * Milliseconds per call; memory in bytes.
   */
  benchmark(plan: { queries?: Request[]; rounds?: number; warmup?: number; commands?: Command[]; user?: string }): Promise<{ status_ms: number; startup: { init_ms?: number; lock_ms?: number; open_ms?: number }; first_query_ms: number | null; queries: number[][]; commands: number[]; wasm_memory_bytes: number | null; js_heap_bytes: number | null }>;
  /** Ends the worker (the database stays in OPFS). */
  terminate(): void;
}
