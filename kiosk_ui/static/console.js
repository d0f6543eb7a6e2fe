// Supervisor console: count down to each promised answer (red once overdue) and poll the alerts
// every 5 s, raising the banner for new incidents or overdue approvals without a reload.
(function () {
  const banner = document.getElementById("alert-banner");
  if (!banner || !window.fetch) return;
  const message = banner.querySelector("[data-role=message]");
  const reload = banner.querySelector("[data-role=reload]");
  const table = document.querySelector("table[data-left]");
  const shown = { incidents: banner.dataset.incidentIds, approvals: banner.dataset.approvalIds };
  let offset = 0;  // server clock minus this device's clock, in ms
  let asked = 0;  // requests sent; a late answer to an older one must not undo a newer one
  let shownFor = 0;
  const live = window.gateLive;  // live.js: approvals and alerts arrive as events, polling slows down

  function mmss(seconds) {
    const s = Math.abs(seconds);
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function tick() {
    if (!table) return;
    const now = Date.now() + offset;
    table.querySelectorAll("tr[data-due]").forEach((row) => {
      const seconds = Math.trunc((Date.parse(row.dataset.due) - now) / 1000);
      const late = seconds < 0;
      row.classList.toggle("overdue", late);
      const label = late ? table.dataset.over : table.dataset.left;
      row.querySelector("[data-role=countdown]").textContent = label.replace("{t}", mmss(seconds));
    });
  }

  function show(data) {
    const changed = data.incident_ids.join(",") !== shown.incidents
      || data.approval_ids.join(",") !== shown.approvals;
    message.textContent = data.message;
    reload.hidden = !changed;
    banner.classList.toggle("quiet", !data.message);
    banner.hidden = !data.message && !changed;
  }

  function poll() {
    const mine = ++asked;
    fetch(banner.dataset.alertsUrl, { headers: { Accept: "application/json", "X-Gate-Background": "1" }, cache: "no-store",
                                      credentials: "same-origin" })
      .then((response) => (response.ok && !response.redirected ? response.json() : null))
      .then((data) => {
        if (!data || mine < shownFor) return;
        shownFor = mine;
        offset = Date.parse(data.now) - Date.now();
        show(data);
        tick();
      })
      .catch(() => { /* network hiccup: the next poll retries */ });
  }

  setInterval(tick, 1000);
  (function every() { setTimeout(() => { poll(); every(); }, live ? live.every(5000) : 5000); })();
  if (live) live.on(["approval", "incident", "alert", "resync"], poll);
  tick();
})();
