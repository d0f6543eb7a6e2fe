// The new-visitor form: one submit per tap, host unit suggestions, and returning visitors
// recognised by their ID number (name and phone prefilled).
(function () {
  // A double tap sends the form once: a second visit must not be started by accident.
  const form = document.querySelector("[data-testid=visitor-form]");
  form.addEventListener("submit", (event) => {
    if (form.dataset.sent) event.preventDefault();
    form.dataset.sent = "1";
  });
  window.addEventListener("pageshow", () => { delete form.dataset.sent; });  // back button
  const csrf = document.querySelector("input[name=csrf_token]");
  const unit = document.querySelector("input[data-lookup]");
  if (unit) {
    const list = document.getElementById("unit-options");
    let timer = null;
    unit.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const q = unit.value.trim();
        if (!q) { list.replaceChildren(); return; }
        try {
          const r = await fetch(unit.dataset.lookup + "?q=" + encodeURIComponent(q), {headers: {Accept: "application/json"}});
          if (!r.ok) return;
          list.replaceChildren(...(await r.json()).map((code) => { const o = document.createElement("option"); o.value = code; return o; }));
        } catch (e) { /* typing still works without suggestions */ }
      }, 150);
    });
  }
  const number = document.querySelector("input[data-returning]");
  if (number) {
    const hint = document.querySelector("[data-testid=id-hint]");
    const lookup = async () => {
      if (!number.value.trim()) { hint.textContent = ""; return; }
      const body = new FormData();
      body.append("id_number", number.value);
      body.append("id_type", (document.querySelector("input[name=id_type]:checked") || {}).value || "resident_id");
      try {
        const r = await fetch(number.dataset.returning, {method: "POST", body, headers: {Accept: "application/json", "X-CSRFToken": csrf.value}});
        if (!r.ok) return;
        const found = await r.json();
        hint.classList.toggle("overdue", Boolean(found.error));
        hint.textContent = found.error || (found.found ? number.dataset.returningText : "");
        for (const key of ["name", "phone"]) {
          const field = document.querySelector("input[name=" + key + "]");
          if (found.found && found[key] && !field.value) field.value = found[key];
        }
      } catch (e) { /* the server checks the number again on submit */ }
    };
    number.addEventListener("change", lookup);
    document.querySelectorAll("input[name=id_type]").forEach((el) => el.addEventListener("change", lookup));
  }
})();
