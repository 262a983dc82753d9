// One k6 scenario: constant connections issuing GETs against URLs handed in by the runner.
import http from "k6/http";
import { check } from "k6";

const urls = JSON.parse(open(__ENV.URLS_FILE));
const headers = __ENV.AUTHORIZATION ? { Authorization: __ENV.AUTHORIZATION } : {};

export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ["avg", "p(50)", "p(90)", "p(99)", "max"],
  scenarios: {
    load: {
      executor: "constant-vus",
      vus: Number(__ENV.VUS || 64),
      duration: __ENV.DURATION || "15s",
      gracefulStop: "2s",
    },
  },
};

export default function () {
  const url = urls[Math.floor(Math.random() * urls.length)];
  const response = http.get(url, { headers });
  check(response, { "status 200": (r) => r.status === 200 });
}
