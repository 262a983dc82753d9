// A flash sale through the gateway: every buyer claims once at the same moment ("rush"), then a steady
// stream of late buyers measures how fast "sold out" is answered ("soldout").
import http from "k6/http";
import { Counter, Trend } from "k6/metrics";

const tokens = JSON.parse(open(__ENV.TOKENS_FILE));
const url = __ENV.CLAIM_URL;
const buyers = Number(__ENV.BUYERS || 2000);
const body = JSON.stringify({ quantity: 1 });

const claimed = new Counter("claimed");
const soldOut = new Counter("sold_out");
const otherErrors = new Counter("other_errors");
// A buyer who already holds their per-buyer limit is refused: the sale working, not an error.
const limitReached = new Counter("limit_reached");
const lateSoldOut = new Counter("late_sold_out");
const soldOutDuration = new Trend("sold_out_duration", true);
// Why the other answers were not a claim or "sold out": by status (0 is a network error or timeout).
const otherByStatus = Object.fromEntries(
  [0, 401, 429, 500, 502, 503, 504].map((status) => [status, new Counter(`other_status_${status}`)]),
);

function other(response) {
  if (response.status === 400 && response.body && response.body.includes("PURCHASE_LIMIT_REACHED")) {
    limitReached.add(1);
    return;
  }
  otherErrors.add(1);
  const counter = otherByStatus[response.status];
  if (counter) counter.add(1);
}

// PHASE=rush: every buyer claims once at the same moment; PHASE=soldout: once the rush has drained,
// a steady stream of late buyers measures how fast "sold out" is answered. Two runs, so the second
// measures a sold-out sale and not the tail of the rush.
const scenarios = {
  rush: { executor: "per-vu-iterations", vus: buyers, iterations: 1, maxDuration: "120s", exec: "rush" },
  soldout: {
    executor: "constant-vus",
    vus: Number(__ENV.VUS || 64),
    duration: __ENV.DURATION || "10s",
    exec: "late",
    gracefulStop: "2s",
  },
};

export const options = {
  summaryTrendStats: ["avg", "p(50)", "p(90)", "p(99)", "max"],
  scenarios: { [__ENV.PHASE]: scenarios[__ENV.PHASE] },
};

function claim(token) {
  return http.post(url, body, {
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    responseType: "text",
  });
}

export function rush() {
  const response = claim(tokens[(__VU - 1) % tokens.length]);
  if (response.status === 200) {
    claimed.add(1);
  } else if (response.status === 400 && response.body && response.body.includes("SOLD_OUT")) {
    soldOut.add(1);
  } else {
    other(response);
  }
}

export function late() {
  const response = claim(tokens[Math.floor(Math.random() * tokens.length)]);
  if (response.status === 400 && response.body && response.body.includes("SOLD_OUT")) {
    lateSoldOut.add(1);
    soldOutDuration.add(response.timings.duration);
  } else if (response.status === 200) {
    claimed.add(1);
  } else {
    other(response);
  }
}
