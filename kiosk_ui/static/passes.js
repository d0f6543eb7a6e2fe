// The pass screen: keep the scanner's field focused, a letter keyboard for typed codes, and the
// "Recent at this gate" list refreshed every 2 s (stopping once the kiosk is idle, so the idle
// sign-out still happens).
(function () {
  const input = document.getElementById("pass-input");
  if (!input) return;
  const form = input.form;

  // A keyboard-wedge scanner types into whatever has focus: give it back to the field whenever
  // nothing else is being used (a tap on empty screen, the end of a page load).
  function refocus() {
    setTimeout(() => {
      const active = document.activeElement;
      if (!active || active === document.body || active === document.documentElement) input.focus();
    }, 0);
  }
  input.addEventListener("blur", refocus);
  document.addEventListener("pointerup", refocus);
  window.addEventListener("pageshow", () => { delete form.dataset.sent; input.focus(); });
  input.focus();

  // One Enter, one check (some scanners send CR and LF); an empty field sends nothing.
  form.addEventListener("submit", (event) => {
    if (form.dataset.sent || !input.value.trim()) { event.preventDefault(); return; }
    form.dataset.sent = "1";
  });

  form.querySelectorAll(".code-keypad .key").forEach((key) => {
    key.addEventListener("click", () => {
      const k = key.dataset.key;
      if (k === "⌫") input.value = input.value.slice(0, -1);
      else if (k === "clear") input.value = "";
      else {
        const bare = input.value.replace(/-/g, "");
        input.value = (bare.length === 4 ? bare + "-" : input.value) + k;
      }
      input.focus();
    });
  });

  // Recent pass events: a scan at the camera appears without touching the screen. Polling is a
  // request like any other and would keep an unattended kiosk signed in for ever, so it stops
  // once nobody has touched the kiosk for the idle time; the page then reloads after the session
  // has expired, and the sign-in page takes over (the layout's refresh is left out of this page).
  const recent = document.getElementById("pass-recent");
  if (!recent) return;
  const list = recent.querySelector(".pass-recent-list");
  const idleMs = Number(recent.dataset.idle || 600) * 1000;
  let lastActive = Date.now();
  let lastRequest = Date.now();
  let pollTimer = null;
  let reloadTimer = null;
  const live = window.gateLive;  // live.js: a pass decision arrives as an event, polling slows down

  function schedule() {
    clearTimeout(pollTimer);  // an event's poll and the timer's poll leave one timer, not two
    pollTimer = setTimeout(poll, live ? live.every(2000) : 2000);
  }

  async function poll() {
    clearTimeout(pollTimer);
    pollTimer = null;
    if (Date.now() - lastActive > idleMs - 5000) {
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(() => location.reload(), Math.max(0, lastRequest + idleMs + 5000 - Date.now()));
      return;
    }
    try {
      const r = await fetch(recent.dataset.url, {headers: {Accept: "application/json", "X-Gate-Background": "1"}, cache: "no-store"});
      lastRequest = Date.now();
      if (r.redirected) { location.reload(); return; }  // signed out: the login page takes over
      if (r.ok) {
        const s = await r.json();
        const before = Number(recent.dataset.head);
        if (Number(s.head) > before) {  // a late answer to an older request changes nothing
          list.innerHTML = s.html;
          recent.dataset.head = String(s.head);
          list.querySelectorAll("[data-seq]").forEach((row) => {
            if (Number(row.dataset.seq) > before) row.classList.add("new");
          });
        }
      }
    } catch (e) { /* network hiccup: try again */ }
    schedule();
  }

  function active() {
    lastActive = Date.now();
    if (reloadTimer !== null) {  // back from idle before the reload: follow the gate again
      clearTimeout(reloadTimer);
      reloadTimer = null;
      schedule();
    }
  }
  ["pointerdown", "keydown"].forEach((name) => document.addEventListener(name, active));
  if (live) live.on(["pass_used", "pass_rejected", "resync"], () => { if (reloadTimer === null) poll(); });
  schedule();
})();
