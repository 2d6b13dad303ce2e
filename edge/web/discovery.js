// Which edge to connect to: discovery's `GET /v1/edge` (docs/protocol.md "Which edge"), asked
// before every (re)connect. Discovery is the page's `?discovery=` URL, else this origin (a page
// served behind discovery); when it cannot answer, the edge that served the page.

export const servingEdge = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`;

export function discoveryBase() {
  return new URLSearchParams(location.search).get("discovery") || location.origin;
}

// An async ({userId, deviceId, previousEdgeId}) -> WebSocket URL; never throws.
export function edgeLocator(base = discoveryBase()) {
  return async ({ userId, deviceId, previousEdgeId }) => {
    const query = new URLSearchParams({ user: userId });
    if (deviceId) query.set("device", deviceId);
    if (previousEdgeId) query.set("previous", previousEdgeId);
    try {
      const reply = await fetch(`${base.replace(/\/$/, "")}/v1/edge?${query}`, { cache: "no-store" });
      const edge = reply.ok ? await reply.json() : null;
      if (edge?.wsUrl) return edge.wsUrl;
    } catch {
      // no discovery there, or it is down: the serving edge still takes us
    }
    return servingEdge;
  };
}

export const sameEdge = (a, b) => new URL(a).host === new URL(b).host;
