// Back to the kiosk home when nobody touches the screen (GATE_KIOSK_HOME_SECONDS), so the next
// guard, car or visitor finds the home tiles and the car prompts. A page holding an open flow (a
// field the guard has changed, a page re-rendered after a refused form, or anything marked
// data-open-flow) is never dropped silently: a large warning counts down first and any tap on it
// keeps the page as it is. The session timeout (the layout's refresh to the keypad) is separate.
(function () {
  const me = document.currentScript;
  if (!me) return;
  const seconds = Number(me.dataset.homeSeconds);
  const home = me.dataset.homeUrl;
  const warnSeconds = Number(me.dataset.warnSeconds || 15);
  if (!(seconds > 0) || !home) return;

  let idleTimer = null;
  let tickTimer = null;
  let overlay = null;

  // Compared with what the server sent, so fields filled by the keypad or a scanner count too.
  function changed(el) {
    if (el.disabled || el.type === "hidden" || el.closest("[data-idle-ignore]")) return false;
    if (el.type === "checkbox" || el.type === "radio") return el.checked !== el.defaultChecked;
    if (el.type === "file") return el.files.length > 0;
    if (el.tagName === "SELECT") {
      const opts = Array.from(el.options);
      if (el.multiple) return opts.some((o) => o.selected !== o.defaultSelected);
      const first = opts.findIndex((o) => o.defaultSelected);
      return el.selectedIndex !== (first === -1 ? (opts.length ? 0 : -1) : first);
    }
    if (["button", "submit", "reset", "image"].includes(el.type)) return false;
    return el.value !== el.defaultValue;
  }

  function openFlow() {
    if (document.querySelector("[data-open-flow]")) return true;
    return Array.from(document.querySelectorAll("input, select, textarea")).some(changed);
  }

  function goHome() {
    clearTimeout(idleTimer);
    clearTimeout(tickTimer);
    location.assign(home);
  }

  function hideWarning() {
    clearTimeout(tickTimer);
    tickTimer = null;
    if (overlay) overlay.hidden = true;
  }

  function showWarning() {
    if (!overlay) {
      overlay = document.createElement("div");
      overlay.className = "idle-overlay";
      overlay.setAttribute("role", "alertdialog");
      overlay.setAttribute("aria-modal", "true");
      overlay.setAttribute("aria-labelledby", "idle-warning-text");
      overlay.dataset.testid = "idle-warning";
      const box = document.createElement("div");
      box.className = "idle-box";
      const text = document.createElement("p");
      text.id = "idle-warning-text";
      text.className = "idle-text";
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn primary big";
      button.dataset.testid = "idle-continue";
      button.textContent = me.dataset.continue || "Continue";
      button.addEventListener("click", () => { hideWarning(); arm(); });
      box.append(text, button);
      overlay.append(box);
      document.body.append(overlay);
    }
    let left = warnSeconds;
    const text = overlay.querySelector(".idle-text");
    const template = me.dataset.warning || "Going back to the start in {s} s.";
    const tick = () => {
      if (left <= 0) { goHome(); return; }
      text.textContent = template.replace("{s}", String(left));
      left -= 1;
      tickTimer = setTimeout(tick, 1000);
    };
    overlay.hidden = false;
    tick();
    overlay.querySelector("button").focus();
  }

  function expired() {
    idleTimer = null;
    if (openFlow()) showWarning();
    else goHome();
  }

  function arm() {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(expired, seconds * 1000);
  }

  // Any touch means someone is at the screen: it also answers the warning, whatever it hits.
  function active() {
    if (tickTimer !== null) hideWarning();
    arm();
  }
  ["pointerdown", "keydown", "wheel", "input", "change"].forEach((name) =>
    document.addEventListener(name, active, {capture: true, passive: true}));
  // Back/forward cache: a page restored from history starts its idle time afresh.
  window.addEventListener("pageshow", (event) => { if (event.persisted) { hideWarning(); arm(); } });
  arm();
})();
