// Resident portal. The home page polls the gate every second: visitors asking at the gate appear
// as request cards, and notices from the gate (a visitor came in on a pass…) appear in the list and
// as a banner at the top, without reloading. The pass pages get a share button and form helpers.
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

  const noticeBox = document.getElementById("notices");
  const banner = document.getElementById("notice-banner");
  let lastNotice = noticeBox ? Number(noticeBox.dataset.lastId || 0) : 0;

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

  function showBanner(text) {
    if (!banner) return;
    banner.querySelector("[data-role=text]").textContent = text;
    banner.hidden = false;
    if (navigator.vibrate) navigator.vibrate(200);
  }

  function renderNotices(notices) {
    if (!noticeBox) return;
    const items = noticeBox.querySelector("[data-role=list]");
    const wanted = new Set(notices.map((n) => String(n.id)));
    items.querySelectorAll(".notice-item").forEach((el) => {
      if (!wanted.has(el.dataset.noticeId)) el.remove();  // read on another device
    });
    const fresh = notices.filter((n) => n.id > lastNotice);  // newest first, as the server sends
    fresh.slice().reverse().forEach((n) => {
      const li = document.createElement("li");
      li.className = "notice-item";
      li.dataset.noticeId = String(n.id);
      li.dataset.testid = "notice-" + n.id;
      li.textContent = n.text;
      items.insertBefore(li, items.firstChild);
    });
    if (fresh.length) {
      lastNotice = fresh[0].id;
      showBanner(fresh[0].text);
    }
    const n = notices.length;
    noticeBox.hidden = n === 0;
    const counter = noticeBox.querySelector("[data-role=count]");
    counter.textContent = String(n);
    counter.hidden = n === 0;
    noticeBox.querySelector("[data-role=empty]").hidden = n > 0;
    const form = noticeBox.querySelector("[data-role=read-form]");
    form.hidden = n === 0;
    if (n) form.querySelector("[data-role=up-to]").value = String(notices[0].id);
  }

  if (banner) {
    banner.querySelector("[data-role=close]").addEventListener("click", () => { banner.hidden = true; });
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
      .then((data) => {
        if (data && Array.isArray(data.requests)) render(data.requests);
        if (data && Array.isArray(data.notices)) renderNotices(data.notices);
      })
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

// The pass page: "Share with visitor" uses the phone's share sheet, else copies the link.
(function () {
  const box = document.querySelector("[data-share]");
  if (!box) return;
  const button = box.querySelector("[data-role=share]");
  const status = box.querySelector("[data-role=share-status]");
  const field = box.querySelector("[data-role=share-link]");
  const link = box.dataset.shareUrl;

  function copied(ok) {
    status.textContent = ok ? box.dataset.copied : box.dataset.copyFailed;
    if (!ok) { field.focus(); field.select(); }
  }

  function copyByHand() {
    field.focus();
    field.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    copied(ok);
  }

  function copy() {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(link).then(() => copied(true), copyByHand);
    } else {
      copyByHand();
    }
  }

  button.addEventListener("click", () => {
    if (navigator.share) {
      navigator.share({ title: box.dataset.shareTitle, text: box.dataset.shareText, url: link })
        .catch((err) => { if (!err || err.name !== "AbortError") copy(); });  // cancelled: nothing to do
    } else {
      copy();
    }
  });
  field.addEventListener("focus", () => field.select());
})();

// The create form: an error is scrolled into view; the end date follows the start date; typing a
// number picks "N times".
(function () {
  const form = document.querySelector("[data-pass-form]");
  if (!form) return;
  const starts = form.querySelector("[data-role=starts-on]");
  const ends = form.querySelector("[data-role=ends-on]");
  const count = form.querySelector("[data-role=count]");
  const error = document.getElementById("form-error");
  if (error) error.scrollIntoView({ block: "center" });  // the message sits by its field: show both
  starts.addEventListener("change", () => {
    if (starts.value) {
      ends.min = starts.value;
      if (!ends.value || ends.value < starts.value) ends.value = starts.value;
    }
  });
  if (count) {
    const pick = () => { form.querySelector("input[name=uses][value=count]").checked = true; };
    count.addEventListener("focus", pick);
    count.addEventListener("input", pick);
  }
})();
