// The visit screen: the host's or supervisor's answer arrives by polling the status URL
// (data-status) and replaces the panel; countdowns tick; one tap sends one request.
(function () {
  const panel = document.getElementById("visit-panel");
  const banner = document.querySelector("[data-testid=script] .text");
  const pad = (n) => String(Math.floor(n)).padStart(2, "0");
  function tick() {
    document.querySelectorAll("[data-seconds]").forEach((el) => {
      if (!el.dataset.t0) el.dataset.t0 = String(Date.now());
      const left = Number(el.dataset.seconds) - (Date.now() - Number(el.dataset.t0)) / 1000;
      const abs = Math.abs(left);
      const text = pad(abs / 60) + ":" + pad(abs % 60);
      el.textContent = (left >= 0 ? el.dataset.left : el.dataset.late).replace("{t}", text);
      el.closest(".countdown").classList.toggle("overdue", left < 0);
    });
  }
  function typing() {
    const el = document.activeElement;
    return el && panel.contains(el) && (el.tagName === "TEXTAREA" || el.tagName === "INPUT") && el.value;
  }
  async function poll() {
    if (panel.dataset.poll !== "1") return;
    try {
      const r = await fetch(panel.dataset.status, {headers: {Accept: "application/json"}, cache: "no-store"});
      if (r.redirected) { location.reload(); return; }  // signed out: the login page takes over
      if (!r.ok) return;
      const s = await r.json();
      if (String(s.version) !== panel.dataset.version && !typing()) {
        panel.innerHTML = s.html;
        panel.dataset.version = String(s.version);
        panel.dataset.poll = s.poll ? "1" : "0";
        if (banner) banner.textContent = s.banner;
        tick();
      }
    } catch (e) { /* network hiccup: try again */ }
    setTimeout(poll, 1000);
  }
  // One tap, one request (the server also refuses a second admission, with a message).
  panel.addEventListener("submit", (event) => {
    if (event.target.dataset.sent) event.preventDefault();
    event.target.dataset.sent = "1";
  });
  window.addEventListener("pageshow", () => panel.querySelectorAll("form").forEach((f) => { delete f.dataset.sent; }));
  tick();
  setInterval(tick, 1000);
  setTimeout(poll, 1000);
})();
