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
const lateSoldOut = new Counter("late_sold_out");
const soldOutDuration = new Trend("sold_out_duration", true);

export const options = {
  summaryTrendStats: ["avg", "p(50)", "p(90)", "p(99)", "max"],
  scenarios: {
    rush: { executor: "per-vu-iterations", vus: buyers, iterations: 1, maxDuration: "120s", exec: "rush" },
    soldout: {
      executor: "constant-vus",
      vus: Number(__ENV.VUS || 64),
      duration: __ENV.DURATION || "10s",
      startTime: __ENV.SOLDOUT_START || "30s",
      exec: "late",
      gracefulStop: "2s",
    },
  },
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
    otherErrors.add(1);
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
    otherErrors.add(1);
  }
}
