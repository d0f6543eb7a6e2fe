// On-screen keypads for kiosk fields marked data-keypad (templates include kiosk/_keypad.html):
// "plate" opens a province picker, then letters, digits and the 港澳学警挂领 suffixes;
// "digits" (PINs, staff numbers) opens the same 12 keys as the sign-in keypad, where ✓ moves on
// to the next keypad field. Tapping the field opens its panel just below it; keys are plain taps
// (no long-press, gloves work) and a physical keyboard keeps typing into the field as usual.
(function () {
  const me = document.currentScript;
  const fields = Array.from(document.querySelectorAll("input[data-keypad]"));
  if (!fields.length) return;
  const L = JSON.parse((me && me.dataset.labels) || "{}");
  // Plate grammar from gate/domain/plates.py: the first character is a province (or 使/领 followed
  // by six digits); the authority letter is any of A-Z (粤O is a police series); I and O are never
  // issued in the serial; a suffix is the 7th and last character.
  const PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";
  const FIRST = PROVINCES + "使领";
  const SUFFIXES = "港澳学警挂领";
  const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const DIGITS = "1234567890";
  const PLATE_MAX = 8;

  const panels = {};
  let field = null;

  function key(text, data, cls, label) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "key" + (cls ? " " + cls : "");
    b.textContent = text;
    b.dataset.key = data;
    if (label) b.setAttribute("aria-label", label);
    return b;
  }

  function grid(cls, keys) {
    const g = document.createElement("div");
    g.className = "kp-keys " + cls;
    keys.forEach((k) => g.append(k));
    return g;
  }

  function plateState(v) {
    // Which keys make sense next: {letters, io, digits, suffix}; anything is fine once full.
    const n = v.length;
    const none = { letters: false, io: false, digits: false, suffix: false };
    if (n === 0 || n >= Math.min(PLATE_MAX, field.maxLength > 0 ? field.maxLength : PLATE_MAX)) return none;
    if (n >= 7 && SUFFIXES.includes(v[6])) return none;
    if (v[0] === "使" || v[0] === "领") return n < 7 ? { ...none, digits: true } : none;
    if (n === 1) return { ...none, letters: true, io: true };
    return { letters: true, io: false, digits: true, suffix: n === 6 };
  }

  function buildPlate() {
    const p = document.createElement("div");
    p.className = "kp-panel kp-plate";
    p.setAttribute("role", "group");
    p.setAttribute("aria-label", L.plate || "Plate keypad");
    p.dataset.testid = "plate-keypad";
    p.append(
      grid("kp-provinces", Array.from(FIRST, (c) => key(c, c, "province"))),
      grid("kp-alnum", [
        grid("kp-letters", [
          ...Array.from(DIGITS, (c) => key(c, c, "digit")),
          ...Array.from(LETTERS, (c) => key(c, c, "IO".includes(c) ? "letter io" : "letter")),
        ]),
        grid("kp-suffixes", Array.from(SUFFIXES, (c) => key(c, c, "suffix"))),
      ]),
      grid("kp-controls", [
        key(L.province || "Province", "province", "mode"),
        key("ABC 123", "alnum", "mode"),
        key("⌫", "back", "", L.back || "Backspace"),
        key(L.clear || "Clear", "clear"),
        key(L.done || "Done", "done", "done"),
      ]),
    );
    p.addEventListener("click", (e) => {
      const b = e.target.closest(".key");
      if (!b || b.disabled || !field) return;
      const k = b.dataset.key;
      let v = field.value;
      if (k === "province" || k === "alnum") { show(k); return; }
      if (k === "done") { close(true); return; }
      if (k === "back") v = v.slice(0, -1);
      else if (k === "clear") v = "";
      else if (b.classList.contains("province")) v = (v && FIRST.includes(v[0]) ? k + v.slice(1) : k + v);
      else v += k;
      set(v);
      show(v === "" ? "province" : "alnum");
    });
    return p;
  }

  function buildDigits() {
    // The sign-in keypad's markup and keys (templates/kiosk/login.html, keypad.js).
    const p = document.createElement("div");
    p.className = "keypad kp-panel kp-digits";
    p.setAttribute("role", "group");
    p.setAttribute("aria-label", L.digits || "Number keypad");
    p.dataset.testid = "digit-keypad";
    ["1", "2", "3", "4", "5", "6", "7", "8", "9", "⌫", "0", "✓"].forEach((c) => {
      p.append(key(c, c, c === "✓" ? "done" : "", c === "⌫" ? (L.back || "Backspace") : c === "✓" ? (L.next || "Next") : ""));
    });
    p.addEventListener("click", (e) => {
      const b = e.target.closest(".key");
      if (!b || !field) return;
      const k = b.dataset.key;
      if (k === "⌫") set(field.value.slice(0, -1));
      else if (k === "✓") next();
      else if (!(field.maxLength > 0) || field.value.length < field.maxLength) set(field.value + k);
    });
    return p;
  }

  function panelFor(f) {
    const kind = f.dataset.keypad === "plate" ? "plate" : "digits";
    if (!panels[kind]) {
      panels[kind] = kind === "plate" ? buildPlate() : buildDigits();
      panels[kind].hidden = true;
      // Keep the focus (and the caret) in the field while keys are tapped.
      panels[kind].addEventListener("mousedown", (e) => e.preventDefault());
    }
    return panels[kind];
  }

  function set(v) {
    field.value = v;
    field.dispatchEvent(new Event("input", { bubbles: true }));  // live hints (violations.js)
    refresh();
  }

  function refresh() {
    const p = panels.plate;
    if (!p || p.hidden || !field || field.dataset.keypad !== "plate") return;
    const s = plateState(field.value.toUpperCase());
    p.querySelectorAll(".kp-alnum .key").forEach((b) => {
      const c = b.classList;
      b.disabled = !(c.contains("digit") ? s.digits : c.contains("suffix") ? s.suffix
        : c.contains("io") ? s.io : s.letters);
    });
  }

  function show(mode) {
    const p = panels.plate;
    p.dataset.mode = mode;
    p.querySelector(".kp-provinces").hidden = mode !== "province";
    p.querySelector(".kp-alnum").hidden = mode === "province";
    p.querySelectorAll(".key.mode").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.key === mode)));
  }

  function open(f) {
    if (field === f && !panelFor(f).hidden) return;
    close(false);
    field = f;
    const p = panelFor(f);
    (f.closest("label") || f).after(p);
    p.hidden = false;
    f.classList.add("kp-active");
    if (f.dataset.keypad === "plate") show(f.value ? "alnum" : "province");
    refresh();
    p.scrollIntoView({ block: "nearest" });
  }

  function close(done) {
    if (!field) return;
    const f = field;
    Object.values(panels).forEach((p) => { p.hidden = true; });
    f.classList.remove("kp-active");
    field = null;
    if (done) {
      f.dispatchEvent(new Event("change", { bubbles: true }));
      f.blur();
    }
  }

  function next() {
    // Like the sign-in keypad's ✓: on to the next keypad field of the form, else done.
    const f = field;
    const same = fields.filter((x) => x.form === f.form && !x.disabled && x.offsetParent !== null);
    const after = same[same.indexOf(f) + 1];
    if (after) { close(false); f.dispatchEvent(new Event("change", { bubbles: true })); after.focus(); open(after); }
    else close(true);
  }

  fields.forEach((f) => {
    f.inputMode = "none";  // the tablet's own keyboard would cover the keypad
    f.autocomplete = "off";
    f.addEventListener("focus", () => open(f));
    f.addEventListener("click", () => open(f));
    f.addEventListener("input", () => {  // also typed on a physical keyboard
      if (field === f && f.dataset.keypad === "plate" && f.value) show("alnum");
      refresh();
    });
    f.addEventListener("keydown", (e) => { if (e.key === "Escape") close(false); });
  });
  document.addEventListener("pointerdown", (e) => {
    if (!field || e.target === field) return;
    if (Object.values(panels).some((p) => p.contains(e.target))) return;
    close(false);
  });
})();
