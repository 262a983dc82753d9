// Client-credentials grant at a constant number of connections: tokens issued per second.
import http from "k6/http";
import encoding from "k6/encoding";
import { check } from "k6";

const basic = "Basic " + encoding.b64encode(`${__ENV.CLIENT_ID}:${__ENV.CLIENT_SECRET}`);

export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ["avg", "p(50)", "p(90)", "p(99)", "max"],
  scenarios: {
    load: {
      executor: "constant-vus",
      vus: Number(__ENV.VUS || 16),
      duration: __ENV.DURATION || "10s",
      gracefulStop: "2s",
    },
  },
};

export default function () {
  const response = http.post(
    __ENV.TOKEN_URL,
    { grant_type: "client_credentials", scope: __ENV.SCOPE || "catalog.write" },
    { headers: { Authorization: basic } },
  );
  check(response, { "status 200": (r) => r.status === 200 });
}
