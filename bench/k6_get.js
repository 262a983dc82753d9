// GETs against URLs handed in by the runner, over VUS connections: as fast as the platform answers
// (closed loop), or at RATE requests/s offered on a schedule whatever the answers' pace (open loop).
//
// The generator shares the cores with the platform, so every request it records costs the platform
// CPU: no `check` (http_req_failed already counts non-2xx answers) and only the tags the summary uses.
import http from "k6/http";

const urls = JSON.parse(open(__ENV.URLS_FILE));
const headers = __ENV.AUTHORIZATION ? { Authorization: __ENV.AUTHORIZATION } : {};
const vus = Number(__ENV.VUS || 64);
const duration = __ENV.DURATION || "15s";

const load = __ENV.RATE
  ? {
      executor: "constant-arrival-rate",
      rate: Number(__ENV.RATE),
      timeUnit: "1s",
      duration,
      // Never more connections than VUS: a late answer delays the next request instead (and k6 counts
      // the requests it could not start on time as dropped_iterations).
      preAllocatedVUs: vus,
      maxVUs: vus,
      gracefulStop: "2s",
    }
  : { executor: "constant-vus", vus, duration, gracefulStop: "2s" };

export const options = {
  discardResponseBodies: true,
  systemTags: ["status", "expected_response"],
  summaryTrendStats: ["avg", "p(50)", "p(90)", "p(99)", "max"],
  scenarios: { load },
};

export default function () {
  http.get(urls[Math.floor(Math.random() * urls.length)], { headers });
}
