// The dashboard's service worker: shows Web Push notifications while no tab is open, and
// opens (or focuses) the dashboard when one is clicked. Plain JavaScript, no build step.
//
// A push carries {"id", "notification_type", "title", "message", "salon_id", "priority",
// "url"}; the salon's name rides in the url's query (`salon=`), since this worker holds no
// credential to look it up.
"use strict";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let pushed;
  try {
    pushed = event.data ? event.data.json() : {};
  } catch {
    pushed = { title: event.data ? event.data.text() : "" };
  }
  event.waitUntil(showPushed(pushed));
});

self.addEventListener("notificationclick", (event) => {
  event.waitUntil(onNotificationClick(event.notification));
});

function dashboardUrl(url) {
  // Only ever this origin's pages, whatever the payload says.
  const target = new URL(url || "/", self.location.origin);
  return target.origin === self.location.origin ? target : new URL("/", self.location.origin);
}

function showPushed(pushed) {
  const url = dashboardUrl(pushed.url);
  const salon = url.searchParams.get("salon");
  const title = pushed.title || "New notification";
  return self.registration.showNotification(salon ? `${salon} · ${title}` : title, {
    body: pushed.message || "",
    tag: `salon-${pushed.id}`,
    data: { id: pushed.id, url: url.href },
    requireInteraction: pushed.priority === "urgent",
  });
}

// Named (not inline) so that the browser test can take this path with a real notification.
async function onNotificationClick(notification) {
  notification.close();
  const url = dashboardUrl(notification.data && notification.data.url);
  const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const dashboard = open.find((client) => new URL(client.url).origin === url.origin);
  if (dashboard) {
    try {
      await dashboard.focus();
    } catch {
      /* focus is allowed only within a real click */
    }
    dashboard.postMessage({ type: "push-click", id: notification.data && notification.data.id });
    return dashboard;
  }
  return self.clients.openWindow(url.href);
}
