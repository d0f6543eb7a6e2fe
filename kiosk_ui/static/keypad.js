// On-screen keypad for gloved fingers: types into whichever of staff number / PIN has focus.
(function () {
  const form = document.querySelector(".keypad-form");
  if (!form) return;
  form.querySelectorAll("input[inputmode]").forEach((el) => { el.inputMode = "none"; });  // no tablet keyboard over the keys
  let target = form.querySelector("input[name=staff_no]");
  form.querySelectorAll("input").forEach((el) => el.addEventListener("focus", () => { target = el; }));
  form.querySelectorAll(".keypad .key").forEach((key) => {
    key.addEventListener("click", () => {
      const k = key.dataset.key;
      if (k === "⌫") { target.value = target.value.slice(0, -1); }
      else if (k === "✓") {
        if (target.name === "staff_no") { target = form.querySelector("input[name=pin]"); target.focus(); }
        else { form.requestSubmit(); }
      } else if (!target.maxLength || target.maxLength < 0 || target.value.length < target.maxLength) {
        target.value += k;
      }
    });
  });
})();
