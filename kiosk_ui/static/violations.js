// Violation form: once a plate is typed, show how often it was recorded in the last 90 days
// (highlighted when it was). The saved violation's page shows the same count without script.
(function () {
  const plate = document.querySelector("[data-repeat-url]");
  const hint = document.getElementById("repeat");
  if (!plate || !hint) return;
  let timer = null;
  let asked = "";

  function check() {
    const text = plate.value.trim();
    if (text.length < 7 || text === asked) {
      if (text.length < 7) { hint.hidden = true; asked = ""; }
      return;
    }
    asked = text;
    fetch(plate.dataset.repeatUrl + "?plate=" + encodeURIComponent(text), {
      headers: { Accept: "application/json" }, credentials: "same-origin",
    }).then((r) => r.ok ? r.json() : null).then((data) => {
      if (!data || plate.value.trim() !== text) return;
      hint.textContent = data.message || "";
      hint.hidden = !data.message;
      hint.classList.toggle("repeat", Boolean(data.ok && data.count > 0));
      hint.dataset.count = data.ok ? String(data.count) : "";
    }).catch(() => { asked = ""; });
  }

  plate.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(check, 400); });
  plate.addEventListener("change", check);
  check();
})();
