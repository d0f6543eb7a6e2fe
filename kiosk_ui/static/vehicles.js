// Car prompts (kiosk home and /kiosk/vehicles/): poll prompts.json every second (SPEC: a prompt
// within 1 s of the camera's read). New cards are added and gone ones removed; a card already on
// screen is left alone, so a half-filled "Open by hand" form survives the next poll. A VIP salute
// banner stays about 8 s and then goes by itself. Like the pass screen, polling stops once nobody
// has touched the kiosk for the idle time, and the page reloads after the session has expired.
(function () {
  const panel = document.getElementById("vehicle-prompts");
  if (!panel) return;
  const prompts = panel.querySelector(".prompt-list");
  const salutes = panel.querySelector(".salute-list");
  const empty = panel.querySelector(".vehicle-prompts-empty");
  const idleMs = Number(panel.dataset.idle || 600) * 1000;
  const SALUTE_MS = 8000;
  const saluted = new Set();  // salute banners already shown and gone: never again
  let lastActive = Date.now();
  let lastRequest = Date.now();
  let reloadTimer = null;
  let pollTimer = null;
  let asked = 0;  // requests sent; a late answer to an older one must not undo a newer one
  let shown = 0;
  const live = window.gateLive;  // live.js: a car prompt arrives as an event, polling slows down

  function fromHtml(html) {
    const box = document.createElement("div");
    box.innerHTML = html.trim();
    return box.firstElementChild;
  }

  function dropSaluteLater(el, ageSeconds) {
    const id = el.dataset.eventId;
    setTimeout(() => { saluted.add(id); el.remove(); }, Math.max(0, SALUTE_MS - ageSeconds * 1000));
  }

  function show(items) {
    const wanted = new Set(items.map((i) => String(i.id)));
    panel.querySelectorAll("[data-event-id]").forEach((el) => {
      if (!wanted.has(el.dataset.eventId)) el.remove();
    });
    // Newest first: walk oldest to newest and put each new one on top of its list.
    items.slice().reverse().forEach((item) => {
      const id = String(item.id);
      if (saluted.has(id) || panel.querySelector(`[data-event-id="${id}"]`)) return;
      if (item.salute && item.age * 1000 >= SALUTE_MS) { saluted.add(id); return; }
      const el = fromHtml(item.html);
      if (!el) return;
      const list = item.salute ? salutes : prompts;
      list.insertBefore(el, list.firstChild);
      if (item.salute) dropSaluteLater(el, item.age);
    });
    if (empty) empty.hidden = prompts.children.length > 0 || salutes.children.length > 0;
  }

  // Cards rendered with the page start their salute timers too.
  salutes.querySelectorAll(".salute-prompt").forEach((el) => dropSaluteLater(el, Number(el.dataset.age || 0)));
  if (empty) empty.hidden = prompts.children.length > 0 || salutes.children.length > 0;

  // One tap, one request: a second tap while the barrier answers sends nothing.
  panel.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
  });

  function schedule() {
    clearTimeout(pollTimer);  // an event's poll and the timer's poll leave one timer, not two
    pollTimer = setTimeout(poll, live ? live.every(1000) : 1000);
  }

  async function poll() {
    if (Date.now() - lastActive > idleMs - 5000) {
      clearTimeout(pollTimer);
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(() => location.reload(), Math.max(0, lastRequest + idleMs + 5000 - Date.now()));
      return;
    }
    try {
      const mine = ++asked;
      const r = await fetch(panel.dataset.url, {headers: {Accept: "application/json", "X-Gate-Background": "1"}, cache: "no-store"});
      lastRequest = Date.now();
      if (r.redirected) { location.reload(); return; }  // signed out: the login page takes over
      const items = r.ok ? (await r.json()).items || [] : null;
      if (items && mine > shown) { shown = mine; show(items); }
    } catch (e) { /* network hiccup: try again */ }
    schedule();
  }

  function active() {
    lastActive = Date.now();
    if (reloadTimer !== null) {
      clearTimeout(reloadTimer);
      reloadTimer = null;
      schedule();
    }
  }
  ["pointerdown", "keydown"].forEach((name) => document.addEventListener(name, active));
  window.addEventListener("pageshow", () => {
    panel.querySelectorAll("form[data-sent]").forEach((form) => { delete form.dataset.sent; });
  });
  if (live) live.on(["vehicle_prompt", "vehicle_handled", "resync"], () => { if (reloadTimer === null) poll(); });
  schedule();
})();
