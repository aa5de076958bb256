// A front end's service worker for the Web Push guide test: shows what is pushed.
self.addEventListener("push", (event) => {
  const pushed = event.data ? event.data.json() : {};
  event.waitUntil(self.registration.showNotification(pushed.title || "", { body: pushed.message }));
});
