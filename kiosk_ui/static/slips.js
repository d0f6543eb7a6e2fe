// Release slips: an "add a line" button under the item rows (the form starts with five blank
// rows; blank rows are skipped by the server). The print button is actions.js's.
(function () {
  const box = document.querySelector("[data-slip-lines]");
  if (!box) return;
  const rows = box.querySelector("[data-role=rows]");
  const add = box.querySelector("[data-role=add-line]");
  const max = Number(add.dataset.max || 50);

  function refresh() {
    add.hidden = rows.children.length >= max;
  }

  add.addEventListener("click", () => {
    const last = rows.lastElementChild;
    const row = last.cloneNode(true);
    const n = rows.children.length + 1;
    row.querySelector(".slip-line-no").textContent = String(n);
    row.querySelectorAll("input").forEach((input) => {
      input.value = "";
      input.removeAttribute("placeholder");
      input.removeAttribute("aria-invalid");
      input.removeAttribute("autofocus");
      const kind = input.name === "item" ? "item" : "count";
      input.dataset.testid = kind + "-" + n;
      const label = input.getAttribute("aria-label") || "";
      input.setAttribute("aria-label", label.replace(/\d+$/, String(n)));
    });
    rows.appendChild(row);
    row.querySelector("input[name=item]").focus();
    refresh();
  });
  refresh();
})();
