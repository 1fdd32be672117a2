// Money and quantity formatting and exact parsing.
//
// Money is integer minor units (cents); quantities are integer thousandths
// of the product's unit. User input is parsed as text, digit by digit, so
// "0.1" is exactly 10 cents and never 9.999999 of anything.

const group = (digits) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");

/** 123456 -> "1,234.56"; -5 -> "-0.05". */
export function money(minor) {
  if (minor === null || minor === undefined || Number.isNaN(minor)) return "";
  const n = Number(minor);
  const neg = n < 0;
  const abs = Math.abs(n);
  const whole = Math.trunc(abs / 100);
  const cents = String(abs % 100).padStart(2, "0");
  return `${neg ? "-" : ""}${group(String(whole))}.${cents}`;
}

/** Money without grouping, for editable inputs: 123456 -> "1234.56". */
export function moneyInput(minor) {
  return money(minor).replace(/,/g, "");
}

/** 1500 -> "1.5"; 2000 -> "2"; -125 -> "-0.125". */
export function qty(milli) {
  if (milli === null || milli === undefined || Number.isNaN(milli)) return "";
  const n = Number(milli);
  const neg = n < 0;
  const abs = Math.abs(n);
  const whole = Math.trunc(abs / 1000);
  let frac = String(abs % 1000).padStart(3, "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${group(String(whole))}${frac ? "." + frac : ""}`;
}

/** Quantity without grouping, for editable inputs. */
export function qtyInput(milli) {
  return qty(milli).replace(/,/g, "");
}

/**
 * Parses a decimal string into an integer scaled by 10^places.
 * Returns null for anything that is not a plain decimal number with at most
 * `places` decimals. Commas and spaces (thousands separators) are ignored.
 */
export function parseScaled(text, places, { allowNegative = false } = {}) {
  if (text === null || text === undefined) return null;
  const s = String(text).trim().replace(/[,\s]/g, "");
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m) return null;
  const [, sign, intPart, fracPart = ""] = m;
  if (!intPart && !fracPart) return null;
  if (fracPart.length > places) return null;
  if (sign === "-" && !allowNegative) return null;
  const digits = (intPart || "0") + fracPart.padEnd(places, "0");
  const v = Number(digits.replace(/^0+(?=\d)/, ""));
  if (!Number.isSafeInteger(v)) return null;
  return sign === "-" ? -v : v;
}

/** "12.5" -> 1250 minor units, or null. */
export const parseMoney = (text, opts) => parseScaled(text, 2, opts);
/** "1.25" -> 1250 thousandths, or null. */
export const parseQty = (text, opts) => parseScaled(text, 3, opts);
/** "15" (%) -> 1500 basis points, or null. */
export const parsePercentBp = (text) => parseScaled(text, 2);
/** 1500 bp -> "15". */
export const percent = (bp) => money(bp).replace(/\.00$/, "").replace(/(\.\d)0$/, "$1");

/** Gross of a line: qty (thousandths) x unit price, rounded half up like the core (`gross`). */
export function lineGross(qtyMilli, unitPrice) {
  return Number(floorDiv(BigInt(qtyMilli) * BigInt(unitPrice) + 500n, 1000n));
}

/** Tax on an amount at a rate in basis points, rounded half up. */
export function taxOn(amount, bp) {
  return Number(floorDiv(BigInt(amount) * BigInt(bp) + 5000n, 10000n));
}

function floorDiv(a, b) {
  const q = a / b;
  return a % b !== 0n && (a < 0n) !== (b < 0n) ? q - 1n : q;
}

const pad = (n) => String(n).padStart(2, "0");

/** Local date and time, "2024-05-01 14:03". */
export function dateTime(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(Number(ms));
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Local time, "14:03". */
export function time(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(Number(ms));
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** "3 min ago" style age of a time. */
export function ago(ms, now = Date.now()) {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 10) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return dateTime(ms);
}

/** Today's day as the engine keys invoices (UTC, YYYY-MM-DD). */
export function utcDay(ms = Date.now()) {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Today's local day (YYYY-MM-DD), for workshop bookings. */
export function localDay(ms = Date.now()) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** First day of the month of a YYYY-MM-DD day. */
export const monthStart = (day) => day.slice(0, 8) + "01";

/** "in_progress" -> "In progress". */
export function label(code) {
  if (!code) return "";
  const s = String(code).replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}
