// Resident portal: poll the gate's pending requests every second and add/remove request cards
// without reloading, so a visitor asking at the gate shows up on the resident's phone at once.
(function () {
  const box = document.getElementById("requests");
  if (!box || !window.fetch) return;
  const list = box.querySelector("[data-role=list]");
  const count = box.querySelector("[data-role=count]");
  const empty = box.querySelector("[data-role=empty]");
  const template = box.querySelector("template[data-role=card]");
  const url = box.dataset.pollUrl;
  const title = document.title;
  const INTERVAL = 1000;
  let timer = null;

  function card(req) {
    const node = template.content.firstElementChild.cloneNode(true);
    node.dataset.visitId = String(req.id);
    node.dataset.testid = "request-" + req.id;
    node.querySelector("[data-field=name]").textContent = req.name;
    node.querySelector("[data-field=asked_at]").textContent = req.asked_at;
    node.querySelector("[data-field=purpose]").textContent = req.purpose;
    const plate = node.querySelector("[data-field=plate]");
    if (req.plate) plate.textContent = req.plate; else plate.remove();
    node.querySelector("form").action = req.answer_url;
    node.querySelector("button[value=approved]").dataset.testid = "approve-" + req.id;
    node.querySelector("button[value=declined]").dataset.testid = "decline-" + req.id;
    return node;
  }

  function render(requests) {
    const wanted = new Set(requests.map((r) => String(r.id)));
    list.querySelectorAll(".request-card").forEach((el) => {
      if (!wanted.has(el.dataset.visitId)) el.remove();
    });
    requests.forEach((req) => {
      if (!list.querySelector('.request-card[data-visit-id="' + req.id + '"]')) list.appendChild(card(req));
    });
    const n = requests.length;
    count.textContent = String(n);
    count.hidden = n === 0;
    empty.hidden = n > 0;
    document.title = n ? "(" + n + ") " + title : title;
  }

  function schedule() {
    clearTimeout(timer);
    if (!document.hidden) timer = setTimeout(poll, INTERVAL);
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin" })
      .then((response) => {
        if (response.redirected || response.status === 401 || response.status === 403) {
          window.location.reload();  // signed out: show the login page instead of stale cards
          return null;
        }
        return response.ok ? response.json() : null;
      })
      .then((data) => { if (data && Array.isArray(data.requests)) render(data.requests); })
      .catch(() => { /* offline for a moment: try again on the next tick */ })
      .finally(schedule);
  }

  // Phones: stop polling while the page is in the background, catch up at once when it returns.
  document.addEventListener("visibilitychange", () => {
    clearTimeout(timer);
    if (!document.hidden) poll();
  });
  schedule();
})();
